"""Subgroups against the truth: does the lab find an effect that differs by gender, and only when it does?

Draws cohorts from a synthetic store with (a) a fall planted for women only and (b) the same fall for
everyone, analyses gender and age band as a request would (matched within subgroups, Holm), and prints:
coverage of each gender level's true effect, power of the test for a difference in (a), and its false
positive rate in (b) against the 5% it should hold.

    .venv/bin/python bench/bench_subgroups.py --store data/national.duckdb --reps 100
"""

from __future__ import annotations

import argparse
import time
from datetime import date

import numpy as np
import pandas as pd

from jdl_lib.store import NationalStore
from jdl_lib.synth.recovery import recover_subgroups, truth_pool

WINDOW = (date(2005, 1, 1), date(2010, 12, 31))


def replicate(store, pool, n: int, effect_by: dict, seed: int) -> dict:
    out = recover_subgroups(
        store, pool, n, -0.03, effect_by, seed, subgroups=("gender", "age_band"), window=WINDOW
    )
    overall = out["truth"]["true_effect"]["rate"]
    truth = out["truth"]["subgroup_truth"].get("gender", {})
    gender = next(v for v in out["subgroups"].variables if v.variable == "gender")
    row = {"p_difference": gender.p_difference, "p_difference_holm": gender.p_difference_holm}
    for lv in gender.levels:
        key = {"Men": "M", "Women": "F"}[lv.level]
        true = truth.get(key, overall)  # each level's true effect (the overall one when none is planted)
        row[f"{key}_reported"] = lv.reported
        row[f"{key}_covered"] = lv.reported and lv.ci_low <= true <= lv.ci_high
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default="data/national.duckdb")
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--n", type=int, default=1000)
    a = ap.parse_args()
    with NationalStore.open(a.store) as store:
        pool = truth_pool(store, "custody", *WINDOW)
        for name, effect_by in (
            ("fall for women only (-10 points)", {"gender": {"F": -0.10}}),
            ("same fall for all", {}),
        ):
            t0 = time.perf_counter()
            rows = pd.DataFrame([replicate(store, pool, a.n, effect_by, seed) for seed in range(a.reps)])
            fired = (rows["p_difference_holm"] <= 0.05).mean()
            print(f"\n{name}: {a.reps} cohorts of {a.n}, {time.perf_counter() - t0:.0f} s")
            for key, label in (("F", "women"), ("M", "men")):
                shown = rows[f"{key}_reported"]
                covered = rows.loc[shown, f"{key}_covered"].mean()
                print(f"  {label}: shown in {shown.mean():.0%}; 95% CI covered the truth in {covered:.1%}")
            kind = "power" if effect_by else "false positive rate (target 5%)"
            print(f"  test for a difference by gender (Holm-adjusted), {kind}: {fired:.1%}")
            se = np.sqrt(fired * (1 - fired) / a.reps)
            print(f"  (Monte Carlo se {se:.1%})")


if __name__ == "__main__":
    main()
