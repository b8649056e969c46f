"""Standard errors as MatchIt's effect guidance gives them, checked against R on the Lalonde data.

The reference values were computed once with R 4.2.2, sandwich 3.0.2, lmtest and MatchIt 4.5.1 (Debian
packages r-base-core, r-cran-sandwich, r-cran-matchit) and are baked in here, so CI needs no R. For the
5:1-with-replacement design R was given jdl's own pairs (MatchIt 4.5.1's matching with replacement is known
to be wrong, see shared/peers/lalonde/README.md), so the test checks the variance, not the matcher:

    d  <- read.csv("lalonde.csv", row.names = 1)
    p  <- read.csv("jdl_nn5_pairs.csv")                  # result.pairs: treated, control, pair_weight
    md <- cbind(d[rownames(w), ], w)                      # w: result.matched[, c("weights", "subclass")]
    tr <- rownames(md)[md$treat == 1]
    gm <- rbind(data.frame(d[tr, ], id = tr, subclass = tr, weights = 1),          # get_matches layout
                data.frame(d[p$control, ], id = p$control, subclass = p$treated, weights = p$pair_weight))
    f2 <- lm(re78 ~ treat, data = gm, weights = weights)
    coeftest(f2, vcov. = vcovCL(f2, cluster = ~subclass + id))  # 1358.76980541, SE 884.312993191,
                                                                 # p 0.12469495132
    fu <- lm(re78 ~ treat, data = md, weights = weights)
    sqrt(vcovHC(fu, type = "HC3")[2, 2])         # 910.39310341
    sqrt(vcovCL(fu, cluster = ~subclass)[2, 2])  # 309.082824674 (merged sets: the old default)
    fa <- lm(re78 ~ treat + age + educ + race + married + nodegree + re74 + re75,
             data = gm, weights = weights)
    coef(fa)[2]; sqrt(vcovCL(fa, cluster = ~subclass + id)[2, 2])  # 1382.41496276, 867.279659731
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jdl_lib.errors import MatchingError
from jdl_lib.matching import NearestNeighborMatcher, RadiusMatcher
from jdl_lib.outcomes import MEASURE_COLUMNS, estimate_effects, regression_adjusted_effect
from jdl_lib.standard_errors import SE_METHODS, fit_effect, matched_sets, resolve_se_method

LALONDE = Path(__file__).resolve().parents[2] / "shared" / "peers" / "lalonde"
if not LALONDE.exists():
    LALONDE = Path("/work/shared/peers/lalonde")
COVS = ["age", "educ", "race", "married", "nodegree", "re74", "re75"]
RE78 = {"columns": {"re78": "re78"}, "measures": ("re78",)}

pytestmark = pytest.mark.skipif(not LALONDE.exists(), reason="Lalonde reference not available")


def _pairs(**kw) -> NearestNeighborMatcher:
    """MatchIt's default: 1:1 nearest neighbour on the score, without replacement, no caliper."""
    return NearestNeighborMatcher(
        ratio=1, caliper=None, replace=False, exact=(), distance="glm", covariates=COVS, **kw
    )


@pytest.fixture(scope="module")
def lalonde() -> pd.DataFrame:
    return pd.read_csv(LALONDE / "lalonde.csv", index_col=0)


@pytest.fixture(scope="module")
def five_to_one(lalonde):
    """5:1 nearest neighbour with replacement on the score, no caliper: 185 treated share 116 controls."""
    m = NearestNeighborMatcher(ratio=5, replace=True, caliper=None, exact=(), distance="glm", covariates=COVS)
    return m.fit(lalonde, lalonde["treat"]).result_


def test_get_matches_layout(five_to_one):
    long = matched_sets(five_to_one)
    assert len(long) == 185 + len(five_to_one.pairs)
    assert long.groupby("set")["treat"].sum().eq(1).all()  # one treated person per set
    ctrl = long[long["treat"] == 0]
    assert ctrl.groupby("set")["weights"].sum().to_numpy() == pytest.approx(1.0)
    assert ctrl["unit"].duplicated().any()  # controls reused across sets keep one unit code


def test_two_way_equals_sandwich_vcovcl(five_to_one):
    est = estimate_effects(five_to_one, **RE78)["re78"]
    assert est.standard_errors == "two_way"  # auto: controls are reused
    assert est.difference == pytest.approx(1358.76980541, abs=1e-6)
    assert est.std_error == pytest.approx(884.312993191, abs=1e-6)
    assert est.p_value == pytest.approx(0.12469495132, abs=1e-9)
    assert not est.significant


def test_hc3_and_merged_set_clustering_equal_sandwich(five_to_one):
    hc3 = estimate_effects(five_to_one, standard_errors="hc3", **RE78)["re78"]
    assert hc3.std_error == pytest.approx(910.39310341, abs=1e-6)
    merged = estimate_effects(five_to_one, standard_errors="cluster_set", **RE78)["re78"]
    # the old default: 16 merged sets, one of them most of the sample; an SE a third of the honest one
    assert merged.std_error == pytest.approx(309.082824674, abs=1e-6)
    assert merged.p_value < 0.001


def test_regression_adjusted_two_way(five_to_one):
    frame = five_to_one.matched.assign(reoffended_1y=five_to_one.matched["re78"])
    result = five_to_one.__class__(**{**five_to_one.__dict__, "matched": frame})
    est = regression_adjusted_effect(result, COVS, "rate")
    assert est.difference == pytest.approx(1382.41496276, abs=1e-6)
    assert est.std_error == pytest.approx(867.279659731, abs=1e-6)
    assert est.standard_errors == "two_way"


