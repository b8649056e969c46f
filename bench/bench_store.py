"""Speed of the national store: import of a Parquet extract and derived-variable queries.

Targets (brief, issue 4): 5 million people / ~25 million offences import in about a minute;
``candidate_pool`` on a 5-million-person store answers in seconds. Prints wall and process CPU
seconds (DuckDB threads included; on a shared machine CPU / cores is the fairer figure) and the
ratio of wall time to target, scaled linearly to 5 million people when run smaller.

    .venv/bin/python bench/bench_store.py --people 1000000

``--owner-spelling`` also imports the same extract written as data owners write it (mixed-case names
with stray spaces, lower-case identifiers, two-digit PNC years, lower-case codes), so every value takes
the importer's normalisation path rather than its already-in-form fast path; the two imports give the
same content hash.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb

from jdl_lib.derived import candidate_pool, index_event_features
from jdl_lib.store import NationalStore, export_national, import_national
from jdl_lib.synth import build_synthetic_store

TARGET_PEOPLE = 5_000_000
TARGET_IMPORT_S = 60.0
TARGET_POOL_S = 10.0


@contextmanager
def timer(label: str, scale: float = 1.0, target: float | None = None):
    """Print wall and CPU seconds of the block, and the scaled ratio to ``target``."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    line = f"{label}: wall {wall:.2f} s, cpu {cpu:.2f} s"
    if target is not None:
        ratio = wall * scale / target
        line += f"; scaled to 5M people {wall * scale:.0f} s (target {target:.0f} s, ratio {ratio:.2f})"
    print(line)


def owner_spelling(raw: Path, out: Path) -> Path:
    """Copy the extract with people and offences rewritten as an owner would send them."""
    shutil.copytree(raw, out)
    people, offences = (str(out / f"{t}.parquet") for t in ("people", "offences"))
    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT * REPLACE (
                forename[1] || lower(forename[2:]) || ' ' AS forename, ' ' || lower(surname) AS surname,
                lower(CASE WHEN pnc_id < '2000' THEN pnc_id[3:5] || ltrim(pnc_id[6:], '0') ELSE pnc_id END)
                    AS pnc_id,
                lower(prison_number) AS prison_number, upper(region) AS region, lower(ethnicity) AS ethnicity)
            FROM read_parquet('{raw / "people.parquet"}')) TO '{people}' (FORMAT parquet)"""
    )
    con.execute(
        f"COPY (SELECT * REPLACE (upper(offence_group) AS offence_group) FROM read_parquet("
        f"'{raw / 'offences.parquet'}')) TO '{offences}' (FORMAT parquet)"
    )
    con.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2013)
    parser.add_argument(
        "--owner-spelling", action="store_true", help="also import the extract in owners' spelling"
    )
    args = parser.parse_args()
    scale = TARGET_PEOPLE / args.people
    with tempfile.TemporaryDirectory(prefix="jdl-bench-store-") as tmp:
        root = Path(tmp)
        with timer("synth build"):
            built = build_synthetic_store(root / "synth.duckdb", args.people, args.seed)
        print(f"rows: {built.row_counts}")
        export_national(built.store_path, root / "raw")
        with timer("import", scale, TARGET_IMPORT_S):
            clean = import_national(
                root / "raw",
                root / "store.duckdb",
                source="bench",
                coverage_start=date(2000, 1, 1),
                coverage_end=date(2012, 12, 31),
            )
        if args.owner_spelling:
            messy = owner_spelling(root / "raw", root / "raw-owner")
            with timer("import (owner spelling: every identifier normalised)", scale, TARGET_IMPORT_S):
                again = import_national(
                    messy,
                    root / "owner.duckdb",
                    source="bench owner spelling",
                    coverage_start=date(2000, 1, 1),
                    coverage_end=date(2012, 12, 31),
                )
            print(f"  same content hash as the clean import: {again.content_hash == clean.content_hash}")
        with NationalStore.open(root / "store.duckdb") as store:
            for setting in ("custody", "community"):
                with timer(f"candidate_pool({setting})", scale, TARGET_POOL_S):
                    pool = candidate_pool(store, setting, date(2000, 1, 1), date(2011, 6, 30))
                print(f"  {len(pool):,} rows")
            ids = pool.disposal_id.sample(1_000, random_state=1)
            with timer("index_event_features(1,000 disposal ids)"):
                index_event_features(store, disposal_ids=ids)
            with timer("index_event_features(all)"):
                everything = index_event_features(store)
            print(f"  {len(everything):,} rows")


if __name__ == "__main__":
    main()
