"""Subclassification and ATT inverse-probability weighting: MatchIt/R on Lalonde, a planted effect.

R reference (R 4.2.2, MatchIt 4.5.1, sandwich 3.0.2; computed once, baked in here):

    m  <- matchit(treat ~ age + educ + race + married + nodegree + re74 + re75, data = lalonde,
                  method = "subclass", subclass = 6, estimand = "ATT")
    md <- match.data(m); fit <- lm(re78 ~ treat, data = md, weights = weights)
    coef(fit)[2]; sqrt(vcovHC(fit, type = "HC3")[2, 2])     # 1359.487533, 841.6258574
    table(md$subclass, md$treat)  # controls 346 24 17 21 18 3, treated 31 31 29 32 31 31

    ps <- glm(treat ~ age + educ + race + married + nodegree + re74 + re75, data = lalonde,
              family = binomial)$fitted.values
    w <- ifelse(lalonde$treat == 1, 1, ps / (1 - ps))
    w[lalonde$treat == 0] <- w[lalonde$treat == 0] * sum(lalonde$treat == 0) / sum(w[lalonde$treat == 0])
    fit <- lm(re78 ~ treat, data = lalonde, weights = w)
    coef(fit)[2]; sqrt(vcovHC(fit, type = "HC3")[2, 2])     # 1214.07122089, 831.490567606
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matching_sim import COVARIATES, cohort, population

from jdl_lib.errors import MatchingError
from jdl_lib.matching import IPWDesign, SubclassDesign, get_matcher, match
from jdl_lib.matching.registry import matcher_parameters
from jdl_lib.outcomes import alternative_design_effects, estimate_effects

LALONDE = Path(__file__).resolve().parents[2] / "shared" / "peers" / "lalonde"
if not LALONDE.exists():
    LALONDE = Path("/work/shared/peers/lalonde")
COVS = ["age", "educ", "race", "married", "nodegree", "re74", "re75"]
RE78 = {"columns": {"re78": "re78"}, "measures": ("re78",)}
lalonde_only = pytest.mark.skipif(not LALONDE.exists(), reason="Lalonde reference not available")


@pytest.fixture(scope="module")
def lalonde() -> pd.DataFrame:
    return pd.read_csv(LALONDE / "lalonde.csv", index_col=0)


@lalonde_only
def test_subclassification_equals_matchit(lalonde):
    result = SubclassDesign(distance="glm", covariates=COVS).fit(lalonde, lalonde["treat"]).result_
    counts = pd.crosstab(result.matched["subclass"], result.matched["treat"])
    assert counts[0].tolist() == [346, 24, 17, 21, 18, 3]
    assert counts[1].tolist() == [31, 31, 29, 32, 31, 31]
    est = estimate_effects(result, **RE78)["re78"]
    assert est.standard_errors == "hc3"  # MatchIt's guidance for subclassification ATT weights
    assert est.difference == pytest.approx(1359.487533, abs=1e-5)
    assert est.std_error == pytest.approx(841.6258574, abs=1e-5)


@lalonde_only
def test_subclasses_do_not_depend_on_the_score_scale(lalonde):
    on_prob = SubclassDesign(distance="glm", covariates=COVS).fit(lalonde, lalonde["treat"]).result_
    on_logit = SubclassDesign(covariates=COVS).fit(lalonde, lalonde["treat"]).result_
    assert (on_prob.matched["subclass"] == on_logit.matched["subclass"]).all()


@lalonde_only
def test_ipw_att_equals_r(lalonde):
    design = IPWDesign(trim=None, discard="none", covariates=COVS)
    result = design.fit(lalonde, lalonde["treat"]).result_
    est = estimate_effects(result, **RE78)["re78"]
    assert est.difference == pytest.approx(1214.07122089, abs=1e-3)  # glm tolerance
    assert est.std_error == pytest.approx(831.490567606, abs=1e-3)
    assert result.n_controls_used == 429 and result.pairs.empty


@lalonde_only
def test_ipw_overlap_trimming_counts_the_dropped(lalonde):
    result = IPWDesign(covariates=COVS).fit(lalonde, lalonde["treat"]).result_
    score = result.scores["propensity"]
    kept = result.matched
    assert kept["propensity"].max() <= 0.9
    assert result.n_dropped == 185 - result.n_treated_matched > 0
    controls = kept[kept["treat"] == 0]
    assert controls["weights"].sum() == pytest.approx(len(controls))  # MatchIt's scaling
    assert kept["propensity"].min() >= score[result.scores["treat"] == 1].min()


def test_designs_are_in_the_registry_and_take_only_their_arguments():
    assert isinstance(get_matcher("subclass", subclass=5), SubclassDesign)
    assert "ratio" not in matcher_parameters("ipw") and "trim" in matcher_parameters("ipw")
    with pytest.raises(MatchingError, match="ipw"):
        get_matcher("weighting")


def test_empty_subclass_is_merged():
    pop = population(3_000, 4)
    d = cohort(pop, 300, 0.0, np.random.default_rng(5))
    result = SubclassDesign(subclass=40, covariates=COVARIATES).fit(d, d["treat"]).result_
    both = result.matched.groupby("subclass")["treat"].agg(["min", "max"])
    assert (both["min"] == 0).all() and (both["max"] == 1).all()


@pytest.mark.slow
@pytest.mark.parametrize("method", ["subclass", "ipw"])
def test_planted_effect_recovered(method):
    pop = population(20_000, 11)
    rng = np.random.default_rng(12)
    rows = []
    for _ in range(20):
        d = cohort(pop, 400, -0.08, rng)
        rate = estimate_effects(match(d, d["treat"], method=method, covariates=COVARIATES), ["rate"])["rate"]
        rows.append((rate.difference, rate.ci_low <= -0.08 <= rate.ci_high))
    r = np.array(rows, dtype=float)
    naive_gap = 0.05  # selection on risk: the naive difference is biased upwards by more than this
    assert abs(r[:, 0].mean() + 0.08) < naive_gap / 2
    assert r[:, 1].mean() >= 0.8


def test_alternative_designs_reuse_the_matched_score():
    pop = population(20_000, 21)
    d = cohort(pop, 400, -0.08, np.random.default_rng(22))
    nearest = match(d, d["treat"], covariates=COVARIATES, exact=("gender",))
    checks = alternative_design_effects(d, nearest, COVARIATES, random_state=1)
    assert [e.method for e in checks] == ["subclass", "ipw"]
    assert all(e.standard_errors == "hc3" and e.ci_low < e.difference < e.ci_high for e in checks)
    alone = match(d, d["treat"], method="subclass", covariates=COVARIATES)
    assert checks[0].difference == pytest.approx(estimate_effects(alone, ["rate"])["rate"].difference)
