"""Does the lab recover a planted effect? One replication of the truth check, shared by the truth bench
(``bench/bench_truth.py``, hundreds of replications on the demo store) and its light test version.

A replication draws a cohort with a planted effect (:func:`jdl_lib.synth.make_cohort`), then does what
``jdl run`` does from the index events on: the true people's index events (from the answer key, so that
linkage, which has its own truth tests, does not enter), their derived features, the candidate pool of
everyone else, matching with the request defaults, and the one-year proven reoffending rate. Beside the
estimate it returns a decomposition by the true probabilities ``p`` of the truth table: treated realised
minus true p (the planted effect plus the store's own realisation), matched controls' realised minus true p
(the same realisation plus depletion by the tilted draw), and controls' minus treated true p (matching).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jdl_lib.balance.stats import balance_table
from jdl_lib.derived import candidate_pool, index_event_features
from jdl_lib.outcomes import estimate_effects
from jdl_lib.pipeline import match_cohort
from jdl_lib.spec import MatchingSpec
from jdl_lib.store import NationalStore
from jdl_lib.synth.cohort import make_cohort
from jdl_lib.synth.national import TRUTH_COLUMN, truth_path
from jdl_lib.synth.noise import NoiseConfig


def truth_pool(store: NationalStore, setting: str, index_from: date, index_to: date) -> pd.DataFrame:
    """The candidate pool of a window joined to each event's true one-year reoffending probability."""
    pool = candidate_pool(store, setting, index_from, index_to)
    return pool.merge(pd.read_parquet(truth_path(store.path)), on="disposal_id", how="left")


def recover_effect(
    store: NationalStore,
    pool: pd.DataFrame,
    n: int,
    effect: float,
    seed: int,
    *,
    setting: str = "custody",
    window: tuple[date, date],
    selection: str = "higher_risk",
    matching: MatchingSpec | None = None,
) -> dict[str, Any]:
    """Draw one cohort from ``pool`` (a :func:`truth_pool`), match it and estimate the rate difference.

    Returns the estimate, its 95% CI, significance, the cohort's true and naive effects, the treated
    dropped by matching, the largest absolute SMD after matching and that of index year, and the bias
    decomposition described in the module docstring. ``matching`` defaults to the request default.
    """
    cohort = make_cohort(
        Path(store.path),
        n,
        setting,
        *window,
        selection=selection,
        effect_rate=effect,
        seed=seed,
        noise=NoiseConfig.none(),
        candidates=pool,
    )
    ids = cohort.answer_key["disposal_id"].dropna().astype(int).tolist()
    treated = index_event_features(store, disposal_ids=ids)
    controls = pool[~pool["person_id"].isin(treated["person_id"])].drop(columns=TRUTH_COLUMN)
    spec = matching or MatchingSpec()
    frame, match = match_cohort(treated, controls, spec, seed)
    rate = estimate_effects(match, ["rate"])["rate"]
    smd = balance_table(frame, match, spec.covariates).set_index("variable")["smd_after"]
    m = match.matched.assign(p=match.matched["disposal_id"].map(pool.set_index("disposal_id")[TRUTH_COLUMN]))
    t, c = m[m["treat"] == 1], m[m["treat"] == 0]
    return {
        "true": cohort.truth["true_effect"]["rate"],
        "naive": cohort.truth["naive_difference_rate"],
        "estimate": rate.difference,
        "low": rate.ci_low,
        "high": rate.ci_high,
        "significant": rate.significant,
        "dropped": match.n_dropped,
        "max_abs_smd": float(smd.abs().max()),
        "index_year_smd": float(smd.get("index_year", np.nan)),
        "t_y_minus_p": float((t["reoffended_1y"] - t["p"]).mean()),
        "c_y_minus_p": float(np.average(c["reoffended_1y"] - c["p"], weights=c["weights"])),
        "c_p_minus_t_p": float(np.average(c["p"], weights=c["weights"]) - t["p"].mean()),
    }


def recover_subgroups(
    store: NationalStore,
    pool: pd.DataFrame,
    n: int,
    effect: float,
    effect_by: dict[str, dict[str, float]],
    seed: int,
    *,
    subgroups: tuple[str, ...] = ("gender",),
    setting: str = "custody",
    window: tuple[date, date],
    selection: str = "random",
) -> dict[str, Any]:
    """Draw one cohort whose effect differs by subgroup, analyse the subgroups as ``jdl run`` does.

    Returns the :class:`~jdl_lib.subgroups.SubgroupAnalysis`, the truth of the cohort (``subgroup_truth``)
    and the matched sample's offence trajectory, for the subgroup truth test and bench.
    """
    from dataclasses import replace

    from jdl_lib.subgroups import add_subgroup_columns, analyse_subgroups
    from jdl_lib.trajectories import offence_trajectory

    cohort = make_cohort(
        Path(store.path),
        n,
        setting,
        *window,
        selection=selection,
        effect_rate=effect,
        effect_by=effect_by,
        seed=seed,
        noise=NoiseConfig.none(),
        candidates=pool,
    )
    ids = cohort.answer_key["disposal_id"].dropna().astype(int).tolist()
    treated = add_subgroup_columns(index_event_features(store, disposal_ids=ids), subgroups)
    controls = add_subgroup_columns(
        pool[~pool["person_id"].isin(treated["person_id"])].drop(columns=TRUTH_COLUMN), subgroups
    )
    spec = MatchingSpec()
    frame, match = match_cohort(treated, controls, spec, seed)

    def rematch(column: str) -> tuple[pd.DataFrame, Any]:
        return match_cohort(treated, controls, replace(spec, exact=(*spec.exact, column)), seed)

    return {
        "truth": cohort.truth,
        "subgroups": analyse_subgroups(subgroups, frame, match, rematch),
        "overall": estimate_effects(match, ["rate", "frequency"]),
        "trajectory": offence_trajectory(store, match),
    }
