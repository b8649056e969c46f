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
