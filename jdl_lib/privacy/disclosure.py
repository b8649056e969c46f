"""Disclosure control for aggregate outputs: the minimum analysed group and cell suppression.

Two rules protect the people in an organisation's data (methodology §6; issue 8):

* a request is analysed only if the treatment group holds at least :data:`MINIMUM_GROUP` (60) people;
  the minimum can be raised but never lowered, except by the test-only override described in
  :func:`check_minimum_group`;
* every count shown in a report table passes :func:`suppress_table`: counts from 1 to ``threshold - 1``
  are suppressed (primary suppression) together with enough other cells that no suppressed count can be
  worked out from the totals a reader knows (secondary suppression), and rates built on a suppressed
  count are blanked. The two are marked differently (:data:`SECONDARY_MARKER` and
  :func:`primary_marker`), as the GSS guidance on symbols in tables recommends, so a reader is never told
  that a cell of dozens is "<5".

Suppression is audited, not assumed: after each step the feasible range of every primary cell is computed
with linear programming over everything a reader can see (:func:`feasible_ranges`), which is the strongest
"recover it by subtraction" attack on an additive table. Because the markers tell the reader that a
primary cell lies between 1 and ``threshold - 1`` and that a secondary cell does not, the attack is given
that knowledge too; secondary cells are added until no primary cell can be pinned down to one value.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.optimize import linprog

from jdl_lib.errors import DisclosureError, JdlWarning

log = logging.getLogger(__name__)

#: The smallest treatment group the lab analyses (the Justice Data Lab's published rule).
MINIMUM_GROUP = 60
#: Counts from 1 to ``DEFAULT_THRESHOLD - 1`` are suppressed in published tables.
DEFAULT_THRESHOLD = 5
#: Environment variable that lets a *test* run with a minimum group below 60 (see check_minimum_group).
TEST_OVERRIDE_ENV = "JDL_TEST_ALLOW_SMALL_GROUPS"
#: What a report prints in place of a count withheld only to protect a small one, and of any rate or
#: percentage withheld (the ONS/GSS symbol for "confidential").
SECONDARY_MARKER = "[c]"


def primary_marker(threshold: int = DEFAULT_THRESHOLD) -> str:
    """What a report prints in place of a small count (primary suppression): ``"<5"`` for threshold 5."""
    return f"<{threshold}"


def suppression_note(threshold: int = DEFAULT_THRESHOLD) -> str:
    """The sentence that explains both markers, printed under every table that uses them."""
    return (
        f"{primary_marker(threshold)}: between 1 and {threshold - 1} people; the exact count is not shown. "
        f"{SECONDARY_MARKER}: withheld so that a small count cannot be worked out from the totals (it may be "
        "large). Percentages of these cells are withheld too."
    )


Totals = Literal["columns", "rows", "both", "none"]


@dataclass(frozen=True)
class MinimumGroupCheck:
    """A passed minimum-group check: group size, minimum applied, whether the test override was used.

    ``test_override`` is True only when a test lowered the minimum below 60; a report built from such a
    run must never be released (the pipeline stamps it "not for release").
    """

    n: int
    minimum: int
    stage: str
    test_override: bool


def _test_override_active() -> bool:
    """True when the small-group override is switched on *and* pytest is running this process tree."""
    return os.environ.get(TEST_OVERRIDE_ENV) == "1" and "PYTEST_CURRENT_TEST" in os.environ


def check_minimum_group(
    n: int, minimum: int = MINIMUM_GROUP, *, stage: str = "analysed group"
) -> MinimumGroupCheck:
    """Stop the run unless the group has at least ``minimum`` people, before any outcome is computed.

    Why: an outcome rate for a handful of people is close to a statement about each of them. The Justice
    Data Lab analyses only groups of at least 60 (methodology §6), so ``minimum`` may be raised above 60
    but not lowered.

    The one exception is for tests that exercise the pipeline on small fixtures: a ``minimum`` below 60 is
    honoured only when the environment variable ``JDL_TEST_ALLOW_SMALL_GROUPS`` is exactly ``"1"`` *and*
    pytest is running (``PYTEST_CURRENT_TEST`` is set, which subprocesses inherit). Even then a
    :class:`~jdl_lib.errors.JdlWarning` is issued, an error is logged, and the result says
    ``test_override=True`` so the report can be stamped not for release. A stray variable in a production
    shell therefore changes nothing.

    Parameters
    ----------
    n : int
        Number of people in the group (for example the treatment group after linkage and eligibility).
    minimum : int, default 60
        Smallest allowed group.
    stage : str
        Name of the group, used in the message (e.g. ``"treatment group after index events"``).

    Returns
    -------
    MinimumGroupCheck

    Raises
    ------
    DisclosureError
        If ``minimum`` is below 60 without the test override, or ``n`` is below ``minimum``.
    """
    minimum = int(minimum)
    override = False
    if minimum < MINIMUM_GROUP:
        if not _test_override_active():
            raise DisclosureError(
                f"minimum group size {minimum} is below the lab's floor of {MINIMUM_GROUP}; the minimum can "
                f"only be raised. Set it to {MINIMUM_GROUP} or more in the request specification."
            )
        override = True
        message = (
            f"TEST-ONLY OVERRIDE: minimum group lowered to {minimum} (below {MINIMUM_GROUP}) because "
            f"{TEST_OVERRIDE_ENV}=1 under pytest; outputs of this run must never be released"
        )
        warnings.warn(message, JdlWarning, stacklevel=2)
        log.error(message)
    if minimum < 1:
        raise DisclosureError(f"minimum group size must be at least 1, got {minimum}")
    if n < minimum:
        raise DisclosureError(
            f"the {stage} has {n} people, fewer than the minimum of {minimum}; no outcome has been computed. "
            f"The lab only reports on groups of at least {minimum} so that results cannot be traced to "
            "individuals. Send details of more people who received the service, or check why people were "
            "lost at linkage and eligibility (see the attrition counts)."
        )
    return MinimumGroupCheck(n=int(n), minimum=minimum, stage=stage, test_override=override)


@dataclass(frozen=True)
class SuppressedCell:
    """One suppressed cell: its row label, column name and why (``"primary"`` or ``"secondary"``).

    The reason is for the lab's audit only: publishing it would tell a reader which cells are small.
    """

    row: object
    column: str
    reason: Literal["primary", "secondary"]


@dataclass(frozen=True)
class SuppressionResult:
    """A table made safe to publish, with the settings used and the cells hidden.

    ``table`` has the input's shape; suppressed counts are ``<NA>`` in nullable ``Int64`` columns and
    blanked rates are ``NaN``. Use :meth:`for_display` to print the suppression markers.
    """

    table: pd.DataFrame
    cells: tuple[SuppressedCell, ...]
    blanked_rates: tuple[tuple[object, str], ...]
    count_columns: tuple[str, ...]
    threshold: int
    totals: Totals
    group_column: str | None
    suppress_zeros: bool
    marked: bool = True

    @property
    def n_primary(self) -> int:
        """Number of cells suppressed because they were small."""
        return sum(c.reason == "primary" for c in self.cells)

    @property
    def n_secondary(self) -> int:
        """Number of cells suppressed only to protect a small cell."""
        return sum(c.reason == "secondary" for c in self.cells)

    def for_display(self, secondary: str = SECONDARY_MARKER) -> pd.DataFrame:
        """Return the table as text: ``"<threshold"`` in small counts, ``secondary`` in counts withheld to
        protect them and in every blanked rate."""
        shown = self.table.astype(object)
        for cell in self.cells:
            small = cell.reason == "primary"
            shown.at[cell.row, cell.column] = primary_marker(self.threshold) if small else secondary
        for row, column in self.blanked_rates:
            shown.at[row, column] = secondary
        return shown

    def kinds(self, column: str) -> list[str | None]:
        """Per row of ``column``, in table order: ``"primary"``, ``"secondary"`` or None (shown)."""
        reasons = {cell.row: cell.reason for cell in self.cells if cell.column == column}
        return [reasons.get(row) for row in self.table.index]


def _constraints(
    table: pd.DataFrame, count_columns: Sequence[str], totals: Totals, group_column: str | None
) -> list[np.ndarray]:
    """Return the additive relations a reader knows, each as flat cell indices summing to a known total.

    Cells are numbered row-major over ``count_columns``. Column relations hold within each group of rows
    (each group is one categorical variable whose categories add up to the group size).
    """
    n_rows, n_cols = len(table), len(count_columns)
    index = np.arange(n_rows * n_cols).reshape(n_rows, n_cols)
    lines: list[np.ndarray] = []
    if totals in ("columns", "both"):
        groups = (
            [np.arange(n_rows)]
            if group_column is None
            else [np.flatnonzero((table[group_column] == g).to_numpy()) for g in table[group_column].unique()]
        )
        for rows in groups:
            lines.extend(index[rows, j] for j in range(n_cols))
    if totals in ("rows", "both"):
        lines.extend(index[i, :] for i in range(n_rows))
    return [line for line in lines if len(line)]


def feasible_ranges(
    values: np.ndarray,
    suppressed: np.ndarray,
    lines: Sequence[np.ndarray],
    bounds: Sequence[tuple[float, float | None]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the smallest and largest value each suppressed cell could take, given what is published.

    This is the attack a reader can make on an additive table: every published cell and every known total
    is an equation, counts are non-negative, and linear programming finds the tightest bounds on each
    hidden cell (subtracting along rows and columns is a special case). Bounds are exact for the real
    relaxation and rounded inwards to whole numbers.

    Parameters
    ----------
    values : numpy.ndarray
        True counts, flat (row-major), used only to compute the known totals.
    suppressed : numpy.ndarray of bool
        Which cells are hidden.
    lines : sequence of numpy.ndarray
        Flat indices of cells that add up to a total the reader knows.
    bounds : sequence of (low, high), optional
        What the reader knows of each suppressed cell (in flat order) before any arithmetic, e.g. that a
        cell marked "<5" lies in 1..4; ``high`` None for no upper limit. Default: non-negative.

    Returns
    -------
    (lower, upper) : tuple of numpy.ndarray
        Bounds for the suppressed cells in flat order; ``upper`` is ``inf`` when unbounded.
    """
    hidden = np.flatnonzero(suppressed)
    position = {cell: k for k, cell in enumerate(hidden)}
    rows, rhs = [], []
    for line in lines:
        members = [position[c] for c in line if c in position]
        if not members:
            continue
        row = np.zeros(len(hidden))
        row[members] = 1.0
        rows.append(row)
        rhs.append(float(values[line][suppressed[line]].sum()))
    known = [(0.0, None)] * len(hidden) if bounds is None else list(bounds)
    lower = np.array([lo for lo, _ in known], dtype=float)
    upper = np.array([np.inf if hi is None else hi for _, hi in known], dtype=float)
    if not rows:
        return lower, upper
    a_eq, b_eq = np.vstack(rows), np.array(rhs)
    for k in range(len(hidden)):
        objective = np.zeros(len(hidden))
        for sign in (1.0, -1.0):
            objective[k] = sign
            res = linprog(objective, A_eq=a_eq, b_eq=b_eq, bounds=known, method="highs")
            if res.status == 3:  # unbounded: only possible when maximising
                continue
            bound = sign * res.fun
            if sign > 0:
                lower[k] = math.ceil(bound - 1e-6)
            else:
                upper[k] = math.floor(bound + 1e-6)
    return lower, upper


