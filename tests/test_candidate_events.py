"""Candidate events derived once at import give exactly the pool a request would derive itself."""

from __future__ import annotations

import shutil
from datetime import date

import duckdb
import pandas as pd
import pytest
from synth_helpers import small_store

from jdl_lib.derived import CANDIDATE_EVENTS_TABLE, candidate_pool
from jdl_lib.store import NationalStore


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """The test store (imported with its candidate events) and a copy without them (an older store)."""
    with_table = small_store()
    without = tmp_path_factory.mktemp("old") / "national.duckdb"
    shutil.copy(with_table, without)
    con = duckdb.connect(str(without))
    con.execute(f"DROP TABLE {CANDIDATE_EVENTS_TABLE}")
    con.close()
    return with_table, without


@pytest.mark.parametrize(
    ("setting", "start", "end"),
    [("custody", date(2004, 3, 15), date(2009, 7, 1)), ("community", date(2002, 1, 1), date(2011, 6, 30))],
)
def test_pool_from_import_equals_pool_derived_per_request(stores, setting, start, end):
    with_table, without = stores
    with NationalStore.open(with_table) as store:
        tables = {r[0] for r in store.connection.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert CANDIDATE_EVENTS_TABLE in tables
        fast = candidate_pool(store, setting, start, end, exclude_person_ids=[1, 2, 3, 50, 51])
    with NationalStore.open(without) as store:
        slow = candidate_pool(store, setting, start, end, exclude_person_ids=[1, 2, 3, 50, 51])
    assert len(fast) > 100
    pd.testing.assert_frame_equal(fast.reset_index(drop=True), slow.reset_index(drop=True))


def test_events_derived_in_slices_of_people_equal_one_pass(raw_extract, store_from_tables, monkeypatch):
    # The importer derives the events a slice of people at a time to bound memory at national scale;
    # every feature is per person, so slicing must change nothing.
    from jdl_lib import derived

    whole = store_from_tables(raw_extract, "whole.duckdb")
    monkeypatch.setattr(derived, "PEOPLE_PER_SLICE", 70)  # 400 people: six slices
    sliced = store_from_tables(raw_extract, "sliced.duckdb")
    frames = []
    for path in (whole, sliced):
        with NationalStore.open(path) as store:
            frames.append(
                store.connection.execute(f"SELECT * FROM {CANDIDATE_EVENTS_TABLE} ORDER BY disposal_id").df()
            )
    assert len(frames[0]) > 50
    pd.testing.assert_frame_equal(frames[0], frames[1])
