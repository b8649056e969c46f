"""Minimum group and cell suppression: a reader of the published table cannot recover a small count."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from jdl_lib.errors import DisclosureError, JdlWarning
from jdl_lib.privacy.disclosure import (
    MINIMUM_GROUP,
    SECONDARY_MARKER,
    TEST_OVERRIDE_ENV,
    check_minimum_group,
    suppress_table,
    suppression_note,
)

# ---------------------------------------------------------------- minimum group


def test_group_of_59_is_refused_and_60_passes():
    with pytest.raises(DisclosureError, match="59 people, fewer than the minimum of 60"):
        check_minimum_group(59)
    check = check_minimum_group(60)
    assert (check.n, check.minimum, check.test_override) == (60, 60, False)


def test_minimum_can_be_raised():
    with pytest.raises(DisclosureError, match="fewer than the minimum of 100"):
        check_minimum_group(80, minimum=100)
    assert check_minimum_group(100, minimum=100).minimum == 100


def test_minimum_cannot_be_lowered_without_the_test_override(monkeypatch):
    monkeypatch.delenv(TEST_OVERRIDE_ENV, raising=False)
    with pytest.raises(DisclosureError, match="below the lab's floor of 60"):
        check_minimum_group(500, minimum=30)


def test_override_is_loud_and_recorded(monkeypatch):
    monkeypatch.setenv(TEST_OVERRIDE_ENV, "1")
    with pytest.warns(JdlWarning, match="TEST-ONLY OVERRIDE"):
        check = check_minimum_group(40, minimum=30)
    assert check.test_override and check.minimum == 30
    with pytest.raises(DisclosureError), warnings.catch_warnings():
        warnings.simplefilter("ignore", JdlWarning)
        check_minimum_group(20, minimum=30)


@pytest.mark.parametrize("value", ["true", "yes", "0", ""])
def test_override_needs_exactly_1(monkeypatch, value):
    monkeypatch.setenv(TEST_OVERRIDE_ENV, value)
    with pytest.raises(DisclosureError):
        check_minimum_group(40, minimum=30)


def test_override_is_ignored_outside_pytest(monkeypatch):
    monkeypatch.setenv(TEST_OVERRIDE_ENV, "1")
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    with pytest.raises(DisclosureError, match="floor of 60"):
        check_minimum_group(40, minimum=30)


def test_default_minimum_is_60():
    assert MINIMUM_GROUP == 60
    assert check_minimum_group.__defaults__ == (60,)


# ---------------------------------------------------------------- attackers


def _lines(shape, totals, groups=None):
    """Index sets of cells whose sums the reader knows (independent of the library's own helper)."""
    n_rows, n_cols = shape
    grid = np.arange(n_rows * n_cols).reshape(shape)
    lines = []
    if totals in ("columns", "both"):
        for rows in groups if groups is not None else [np.arange(n_rows)]:
            lines += [grid[rows, j] for j in range(n_cols)]
    if totals in ("rows", "both"):
        lines += [grid[i, :] for i in range(n_rows)]
    return lines


def subtraction_attack(published: np.ndarray, true: np.ndarray, lines) -> dict[int, float]:
    """Repeatedly solve any total with a single unknown cell; return every cell recovered this way."""
    known = dict(enumerate(published.ravel()))
    known = {k: v for k, v in known.items() if not np.isnan(v)}
    totals = [true.ravel()[line].sum() for line in lines]
    recovered: dict[int, float] = {}
    progress = True
    while progress:
        progress = False
        for line, total in zip(lines, totals, strict=True):
            unknown = [c for c in line if c not in known]
            if len(unknown) == 1:
                value = total - sum(known[c] for c in line if c in known)
                known[unknown[0]] = recovered[unknown[0]] = value
                progress = True
    return recovered


def lp_attack(
    published: np.ndarray, true: np.ndarray, lines, threshold: int | None = None
) -> dict[int, tuple[float, float]]:
    """Tightest bounds on each hidden cell by linear programming over the published table.

    With ``threshold``, the reader also reads the markers: a small true count was printed "<threshold"
    (so lies in 1..threshold-1) and any other hidden count "[c]" (so is at least threshold, or zero).
    """
    flat = published.ravel()
    hidden = np.flatnonzero(np.isnan(flat))
    known = [(0, None)] * len(hidden)
    if threshold is not None:
        values = true.ravel()[hidden]
        known = [
            (1, threshold - 1) if 0 < v < threshold else (threshold, None) if v >= threshold else (0, 0)
            for v in values
        ]
    a, b = [], []
    for line in lines:
        row = np.isin(hidden, line).astype(float)
        if row.any():
            a.append(row)
            b.append(true.ravel()[line].sum() - np.nansum(flat[line]))
    bounds = {}
    for k, cell in enumerate(hidden):
        c = np.zeros(len(hidden))
        c[k] = 1
        low = linprog(c, A_eq=a or None, b_eq=b or None, bounds=known).fun if a else known[k][0]
        high = linprog(-c, A_eq=a or None, b_eq=b or None, bounds=known)
        bounds[int(cell)] = (low, np.inf if high.status == 3 else -high.fun)
    return bounds


def _published(result, columns):
    return result.table[list(columns)].astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def _assert_safe(true: np.ndarray, published: np.ndarray, lines, threshold: int, marked: bool = True) -> None:
    """No small count is shown, recovered by subtraction or pinned by LP; with unmarked suppression, none
    can even be proven small. Marked tables are attacked with what the markers say."""
    small = np.flatnonzero((true.ravel() > 0) & (true.ravel() < threshold))
    assert np.isnan(published.ravel()[small]).all(), "a small count is shown"
    recovered = subtraction_attack(published, true, lines)
    assert not set(recovered) & set(small), "a small count was recovered by subtraction"
    attack = lp_attack(published, true, lines, threshold if marked else None)
    for cell, (low, high) in attack.items():
        if cell in small:
            assert high - low >= 1 - 1e-6, "a small count is pinned to one value"
            if not marked:
                assert not (low >= 1 - 1e-6 and high <= threshold - 1 + 1e-6), "a cell is proven small"


# ---------------------------------------------------------------- suppression


def test_two_category_variable_hides_both_categories():
    table = pd.DataFrame({"people": [3, 97]}, index=["Female", "Male"])
    result = suppress_table(table, ["people"])
    assert result.table["people"].isna().all()
    assert {(c.row, c.reason) for c in result.cells} == {("Female", "primary"), ("Male", "secondary")}
    _assert_safe(table.to_numpy(float), _published(result, ["people"]), _lines((2, 1), "columns"), 5)


def test_the_attack_succeeds_without_secondary_suppression():
    # The tests above can fail: with primary suppression only, subtraction recovers the hidden cell.
    true = np.array([[3.0], [97.0]])
    published = np.array([[np.nan], [97.0]])
    assert subtraction_attack(published, true, _lines((2, 1), "columns")) == {0: 3.0}


def test_smallest_complement_is_chosen_and_large_cells_stay():
    table = pd.DataFrame({"people": [40, 2, 9, 55]}, index=list("abcd"))
    result = suppress_table(table, ["people"])
    assert [c.row for c in result.cells] == ["b", "c"]
    assert result.table.loc[["a", "d"], "people"].tolist() == [40, 55]


def test_nothing_is_hidden_when_every_count_is_large_and_zero_is_shown_by_default():
    table = pd.DataFrame({"treated": [0, 12, 48], "rate": [0.0, 0.2, 0.8]})
    result = suppress_table(table, ["treated"], rate_columns={"rate": ["treated"]})
    assert result.cells == () and result.table["treated"].tolist() == [0, 12, 48]
    hidden = suppress_table(table, ["treated"], suppress_zeros=True)
    assert {c.row for c in hidden.cells} >= {0}


def test_rates_built_on_suppressed_counts_are_blanked_and_displayed_as_marker():
    table = pd.DataFrame(
        {
            "variable": ["sex", "sex", "region", "region"],
            "n": [4, 96, 50, 50],
            "pct": [4.0, 96.0, 50.0, 50.0],
        },
        index=["F", "M", "London", "Wales"],
    )
    result = suppress_table(table, ["n"], group_column="variable", rate_columns={"pct": ["n"]})
    assert result.table.loc[["F", "M"], "pct"].isna().all()
    assert result.table.loc[["London", "Wales"], "pct"].tolist() == [50.0, 50.0]
    shown = result.for_display()
    assert shown.at["F", "n"] == "<5" and shown.at["M", "n"] == SECONDARY_MARKER
    assert (shown.loc[["F", "M"], "pct"] == SECONDARY_MARKER).all()
    assert result.n_primary == 1 and result.n_secondary == 1
    assert result.kinds("n") == ["primary", "secondary", None, None]


def test_issue_11_a_large_secondary_cell_is_never_marked_small():
    """Issue 11 item 4: "Male <5" in a group of 61. The large complement is marked [c], and the note
    explains both markers."""
    table = pd.DataFrame({"n": [3, 58]}, index=["Female", "Male"])
    shown = suppress_table(table, ["n"]).for_display()
    assert shown["n"].tolist() == ["<5", "[c]"]
    note = suppression_note(5)
    assert "<5: between 1 and 4 people" in note and "[c]: withheld" in note


def test_marker_knowledge_is_part_of_the_attack():
    """Once "<5" and "[c]" are printed, 1 + 5 = 6 pins the small cell (it is 1..4, the other is 5 or more):
    the marked audit hides a third cell, the unmarked one did not need to."""
    table = pd.DataFrame({"n": [1, 5, 40]})
    assert suppress_table(table, ["n"], marked=False).table["n"].isna().tolist() == [True, True, False]
    marked = suppress_table(table, ["n"])
    assert marked.table["n"].isna().all()
    _assert_safe(table.to_numpy(float), _published(marked, ["n"]), _lines((3, 1), "columns"), 5)


def test_groups_are_protected_separately():
    table = pd.DataFrame({"variable": ["a", "a", "a", "b", "b"], "n": [3, 30, 67, 60, 40]})
    result = suppress_table(table, ["n"], group_column="variable")
    assert set(result.table.index[result.table["n"].isna()]) == {0, 1}


@pytest.mark.parametrize("marked", [True, False])
@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("totals", ["columns", "rows", "both"])
def test_no_small_count_can_be_recovered_from_random_tables(seed, totals, marked):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(2, 6)), int(rng.integers(1, 4)))
    true = rng.choice([0, 1, 2, 3, 4, 5, 6, 9, 15, 40, 120], size=shape).astype(float)
    table = pd.DataFrame(true.astype(int), columns=[f"c{j}" for j in range(shape[1])])
    try:
        result = suppress_table(table, table.columns, totals=totals, marked=marked)
    except DisclosureError as err:  # only when hiding every cell still gives a small count away
        assert "cannot be hidden" in str(err)
        if not marked:
            assert min(shape) == 1  # a small cell alone with its total
        else:  # e.g. a row [3, 0] with its total 3: "<5" + "[c]" (0 or at least 5) pins the 3
            everything = np.full(shape, np.nan)
            attack = lp_attack(everything, true, _lines(shape, totals), 5)
            small = np.flatnonzero((true.ravel() > 0) & (true.ravel() < 5))
            assert any(attack[c][1] - attack[c][0] < 1 for c in small)
        return
    _assert_safe(true, _published(result, table.columns), _lines(shape, totals), 5, marked)
    assert result.threshold == 5 and result.totals == totals


def test_higher_threshold_hides_more():
    table = pd.DataFrame({"n": [7, 8, 85]})
    assert suppress_table(table, ["n"]).cells == ()
    strict = suppress_table(table, ["n"], threshold=10)
    assert strict.table["n"].isna().tolist() == [True, True, False]  # 7 + 8 = 15: each could be 0..15


def test_a_small_count_alone_with_its_total_cannot_be_published():
    table = pd.DataFrame({"variable": ["only"], "n": [3]})
    with pytest.raises(DisclosureError, match="Merge it with another category"):
        suppress_table(table, ["n"], group_column="variable")


@pytest.mark.parametrize(
    "bad", [pd.DataFrame({"n": [1.5, 3]}), pd.DataFrame({"n": [-1, 3]}), pd.DataFrame({"n": [None, 3]})]
)
def test_counts_must_be_whole_non_negative(bad):
    with pytest.raises(ValueError, match="non-negative whole numbers"):
        suppress_table(bad, ["n"])


def test_unknown_columns_are_named():
    with pytest.raises(ValueError, match="nope"):
        suppress_table(pd.DataFrame({"n": [1, 2]}), ["n"], rate_columns={"rate": ["nope"]})
