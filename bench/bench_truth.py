"""Truth benchmark on the synthetic national store: does the lab recover a planted effect?

For each replication a cohort is drawn with selection towards higher risk and a planted effect on the
one-year proven reoffending rate (``jdl_lib.synth.make_cohort``). The lab then does what ``jdl run`` does
from the index events on: the true people's index events (from the answer key, so that linkage, which has
its own truth tests, does not enter), their derived features, the candidate pool of everyone else, matching
with the request defaults, and the one-year proven reoffending rate. It prints, against the cohort's known
true effect: the naive bias, the matched estimate's bias, 95% CI coverage and width, and — with a planted
effect of zero — the share of falsely significant results. A decomposition of the bias by the true
probabilities ``p`` (truth table) follows: treated realised minus true p (the planted effect plus the
store's own realisation), matched controls' realised minus true p (the same realisation plus depletion: the
tilted draw leaves the pool's high-risk part slightly richer in reoffenders, about f x |effect| with f the
share of the pool drawn there), and controls' minus treated true p (matching on observables only).

    OMP_NUM_THREADS=1 python bench/bench_truth.py --store data/national.duckdb --reps 200 --n 500

(One BLAS thread: the propensity fit's least squares ran three times slower with threads on two shared
cores; about 3.4 s a replication on the demo store.)
"""

from __future__ import annotations

import argparse
import logging
import time
from datetime import date

import numpy as np
import pandas as pd

from jdl_lib.derived import candidate_pool, index_event_features
from jdl_lib.outcomes import estimate_effects
from jdl_lib.pipeline import match_cohort
from jdl_lib.spec import MatchingSpec
from jdl_lib.store import NationalStore
from jdl_lib.synth import NoiseConfig, make_cohort
from jdl_lib.synth.national import TRUTH_COLUMN, truth_path

WINDOW = (date(2004, 1, 1), date(2010, 12, 31))


def replicate(
    store_path: str, store: NationalStore, pool: pd.DataFrame, n: int, effect: float, seed: int
) -> dict:
    """One cohort, matched and estimated; returns the estimate, its CI, the truth and the decomposition."""
    cohort = make_cohort(
        store_path,
        n,
        "custody",
        *WINDOW,
        effect_rate=effect,
        seed=seed,
        noise=NoiseConfig.none(),
        candidates=pool,
    )
    key = cohort.answer_key.dropna(subset=["person_id"])
    treated = index_event_features(store, disposal_ids=key["disposal_id"].astype(int).tolist())
    controls = pool[~pool["person_id"].isin(treated["person_id"])].drop(columns=TRUTH_COLUMN)
    _, match = match_cohort(treated, controls, MatchingSpec(), seed)
    rate = estimate_effects(match, ["rate"])["rate"]
    m = match.matched.assign(p=match.matched["disposal_id"].map(pool.set_index("disposal_id")[TRUTH_COLUMN]))
    t, c = m[m["treat"] == 1], m[m["treat"] == 0]
    c_gap = np.average(c["reoffended_1y"] - c["p"], weights=c["weights"])
    return {
        "t_y_minus_p": (t["reoffended_1y"] - t["p"]).mean(),
        "c_y_minus_p": c_gap,
        "c_p_minus_t_p": np.average(c["p"], weights=c["weights"]) - t["p"].mean(),
        "true": cohort.truth["true_effect"]["rate"],
        "naive": cohort.truth["naive_difference_rate"],
        "estimate": rate.difference,
        "low": rate.ci_low,
        "high": rate.ci_high,
        "significant": rate.significant,
        "dropped": match.n_dropped,
    }


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
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    start = time.perf_counter()
    with NationalStore.open(args.store) as store:
        pool = candidate_pool(store, "custody", *WINDOW)
        pool = pool.merge(pd.read_parquet(truth_path(args.store)), on="disposal_id", how="left")
        for effect in (args.effect,) if args.no_null else (args.effect, 0.0):
            rows = pd.DataFrame(
                [replicate(args.store, store, pool, args.n, effect, seed) for seed in range(args.reps)]
            )
            summarise(f"planted {effect:+.2f}", rows)
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
