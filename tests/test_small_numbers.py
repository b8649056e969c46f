"""The JDL small-number rules exactly as the RAP code states them (methodology section 6; issue 15 item 4)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jdl_lib import small_numbers
from jdl_lib.outcomes import estimate_effects


def test_np_must_be_greater_than_10():
    """ "Doesn't print if np isn't greater than 10": exactly 10 is not printed, 11 is."""
    assert not small_numbers.printable(10) and small_numbers.printable(11)


def test_time_needs_30_reoffenders_and_findings_need_p_and_30_reoffenders():
    assert not small_numbers.time_is_headline(29) and small_numbers.time_is_headline(30)
    assert small_numbers.listable(0.05, 30)  # p <= 0.05 counts as significant
    assert not small_numbers.listable(0.0501, 30) and not small_numbers.listable(0.001, 29)
    assert not small_numbers.listable(None, 100)


def _frame(n: int, treated_reoffenders: int, treated_custody: int) -> pd.DataFrame:
    """n treated and n controls, 1:1 by subclass, with exact numbers of treated reoffenders and custody."""
    rng = np.random.default_rng(3)
    re_t = np.zeros(n, dtype=bool)
    re_t[:treated_reoffenders] = True
    cust_t = np.full(n, np.nan)
    cust_t[:treated_reoffenders] = 0.0
    cust_t[:treated_custody] = 1.0
    re_c = rng.random(n) < 0.4
    cust_c = np.where(re_c, (rng.random(n) < 0.5).astype(float), np.nan)
    frame = pd.DataFrame(
        {
            "treat": np.r_[np.ones(n), np.zeros(n)].astype(int),
            "weights": 1.0,
            "subclass": np.r_[np.arange(n), np.arange(n)],
            "reoffended_1y": np.r_[re_t, re_c],
            "first_reoffence_custody": np.r_[cust_t, cust_c],
        }
    )
    frame["reoffences_1y"] = frame["reoffended_1y"].astype(int) * 2
    frame["days_to_first_reoffence"] = np.where(frame["reoffended_1y"], 90.0, np.nan)
    return frame


@pytest.mark.parametrize(("reoffenders", "printed"), [(10, False), (11, True)])
def test_rate_at_exactly_np_10_is_withheld(reoffenders: int, printed: bool):
    """Issue 15 item 4: a rate resting on exactly 10 treated reoffenders was printed; the rule says > 10."""
    res = estimate_effects(_frame(80, reoffenders, 0), measures=("rate", "frequency"))
    assert res["rate"].reported is printed and res["frequency"].reported is printed
    if not printed:
        assert "np > 10" in res["rate"].note


@pytest.mark.parametrize(("custody", "printed"), [(10, False), (11, True)])
def test_custody_on_reoffence_needs_np_above_10(custody: int, printed: bool):
    res = estimate_effects(_frame(80, 40, custody), measures=("custody_on_reoffence",))
    assert res["custody_on_reoffence"].reported is printed


@pytest.mark.parametrize(("reoffenders", "printed"), [(29, False), (30, True)])
def test_time_to_first_reoffence_needs_30_treated_reoffenders(reoffenders: int, printed: bool):
    res = estimate_effects(_frame(80, reoffenders, 0), measures=("time_to_reoffence",))
    assert res["time_to_reoffence"].reported is printed
