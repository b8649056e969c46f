"""Truth benchmark on the synthetic national store: does the lab recover a planted effect?

Each replication (``jdl_lib.synth.recovery.recover_effect``) draws a cohort with selection towards higher
risk and a planted effect on the one-year proven reoffending rate, then matches and estimates as ``jdl run``
does. This prints, against the cohort's known true effect: the naive bias, the matched estimate's bias, 95% CI
coverage and width, and, with a planted effect of zero, the share of falsely significant results; then the
bias decomposition by the true probabilities (see the recovery module).

    OMP_NUM_THREADS=1 python bench/bench_truth.py --store data/national.duckdb --reps 200 --n 500

(One BLAS thread: the propensity fit's least squares ran three times slower with threads on two shared
cores; about 3.4 s a replication on the demo store.)
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd

from jdl_lib.spec import MatchingSpec
from jdl_lib.store import NationalStore
from jdl_lib.synth.recovery import recover_effect, truth_pool

WINDOW = (date(2004, 1, 1), date(2010, 12, 31))


def summarise(label: str, rows: pd.DataFrame) -> None:
    """Print bias, coverage, CI width and the share significant for one design."""
    err = rows["estimate"] - rows["true"]
    cover = ((rows["low"] <= rows["true"]) & (rows["true"] <= rows["high"])).mean()
    mc_se = err.std(ddof=1) / np.sqrt(len(rows))
    print(
        f"{label}: reps {len(rows)} | true effect {rows['true'].mean():+.4f} | naive bias "
        f"{(rows['naive'] - rows['true']).mean():+.4f} | matched bias {err.mean():+.4f} "
        f"(MC se {mc_se:.4f}) | coverage {cover:.3f} | mean CI width "
        f"{(rows['high'] - rows['low']).mean():.4f} | "
        f"significant {rows['significant'].mean():.3f} | treated dropped per cohort "
        f"{rows['dropped'].mean():.1f}"
    )
    print(
        f"  balance after matching: max |SMD| mean {rows['max_abs_smd'].mean():.3f}, share > 0.1 "
        f"{(rows['max_abs_smd'] > 0.1).mean():.2f} | index year |SMD| mean "
        f"{rows['index_year_smd'].abs().mean():.3f}"
    )
    print(
        f"  decomposition: treated y-p {rows['t_y_minus_p'].mean():+.4f} | matched controls y-p "
        f"{rows['c_y_minus_p'].mean():+.4f} | controls p - treated p {rows['c_p_minus_t_p'].mean():+.4f}"
    )


def main() -> None:
    """Run the replications and print the figures (targets: |bias| < 0.01, coverage 0.93-0.97, FP <= 0.06)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="data/national.duckdb")
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--effect", type=float, default=-0.05)
    parser.add_argument("--no-null", action="store_true", help="skip the replications with a zero effect")
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first replication")
    parser.add_argument(
        "--exact", nargs="*", default=None, help="exact-matching variables (default: the request default)"
    )
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    start = time.perf_counter()
    matching = MatchingSpec() if args.exact is None else replace(MatchingSpec(), exact=tuple(args.exact))
    print(f"exact matching on {', '.join(matching.exact) or 'nothing'}")
    with NationalStore.open(args.store) as store:
        pool = truth_pool(store, "custody", *WINDOW)
        for effect in (args.effect,) if args.no_null else (args.effect, 0.0):
            rows = pd.DataFrame(
                [
                    recover_effect(store, pool, args.n, effect, seed, window=WINDOW, matching=matching)
                    for seed in range(args.first_seed, args.first_seed + args.reps)
                ]
            )
            summarise(f"planted {effect:+.2f}", rows)
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
