"""Index events against a tiny hand-built store with known answers, and the synthetic answer key."""

from datetime import date

import pandas as pd
import pytest

from jdl_lib.identifiers import pnc_check_letter
from jdl_lib.index_events import EVENT_COLUMNS, find_index_events
from jdl_lib.store import NationalStore

# person: (setting, intervention start, [(disposal_id, type, disposal date, release date)], expected)
# expected is a disposal_id, or a drop reason code.
CASES = {
    1: ("custody", "2004-03-01", [(10, "custody", "2004-01-01", "2004-06-01")], 10),
    2: (
        "custody",
        "2004-07-01",
        [
            (20, "custody", "2004-01-01", "2004-06-01"),
            (21, "custody", "2004-07-15", "2004-09-01"),
            (22, "custody", "2004-10-01", "2004-12-01"),
        ],
        21,
    ),
    3: ("custody", "2004-03-01", [(30, "custody", "2004-01-01", "2005-04-05")], "no_custody_release"),
    4: (
        "custody",
        "2004-03-01",
        [(40, "custody", "2003-01-01", "2004-02-28"), (41, "community_order", "2004-03-10", None)],
        "no_custody_release",
    ),
    5: (
        "community",
        "2005-02-01",
        [
            (50, "suspended_sentence", "2004-12-01", None),
            (51, "community_order", "2005-01-10", None),
            (52, "caution", "2005-01-20", None),
            (53, "community_order", "2005-03-01", None),
        ],
        51,
    ),
    6: (
        "community",
        "2005-02-01",
        [
            (60, "fine", "2005-01-10", None),
            (61, "community_order", "2005-03-03", None),
            (62, "community_order", "2005-04-01", None),
        ],
        61,
    ),
    7: (
        "community",
        "2005-02-01",
        [(70, "community_order", "2003-12-01", None), (71, "custody", "2005-01-01", "2005-02-10")],
        "no_community_sentence",
    ),
    8: ("community", "2011-08-15", [(80, "community_order", "2011-08-01", None)], "follow_up_incomplete"),
    9: ("custody", "1999-10-01", [(90, "custody", "1999-09-01", "1999-11-01")], "before_coverage"),
    10: (
        "community",
        "2006-05-01",
        [(100, "community_order", "2006-04-01", None), (101, "suspended_sentence", "2006-04-01", None)],
        100,
    ),
    11: ("custody", "2011-06-01", [(110, "custody", "2011-01-01", "2011-06-30")], 110),
    12: ("custody", "2011-06-01", [(120, "custody", "2011-01-01", "2011-07-01")], "follow_up_incomplete"),
    13: ("community", "2005-06-01", [(130, "community_order", "2004-06-01", None)], 130),
    14: ("community", "2005-06-01", [(140, "community_order", "2004-05-31", None)], "no_community_sentence"),
}


def _tables() -> dict[str, pd.DataFrame]:
    ids = list(CASES)
    people = pd.DataFrame(
        {
            "person_id": pd.array(ids, dtype="int64"),
            "pnc_id": [f"1990/{i:07d}{pnc_check_letter(1990, i)}" for i in ids],
            "prison_number": [f"A{i:04d}BC" for i in ids],
            "forename": "JOHN",
            "surname": [f"SMITH{chr(64 + i)}" for i in ids],
            "date_of_birth": pd.Timestamp("1970-01-01"),
            "gender": "M",
            "ethnicity": "White",
            "region": "London",
            "uk_national": True,
        }
    )
    rows = [
        (d, p, t, pd.Timestamp(dd), pd.Timestamp(r) if r else pd.NaT)
        for p, (_, _, disposals, _) in CASES.items()
        for d, t, dd, r in disposals
    ]
    disposals = pd.DataFrame(
        rows, columns=["disposal_id", "person_id", "disposal_type", "disposal_date", "release_date"]
    )
    disposals["sentence_length_days"] = pd.array(
        [
            (r - d).days + 30
            if t == "custody"
            else (365 if t in ("community_order", "suspended_sentence") else None)
            for t, d, r in zip(
                disposals.disposal_type, disposals.disposal_date, disposals.release_date, strict=True
            )
        ],
        dtype="Int32",
    )
    offences = pd.DataFrame(
        {
            "offence_id": disposals["disposal_id"],
            "person_id": disposals["person_id"],
            "disposal_id": disposals["disposal_id"],
            "offence_date": disposals["disposal_date"] - pd.Timedelta(days=20),
            "offence_group": "theft",
            "is_breach": False,
        }
    )
    empty = {
        "aliases": {
            "alias_id": "int64",
            "person_id": "int64",
            "forename": "str",
            "surname": "str",
            "date_of_birth": "datetime64[ns]",
        },
        "employment_benefits": {
            "record_id": "int64",
            "person_id": "int64",
            "year": "int32",
            "employed": "bool",
            "on_benefit": "bool",
        },
        "assessments": {
            "assessment_id": "int64",
            "person_id": "int64",
            "assessment_date": "datetime64[ns]",
            "accommodation_need": "bool",
            "ete_need": "bool",
            "drug_need": "bool",
            "alcohol_need": "bool",
        },
    }
    tables = {
        "people": people,
        "disposals": disposals[
            [
                "disposal_id",
                "person_id",
                "disposal_date",
                "disposal_type",
                "sentence_length_days",
                "release_date",
            ]
        ],
        "offences": offences,
    }
    tables.update(
        {name: pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()}) for name, cols in empty.items()}
    )
    return tables


