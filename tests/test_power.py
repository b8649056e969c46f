"""Power: textbook sample sizes, monotonicity, and the round trip between the two functions."""

from __future__ import annotations

import pytest

from jdl_lib.errors import SpecError
from jdl_lib.power import minimum_detectable_difference, people_needed


def test_textbook_sample_size():
    # 40% vs 35%, equal groups, 80% power, two-sided 5%: ~1,470-1,500 per group (Fleiss)
    assert 1450 <= people_needed(-0.05, 0.40, control_per_treated=1) <= 1510


def test_round_trip():
    n = people_needed(-0.06, 0.45)
    assert minimum_detectable_difference(n, 0.45) == pytest.approx(0.06, abs=5e-4)


def test_monotone_and_large_comparison_group():
    mdds = [minimum_detectable_difference(n, 0.4) for n in (60, 200, 1000)]
    assert mdds == sorted(mdds, reverse=True)
    assert minimum_detectable_difference(200, 0.4, n_control=200) > mdds[1]


def test_bad_inputs():
    with pytest.raises(SpecError):
        minimum_detectable_difference(100, 1.2)
    with pytest.raises(SpecError):
        people_needed(0.0, 0.4)
