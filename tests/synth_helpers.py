"""One small synthetic store per test session, shared by the synth test modules (seeded, built by code)."""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path

import duckdb
import pandas as pd

from jdl_lib.synth import build_synthetic_store

SMALL_PEOPLE = 25_000
SMALL_SEED = 2013


@cache
def small_store() -> Path:
    """Build (once) a 25k-person synthetic store in a temporary folder and return its path."""
    root = Path(tempfile.mkdtemp(prefix="jdl-synth-test-"))
    return build_synthetic_store(root / "national.duckdb", SMALL_PEOPLE, SMALL_SEED).store_path


def all_events(store: Path) -> pd.DataFrame:
    """Every disposal as an index event (MoJ cohort: cautions, court disposals, custody releases),
    with its proven one-year reoffending computed independently of ``jdl_lib.derived``."""
    truth = str(store.with_name(f"{store.stem}.truth.parquet"))
    con = duckdb.connect(str(store), read_only=True)
    try:
        return con.execute(
            f"""
            WITH ev AS (
              SELECT d.*, coalesce(d.release_date, d.disposal_date) AS idx,
                     (SELECT count(*) FROM offences o JOIN disposals p USING (disposal_id)
                       WHERE o.person_id = d.person_id AND p.disposal_date < d.disposal_date) AS prev_offences
              FROM disposals d),
            re AS (
              SELECT ev.disposal_id, count(*) AS n
              FROM ev JOIN offences o ON o.person_id = ev.person_id
                   AND o.offence_date > ev.idx AND o.offence_date <= ev.idx + INTERVAL 1 YEAR
              JOIN disposals d2 ON d2.disposal_id = o.disposal_id
                   AND d2.disposal_date <= ev.idx + INTERVAL 18 MONTH
              GROUP BY 1)
            SELECT ev.disposal_id, ev.person_id, ev.disposal_type, ev.sentence_length_days, ev.idx,
                   ev.prev_offences, coalesce(re.n, 0) AS reoffences, t.p_reoffend_1y AS p,
                   date_diff('day', pe.date_of_birth, ev.idx) / 365.25 AS age, pe.gender
            FROM ev LEFT JOIN re USING (disposal_id)
            JOIN read_parquet('{truth}') t USING (disposal_id)
            JOIN people pe USING (person_id)
            WHERE ev.idx BETWEEN DATE '2000-01-01' AND DATE '2011-06-30'
            """
        ).df()
    finally:
        con.close()