def _disclosed(lower: np.ndarray, upper: np.ndarray, threshold: int, marked: bool) -> np.ndarray:
    """True where a reader can pin a cell to one value or, when small cells are not marked as such, prove
    it is a small non-zero count."""
    pinned = upper - lower < 1
    return pinned if marked else pinned | ((lower >= 1) & (upper <= threshold - 1))


def _reader_bounds(
    values: np.ndarray, primary: np.ndarray, suppressed: np.ndarray, threshold: int, suppress_zeros: bool
) -> list[tuple[float, float | None]]:
    """What the markers tell a reader about each suppressed cell (flat order).

    "<threshold" says 1..threshold-1 (0..threshold-1 when zeros are suppressed too); "[c]" says the cell is
    not small, i.e. 0 or at least ``threshold``. That is not an interval, so a secondary zero is taken as
    known exactly (it then protects nothing and another cell is chosen): the audit assumes the reader knows
    at least as much as they do.
    """
    out: list[tuple[float, float | None]] = []
    for cell in np.flatnonzero(suppressed):
        if primary[cell]:
            out.append((0.0 if suppress_zeros else 1.0, float(threshold - 1)))
        elif values[cell] >= threshold:
            out.append((float(threshold), None))
        else:
            out.append((float(values[cell]), float(values[cell])))
    return out


