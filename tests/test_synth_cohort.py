"""Cohort generator: planted effect, selection bias, noise rates, and answer key agreeing with the upload."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest
from synth_helpers import small_store

from jdl_lib.synth import NoiseConfig, make_cohort, write_cohort
from jdl_lib.template import UPLOAD_COLUMNS

WIDE_WINDOW = (date(2001, 1, 1), date(2011, 6, 30))
WINDOW = (date(2003, 1, 1), date(2010, 12, 31))


def _cohort(**kw):
    args = {"n": 400, "setting": "custody", "seed": 1} | kw
    return make_cohort(small_store(), args.pop("n"), args.pop("setting"), *WINDOW, **args)


def _dates(col: pd.Series) -> pd.Series:
    iso = col.str.match(r"\d{4}-")
    return pd.to_datetime(col.where(iso), format="%Y-%m-%d").fillna(
        pd.to_datetime(col.where(~iso), format="%d/%m/%Y")
    )


def _people(ids) -> pd.DataFrame:
    con = duckdb.connect(str(small_store()), read_only=True)
    try:
        return (
            con.execute(
                "SELECT * FROM people WHERE person_id IN (SELECT unnest($ids))",
                {"ids": [int(i) for i in ids]},
            )
            .df()
            .set_index("person_id")
        )
    finally:
        con.close()


@pytest.mark.slow
def test_answer_key_agrees_with_upload_row_by_row() -> None:
    c = _cohort(n=500)
    up, key = c.upload, c.answer_key
    assert len(up) == len(key) == 500 + c.truth["counts"]["duplicates"]
    assert list(key.upload_row) == list(range(2, len(up) + 2))  # spreadsheet rows, heading = 1
    real = key.person_id.notna()
    assert real.sum() == c.truth["counts"]["real"] + key[real].duplicate_of.notna().sum()
    truth = _people(key.person_id[real].unique())
    joined = up[real.to_numpy()].assign(person_id=key.person_id[real].to_numpy())
    ids = joined.person_id.to_numpy()
    clean = ~key.noise[real].str.contains("alias|nickname|typo|variant|dob").to_numpy()
    assert (joined.forename.to_numpy()[clean] == truth.loc[ids[clean], "forename"].to_numpy()).all()
    assert (joined.surname.to_numpy()[clean] == truth.loc[ids[clean], "surname"].to_numpy()).all()
    dob = _dates(joined.date_of_birth).dt.date.to_numpy()
    assert (dob[clean] == pd.to_datetime(truth.loc[ids[clean], "date_of_birth"]).dt.date.to_numpy()).all()
    given = joined.pnc_id.notna().to_numpy()
    assert (joined.pnc_id.to_numpy()[given] == truth.loc[ids[given], "pnc_id"].to_numpy()).all()
    assert (joined.gender.to_numpy() == truth.loc[ids, "gender"].to_numpy()).all()
    # Duplicates repeat their original row exactly (dates may be written in another format).
    dup = key.duplicate_of.notna().to_numpy()
    orig = key.duplicate_of[dup].astype(int).to_numpy() - 2
    assert (up.forename.to_numpy()[dup] == up.forename.to_numpy()[orig]).all()
    assert np.array_equal(key.person_id.to_numpy()[dup], key.person_id.to_numpy()[orig], equal_nan=True)
    # Fabricated people are not in the national data.
    fake = key.noise.eq("fabricated") | key.noise.str.startswith("fabricated;")
    assert fake.sum() >= c.truth["counts"]["fabricated"] and key.person_id[fake].isna().all()


@pytest.mark.slow
def test_lab_index_event_rule_finds_the_sampled_event() -> None:
    for setting in ("custody", "community"):
        c = _cohort(setting=setting, n=300, seed=4)
        key = c.answer_key[c.answer_key.person_id.notna() & c.answer_key.duplicate_of.isna()]
        rows = c.upload.iloc[key.upload_row.to_numpy() - 2]
        probe = pd.DataFrame(
            {
                "person_id": key.person_id.astype(int).to_numpy(),
                "start": _dates(rows["intervention_start"]).to_numpy(),
            }
        )
        con = duckdb.connect(str(small_store()), read_only=True)
        try:
            con.register("probe", probe)
            if setting == "custody":
                sql = """SELECT p.person_id, arg_min(d.disposal_id, d.release_date) AS found FROM probe p
                         JOIN disposals d ON d.person_id = p.person_id AND d.release_date >= p.start::DATE
                         GROUP BY 1"""
            else:
                sql = """SELECT p.person_id, arg_max(d.disposal_id, d.disposal_date) AS found FROM probe p
                         JOIN disposals d ON d.person_id = p.person_id
                          AND d.disposal_type IN ('community_order', 'suspended_sentence')
                          AND d.disposal_date <= p.start::DATE AND d.disposal_date > p.start::DATE - 365
                         GROUP BY 1"""
            found = con.execute(sql).df().set_index("person_id").found
        finally:
            con.close()
        expected = key.set_index(key.person_id.astype(int)).disposal_id.astype(int)
        assert (found.reindex(expected.index) == expected).all(), setting


@pytest.mark.slow
def test_noise_rates_as_configured() -> None:
    noise = NoiseConfig(pnc_missing=0.6, nickname=0.1, duplicate=0.05, fabricated=0.1, iso_dates=0.2)
    c = _cohort(n=1_500, selection="random", noise=noise, seed=2)
    key = c.answer_key[c.answer_key.duplicate_of.isna()]
    real = key[key.person_id.notna()]
    share = lambda frame, kind: frame.noise.str.split(";").map(lambda k: kind in k).mean()  # noqa: E731
    assert abs(share(real, "pnc_missing") - 0.6) < 0.05
    assert abs(share(real, "nickname") - 0.1) < 0.03
    assert abs(share(real, "surname_typo") - noise.surname_typo) < 0.02
    assert abs(share(real, "dob_swap") - noise.dob_swap) < 0.015
    assert abs(share(c.answer_key, "iso_dates") - 0.2) < 0.04
    assert c.truth["counts"]["fabricated"] == 150
    assert c.truth["counts"]["duplicates"] == round(1_500 * 0.05)
    assert c.upload.pnc_id.isna().mean() > 0.55
    had_prison = _people(real.person_id.unique()).prison_number.notna()
    with_prison = real[had_prison.reindex(real.person_id.astype(int)).to_numpy()]
    assert abs(share(with_prison, "prison_missing") - noise.prison_missing) < 0.08


@pytest.mark.slow
def test_naive_difference_is_biased_under_higher_risk_selection() -> None:
    c = _cohort(n=400, selection="higher_risk", selection_strength=1.0, effect_rate=-0.05)
    assert -0.05 <= c.truth["true_effect"]["rate"] <= -0.04
    assert c.truth["naive_difference_rate"] - c.truth["planted_effect_rate"] > 0.05
    assert c.truth["true_effect"]["frequency"] < 0


@pytest.mark.slow
def test_realised_treated_rate_minus_true_p_is_the_planted_effect() -> None:
    gaps = [
        c.truth["treated_rate"] - c.truth["treated_true_p"]
        for c in (
            make_cohort(
                small_store(),
                300,
                "custody",
                *WIDE_WINDOW,
                selection="random",
                seed=s,
                noise=NoiseConfig.none(),
            )
            for s in range(8)
        )
    ]
    # The finite pool's own realisation adds ~0.7 points of noise that repeated draws do not average out.
    assert abs(np.mean(gaps) - (-0.05)) < 0.02


def test_written_files_keep_the_answer_key_out_of_the_upload(tmp_path) -> None:
    c = _cohort(n=100, seed=3)
    paths = write_cohort(c, tmp_path, formats=("csv", "xlsx"))
    upload = pd.read_csv(paths["upload_csv"], dtype=str)
    assert list(upload.columns) == list(UPLOAD_COLUMNS.values())
    assert list(pd.read_excel(paths["upload_xlsx"], dtype=str).columns) == list(UPLOAD_COLUMNS.values())
    key = pd.read_csv(paths["answer_key"])
    assert len(key) == len(upload) and "person_id" in key and "person_id" not in upload
    assert paths["truth"].read_text().count("true_effect") == 1


def test_same_seed_same_cohort() -> None:
    a, b = _cohort(n=120, seed=11), _cohort(n=120, seed=11)
    pd.testing.assert_frame_equal(a.upload, b.upload)
    pd.testing.assert_frame_equal(a.answer_key, b.answer_key)
    assert a.truth == b.truth
    assert not _cohort(n=120, seed=12).answer_key.equals(a.answer_key)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="setting"):
        _cohort(setting="prison")
    with pytest.raises(ValueError, match="selection"):
        _cohort(selection="worst")
    with pytest.raises(ValueError, match="between 0 and 1"):
        NoiseConfig(pnc_missing=1.5)


@pytest.mark.slow
def test_messy_profile_disagrees_as_published() -> None:
    # about 18% of surnames and 12% of forenames differ from the person's record, 4% swapped, gender blank
    c = _cohort(n=1_500, selection="random", noise=NoiseConfig.profile("messy-none-id"), seed=3)
    key = c.answer_key[c.answer_key.person_id.notna() & c.answer_key.duplicate_of.isna()]
    rows = c.upload.iloc[key.upload_row.to_numpy() - 2]
    truth = _people(key.person_id.unique()).loc[key.person_id.astype(int)]
    surname_differs = (rows.surname.to_numpy() != truth.surname.to_numpy()).mean()
    forename_differs = (rows.forename.to_numpy() != truth.forename.to_numpy()).mean()
    swapped = (rows.forename.to_numpy() == truth.surname.to_numpy()).mean()
    assert 0.17 <= surname_differs <= 0.26, surname_differs  # 18% plus swaps and aliases
    assert 0.12 <= forename_differs <= 0.21, forename_differs
    assert 0.025 <= swapped <= 0.055, swapped
    assert 0.07 <= rows.gender.isna().mean() <= 0.13
    assert rows.pnc_id.isna().all() and rows.prison_number.isna().all()
    with pytest.raises(ValueError, match="messy-none-id"):
        NoiseConfig.profile("very-messy")
