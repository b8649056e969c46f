"""Nearest-neighbour matching on the propensity score (MatchIt's ``method = "nearest"``).

Sort-and-search per exact stratum: controls are sorted once by distance and each treated unit's
neighbours are found by binary search, so cost grows as (treated + controls) x log(controls) and no
treated x control distance matrix is ever built.

Rules reproduced from MatchIt 4.5.1 (``src/nn_matchC_vec.cpp``), so that the same specification
gives the same matched sets:

* order: treated units are processed in ``m_order`` (default: largest score first; ties in data
  order); with ``ratio`` > 1 and no replacement, every treated unit gets its first control before
  any gets its second (round robin);
* ties: all units are placed in one list sorted by distance, ties in data order. For a treated
  unit the nearest available control on the left and on the right of its place are found; the
  left one wins when the two distances are equal. So among several controls at the same distance
  *below* the treated score the one latest in data order wins, and among several *above* it the one
  earliest in data order;
* MatchIt 4.5.1-4.5.3 (as built by gcc, e.g. Debian's r-cran-matchit) compared the two
  candidates with C's integer ``abs``, so every distance below 1 counted as 0 and the *left*
  candidate (lower score) won whenever both sides had a free control, even when the right one was
  closer; the same truncation disabled the caliper (upstream issue 163, fixed in 4.5.4 with
  ``std::abs``). The published Lalonde reference comes from such a build: 6 of its 185 treated
  units are paired with a control farther than an unused one. ``compat="matchit-4.5.1"``
  reproduces that comparison (and nothing else: the caliper is still enforced) so the reference
  can be matched pair for pair; the default is the true nearest neighbour, which is what MatchIt
  4.5.4 and later compute;
* caliper: a control further than the caliper is never used; a treated unit with no control inside
  it is dropped and counted (common support). (MatchIt 4.5.1-4.5.3 does not enforce the caliper
  when matching with replacement, upstream issue 163; here it is always enforced.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jdl_lib.errors import MatchingError
from jdl_lib.matching.base import BaseMatcher, insertion_points
from jdl_lib.matching.design import DEFAULT_COVARIATES, DEFAULT_EXACT

M_ORDERS = ("largest", "smallest", "data", "random")
COMPAT = (None, "matchit-4.5.1")


def _find(parent: list[int], i: int) -> int:
    """Union-find root with path compression: the nearest still-available slot from ``i``."""
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:
        parent[i], i = root, parent[i]
    return root


class NearestNeighborMatcher(BaseMatcher):
    """k:1 nearest-neighbour matching on the (logit) propensity score, with or without replacement.

    Parameters
    ----------
    ratio : int
        Controls per treated unit (k).
    caliper : float or None
        Maximum distance; in SDs of the distance when ``std_caliper`` (default 0.2, Austin 2011).
    std_caliper : bool
        Whether ``caliper`` is in standard deviations of the distance.
    caliper_sd : {"pooled", "all"}
        Which SD: pooled over groups (Austin) or over all units (MatchIt).
    replace : bool
        Matching with replacement: a control may serve several treated units.
    exact : sequence of str
        Columns matched exactly (default gender, setting, index year).
    m_order : {"largest", "smallest", "data", "random"}
        Order in which treated units choose (matters without replacement).
    distance : {"logit", "glm"}
        Match on the logit of the score (JDL default) or the score itself (MatchIt's default).
    covariates : sequence of str
        Columns of the propensity model.
    propensity_model : str
        Name of the propensity model (see ``PROPENSITY_MODELS``).
    estimand : str
        Only ``"ATT"``.
    random_state : int or None
        Seed for ``m_order="random"``.
    compat : {None, "matchit-4.5.1"}
        ``None`` (default): true nearest neighbour. ``"matchit-4.5.1"``: reproduce the left/right
        choice of MatchIt 4.5.1-4.5.3 builds (see module docstring), only to compare with outputs
        of those versions; never for analysis.
    """

    method = "nearest"

    def __init__(
        self,
        ratio: int = 1,
        caliper: float | None = 0.2,
        std_caliper: bool = True,
        replace: bool = False,
        exact: Sequence[str] = DEFAULT_EXACT,
        m_order: str = "largest",
        distance: str = "logit",
        *,
        caliper_sd: str = "pooled",
        covariates: Sequence[str] = DEFAULT_COVARIATES,
        propensity_model: str = "logistic",
        estimand: str = "ATT",
        random_state: int | None = None,
        compat: str | None = None,
    ) -> None:
        super().__init__(
            caliper=caliper,
            std_caliper=std_caliper,
            caliper_sd=caliper_sd,
            exact=exact,
            distance=distance,
            covariates=covariates,
            propensity_model=propensity_model,
            estimand=estimand,
            random_state=random_state,
        )
        self.ratio = ratio
        self.replace = replace
        self.m_order = m_order
        self.compat = compat

    def _match_stratum(
        self,
        dist: np.ndarray,
        t_rows: np.ndarray,
        c_sorted: np.ndarray,
        width: float | None,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        if self.compat not in COMPAT:
            raise MatchingError(f"Unknown compat '{self.compat}'; choose one of {list(COMPAT)}.")
        if self.compat and self.replace:
            raise MatchingError("compat='matchit-4.5.1' reproduces matching without replacement only.")
        if int(self.ratio) != self.ratio or self.ratio < 1:
            raise MatchingError(f"ratio must be a positive whole number, got {self.ratio}.")
        pos = insertion_points(dist, t_rows, c_sorted)
        if self.replace:
            return _with_replacement(dist[t_rows], dist[c_sorted], pos, int(self.ratio), width)
        order = self._treated_order(dist[t_rows], rng)
        truncate = self.compat == "matchit-4.5.1"
        return _greedy(dist[t_rows], dist[c_sorted], pos, order, int(self.ratio), width, truncate)

    def _treated_order(self, dt: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.m_order == "largest":
            return np.argsort(-dt, kind="stable")
        if self.m_order == "smallest":
            return np.argsort(dt, kind="stable")
        if self.m_order == "data":
            return np.arange(len(dt))
        if self.m_order == "random":
            return rng.permutation(len(dt))
        raise MatchingError(f"Unknown m_order '{self.m_order}'; choose one of {list(M_ORDERS)}.")


def _greedy(
    dt: np.ndarray,
    dc: np.ndarray,
    pos: np.ndarray,
    order: np.ndarray,
    ratio: int,
    width: float | None,
    truncate: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching without replacement (MatchIt's rules; see module docstring).

    A loop over treated units (the cohort, thousands at most); each step is a near-constant-time
    union-find lookup of the nearest unused control on either side, so the pool size does not
    matter. No vectorised form exists because each choice depends on the previous ones.
    """
    nc = len(dc)
    right = list(range(nc + 1))  # right[j]: next unused control at or after j (nc = none)
    left = list(range(nc + 1))  # left[j + 1]: next unused control at or before j (0 = none)
    cal = np.inf if width is None else width
    dcl = dc.tolist()
    t_out: list[int] = []
    c_out: list[int] = []
    n_left = nc
    for _ in range(ratio):
        for t in order.tolist():
            if n_left == 0:
                break
            d = float(dt[t])
            p = int(pos[t])
            lj = _find(left, p) - 1
            rj = _find(right, p)
            dl = d - dcl[lj] if lj >= 0 else np.inf
            dr = dcl[rj] - d if rj < nc else np.inf
            if dl > cal:
                dl = np.inf
            if dr > cal:
                dr = np.inf
            if dl == np.inf and dr == np.inf:
                continue
            if truncate:  # MatchIt 4.5.1 compared C `abs(int)` of the distances: see module docstring
                j = lj if dr == np.inf or (dl < np.inf and int(dl) <= int(dr)) else rj
            else:
                j = lj if dl <= dr else rj
            t_out.append(t)
            c_out.append(j)
            right[j] = j + 1
            left[j + 1] = j
            n_left -= 1
    return np.asarray(t_out, dtype=np.int64), np.asarray(c_out, dtype=np.int64)


def _with_replacement(
    dt: np.ndarray, dc: np.ndarray, pos: np.ndarray, ratio: int, width: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """k nearest controls for every treated unit at once (controls may repeat across units).

    Candidates are the k nearest on each side of the insertion point; a stable sort on distance
    over [left nearest..left k-th, right nearest..right k-th] reproduces MatchIt's tie rule.
    """
    nc = len(dc)
    offsets = np.concatenate([-np.arange(1, ratio + 1), np.arange(ratio)])
    cand = pos[:, None] + offsets[None, :]
    valid = (cand >= 0) & (cand < nc)
    safe = np.clip(cand, 0, nc - 1)
    d = np.abs(dc[safe] - dt[:, None])
    d[~valid] = np.inf
    if width is not None:
        d[d > width] = np.inf
    best = np.argsort(d, axis=1, kind="stable")[:, :ratio]
    chosen = np.take_along_axis(cand, best, axis=1)
    ok = np.isfinite(np.take_along_axis(d, best, axis=1))
    t_idx = np.repeat(np.arange(len(dt))[:, None], ratio, axis=1)
    return t_idx[ok], chosen[ok]
