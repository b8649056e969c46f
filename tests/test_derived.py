"""Derived index-event variables against hand-computed values on a tiny hand-built history."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from jdl_lib.derived import FEATURE_COLUMNS, candidate_pool, index_event_features
from jdl_lib.identifiers import pnc_check_letter
from jdl_lib.store import NationalStore, export_national, import_national

D = pd.Timestamp


def _hand_tables() -> dict[str, pd.DataFrame]:
    """Three people whose every derived value is worked out by hand in the tests below."""
    people = pd.DataFrame(
        {
            "person_id": [1, 2, 3],
            "pnc_id": [f"{y}/{i:07d}{pnc_check_letter(y, i)}" for y, i in ((1998, 1), (2010, 2), (2005, 3))],
            "prison_number": ["A1111AA", "B2222BB", None],
            "forename": ["ADAM", "BETH", "CARL"],
            "surname": ["ONE", "TWO", "THREE"],
            "date_of_birth": [D("1980-01-01"), D("1985-06-15"), D("1970-01-01")],
            "gender": ["M", "F", "M"],
            "ethnicity": ["White", "Asian", "Black"],
            "region": ["London", "Wales", "North East"],
            "uk_national": [True, False, True],
        }
    )
    # disposal_id, person, date, type, length, release
    disposals = [
        (101, 1, "1998-05-01", "caution", None, None),
        (102, 1, "1999-03-01", "fine", None, None),
        (103, 1, "2004-01-10", "custody", 365, "2004-07-10"),  # index: release 2004-07-10
        (104, 1, "2004-01-10", "discharge", None, None),  # same day as 103: not "previous"
        (105, 1, "2004-08-01", "fine", None, None),
        (106, 1, "2005-12-10", "custody", 200, "2006-03-01"),  # index+17 months
        (108, 1, "2006-01-10", "caution", None, None),  # exactly index+18 months
        (107, 1, "2006-01-11", "community_order", 365, None),  # one day after index+18 months
        (201, 2, "2010-12-01", "custody", 180, "2011-03-01"),
        (204, 2, "2011-02-01", "community_order", 365, None),
        (202, 2, "2011-05-01", "custody", 300, "2011-06-30"),  # last analysable index date
        (203, 2, "2011-07-01", "suspended_sentence", 365, None),  # follow-up incomplete
        (301, 3, "2005-05-05", "community_order", 365, None),
    ]
    disposals = pd.DataFrame(
        disposals,
        columns=[
            "disposal_id",
            "person_id",
            "disposal_date",
            "disposal_type",
            "sentence_length_days",
            "release_date",
        ],
    ).astype(
        {"disposal_date": "datetime64[s]", "release_date": "datetime64[s]", "sentence_length_days": "Int32"}
    )
    # offence_id, person, disposal, date, group, breach
    offences = [
        (1001, 1, 101, "1998-04-20", "theft", False),
        (1002, 1, 102, "1999-01-01", "public_order", False),
        (1003, 1, 102, "1999-02-01", "summary_non_motoring", True),
        (1004, 1, 103, "2003-12-01", "theft", False),
        (1005, 1, 103, "2003-12-02", "robbery", False),
        (1006, 1, 104, "2003-11-01", "public_order", False),
        (1007, 1, 105, "2004-07-10", "theft", False),  # on the index date: not a reoffence
        (1008, 1, 106, "2005-07-09", "theft", False),  # 364 days after, proven at 17 months: counts
        (1009, 1, 106, "2005-07-11", "theft", False),  # 366 days after: does not count
        (1010, 1, 107, "2004-09-01", "drug", False),  # proven after 18 months: does not count
        (1011, 1, 108, "2004-10-01", "fraud", False),  # proven on the 18-month day: counts, first
        (2001, 2, 201, "2010-11-01", "drug", False),
        (2004, 2, 204, "2010-12-15", "sexual", False),  # committed before release: not a reoffence
        (2002, 2, 202, "2011-04-01", "theft", False),  # first reoffence after 201, proven by custody
        (2003, 2, 203, "2011-06-15", "fraud", True),
        (3001, 3, 301, "2005-04-01", "violence_against_the_person", False),
    ]
    offences = pd.DataFrame(
        offences,
        columns=["offence_id", "person_id", "disposal_id", "offence_date", "offence_group", "is_breach"],
    ).astype({"offence_date": "datetime64[s]"})
    aliases = pd.DataFrame(
        {
            "alias_id": [1],
            "person_id": [1],
            "forename": ["ADAM"],
            "surname": ["UNO"],
            "date_of_birth": [D("1980-01-02")],
        }
    )
    employment = pd.DataFrame(
        {
            "record_id": [1, 2],
            "person_id": [1, 1],
            "year": pd.array([2003, 2004], dtype="int32"),
            "employed": [True, False],
            "on_benefit": [False, True],
        }
    )
    # assessment_id, person, date, accommodation, ete, drug, alcohol
    assessments = [
        (1, 1, "2003-07-10", False, False, False, True),  # 366 days before 2004-07-10: outside
        (2, 1, "2003-07-11", False, False, True, False),  # 365 days before: inside
        (3, 1, "2004-07-11", True, False, False, False),  # after the index date: outside
        (4, 2, "2011-01-01", False, False, True, False),
        (5, 2, "2011-02-20", False, False, False, True),  # latest before 2011-03-01
    ]
    assessments = pd.DataFrame(
        assessments,
        columns=[
            "assessment_id",
            "person_id",
            "assessment_date",
            "accommodation_need",
            "ete_need",
            "drug_need",
            "alcohol_need",
        ],
    ).astype({"assessment_date": "datetime64[s]"})
    return {
        "people": people,
        "aliases": aliases,
        "disposals": disposals,
        "offences": offences,
        "employment_benefits": employment,
        "assessments": assessments,
    }


@pytest.fixture
def hand_store(store_from_tables) -> NationalStore:
    with NationalStore.open(store_from_tables(_hand_tables())) as store:
        yield store


@pytest.fixture
def features(hand_store: NationalStore) -> pd.DataFrame:
    return index_event_features(hand_store).set_index("disposal_id")


def _years(a: str, b: str) -> float:
    return (D(b) - D(a)).days / 365.25


def test_columns_and_events(features: pd.DataFrame) -> None:
    assert ["disposal_id", *features.columns] == [
        "disposal_id",
        *[c for c in FEATURE_COLUMNS if c != "disposal_id"],
    ]
    # custody and community disposals only; fines, cautions and discharges start no index event
    assert sorted(features.index) == [103, 106, 107, 201, 202, 203, 204, 301]
    assert features.loc[103, "setting"] == "custody" and features.loc[107, "setting"] == "community"
    assert features.loc[103, "index_date"] == D("2004-07-10")  # release, not sentence date
    assert features.loc[204, "index_date"] == D("2011-02-01")
    assert features.loc[103, "index_year"] == 2004


def test_history_and_demographics(features: pd.DataFrame) -> None:
    row = features.loc[103]
    expected = {
        "previous_sanctions": 2,
        "previous_convictions": 1,
        "previous_cautions": 1,
        "previous_custody": 0,
        "previous_offences": 3,
        "previous_breaches": 1,
        "sentence_length_days": 365,
        "index_offence_group": "robbery",  # robbery outranks theft
        "disposal_type": "custody",
        "gender": "M",
        "region": "London",
        "uk_national": True,
    }
    assert {k: row[k] for k in expected} == expected
    assert row.age_at_index == pytest.approx(_years("1980-01-01", "2004-07-10"))
    assert row.age_at_first_contact == pytest.approx(_years("1980-01-01", "1998-05-01"))
    years = _years("1998-05-01", "2004-01-10")
    assert row.years_since_first_sanction == pytest.approx(years)
    assert row.copas_rate == pytest.approx(math.log(3 / (years + 10)))
    # own OGRS3-style model: intercept 1.6, age 21-24 +0.4, male 0, copas x1.25, robbery +0.1
    z = 1.6 + 0.4 + 1.25 * math.log(3 / (years + 10)) + 0.1
    assert row.ogrs_score == pytest.approx(1 / (1 + math.exp(-z)))
    later = features.loc[107]  # before 2006-01-11: 101-106 and the caution 108
    assert (later.previous_sanctions, later.previous_cautions, later.previous_custody) == (7, 2, 2)
    assert later.sentence_length_days == 365 and features.loc[106, "previous_offences"] == 7
    first = features.loc[201]
    assert (first.previous_sanctions, first.years_since_first_sanction) == (0, 0.0)
    assert first.copas_rate == pytest.approx(math.log(1 / 10))
    z = 1.6 + 0.2 - 0.45 + 1.25 * math.log(1 / 10) + 0.0  # aged 25.7 (+0.2), female, drug offence
    assert first.ogrs_score == pytest.approx(1 / (1 + math.exp(-z)))


def test_circumstances(features: pd.DataFrame) -> None:
    row = features.loc[103]
    assert (row.employed_year_before, row.on_benefit_year_before) == (True, False)  # the 2003 row
    assert row.assessed and row.drug_need  # assessed exactly 365 days before
    assert not (row.alcohol_need or row.accommodation_need or row.ete_need)
    latest = features.loc[201]
    assert latest.assessed and latest.alcohol_need and not latest.drug_need  # the latest one wins
    none = features.loc[301]
    assert not (none.assessed or none.drug_need or none.employed_year_before or none.on_benefit_year_before)


def test_proven_reoffending_windows(features: pd.DataFrame) -> None:
    row = features.loc[103]
    # counts: 1008 (364 days, proven at 17 months) and 1011 (proven on the 18-month day);
    # not: 1007 (on the index date), 1009 (366 days after), 1010 (proven after 18 months)
    assert (row.reoffended_1y, row.reoffences_1y) == (True, 2)
    assert row.days_to_first_reoffence == 83  # 2004-10-01, proven by a caution
    assert pd.notna(row.first_reoffence_custody) and not row.first_reoffence_custody
    p2 = features.loc[201]
    assert (p2.reoffences_1y, p2.days_to_first_reoffence, bool(p2.first_reoffence_custody)) == (2, 31, True)
    quiet = features.loc[106]
    assert (quiet.reoffended_1y, quiet.reoffences_1y) == (False, 0)
    assert pd.isna(quiet.days_to_first_reoffence) and pd.isna(quiet.first_reoffence_custody)


def test_follow_up_complete(features: pd.DataFrame) -> None:
    assert features.loc[202, "follow_up_complete"]  # 2011-06-30 + 18 months = 2012-12-30
    assert not features.loc[203, "follow_up_complete"]  # 2011-07-01 + 18 months = 2013-01-01


def test_filters(hand_store: NationalStore) -> None:
    ids = index_event_features(hand_store, disposal_ids=[103, 102, 999]).disposal_id.tolist()
    assert ids == [103]  # a fine is no index event; unknown ids yield nothing
    assert set(index_event_features(hand_store, setting="community").disposal_id) == {107, 203, 204, 301}
    window = index_event_features(hand_store, index_from=date(2006, 1, 11), index_to=date(2011, 3, 1))
    assert window.disposal_id.tolist() == [107, 106, 204, 201]  # ordered by index date
    with pytest.raises(ValueError, match="custody, community"):
        index_event_features(hand_store, setting="prison")


def test_candidate_pool(hand_store: NationalStore) -> None:
    custody = candidate_pool(hand_store, "custody", date(2000, 1, 1), date(2012, 12, 31))
    assert custody.disposal_id.tolist() == [103, 106, 201]  # 202 is person 2's second in 2011
    community = candidate_pool(hand_store, "community", date(2000, 1, 1), date(2012, 12, 31))
    assert sorted(community.disposal_id) == [107, 204, 301]  # 203: follow-up incomplete
    excluded = candidate_pool(
        hand_store, "custody", date(2000, 1, 1), date(2011, 6, 30), exclude_person_ids=[1]
    )
    assert excluded.disposal_id.tolist() == [201]
    assert list(excluded.columns) == list(FEATURE_COLUMNS)
    with pytest.raises(ValueError):
        candidate_pool(hand_store, "custody", date(2011, 1, 1), date(2010, 1, 1))


def test_fixture_store_features_are_consistent(national_store: Path) -> None:
    with NationalStore.open(national_store) as store:
        f = index_event_features(store)
        pool = candidate_pool(store, "community", date(2000, 1, 1), date(2011, 6, 30))
    assert list(f.columns) == list(FEATURE_COLUMNS) and f.disposal_id.is_unique
    assert f.ogrs_score.between(0, 1).all() and (f.age_at_index >= f.age_at_first_contact).all()
    assert (f.reoffended_1y == (f.reoffences_1y > 0)).all()
    assert f.days_to_first_reoffence.dropna().between(1, 366).all()
    assert (f.follow_up_complete == (f.index_date <= D("2011-06-30"))).all()
    assert pool.follow_up_complete.all() and not pool.duplicated(["person_id", "index_year"]).any()


def test_synthetic_round_trip(tmp_path: Path) -> None:
    """synth -> export raw files -> import gives a store with identical derived variables."""
    from jdl_lib.synth import build_synthetic_store

    built = build_synthetic_store(tmp_path / "synth.duckdb", 5_000, 11)
    export_national(built.store_path, tmp_path / "raw")
    again = import_national(
        tmp_path / "raw",
        tmp_path / "again.duckdb",
        source="round trip",
        coverage_start=date(2000, 1, 1),
        coverage_end=date(2012, 12, 31),
    )
    assert again.content_hash == built.content_hash
    with NationalStore.open(built.store_path) as a, NationalStore.open(tmp_path / "again.duckdb") as b:
        fa, fb = index_event_features(a), index_event_features(b)
    assert len(fa) > 1_000
    pd.testing.assert_frame_equal(fa, fb)


def test_unsupplied_tables_and_unknown_codes(store_from_tables) -> None:
    """Issue 16 items 8-9: variables from a table the owner could not supply are null (not False), and
    an unknown region or nationality reaches matching as a category of its own."""
    from jdl_lib.balance.stats import expand_covariates
    from jdl_lib.matching.design import design_matrix

    tables = _hand_tables()
    tables["employment_benefits"] = tables["employment_benefits"].iloc[:0]
    del tables["assessments"]
    tables["people"]["region"] = ["unknown", "Wales", "London"]
    tables["people"]["uk_national"] = pd.array([True, None, False], dtype="boolean")
    with NationalStore.open(store_from_tables(tables)) as store:
        f = index_event_features(store)
    circumstances = list(FEATURE_COLUMNS[FEATURE_COLUMNS.index("employed_year_before") :][:7])
    assert f[circumstances].isna().all().all()
    assert set(f.region) == {"Unknown", "Wales", "London"} and f.uk_national.isna().any()
    x = design_matrix(f, ["uk_national", "region", "age_at_index"])
    assert "uk_national_unknown" in x and x.notna().all().all()
    assert (x["uk_national_unknown"] == f.uk_national.isna()).all()
    assert "region_Unknown" in expand_covariates(f, ["uk_national", "region"])
