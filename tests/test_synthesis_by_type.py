"""Synthesis by service type from released reports: planted effects recovered, only released reports read."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from synthesis_fixtures import planted_results, release, sector

from jdl_lib.synthesis.by_type import synthesise_by_type
from jdl_lib.synthesis.effects import effects_table
from jdl_lib.synthesis.forest import forest_plot
from jdl_lib.synthesis.published import published_reports


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("outputs")
    sector(root, {"mentoring": (12, -0.06), "employment": (6, 0.0), "arts": (2, -0.02)})
    return root


def test_only_complete_released_folders_are_published(outputs: Path, tmp_path: Path) -> None:
    names = {p.request_id for p in published_reports(outputs)}
    assert len(names) == 20
    # A folder edited after release no longer matches its COMPLETE marker; a staging folder never counts.
    copy = tmp_path / "out"
    rng = np.random.default_rng(1)
    edited = release(copy, planted_results("edited", "arts", 0.0, 100, rng))
    release(copy, planted_results("kept", "arts", 0.0, 100, rng))
    data = json.loads((edited / "results.json").read_text())
    data["request"]["organisation"] = "Someone Else"
    (edited / "results.json").write_text(json.dumps(data))
    (copy / ".staging-1.x").mkdir()
    assert [p.request_id for p in published_reports(copy)] == ["kept"]
    assert published_reports(tmp_path / "missing") == []


def test_effects_table_recovers_the_reports_own_figures(outputs: Path) -> None:
    table = effects_table(published_reports(outputs))
    assert len(table) == 20
    row = table.iloc[0]
    z = 1.959964
    assert math.sqrt(row["rd_var"]) * 2 * z == pytest.approx(row["rd_ci_high"] - row["rd_ci_low"], rel=1e-6)
    assert row["log_rr"] == pytest.approx(math.log(row["treated_rate"] / row["control_rate"]))
    # The log-RR variance is at least the binomial variance of both groups.
    n1 = row["people"]
    floor = (1 - row["treated_rate"]) / (n1 * row["treated_rate"])
    assert row["log_rr_var"] > floor


def test_planted_effects_are_recovered_by_type(outputs: Path) -> None:
    by_type = {s.service_type: s for s in synthesise_by_type(effects_table(published_reports(outputs)))}
    assert list(by_type) == ["mentoring", "employment", "arts"]
    mentoring, employment, arts = by_type["mentoring"], by_type["employment"], by_type["arts"]
    assert mentoring.k == 12 and mentoring.pooled
    assert mentoring.risk_difference.ci_low < -0.06 < mentoring.risk_difference.ci_high
    assert mentoring.risk_difference.ci_high < 0  # a 6-point fall in 12 reports is detected
    assert employment.risk_difference.ci_low < 0 < employment.risk_difference.ci_high
    rr = mentoring.log_risk_ratio
    assert rr.ci_low < math.log(0.36 / 0.42) < rr.ci_high
    # No planted difference between services and none by size: tau² near 0, the size slope's CI covers 0.
    assert mentoring.risk_difference.i2 < 0.5
    reg = mentoring.size_regression
    assert reg is not None and reg.slope_ci_low < 0 < reg.slope_ci_high
    assert not arts.pooled and arts.size_regression is None and arts.k == 2


def test_heterogeneous_services_show_heterogeneity(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    for i, effect in enumerate([-0.15, -0.12, 0.0, 0.02, -0.14, 0.03, -0.01, -0.13]):
        release(tmp_path, planted_results(f"h-{i}", "housing", effect, 900, rng), pdf=False)
    (s,) = synthesise_by_type(effects_table(published_reports(tmp_path)))
    m = s.risk_difference
    assert m.tau2 > 0.001 and m.i2 > 0.5 and m.q_p_value < 0.01
    assert m.pi_high - m.pi_low > 2 * (m.ci_high - m.ci_low)
    dl = synthesise_by_type(effects_table(published_reports(tmp_path)), "DL", hartung_knapp=False)[0]
    assert dl.risk_difference.tau2_method == "DL" and dl.risk_difference.i2 == pytest.approx(
        dl.risk_difference.i2_q
    )


def test_forest_plot_draws_every_report_and_the_pool(outputs: Path) -> None:
    s = synthesise_by_type(effects_table(published_reports(outputs)))[0]
    fig = forest_plot(
        s.reports, s.risk_difference, "rd", title="Mentoring", highlight=s.reports.request_id[0]
    )
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(labels) == s.k + 1 and labels[-1] == "Pooled (12 reports)"
    fig_rr = forest_plot(s.reports, s.log_risk_ratio, "log_rr")
    assert fig_rr.axes[0].get_xscale() == "log"


def test_no_size_regression_when_reports_are_all_about_the_same_size(tmp_path: Path) -> None:
    sector(tmp_path, {"faith": (6, -0.03)}, people=(280, 290))
    (s,) = synthesise_by_type(effects_table(published_reports(tmp_path)))
    assert s.pooled and s.size_regression is None