def suppress_table(
    table: pd.DataFrame,
    count_columns: Sequence[str],
    *,
    threshold: int = DEFAULT_THRESHOLD,
    totals: Totals = "columns",
    group_column: str | None = None,
    rate_columns: Mapping[str, Sequence[str]] | None = None,
    suppress_zeros: bool = False,
    marked: bool = True,
) -> SuppressionResult:
    """Suppress small counts in a report table, and enough other cells that they cannot be recovered.

    Why: a count of 1 to 4 people with some characteristic or outcome comes close to describing
    individuals; hiding it is useless if a reader can subtract the other cells from a total shown
    elsewhere in the report (secondary disclosure), or read it back from a rate.

    Rules
    -----
    * Primary: counts ``1 .. threshold-1`` are suppressed. Zero is *not* suppressed by default: a zero
      says nobody in a category of a group of at least 60 had the attribute, which describes the group
      rather than a person; set ``suppress_zeros=True`` where a zero would reveal an attribute of everyone
      in a small category.
    * Totals: the sums named by ``totals`` are treated as known to the reader whether or not the table
      prints them (group sizes are in every report). ``"columns"``: within each group of rows (each value of
      ``group_column``, or the whole table) each count column adds up to a known total, e.g. the
      categories of one variable in a profile table; ``"rows"``: the count columns of each row add up to a
      known total; ``"both"``; ``"none"``: cells are unrelated.
    * Secondary: while some primary cell can be pinned to a single value, or shown to lie in
      ``1 .. threshold-1``, by linear programming over everything published (:func:`feasible_ranges`),
      the smallest non-zero unsuppressed cell sharing a total with it is suppressed too (a zero only if
      nothing else is left). For a two-category variable this hides the other category.
    * Rates: every column in ``rate_columns`` is blanked in rows where any count it is built from is
      suppressed.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per category; labels in the index or in other columns (they pass through).
    count_columns : sequence of str
        Columns holding counts of people or events (non-negative whole numbers, no missing values).
    threshold : int, default 5
        Smallest count that is shown; at least 5 (configurable upwards for stricter releases).
    totals : {"columns", "rows", "both", "none"}, default "columns"
        Which sums a reader knows.
    group_column : str, optional
        Column naming the variable each row belongs to, for stacked profile tables.
    rate_columns : mapping of str to sequence of str, optional
        Rate or percentage column -> the count columns it is computed from.
    suppress_zeros : bool, default False
        Also treat zero counts as primary cells.
    marked : bool, default True
        Small cells will be published as ``"<threshold"`` and the others as ``"[c]"``
        (:meth:`SuppressionResult.for_display`), so the audit gives the reader that knowledge and only
        requires that no small cell can be pinned to one value. With ``False`` every hidden cell looks
        alike and the audit also stops a reader proving that a cell is small.

    Returns
    -------
    SuppressionResult

    Raises
    ------
    DisclosureError
        If a small count cannot be protected by suppressing other cells (its only companion in a total is
        the total itself); the fix is to merge categories.
    ValueError
        If the table's counts are not non-negative whole numbers or a named column is missing.
    """
    count_columns = tuple(count_columns)
    rate_columns = dict(rate_columns or {})
    if threshold < DEFAULT_THRESHOLD:
        raise DisclosureError(
            f"suppression: threshold {threshold} would publish counts the lab hides; it can be raised "
            f"above {DEFAULT_THRESHOLD}, never lowered"
        )
    if totals not in ("columns", "rows", "both", "none"):
        raise ValueError(f"totals must be one of 'columns', 'rows', 'both', 'none'; got {totals!r}")
    named = [*count_columns, *rate_columns, *([group_column] if group_column is not None else [])]
    missing = [c for c in named if c not in table.columns]
    missing += [s for sources in rate_columns.values() for s in sources if s not in count_columns]
    if missing:
        raise ValueError(
            f"suppress_table: column(s) {sorted(set(map(str, missing)))} are not in the table "
            "(rates must be built from the count columns being suppressed)"
        )
    if not table.index.is_unique:
        raise ValueError("suppress_table: the table's index must be unique (it labels suppressed cells)")
    counts = table.loc[:, list(count_columns)].to_numpy(dtype=float)
    if np.isnan(counts).any() or (counts < 0).any() or (counts != np.round(counts)).any():
        raise ValueError("suppress_table: counts must be non-negative whole numbers with no missing values")

    values = counts.ravel()
    primary = (values > 0) & (values < threshold)
    if suppress_zeros:
        primary |= values == 0
    suppressed = primary.copy()
    lines = _constraints(table, count_columns, totals, group_column)

    while True:
        bounds = _reader_bounds(values, primary, suppressed, threshold, suppress_zeros) if marked else None
        lower, upper = feasible_ranges(values, suppressed, lines, bounds)
        hidden = np.flatnonzero(suppressed)
        weak = [
            cell
            for cell, bad in zip(hidden, _disclosed(lower, upper, threshold, marked), strict=True)
            if bad and primary[cell]
        ]
        if not weak:
            break
        complement = _complement(weak[0], values, suppressed, lines)
        if complement is None:
            r, c = divmod(int(weak[0]), len(count_columns))
            raise DisclosureError(
                f"a small count in column {count_columns[c]!r} (row {r + 1} of the table) cannot be hidden: "
                "every other cell it shares a total with is already suppressed. Merge it with another "
                "category, or publish the table without that total."
            )
        suppressed[complement] = True

    cells = tuple(
        SuppressedCell(
            row=table.index[r], column=count_columns[c], reason="primary" if primary[cell] else "secondary"
        )
        for cell in np.flatnonzero(suppressed)
        for r, c in [divmod(int(cell), len(count_columns))]
    )
    hidden_grid = suppressed.reshape(counts.shape)
    published = table.copy()
    for j, column in enumerate(count_columns):
        published[column] = pd.array(counts[:, j].astype(np.int64), dtype="Int64")
        published.loc[hidden_grid[:, j], column] = pd.NA
    blanked: list[tuple[object, str]] = []
    for rate, sources in rate_columns.items():
        rows = hidden_grid[:, [count_columns.index(s) for s in sources]].any(axis=1)
        published[rate] = published[rate].astype(float)
        published.loc[rows, rate] = np.nan
        blanked.extend((label, rate) for label in table.index[rows])
    log.info(
        "suppression: %d primary and %d secondary cells of %d hidden (threshold %d)",
        int(primary.sum()),
        int(suppressed.sum() - primary.sum()),
        values.size,
        threshold,
    )
    return SuppressionResult(
        table=published,
        cells=cells,
        blanked_rates=tuple(blanked),
        count_columns=count_columns,
        threshold=threshold,
        totals=totals,
        group_column=group_column,
        suppress_zeros=suppress_zeros,
        marked=marked,
    )


def _complement(
    cell: int, values: np.ndarray, suppressed: np.ndarray, lines: Sequence[np.ndarray]
) -> int | None:
    """Pick the cell to hide next: the smallest non-zero open cell sharing a total with ``cell``.

    Falls back to an open zero, then to open cells sharing a total with any suppressed cell in the same
    lines, so that a chain of suppressions can always grow while there is something left to hide.
    """
    own = [line for line in lines if cell in line]
    for pool in (own, [line for line in lines if suppressed[line].any()]):
        candidates = np.unique(np.concatenate(pool)) if pool else np.array([], dtype=int)
        candidates = candidates[~suppressed[candidates]]
        if candidates.size:
            nonzero = candidates[values[candidates] > 0]
            choose = nonzero if nonzero.size else candidates
            return int(choose[np.argmin(values[choose])])
    return None
