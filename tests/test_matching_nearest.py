"""Nearest-neighbour and radius matching against brute force, exclusions, attrition and the registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jdl_lib.errors import MatchingError
from jdl_lib.matching import (
    MATCHERS,
    NearestNeighborMatcher,
    RadiusMatcher,
    get_matcher,
    index_year_band,
    match,
)


def _frame(n_t: int, n_c: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = n_t + n_c
    treat = np.r_[np.ones(n_t, int), np.zeros(n_c, int)]
    rng.shuffle(treat)
    # rounded scores create exact ties, as identical covariates do in real data
    ps = np.round(rng.beta(2, 5, n) + 0.15 * treat, 3).clip(0.001, 0.999)
    frame = pd.DataFrame({"person_id": np.arange(n), "g": rng.choice(["a", "b"], n)})
    return frame, treat, ps


def _brute_greedy(dist: np.ndarray, treat: np.ndarray, caliper: float | None) -> dict[int, int]:
    """Reference: largest score first, each takes the closest free control (a loop over everything).

    Equal distances: the control below the treated score wins; among identical scores below it the
    latest in data order, above it the earliest (MatchIt's single sorted list, read outwards).
    """
    free = set(np.flatnonzero(treat == 0).tolist())
    out = {}
    for t in sorted(np.flatnonzero(treat == 1), key=lambda i: (-dist[i], i)):
        if not free:
            break

        def key(c: int, t: int = t) -> tuple:
            left = (dist[c], c) < (dist[t], t)
            return (abs(dist[c] - dist[t]), 0 if left else 1, -c if left else c)

        j = min(free, key=key)
        if caliper is not None and abs(dist[j] - dist[t]) > caliper:
            continue
        out[int(t)] = j
        free.remove(j)
    return out


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("caliper", [None, 0.01])
def test_greedy_distances_equal_brute_force(seed, caliper):
    frame, treat, ps = _frame(60, 300, seed)
    m = NearestNeighborMatcher(caliper=caliper, std_caliper=False, exact=(), distance="glm").fit(
        frame, treat, propensity=ps
    )
    ref = _brute_greedy(ps, treat, caliper)
    pairs = m.result_.pairs
    got = dict(zip(pairs["treated"], pairs["control"], strict=True))
    assert got == ref
    assert m.result_.n_dropped_caliper == 60 - len(got)
    if caliper is not None:
        assert (pairs["pair_distance"] <= caliper + 1e-12).all()


@pytest.mark.parametrize("ratio", [1, 3])
def test_with_replacement_is_k_nearest(ratio):
    frame, treat, ps = _frame(50, 200, 11)
    r = match(
        frame,
        treat,
        replace=True,
        ratio=ratio,
        caliper=0.02,
        std_caliper=False,
        exact=(),
        distance="glm",
        propensity=ps,
    )
    for t, grp in r.pairs.groupby("treated"):
        gaps = np.sort(np.abs(ps[treat == 0] - ps[t]))
        expected = gaps[gaps <= 0.02][:ratio]
        assert np.allclose(np.sort(grp["pair_distance"]), expected)
    # weights: treated 1; control weights sum to the number of controls used (MatchIt)
    m = r.matched
    assert (m.loc[m.treat == 1, "weights"] == 1).all()
    assert m.loc[m.treat == 0, "weights"].sum() == pytest.approx(r.n_controls_used)


def test_ratio_two_without_replacement_round_robin():
    frame, treat, ps = _frame(40, 400, 3)
    r = match(frame, treat, ratio=2, caliper=None, exact=(), distance="glm", propensity=ps)
    counts = r.pairs.groupby("treated").size()
    assert (counts == 2).all() and not r.pairs["control"].duplicated().any()
    assert r.matched.groupby("subclass").size().eq(3).all()


def test_radius_takes_every_control_in_caliper():
    frame, treat, ps = _frame(30, 300, 5)
    r = RadiusMatcher(caliper=0.01, std_caliper=False, exact=(), distance="glm").fit(frame, treat, ps).result_
    for t, grp in r.pairs.groupby("treated"):
        inside = np.flatnonzero((treat == 0) & (np.abs(ps - ps[t]) <= 0.01))
        assert set(grp["control"]) == set(inside)
        assert grp["pair_weight"].eq(1 / len(inside)).all()


def test_exact_strata_respected_and_counted():
    frame, treat, ps = _frame(80, 300, 7)
    frame.loc[(treat == 0) & (frame["g"] == "b").to_numpy(), "g"] = "a"  # no control left in 'b'
    r = match(frame, treat, exact=("g",), caliper=None, distance="glm", propensity=ps)
    n_b = int(((treat == 1) & (frame["g"] == "b").to_numpy()).sum())
    assert r.n_dropped_no_stratum_control == n_b
    assert r.n_treated_matched == 80 - n_b
    g = frame["g"]
    assert (g.loc[r.pairs["treated"]].to_numpy() == g.loc[r.pairs["control"]].to_numpy()).all()


def test_treated_people_never_controls():
    frame, treat, ps = _frame(50, 200, 9)
    # give some pool rows the person_id of a treated person (their other index events)
    t_ids = frame.loc[treat == 1, "person_id"].to_numpy()[:20]
    frame.loc[np.flatnonzero(treat == 0)[:20], "person_id"] = t_ids
    r = match(frame, treat, caliper=None, exact=(), distance="glm", propensity=ps)
    assert r.n_controls_excluded_treated_person == 20
    controls = frame.loc[r.pairs["control"], "person_id"]
    assert not controls.isin(frame.loc[treat == 1, "person_id"]).any()


def test_std_caliper_uses_pooled_logit_sd():
    frame, treat, ps = _frame(50, 500, 2)
    m = NearestNeighborMatcher(exact=()).fit(frame, treat, propensity=ps)
    lg = np.log(ps / (1 - ps))
    sd = np.sqrt((lg[treat == 1].var(ddof=1) + lg[treat == 0].var(ddof=1)) / 2)
    assert m.caliper_ == pytest.approx(0.2 * sd)
    assert m.result_.settings["caliper"] == 0.2 and m.result_.settings["method"] == "nearest"


def test_registry_and_errors():
    assert set(MATCHERS) == {"nearest", "radius", "subclass", "ipw"}
    with pytest.raises(MatchingError, match="nearest"):
        get_matcher("optimal")
    frame, treat, ps = _frame(5, 20, 1)
    with pytest.raises(MatchingError, match="m_order"):
        NearestNeighborMatcher(m_order="closest", exact=()).fit(frame, treat, ps)
    with pytest.raises(MatchingError, match="not columns"):
        NearestNeighborMatcher(exact=("nope",)).fit(frame, treat, ps)


def test_index_year_band():
    assert list(index_year_band(pd.Series([2000, 2001, 2002, 2011]))) == [
        "2000-2001",
        "2000-2001",
        "2002-2003",
        "2010-2011",
    ]


def test_result_is_frozen():
    frame, treat, ps = _frame(5, 20, 1)
    r = match(frame, treat, caliper=None, exact=(), propensity=ps)
    with pytest.raises(AttributeError):
        r.n_treated = 3  # type: ignore[misc]
    assert r.attrition()["count"].iloc[0] == 5
