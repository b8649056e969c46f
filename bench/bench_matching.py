"""Speed of matching: 1,000 treated against 1,000,000 candidate controls.

Prints seconds for jdl's matchers (scores given, then the propensity fit separately) beside a plain
scikit-learn NearestNeighbors query and causalinference's matching on the same data. When ``Rscript``
with MatchIt is on the machine (Debian: ``r-base-core r-cran-matchit``), the same propensity fit and
1:1 matching without replacement run in R too, the ratio is printed and the pairs are compared one by
one (Debian ships MatchIt 4.5.1, so jdl runs with ``compat="matchit-4.5.1"`` for that comparison; its
caliper with replacement is mis-handled in that release, hence no caliper and no replacement).
Targets: jdl 1:1 nearest neighbour under 5 s on 2 cores; propensity fit at least 4x faster than R's glm.

Run: .venv/bin/python bench/bench_matching.py [--controls 1000000] [--treated 1000]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from jdl_lib.matching import NearestNeighborMatcher, RadiusMatcher, design_matrix, logistic_propensity

MATCHIT_SCRIPT = """
suppressMessages(library(MatchIt))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
f <- as.formula(paste("treat ~", paste(setdiff(names(d), "treat"), collapse = " + ")))
t0 <- proc.time()[["elapsed"]]
ps <- fitted(glm(f, data = d, family = binomial()))
t_glm <- proc.time()[["elapsed"]] - t0
t0 <- proc.time()[["elapsed"]]
m <- matchit(f, data = d, method = "nearest", distance = ps, ratio = 1, replace = FALSE)
t_match <- proc.time()[["elapsed"]] - t0
mm <- m$match.matrix
write.csv(data.frame(treated = as.integer(rownames(mm)) - 1L, control = as.integer(mm[, 1]) - 1L),
          args[2], row.names = FALSE)
write.csv(data.frame(ps = ps), args[3], row.names = FALSE)
cat(sprintf("%.3f %.3f %s\\n", t_glm, t_match, as.character(packageVersion("MatchIt"))))
"""


def matchit_side_by_side(x: pd.DataFrame, treat: np.ndarray, t_fit: float, ps: np.ndarray) -> None:
    """Run R's glm + MatchIt on the same design; print the ratios and whether the pairs are identical."""
    if shutil.which("Rscript") is None:
        print("Rscript not found: MatchIt side by side skipped (apt-get install r-base-core r-cran-matchit)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        data_csv = tmpd / "d.csv"
        x.assign(treat=treat).to_csv(data_csv, index=False)
        script = tmpd / "m.R"
        script.write_text(MATCHIT_SCRIPT)
        run = subprocess.run(
            ["Rscript", str(script), str(data_csv), str(tmpd / "pairs.csv"), str(tmpd / "ps.csv")],
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            print(f"MatchIt side by side failed: {run.stderr.strip()[-300:]}")
            return
        t_glm, t_mi, version = run.stdout.split()
        t_glm, t_mi = float(t_glm), float(t_mi)
        r_pairs = pd.read_csv(tmpd / "pairs.csv").dropna()
        r_ps = pd.read_csv(tmpd / "ps.csv")["ps"].to_numpy()
    print(f"{'R glm(family = binomial), same design':<58s} {t_glm:8.2f} s")
    print(f"{'MatchIt ' + version + ' nearest 1:1, no replacement (scores given)':<58s} {t_mi:8.2f} s")
    print(f"max |jdl score - glm score|: {np.max(np.abs(ps - r_ps)):.2e}")
    frame = x.assign(person_id=np.arange(len(x)))
    t0 = time.perf_counter()
    ours = (
        NearestNeighborMatcher(
            ratio=1,
            replace=False,
            caliper=None,
            exact=(),
            distance="glm",
            m_order="largest",
            compat="matchit-4.5.1",
        )
        .fit(frame, treat, propensity=ps)
        .result_.pairs
    )
    t_ours = time.perf_counter() - t0
    print(f"{'jdl nearest 1:1, no replacement, compat matchit-4.5.1':<58s} {t_ours:8.2f} s")
    got = dict(zip(ours["treated"], ours["control"], strict=True))
    want = dict(zip(r_pairs["treated"].astype(int), r_pairs["control"].astype(int), strict=True))
    same = sum(got.get(t) == c for t, c in want.items())
    print(f"pairs identical to MatchIt: {same} of {len(want)} ({'PASS' if same == len(want) else 'FAIL'})")
    print(
        f"propensity fit: jdl {t_fit:.2f} s vs R glm {t_glm:.2f} s, ratio {t_glm / t_fit:.1f}x "
        f"(target >= 4x: {'PASS' if t_glm / t_fit >= 4 else 'FAIL'})"
    )
    print(f"matching: jdl {t_ours:.2f} s vs MatchIt {t_mi:.2f} s, ratio {t_mi / t_ours:.1f}x")


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
    ap.add_argument("--statsmodels", action="store_true", help="also time statsmodels' GLM (slow)")
    ap.add_argument("--no-matchit", action="store_true", help="skip the R/MatchIt side by side")
    a = ap.parse_args()
    frame, treat = data(a.treated, a.controls)
    covs = ["gender", "setting", "index_year", "age_at_index", "copas_rate", "employed_year_before"]
    exact = ("gender", "setting", "index_year_band")
    print(f"{a.treated:,} treated, {a.controls:,} candidate controls, exact strata on {exact}")
    t_fit, ps = timed(
        "propensity model fit (jdl Newton-Cholesky, all rows)",
        lambda: logistic_propensity(design_matrix(frame, covs), treat),
    )
    x_all = design_matrix(frame, covs)
    if a.statsmodels:
        import statsmodels.api as sm

        t_sm, _ = timed(
            "propensity model fit (statsmodels GLM IRLS, tol 1e-12)",
            lambda: sm.GLM(
                treat.astype(float), sm.add_constant(x_all.to_numpy(float)), family=sm.families.Binomial()
            ).fit(tol=1e-12, maxiter=100),
        )
        print(f"    ratio statsmodels / jdl: {t_sm / t_fit:.1f}x")
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
    if not a.no_matchit:
        print()
        matchit_side_by_side(x_all, treat, t_fit, ps)


if __name__ == "__main__":
    main()
