"""Linkage on inputs it was not built on (issue 16): missing identifiers, swapped names, lower-case
extracts, blank gender, repeated submissions, and Splink failures surfacing as LinkageError."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from linkage_fixtures import make_store, make_upload, open_store

from jdl_lib.errors import LinkageError
from jdl_lib.linkage import LinkageSettings, link_cohort, probabilistic
from jdl_lib.linkage.deterministic import exact_pass, identifier_pass, prepare_upload
from jdl_lib.linkage.quality import score_links

SMALL = LinkageSettings(u_sample_records=4000, u_max_pairs=2e5)


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    path = tmp_path_factory.mktemp("robust") / "index.duckdb"
    people = make_store(path)
    store = open_store(path)
    yield people, store, path
    store.connection.close()


def _key(upload: pd.DataFrame, truth: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"upload_row": upload["upload_row"], "person_id": truth.to_numpy()})


def test_an_empty_identifier_pass_keeps_integer_ids(index):
    _, store, _ = index
    up = prepare_upload(make_upload(index[0], n=20)[0].assign(prison_number=None))
    links, conflicts = identifier_pass(store.connection, up, "prison_number", 2)
    assert links.empty and links.dtypes.eq("int64").all() and conflicts["upload_row"].dtype == "int64"


@pytest.mark.parametrize("dropped", [("prison_number",), ("pnc_id", "prison_number")])
def test_a_cohort_missing_an_identifier_still_trains_and_links(index, dropped):
    people, store, _ = index
    upload, truth = make_upload(people, n=250, seed=8)
    upload = upload.assign(**{c: None for c in dropped})
    result = link_cohort(upload, store, SMALL)
    training = result.model["jdl_training"]
    # the PNC links were used as labels (the cause of the float ids was an empty prison-number pass)
    assert training["identifier_labels"] == result.counts["pnc"]
    assert "em_blocked_on_date_of_birth" in training["m_sources"]["surname"]
    assert training["m_sources"]["date_of_birth"], training
    quality = score_links(result.links, _key(upload, truth))
    assert quality.precision >= 0.995 and quality.recall >= 0.95, quality


def test_swapped_names_with_a_correct_pnc_id_link_by_pnc(index):
    people, store, _ = index
    upload, truth = make_upload(people, n=120, seed=3)
    row = upload["pnc_id"].notna().idxmax()
    upload.loc[row, ["forename", "surname"]] = upload.loc[row, ["surname", "forename"]].to_numpy()
    result = link_cohort(upload, store, SMALL)
    link = result.links.set_index("upload_row").loc[upload.loc[row, "upload_row"]]
    assert (link["method"], link["person_id"]) == ("pnc", truth[row])


def test_swapped_names_without_identifiers_link_probabilistically(index):
    people, store, _ = index
    upload, truth = make_upload(people, n=200, seed=4)
    upload = upload.assign(pnc_id=None, prison_number=None)
    upload.loc[:9, ["forename", "surname"]] = upload.loc[:9, ["surname", "forename"]].to_numpy()
    result = link_cohort(upload, store, SMALL)
    linked = result.links.set_index("upload_row")["person_id"]
    swapped = upload.loc[:9, "upload_row"]
    assert (linked.reindex(swapped).to_numpy() == truth[:10].to_numpy()).sum() >= 9


def test_exact_pass_tries_the_day_month_swapped_reading(index):
    people, store, _ = index
    person = people[pd.to_datetime(people["date_of_birth"]).dt.day <= 12].iloc[0]
    dob = pd.Timestamp(person["date_of_birth"])
    if dob.day == dob.month:
        pytest.skip("date reads the same both ways")
    up = pd.DataFrame(
        {
            "upload_row": [2],
            "forename": [person["forename"]],
            "surname": [person["surname"]],
            "date_of_birth": [dob.replace(day=dob.month, month=dob.day)],
            "gender": [person["gender"]],
            "pnc_id": [None],
            "prison_number": [None],
        }
    )
    links, ties = exact_pass(store.connection, prepare_upload(up))
    assert links["person_id"].tolist() == [person["person_id"]] and ties.empty


def test_blank_gender_is_no_evidence_either_way(index):
    people, store, _ = index
    upload, truth = make_upload(people, n=200, seed=6)
    upload = upload.assign(pnc_id=None, prison_number=None, gender=None)
    result = link_cohort(upload, store, SMALL)
    quality = score_links(result.links, _key(upload, truth))
    assert quality.precision >= 0.995 and quality.recall >= 0.95, quality


def test_lower_case_names_in_the_national_extract_still_link(tmp_path):
    path = tmp_path / "lower.duckdb"
    people = make_store(path, n_people=3000)
    con = duckdb.connect(str(path))
    con.execute(
        "UPDATE people SET forename = lower(forename), surname = ' ' || lower(surname) || ' ', "
        "pnc_id = lower(pnc_id), prison_number = lower(prison_number) || ' '"
    )
    con.execute("UPDATE aliases SET forename = lower(forename), surname = lower(surname)")
    con.close()
    upload, truth = make_upload(people, n=150, seed=2)
    store = open_store(path)
    try:
        result = link_cohort(upload, store, SMALL)
    finally:
        store.connection.close()
    quality = score_links(result.links, _key(upload, truth))
    assert quality.precision >= 0.995 and quality.recall >= 0.95, quality
    assert min(result.counts[m] for m in ("pnc", "prison_number", "exact")) > 0, result.counts


def test_a_splink_failure_is_a_linkage_error_with_a_message(index, monkeypatch):
    from splink.internals.exceptions import EMTrainingException

    def fail(*args, **kwargs):
        raise EMTrainingException("no matches in the blocked pairs")

    monkeypatch.setattr(probabilistic, "_score_pairs", fail)
    people, store, _ = index
    upload, _ = make_upload(people, n=80, seed=1)
    with pytest.raises(LinkageError, match="probabilistic linkage failed at the stage") as info:
        link_cohort(upload, store, SMALL)
    assert "jdl import-national" in str(info.value)


def test_a_person_submitted_twice_with_a_typo_is_one_duplicate(index):
    people, store, _ = index
    upload, truth = make_upload(people, n=150, seed=12)
    upload = upload.assign(pnc_id=None, prison_number=None)
    again = upload.iloc[[5]].copy()
    again["upload_row"] = upload["upload_row"].max() + 1
    again["forename"] = again["forename"].str[:-1] + "Q"  # retyped with a typo
    # and a date of birth out by ten years, so the repeat cannot link to the index on its own
    again["date_of_birth"] = pd.to_datetime(again["date_of_birth"]) - pd.DateOffset(years=10)
    result = link_cohort(pd.concat([upload, again], ignore_index=True), store, SMALL)
    repeat = int(again["upload_row"].iloc[0])
    if repeat in set(result.duplicates["upload_row"]):
        row = result.duplicates.set_index("upload_row").loc[repeat]
        assert row["duplicate_of"] == upload["upload_row"].iloc[5]
    else:
        pytest.fail(f"the repeated row was counted as {result.counts}")
    total = sum(v for k, v in result.counts.items() if k != "submitted")
    assert total == result.counts["submitted"]


def test_an_em_session_refused_by_splink_is_retried_not_fatal(index, monkeypatch):
    # Splink 5 raises a ValueError when an EM step drives a level's m to exactly 0 (seen on 300-person
    # community cohorts of the demo store: the whole request failed at 'train_m'). The session is retried
    # with fewer iterations, and the links are as good as without the refusal.
    from splink.internals.linker_components.training import LinkerTraining

    people, store, _ = index
    upload, truth = make_upload(people, n=250, seed=8)
    original = LinkerTraining.estimate_parameters_using_expectation_maximisation
    calls = []

    def refuse_full_runs(self, *args, **kwargs):
        full = self._linker._settings_obj.training_settings.max_iterations == 25
        calls.append(full)
        if full:
            raise ValueError("m_probability value 0.0 is below the minimum allowed value of 1e-300.")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(
        LinkerTraining, "estimate_parameters_using_expectation_maximisation", refuse_full_runs
    )
    result = link_cohort(upload, store, SMALL)
    assert True in calls and False in calls  # refused, then retried
    assert "em_blocked_on_date_of_birth" in result.model["jdl_training"]["m_sources"]["surname"]
    quality = score_links(result.links, _key(upload, truth))
    assert quality.precision >= 0.995 and quality.recall >= 0.95, quality
