"""Sector context: shown only with at least five other published reports of the same type, pooled without
this report, and drawn in the report as one self-contained section."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from synthesis_fixtures import planted_results, sector

from jdl_lib.report.results import validate_results
from jdl_lib.report.sector import sector_section
from jdl_lib.synthesis.context import MIN_CONTEXT_REPORTS, sector_context


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("outputs")
    sector(root, {"mentoring": (6, -0.05), "housing": (4, -0.05)}, people=(150, 400))
    return root


def test_context_needs_five_other_reports_of_the_type(outputs: Path) -> None:
    rng = np.random.default_rng(2)
    assert MIN_CONTEXT_REPORTS == 5
    housing = planted_results("new-housing", "housing", -0.05, 300, rng)
    assert sector_context(housing, outputs) is None  # only four housing reports
    # A re-run of a published mentoring request leaves five others: still enough, and never pools itself.
    rerun = planted_results("mentoring-1", "mentoring", -0.05, 300, rng)
    ctx = sector_context(rerun, outputs)
    assert ctx is not None and ctx["n_reports"] == 5
    assert "mentoring-1" not in {r["request_id"] for r in ctx["reports"]}


def test_context_places_this_report_among_the_others(outputs: Path) -> None:
    rng = np.random.default_rng(2)
    results = planted_results("new-mentoring", "mentoring", -0.30, 400, rng)
    ctx = sector_context(results, outputs)
    assert ctx["n_reports"] == 6
    assert ctx["this_report"]["larger_fall_than"] == 6  # a 30-point fall beats every planted 5-point one
    p = ctx["pooled"]
    assert p["pi_low"] <= p["ci_low"] < -0.05 < p["ci_high"] <= p["pi_high"]
    validate_results({**results, "sector_context": ctx})  # the section fits the results contract


def test_report_section_is_empty_without_context_and_says_where_the_service_sits(outputs: Path) -> None:
    rng = np.random.default_rng(2)
    results = planted_results("new-mentoring", "mentoring", -0.30, 400, rng)
    assert sector_section(results) == ""
    html = sector_section({**results, "sector_context": sector_context(results, outputs)})
    assert "6 other published Justice Data Lab reports of mentoring services" in html
    assert "a larger fall than 6 of the 6 other reports" in html
    assert "prediction interval" in html
    assert "<svg" in html and "Mentoring Trust 3" in html  # the other (published) reports, in the plot
