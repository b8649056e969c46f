"""Speed of matching: 1,000 treated against 1,000,000 candidate controls.

Prints seconds for jdl's matchers (scores given, then the propensity fit separately) beside a plain
scikit-learn NearestNeighbors query and causalinference's matching on the same data.
Target: jdl 1:1 nearest neighbour under 5 s on 2 cores.

Run: .venv/bin/python bench/bench_matching.py [--controls 1000000] [--treated 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from jdl_lib.matching import NearestNeighborMatcher, RadiusMatcher, design_matrix, logistic_propensity


def data(n_t: int, n_c: int, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = n_t + n_c
    treat = np.r_[np.ones(n_t, int), np.zeros(n_c, int)]
    frame = pd.DataFrame(
        {
            "person_id": np.arange(n),
            "gender": rng.choice(["M", "F"], n, p=[0.85, 0.15]),
            "setting": rng.choice(["custody", "community"], n),
            "index_year": rng.integers(2004, 2012, n),
            "age_at_index": rng.uniform(18, 60, n) - 3 * treat,
            "copas_rate": rng.normal(-1.5, 0.6, n) + 0.3 * treat,
            "employed_year_before": rng.random(n) < 0.3,
        }
    )
    return frame, treat


def timed(label: str, fn, reps: int = 1) -> float:
    best = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    print(f"{label:<58s} {best:8.2f} s")
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--treated", type=int, default=1000)
    ap.add_argument("--controls", type=int, default=1_000_000)
    ap.add_argument("--ci-controls", type=int, default=100_000, help="pool size for causalinference")
    a = ap.parse_args()
    frame, treat = data(a.treated, a.controls)
    covs = ["gender", "setting", "index_year", "age_at_index", "copas_rate", "employed_year_before"]
    exact = ("gender", "setting", "index_year_band")
    print(f"{a.treated:,} treated, {a.controls:,} candidate controls, exact strata on {exact}")
    t_fit, ps = timed(
        "propensity model fit (statsmodels GLM, all rows)",
        lambda: logistic_propensity(design_matrix(frame, covs), treat),
    )
    t_nn, m = timed(
        "jdl nearest 1:1, no replacement, caliper 0.2 SD (logit)",
        lambda: NearestNeighborMatcher(exact=exact).fit(frame, treat, propensity=ps),
        reps=3,
    )
    print(f"    matched {m.result_.n_treated_matched} of {a.treated}, dropped {m.result_.n_dropped}")
    timed(
        "jdl nearest 3:1 with replacement, caliper 0.2 SD",
        lambda: NearestNeighborMatcher(ratio=3, replace=True, exact=exact).fit(frame, treat, propensity=ps),
    )
    timed(
        "jdl radius, caliper 0.05 SD",
        lambda: RadiusMatcher(caliper=0.05, exact=exact).fit(frame, treat, propensity=ps),
    )
    timed(
        "jdl nearest 1:1, no exact strata, no caliper",
        lambda: NearestNeighborMatcher(caliper=None, exact=()).fit(frame, treat, propensity=ps),
    )

    logit = np.log(ps / (1 - ps))
    is_t = treat == 1

    def sk():
        nn = NearestNeighbors(n_neighbors=1).fit(logit[~is_t, None])
        return nn.kneighbors(logit[is_t, None])

    t_sk, _ = timed("scikit-learn NearestNeighbors (1-NN with replacement, no strata)", sk, reps=3)

    from causalinference import CausalModel

    n_ci = min(a.ci_controls, a.controls)
    idx = np.r_[np.flatnonzero(is_t), np.flatnonzero(~is_t)[:n_ci]]
    cm = CausalModel(frame["copas_rate"].to_numpy()[idx], treat[idx], logit[idx, None])
    t_ci, _ = timed(
        f"causalinference est_via_matching (ATE+ATT, {n_ci:,} controls)",
        lambda: cm.est_via_matching(matches=1),
    )
    print()
    print(f"jdl nearest 1:1 vs target 5 s: {t_nn:.2f} s ({'PASS' if t_nn < 5 else 'FAIL'})")
    print(f"ratio jdl / scikit-learn 1-NN: {t_nn / t_sk:.2f}")
    print(f"ratio causalinference ({n_ci:,} controls) / jdl (full pool): {t_ci / t_nn:.1f}")
    print(f"propensity fit on {len(frame):,} rows: {t_fit:.2f} s (not part of the matching target)")


if __name__ == "__main__":
    main()
