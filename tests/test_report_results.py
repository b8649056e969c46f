"""The results.json contract: the example is valid, extra or inconsistent content is refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from jdl_lib.report.example import example_results
from jdl_lib.report.results import ResultsError, read_results, validate_results, write_results


@pytest.mark.parametrize("kind", ["reduction", "increase", "inconclusive"])
def test_example_results_follow_the_contract(kind: str) -> None:
    results = example_results(kind)
    assert validate_results(results) is results
    assert example_results(kind) == results  # seeded: the same every time


def test_write_then_read_keeps_exact_values(tmp_path: Path) -> None:
    results = example_results()
    path = write_results(results, tmp_path / "out" / "results.json")
    assert read_results(path) == json.loads(json.dumps(results))
    rate = read_results(path)["outcomes"][0]
    assert rate["difference"] == results["outcomes"][0]["difference"]  # not rounded


def test_person_level_fields_are_refused() -> None:
    results = copy.deepcopy(example_results())
    results["profile"][0]["surname"] = "x"
    with pytest.raises(ResultsError, match="profile/0"):
        validate_results(results)
    results = copy.deepcopy(example_results())
    results["people"] = [{"pnc_id": "x"}]
    with pytest.raises(ResultsError, match="top level"):
        validate_results(results)


def test_wrong_types_and_inconsistent_attrition_are_refused() -> None:
    results = copy.deepcopy(example_results())
    results["outcomes"][0]["p_value"] = 1.5
    with pytest.raises(ResultsError, match="outcomes/0/p_value"):
        validate_results(results)
    results = copy.deepcopy(example_results())
    results["attrition"]["stages"][2]["lost"] += 1
    with pytest.raises(ResultsError, match="lost count"):
        validate_results(results)
    results = copy.deepcopy(example_results())
    results["outcomes"][0]["ci_low"] = None
    with pytest.raises(ResultsError, match="a reported measure needs sizes"):
        validate_results(results)


def test_unreadable_file_is_a_results_error(tmp_path: Path) -> None:
    bad = tmp_path / "results.json"
    bad.write_text("{not json")
    with pytest.raises(ResultsError, match="cannot read results"):
        read_results(bad)