@pytest.fixture
def store(store_from_tables):
    with NationalStore.open(store_from_tables(_tables())) as opened:
        yield opened


def _links() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "upload_row": [p + 1 for p in CASES],
            "person_id": list(CASES),
            "setting": [c[0] for c in CASES.values()],
            "intervention_start": pd.to_datetime([c[1] for c in CASES.values()]),
            "intervention_end": pd.NaT,
            "forename": "ignored",
        }
    )


def test_rules_pick_the_known_event_or_reason(store):
    result = find_index_events(_links(), store)
    got = dict(zip(result.events.person_id, result.events.disposal_id, strict=True))
    got.update(dict(zip(result.dropped.person_id, result.dropped.reason, strict=True)))
    assert got == {p: c[3] for p, c in CASES.items()}
    assert tuple(result.events.columns) == EVENT_COLUMNS
    release = result.events.set_index("person_id").loc[1, "index_date"]
    assert release == pd.Timestamp("2004-06-01")
    assert result.n_links == len(CASES) == len(result.events) + len(result.dropped)


def test_drop_counts_and_settings(store):
    result = find_index_events(_links(), store, custody_window_days=500)
    assert result.settings.custody_window_days == 500
    assert result.settings.coverage_end == date(2012, 12, 31)
    assert 3 in set(result.events.person_id)  # release 400 days after start is now inside the window
    counts = result.drop_counts()
    assert sum(counts.values()) == len(result.dropped)
    assert any("past the end of the national data (31 December 2012)" in k for k in counts)


def test_same_person_twice_keeps_first_row(store):
    links = pd.concat([_links(), _links().assign(upload_row=lambda f: f.upload_row + 100)], ignore_index=True)
    result = find_index_events(links.sample(frac=1, random_state=3), store)
    assert (result.dropped.loc[result.dropped.upload_row > 100, "reason"] == "same_person").all()
    assert (result.events.upload_row < 100).all()


def test_empty_links_and_bad_input(store):
    result = find_index_events(_links().iloc[:0], store)
    assert result.events.empty and result.dropped.empty and result.drop_counts() == {}
    with pytest.raises(ValueError, match="lacks column"):
        find_index_events(_links().drop(columns="setting"), store)
    with pytest.raises(ValueError, match="setting"):
        find_index_events(_links().assign(setting="prison"), store)


@pytest.mark.slow
@pytest.mark.parametrize("setting", ["custody", "community"])
def test_agrees_with_the_synthetic_answer_key(tmp_path, setting):
    """Through intake, with the answer key's links (the correctly linked people): >= 99% agreement."""
    from synth_helpers import small_store

    from jdl_lib.intake import read_upload
    from jdl_lib.synth import make_cohort, write_cohort

    cohort = make_cohort(small_store(), 400, setting, date(2003, 1, 1), date(2010, 12, 31), seed=11)
    paths = write_cohort(cohort, tmp_path)
    intake = read_upload(paths["upload_csv"])
    key = cohort.answer_key  # spreadsheet rows, as intake numbers them
    key = key[key.person_id.notna()].astype({"person_id": "int64", "disposal_id": "int64"})
    # Intake drops the repeated rows (keeping the first of each person, which may be the copy), and at
    # most a handful whose date-of-birth noise made them implausible.
    drops = intake.drop_counts()
    assert drops.pop("repeated person") == int(cohort.answer_key.duplicate_of.notna().sum())
    assert sum(drops.values()) <= 0.01 * len(key)
    links = intake.people.merge(key[["upload_row", "person_id"]], on="upload_row")
    with NationalStore.open(small_store()) as store:
        result = find_index_events(links, store)
    got = links[["upload_row"]].merge(
        result.events[["upload_row", "disposal_id"]], how="left", on="upload_row"
    )
    expected = key.set_index("upload_row").disposal_id.reindex(got.upload_row).to_numpy()
    agreement = (got.disposal_id.to_numpy() == expected).mean()
    assert len(links) > 350
    assert agreement >= 0.99, f"{setting}: {agreement:.3f} agreement; dropped {result.drop_counts()}"
