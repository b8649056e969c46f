"""Linkage at national scale: a 2,000-person upload against a 5-million-person synthetic store.

Target (issue 5): under 60 seconds on 2 cores. Prints seconds per stage, precision, recall, peak RSS
and the ratio to the target. The store is built once into data/ with the synthetic generator and
reused; the cohort is drawn from it with its answer key.

    .venv/bin/python bench/bench_linkage.py                      # 5M people, 2,000 submitted
    .venv/bin/python bench/bench_linkage.py --people 1000000 --store data/bench_linkage_1m.duckdb
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from jdl_lib.identifiers import normalise_pnc
from jdl_lib.linkage import link_cohort
from jdl_lib.store import NationalStore
from jdl_lib.synth import build_synthetic_store, make_cohort

TARGET_SECONDS = 60.0


def canonical_upload(upload: pd.DataFrame) -> pd.DataFrame:
    """The generator's upload in intake's canonical form, ``upload_row`` numbered like the answer key."""
    out = upload.copy()
    for col in ("date_of_birth", "intervention_start", "intervention_end"):
        text = out[col].astype("string")
        iso = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
        out[col] = iso.fillna(pd.to_datetime(text, format="%d/%m/%Y", errors="coerce"))
    out["pnc_id"] = [normalise_pnc(v) if isinstance(v, str) and v.strip() else None for v in out["pnc_id"]]
    out.insert(0, "upload_row", np.arange(2, len(out) + 2))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=5_000_000)
    parser.add_argument("--store", type=Path, default=Path("data/bench_linkage_5m.duckdb"))
    parser.add_argument("--n", type=int, default=2000, help="people submitted")
    parser.add_argument("--seed", type=int, default=2013)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    if not args.store.exists():
        t0 = time.perf_counter()
        build_synthetic_store(args.store, args.people, args.seed, progress=True)
        print(f"built store of {args.people:,} people in {time.perf_counter() - t0:.0f} s (reused next time)")
    cohort = make_cohort(args.store, args.n, "custody", date(2005, 1, 1), date(2010, 12, 31), seed=args.seed)
    people = canonical_upload(cohort.upload)

    with NationalStore.open(args.store) as store:
        n_national = store.connection.execute("SELECT count(*) FROM people").fetchall()[0][0]
        t0 = time.perf_counter()
        result = link_cohort(people, store)
        total = time.perf_counter() - t0

    key = cohort.answer_key.set_index("upload_row")["person_id"]
    correct = result.links["person_id"] == result.links["upload_row"].map(key)
    present = key.dropna().nunique()
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

    print(f"upload rows {len(people):,} against {n_national:,} national people")
    for stage, seconds in result.seconds.items():
        print(f"  {stage:<20} {seconds:7.2f} s")
    ratio = total / TARGET_SECONDS
    print(f"  {'total':<20} {total:7.2f} s   ratio to {TARGET_SECONDS:.0f} s target: {ratio:.2f}")
    print(f"counts     {result.counts}")
    print(f"precision  {correct.mean():.4f}  ({int((~correct).sum())} wrong of {len(correct):,} links)")
    recall = result.links.loc[correct, "person_id"].nunique() / present
    print(f"recall     {recall:.4f}  (of {present:,} people)")
    print(f"peak RSS   {peak_gb:.2f} GB (whole process, cohort generation included)")
    sys.exit(0 if total < TARGET_SECONDS else 1)


if __name__ == "__main__":
    main()
