"""Golden tests of the meta-analysis against R metafor on the BCG vaccine trials (../shared/peers/bcg/).

Reference values are those of the peer folder's README (metafor ``escalc(measure="RR")`` and ``rma()``),
plus metafor's published meta-regression on absolute latitude (``rma(yi, vi, mods = ~ ablat)``: intercept
0.2515, slope -0.0291, residual tau² 0.0764) and its Hartung–Knapp fit (``test="knha"``: SE 0.1808,
CI -1.1084 to -0.3206).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from jdl_lib.errors import SynthesisError
from jdl_lib.synthesis.meta import meta_analyse, meta_regression

BCG_CANDIDATES = [
    Path(__file__).resolve().parents[2] / "shared" / "peers" / "bcg" / "bcg.csv",
    Path("/work/shared/peers/bcg/bcg.csv"),
]


@pytest.fixture(scope="module")
def bcg() -> pd.DataFrame:
    path = next((p for p in BCG_CANDIDATES if p.is_file()), None)
    if path is None:  # pragma: no cover - the peer folder ships beside the repository
        pytest.skip("BCG peer data not found")
    d = pd.read_csv(path)
    d["yi"] = np.log((d.tpos / (d.tpos + d.tneg)) / (d.cpos / (d.cpos + d.cneg)))
    d["vi"] = 1 / d.tpos - 1 / (d.tpos + d.tneg) + 1 / d.cpos - 1 / (d.cpos + d.cneg)
    return d


def test_reml_matches_metafor(bcg: pd.DataFrame) -> None:
    m = meta_analyse(bcg.yi, bcg.vi, "REML", hartung_knapp=False)
    assert m.k == 13
    assert m.estimate == pytest.approx(-0.7145, abs=5e-5)
    assert m.se == pytest.approx(0.1798, abs=5e-5)
    assert m.tau2 == pytest.approx(0.3132, abs=5e-5)
    assert m.i2 == pytest.approx(0.9222, abs=5e-5)  # tau²-based I², as metafor prints for REML
    assert m.tau2_ci_low == pytest.approx(0.1197, abs=5e-4)  # metafor confint(): Q-profile interval
    assert m.tau2_ci_high == pytest.approx(1.1115, abs=5e-4)
    z = stats.norm.ppf(0.975)
    assert (m.ci_low, m.ci_high) == pytest.approx((m.estimate - z * m.se, m.estimate + z * m.se))


def test_fixed_effect_and_q_match_metafor(bcg: pd.DataFrame) -> None:
    m = meta_analyse(bcg.yi, bcg.vi)
    assert m.fixed_estimate == pytest.approx(-0.4303, abs=5e-5)
    assert m.q == pytest.approx(152.2330, abs=5e-4)
    assert m.q_df == 12
    assert m.q_p_value < 1e-20


def test_dersimonian_laird_matches_metafor(bcg: pd.DataFrame) -> None:
    m = meta_analyse(bcg.yi, bcg.vi, "DL", hartung_knapp=False)
    assert m.estimate == pytest.approx(-0.7141, abs=5e-5)
    assert m.tau2 == pytest.approx(0.3088, abs=5e-5)
    assert m.i2_q == pytest.approx(0.9212, abs=5e-5)  # Q-based I² = (Q - df) / Q
    assert m.i2 == pytest.approx(m.i2_q, abs=1e-9)  # the two definitions agree under DL


def test_hartung_knapp_matches_metafor(bcg: pd.DataFrame) -> None:
    m = meta_analyse(bcg.yi, bcg.vi, "REML", hartung_knapp=True)
    assert m.se == pytest.approx(0.1808, abs=5e-5)
    assert (m.ci_low, m.ci_high) == pytest.approx((-1.1084, -0.3206), abs=5e-5)
    assert m.p_value == pytest.approx(0.0019, abs=5e-5)


def test_prediction_interval_is_higgins_t_k_minus_2(bcg: pd.DataFrame) -> None:
    m = meta_analyse(bcg.yi, bcg.vi, "REML", hartung_knapp=False)
    half = stats.t.ppf(0.975, 11) * np.sqrt(m.tau2 + m.se**2)
    assert (m.pi_low, m.pi_high) == pytest.approx((m.estimate - half, m.estimate + half))
    assert m.pi_low < m.ci_low and m.pi_high > m.ci_high


def test_meta_regression_on_latitude_matches_metafor(bcg: pd.DataFrame) -> None:
    r = meta_regression(bcg.yi, bcg.vi, bcg.ablat, "absolute latitude", hartung_knapp=False)
    assert r.intercept == pytest.approx(0.2515, abs=5e-5)
    assert r.slope == pytest.approx(-0.0291, abs=5e-5)
    assert r.slope_se == pytest.approx(0.0072, abs=5e-5)
    # metafor prints 0.0764; its Fisher scoring stops within 1e-4 of the REML optimum (0.07635).
    assert r.tau2 == pytest.approx(0.0764, abs=1e-4)
    assert r.slope_p_value < 1e-4


def test_planted_common_effect_is_recovered_without_heterogeneity() -> None:
    rng = np.random.default_rng(5)
    v = rng.uniform(0.0005, 0.002, 40)
    y = -0.05 + rng.normal(0, np.sqrt(v))
    m = meta_analyse(y, v)
    assert m.ci_low < -0.05 < m.ci_high
    assert m.i2 < 0.3


def test_too_few_reports_and_bad_inputs_are_refused() -> None:
    with pytest.raises(SynthesisError, match="at least 3"):
        meta_analyse([0.1, 0.2], [0.01, 0.01])
    with pytest.raises(SynthesisError, match="positive"):
        meta_analyse([0.1, 0.2, 0.3], [0.01, 0.0, 0.01])
    with pytest.raises(SynthesisError, match="REML, DL"):
        meta_analyse([0.1, 0.2, 0.3], [0.01, 0.01, 0.01], tau2_method="PM")
    with pytest.raises(SynthesisError, match="vary"):
        meta_regression([0.1, 0.2, 0.3, 0.1, 0.0], [0.01] * 5, [1] * 5, "size")