def test_pairs_without_replacement_cluster_by_pair(lalonde):
    m = NearestNeighborMatcher(
        ratio=1,
        caliper=None,
        replace=False,
        exact=(),
        distance="glm",
        covariates=COVS,
        compat="matchit-4.5.1",
    )
    result = m.fit(lalonde, lalonde["treat"]).result_
    assert resolve_se_method(result, "auto") == "cluster_set"
    est = estimate_effects(result, **RE78)["re78"]
    assert est.std_error == pytest.approx(701.575062, abs=1e-6)  # shared/peers/lalonde README (vcovCL)
    hc3 = estimate_effects(result, standard_errors="hc3", **RE78)["re78"]
    assert hc3.std_error == pytest.approx(734.603165, abs=1e-5)  # R: sqrt(vcovHC(fit, "HC3")[2, 2])


def test_bootstrap_close_to_cluster_by_pair_and_seeded(lalonde):
    m = NearestNeighborMatcher(
        ratio=1, caliper=None, replace=False, exact=(), distance="glm", covariates=COVS
    )
    result = m.fit(lalonde, lalonde["treat"]).result_
    analytic = estimate_effects(result, **RE78)["re78"]
    boot = estimate_effects(result, standard_errors="bootstrap", random_state=3, **RE78)["re78"]
    again = estimate_effects(result, standard_errors="bootstrap", random_state=3, **RE78)["re78"]
    assert boot.std_error == again.std_error
    assert boot.difference == pytest.approx(analytic.difference)
    assert boot.std_error == pytest.approx(analytic.std_error, rel=0.1)  # 999 replicates: MC error ~ 2%


def test_radius_matching_forming_one_cluster_is_estimable(lalonde):
    """Defect 2 of issue 15: one merged set made statsmodels divide by G - 1 = 0 (ZeroDivisionError)."""
    result = RadiusMatcher(caliper=0.5, exact=(), covariates=COVS).fit(lalonde, lalonde["treat"]).result_
    assert result.matched["subclass"].nunique() == 1
    est = estimate_effects(result, **RE78)["re78"]
    assert est.standard_errors == "two_way" and np.isfinite(est.std_error) and est.std_error > 0
    with pytest.raises(MatchingError, match="one cluster"):
        estimate_effects(result, standard_errors="cluster_set", **RE78)


def test_unknown_method_lists_the_valid_ones(five_to_one):
    with pytest.raises(MatchingError, match="two_way"):
        estimate_effects(five_to_one, standard_errors="sandwich", **RE78)


def test_moj_ttest_uses_effective_sample_size():
    """Defect 5: a control weighted 10 times counts as its effective sample size, not as 10 people."""
    rng = np.random.default_rng(0)
    y_t, y_c = rng.normal(1.0, 1.0, 100), rng.normal(0.0, 1.0, 100)
    w_c = np.r_[np.full(10, 10.0), np.full(90, 0.1)]
    n_eff = w_c.sum() ** 2 / (w_c**2).sum()
    frame = pd.DataFrame(
        {
            "treat": np.r_[np.ones(100), np.zeros(100)].astype(int),
            "weights": np.r_[np.ones(100), w_c],
            "subclass": np.r_[np.arange(100), np.arange(100)],
            "y": np.r_[y_t, y_c],
        }
    )
    est = estimate_effects(frame, measures=("y",), columns={"y": "y"}, method="moj_ttest")["y"]
    mc = np.average(y_c, weights=w_c)
    var_c = np.average((y_c - mc) ** 2, weights=w_c) / (n_eff - 1)  # weighted variance over n_eff
    assert est.std_error == pytest.approx(np.sqrt(y_t.var(ddof=1) / 100 + var_c), rel=1e-10)
    assert est.n_control_effective == pytest.approx(n_eff)
    assert est.standard_errors == "welch_effective_n"


def test_fit_effect_hc3_equals_statsmodels_formula():
    rng = np.random.default_rng(1)
    t = np.r_[np.ones(50), np.zeros(80)]
    y = 0.3 * t + rng.normal(size=130)
    w = rng.uniform(0.5, 2, 130)
    fit = fit_effect(y, t, w, "hc3", 0.05)
    # HC3 for a two-group WLS: sum over groups of w^2 e^2 / (1 - h)^2 / (sum w)^2, h = w / sum w in group
    total = 0.0
    for g in (1, 0):
        yy, ww = y[t == g], w[t == g]
        e = yy - np.average(yy, weights=ww)
        total += np.sum(ww**2 * e**2 / (1 - ww / ww.sum()) ** 2) / ww.sum() ** 2
    assert fit.std_error == pytest.approx(np.sqrt(total), rel=1e-10)


def test_measure_columns_unchanged():
    assert MEASURE_COLUMNS["rate"] == "reoffended_1y"


def test_method_annex_names_the_standard_errors_and_caliper_sd():
    from jdl_lib.report.example import example_results
    from jdl_lib.report.tables import annex_table

    results = example_results()
    results["settings"]["matching"]["caliper_sd"] = "all"
    results["settings"]["standard_errors"] = {
        "requested": "auto",
        "used": "two_way",
        "description": SE_METHODS["two_way"],
    }
    annex = dict(annex_table(results).to_numpy())
    assert annex["Standard errors"] == SE_METHODS["two_way"]
    assert "SD over all units (MatchIt std.caliper)" in annex["Matching"]
