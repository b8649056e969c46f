"""The site's power page computes in the browser what `jdl power` computes in Python: run power.js in node."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from scipy import stats

from jdl_lib.power import minimum_detectable_difference, people_needed

POWER_JS = Path(__file__).resolve().parents[1] / "jdl_lib" / "publish" / "static" / "power.js"
CASES = [(60, 0.45, 0.05, 0.8), (200, 0.45, 0.05, 0.8), (1000, 0.25, 0.05, 0.9), (150, 0.6, 0.01, 0.8)]
NEEDED = [(-0.05, 0.45, 0.05, 0.8), (-0.10, 0.3, 0.05, 0.9), (0.03, 0.5, 0.01, 0.8), (-0.02, 0.2, 0.05, 0.8)]


def _node(script: str) -> object:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is missing; `make test` installs it (the site's power page is tested in node)")
        pytest.skip("node is not installed")
    code = f"const p = require({json.dumps(str(POWER_JS))});\nconsole.log(JSON.stringify({script}));"
    out = subprocess.run([node, "-e", code], capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout)


def test_normal_quantile_matches_scipy() -> None:
    ps = [1e-6, 0.01, 0.025, 0.2, 0.5, 0.8, 0.975, 0.995]
    got = _node(f"{json.dumps(ps)}.map(p.normInv)")
    assert got == pytest.approx([stats.norm.ppf(p) for p in ps], rel=2e-9, abs=1e-9)


def test_minimum_detectable_difference_matches_python() -> None:
    got = _node(f"{json.dumps(CASES)}.map(c => p.minimumDetectableDifference(...c))")
    want = [minimum_detectable_difference(*c) for c in CASES]
    assert got == pytest.approx(want, abs=1e-8)
    assert got[1] == pytest.approx(0.097, abs=0.001)  # 200 people at 45%: about a 10-point fall


def test_people_needed_matches_python() -> None:
    got = _node(f"{json.dumps(NEEDED)}.map(c => p.peopleNeeded(...c))")
    assert got == [people_needed(*c) for c in NEEDED]


def test_impossible_inputs_give_nan_not_a_number() -> None:
    got = _node("[p.minimumDetectableDifference(5, 0.02, 0.05, 0.8), p.peopleNeeded(0, 0.4, 0.05, 0.8)]")
    assert got == [None, None]  # NaN serialises as null
    assert minimum_detectable_difference(5, 0.02) != minimum_detectable_difference(
        5, 0.02
    )  # NaN in Python too
