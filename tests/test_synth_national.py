"""The synthetic national database: realistic levels, exact truth, valid identifiers, reproducibility."""

from __future__ import annotations

import re

import duckdb
import numpy as np
import pandas as pd
import pytest
from synth_helpers import SMALL_PEOPLE, all_events, small_store

from jdl_lib.identifiers import is_valid_pnc
from jdl_lib.synth import build_synthetic_store, generate_national
from jdl_lib.synth.national import truth_path


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    ev = all_events(small_store())
    ev["reoffended"] = ev.reoffences > 0
    return ev


@pytest.fixture(scope="module")
def people() -> pd.DataFrame:
    con = duckdb.connect(str(small_store()), read_only=True)
    try:
        return con.execute(
            "SELECT p.*, EXISTS (SELECT 1 FROM disposals d WHERE d.person_id = p.person_id "
            "AND d.disposal_type = 'custody') AS ever_custody, "
            "(SELECT count(*) FROM aliases a WHERE a.person_id = p.person_id) AS n_aliases FROM people p"
        ).df()
    finally:
        con.close()


@pytest.mark.slow
def test_overall_reoffending_rate_in_moj_band(events: pd.DataFrame) -> None:
    assert 0.24 <= events.reoffended.mean() <= 0.32


@pytest.mark.slow
def test_truth_probability_is_the_derived_outcome_probability(events: pd.DataFrame) -> None:
    # p_k is exactly P(reoffended_1y) as derived from the raw tables: means agree overall and by decile.
    se = np.sqrt((events.p * (1 - events.p)).sum()) / len(events)
    assert abs(events.reoffended.mean() - events.p.mean()) < 4 * se
    by_decile = events.groupby(pd.qcut(events.p, 10), observed=True)[["reoffended", "p"]].mean()
    assert (by_decile.reoffended - by_decile.p).abs().max() < 0.03


@pytest.mark.slow
def test_short_custody_well_above_overall(events: pd.DataFrame) -> None:
    short = events[(events.disposal_type == "custody") & (events.sentence_length_days < 365)]
    assert short.reoffended.mean() > events.reoffended.mean() + 0.2
    assert 0.5 <= short.reoffended.mean() <= 0.72


@pytest.mark.slow
def test_reoffending_falls_with_age(events: pd.DataFrame) -> None:
    rate = events.groupby(
        pd.cut(events.age, [18, 25, 35, 50, 120], right=False), observed=True
    ).reoffended.mean()
    assert rate.is_monotonic_decreasing
    assert rate.iloc[0] - rate.iloc[-1] > 0.15


@pytest.mark.slow
def test_previous_offences_heavy_tailed_and_predictive(events: pd.DataFrame) -> None:
    prev = events.prev_offences
    assert prev.quantile(0.99) > 8 * max(prev.median(), 1)
    none, many = events[prev == 0].reoffended.mean(), events[prev >= 11].reoffended.mean()
    assert 0.07 <= none <= 0.18
    assert 0.38 <= many <= 0.6


@pytest.mark.slow
def test_reoffences_per_reoffender(events: pd.DataFrame) -> None:
    assert 2.0 <= events.reoffences[events.reoffended].mean() <= 4.0


@pytest.mark.slow
def test_mostly_men(events: pd.DataFrame, people: pd.DataFrame) -> None:
    assert 0.8 <= (people.gender == "M").mean() <= 0.9
    assert 0.8 <= (events.gender == "M").mean() <= 0.9


@pytest.mark.slow
def test_identifiers(people: pd.DataFrame) -> None:
    assert len(people) == SMALL_PEOPLE
    assert all(is_valid_pnc(v) for v in people.pnc_id)
    assert people.pnc_id.str.fullmatch(r"\d{4}/\d{7}[A-Z]").all()
    # Prison numbers exactly for people ever in custody, unique, in the A1234BC form.
    assert (people.prison_number.notna() == people.ever_custody).all()
    numbers = people.prison_number.dropna()
    assert numbers.is_unique and numbers.map(lambda v: bool(re.fullmatch(r"[A-Z]\d{4}[A-Z]{2}", v))).all()


@pytest.mark.slow
def test_aliases_share_and_prolific_people_have_more(people: pd.DataFrame) -> None:
    share = (people.n_aliases > 0).mean()
    assert 0.1 <= share <= 0.25
    assert (
        people[people.ever_custody].n_aliases.gt(0).mean()
        > people[~people.ever_custody].n_aliases.gt(0).mean()
    )


def test_same_seed_same_tables_other_seed_differs() -> None:
    a, b, c = generate_national(3_000, 5), generate_national(3_000, 5), generate_national(3_000, 6)
    for name in a.tables:
        assert a.tables[name].equals(b.tables[name]), name
    assert a.truth.equals(b.truth)
    assert not a.tables["disposals"].equals(c.tables["disposals"])


def test_same_seed_same_store_content_hash(tmp_path) -> None:
    first = build_synthetic_store(tmp_path / "a" / "national.duckdb", 2_000, 9)
    second = build_synthetic_store(tmp_path / "b" / "national.duckdb", 2_000, 9)
    assert first.content_hash == second.content_hash
    assert first.row_counts == second.row_counts
    assert first.truth_path == truth_path(first.store_path) and first.truth_path.is_file()
    assert (
        build_synthetic_store(tmp_path / "c" / "national.duckdb", 2_000, 10).content_hash
        != first.content_hash
    )
