"""Specification curve: does the conclusion depend on a reasonable design choice?

After a design is locked, every design in a grid of reasonable alternatives (caliper 0.1 / 0.2 SD / none,
1 or 5 controls, with or without replacement, three covariate sets, every registered matching method) is
matched and its rate difference estimated with the request's comparison method (Simonsohn, Simmons and
Nelson 2020, "Specification curve analysis", Nature Human Behaviour 4:1208). Designs whose worst
standardised difference (on the locked design's covariates) exceeds 0.1 are flagged as poorly balanced
(the workbench greys them).

The null band comes from permutations: the treatment label is shuffled within the locked design's exact
strata (so each stratum keeps its number of treated rows), the whole grid is re-estimated, and each
permutation's estimates are sorted. The band is the 2.5th-97.5th percentile of the k-th smallest estimate
across permutations, so a curve that leaves the band is not what chance alone gives. The share of
permutations whose median estimate is at least as far from zero as the observed median is reported too
(their "median" test).

Every design goes through :func:`jdl_lib.pipeline.design_request`, the function ``jdl run`` uses; the
propensity score of each covariate set is fitted once per labelling and shared by the designs using it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from jdl_lib.balance.stats import REASONABLE, assess_balance
from jdl_lib.errors import DisclosureError, MatchingError
from jdl_lib.matching.design import add_index_year_band, design_matrix, exact_strata
from jdl_lib.matching.propensity import get_propensity_model
from jdl_lib.matching.registry import MATCHERS, matcher_parameters
from jdl_lib.outcomes import estimate_effects
from jdl_lib.pipeline import ALPHA, PreparedRequest, design_request, matcher_arguments
from jdl_lib.spec import MatchingSpec
from jdl_lib.workbench.views import covariate_sets, effective_sample_size

log = logging.getLogger(__name__)

#: Calipers of the grid, in the locked design's units; None is no caliper.
CALIPERS = (0.1, 0.2, None)
RATIOS = (1, 5)
REPLACE = (True, False)


@dataclass(frozen=True)
class SpecificationCurve:
    """Estimates of every design in the grid, sorted, and the permutation null band.

    ``designs`` has one row per design: ``label``, ``method``, ``caliper``, ``ratio``, ``replace``,
    ``covariate_set``, ``estimate`` (treated minus control reoffending rate), ``ci_low``, ``ci_high``,
    ``max_abs_smd``, ``ess_controls``, ``treated_matched``, ``poorly_balanced``, ``locked``, ``refused``
    (the reason a design gave no estimate); sorted by estimate. ``null_band`` has ``rank``, ``low``,
    ``median`` and ``high``: the permuted curves' percentiles at each rank of the designs with an estimate.
    """

    designs: pd.DataFrame
    null_band: pd.DataFrame
    permutations: int
    median_p_value: float


def design_grid(locked: MatchingSpec, methods: Sequence[str] | None = None) -> list[tuple[str, MatchingSpec]]:
    """Reasonable designs around the locked one, each with a covariate-set name; the locked one included.

    Methods come from the matching registry, so a newly registered design appears here without a change;
    settings a method does not take (``ratio`` and ``replace`` for weighting) are not varied for it.
    """
    sets = covariate_sets(locked.covariates)
    grid: dict[tuple, tuple[str, MatchingSpec]] = {}
    for method in methods or sorted(MATCHERS):
        for caliper, ratio, repl, (set_name, covs) in itertools.product(
            CALIPERS, RATIOS, REPLACE, sets.items()
        ):
            spec = replace(locked, method=method, caliper=caliper, ratio=ratio, replace=repl, covariates=covs)
            key = (method, set_name, tuple(sorted(matcher_arguments(spec, 0).items(), key=str)))
            grid.setdefault(key, (set_name, spec))
    choices = list(grid.values())
    if all(spec != locked for _, spec in choices):
        choices.append(("chosen", locked))
    return choices


def strata_of(prepared: PreparedRequest, exact: Sequence[str]) -> np.ndarray:
    """Exact stratum of every prepared row (treated first, then the pool), as the matcher forms them."""
    frame = add_index_year_band(pd.concat([prepared.treated, prepared.pool], ignore_index=True))
    return exact_strata(frame, exact)


def permuted(prepared: PreparedRequest, strata: np.ndarray, rng: np.random.Generator) -> PreparedRequest:
    """The prepared request with treatment shuffled within exact strata (each stratum keeps its count).

    Pool rows of anyone now labelled treated are removed, as the pipeline keeps treated people out of
    the pool.
    """
    frame = pd.concat([prepared.treated, prepared.pool], ignore_index=True)
    treat = np.r_[np.ones(len(prepared.treated), bool), np.zeros(len(prepared.pool), bool)]
    shuffled = treat.copy()
    for s in np.unique(strata):
        rows = np.flatnonzero(strata == s)
        shuffled[rows] = rng.permutation(treat[rows])
    treated = frame[shuffled]
    pool = frame[~shuffled & ~frame["person_id"].isin(treated["person_id"]).to_numpy()]
    return replace(prepared, treated=treated.reset_index(drop=True), pool=pool.reset_index(drop=True))


def _propensity(prepared: PreparedRequest, covariates: tuple[str, ...]) -> np.ndarray:
    frame = pd.concat([prepared.treated, prepared.pool], ignore_index=True)
    treat = np.r_[np.ones(len(prepared.treated), int), np.zeros(len(prepared.pool), int)]
    return get_propensity_model("logistic")(design_matrix(frame, covariates), treat)


def estimate_grid(
    prepared: PreparedRequest,
    grid: Sequence[tuple[str, MatchingSpec]],
    balance_covariates: Sequence[str] | None = None,
) -> list[dict]:
    """Match and estimate the rate difference of every design of ``grid`` on ``prepared``.

    Balance (the largest absolute SMD after matching, treated-SD convention) is measured on
    ``balance_covariates`` for every design, so designs using fewer covariates are judged on the same
    characteristics; ``None`` skips it (the permutations need only the estimates).
    """
    scores: dict[tuple[str, ...], np.ndarray] = {}
    rows = []
    for set_name, spec in grid:
        row: dict = {"covariate_set": set_name, "matching": spec}
        try:
            if "propensity_model" in matcher_parameters(spec.method):
                if spec.covariates not in scores:
                    scores[spec.covariates] = _propensity(prepared, spec.covariates)
                design = design_request(prepared, spec, propensity=scores[spec.covariates])
            else:
                design = design_request(prepared, spec)
            request = prepared.spec
            rate = estimate_effects(
                design.match,
                ["rate"],
                method=request.comparison,
                alpha=ALPHA,
                standard_errors=request.standard_errors,
                random_state=request.seed,
            )["rate"]
            m = design.match.matched
            row.update(
                estimate=rate.difference,
                ci_low=rate.ci_low,
                ci_high=rate.ci_high,
                max_abs_smd=np.nan
                if balance_covariates is None
                else assess_balance(design.frame, design.match, balance_covariates).max_abs_smd_after,
                ess_controls=effective_sample_size(m.loc[m["treat"] == 0, "weights"].to_numpy()),
                treated_matched=design.match.n_treated_matched,
                refused="",
            )
        except (DisclosureError, MatchingError) as exc:
            row.update(estimate=np.nan, refused=f"{type(exc).__name__}: {exc}")
        rows.append(row)
    return rows


def specification_curve(
    prepared: PreparedRequest,
    locked: MatchingSpec,
    grid: Sequence[tuple[str, MatchingSpec]],
    permutations: int = 20,
    seed: int = 2013,
    progress: bool = False,
) -> SpecificationCurve:
    """Estimate every design of ``grid`` and, with ``permutations`` shuffles, the null band.

    Parameters
    ----------
    prepared : PreparedRequest
        The request prepared by :func:`jdl_lib.pipeline.prepare_request`.
    locked : MatchingSpec
        The analyst's locked design (marked; its exact strata define the permutations).
    grid : sequence of (covariate-set name, MatchingSpec)
        Designs to estimate, e.g. from :func:`design_grid`.
    permutations : int
        Shuffles of the treatment label for the null band (0: no band).
    seed : int
        Seed of the shuffles.
    """
    observed = pd.DataFrame(estimate_grid(prepared, grid, locked.covariates))
    for col in ("ci_low", "ci_high", "max_abs_smd", "ess_controls", "treated_matched"):
        if col not in observed:
            observed[col] = np.nan
    specs = observed.pop("matching")
    observed.insert(0, "method", [s.method for s in specs])
    observed.insert(1, "caliper", [s.caliper for s in specs])
    observed.insert(2, "ratio", [s.ratio if "ratio" in matcher_parameters(s.method) else None for s in specs])
    observed.insert(
        3, "replace", [s.replace if "replace" in matcher_parameters(s.method) else None for s in specs]
    )
    observed.insert(0, "label", [_label(s, n) for s, n in zip(specs, observed["covariate_set"], strict=True)])
    observed["locked"] = [s == locked for s in specs]
    observed["poorly_balanced"] = observed["max_abs_smd"].fillna(np.inf) > REASONABLE
    observed = observed.sort_values("estimate", na_position="last", kind="stable").reset_index(drop=True)

    ok = observed["estimate"].notna().to_numpy()
    n_ok = int(ok.sum())
    curves = []
    rng = np.random.default_rng(seed)
    strata = strata_of(prepared, locked.exact)
    for _ in tqdm(range(permutations), desc="permutations", disable=not progress):
        shuffled = permuted(prepared, strata, rng)
        est = np.array([r["estimate"] for r in estimate_grid(shuffled, grid)], dtype=float)
        curves.append(np.sort(est[np.isfinite(est)]))
    band = pd.DataFrame(columns=["rank", "low", "median", "high"])
    p_value = float("nan")
    usable = [c for c in curves if len(c) == n_ok]
    if usable and n_ok:
        stacked = np.vstack(usable)
        band = pd.DataFrame(
            {
                "rank": np.arange(n_ok),
                "low": np.percentile(stacked, 2.5, axis=0),
                "median": np.median(stacked, axis=0),
                "high": np.percentile(stacked, 97.5, axis=0),
            }
        )
        observed_median = abs(float(np.median(observed.loc[ok, "estimate"])))
        p_value = float(
            (1 + (np.abs(np.median(stacked, axis=1)) >= observed_median).sum()) / (1 + len(usable))
        )
    if len(usable) < len(curves):
        log.info(
            "%d permutation(s) left a design without an estimate; not in the band", len(curves) - len(usable)
        )
    return SpecificationCurve(observed, band, len(usable), p_value)


def _label(spec: MatchingSpec, set_name: str) -> str:
    params = matcher_parameters(spec.method)
    parts = [spec.method, "no caliper" if spec.caliper is None else f"caliper {spec.caliper:g}"]
    if "ratio" in params:
        parts.append(f"1:{spec.ratio}")
    if "replace" in params:
        parts.append("with replacement" if spec.replace else "without replacement")
    parts.append(set_name)
    return ", ".join(parts)
