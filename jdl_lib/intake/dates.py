"""Parse the dates in an upload: UK day-first, ISO, written months and Excel serial numbers.

Accepted forms (optionally followed by a time of day, which is ignored):

* ``dd/mm/yyyy`` and ``d/m/yy`` (separators ``/``, ``.`` or ``-``): day first, as the template asks;
* ISO ``yyyy-mm-dd`` (also ``yyyy/mm/dd``): a four-digit year first is never ambiguous;
* written months: ``5 Jan 1980``, ``05-January-80``;
* Excel serial day numbers of five digits (``29221`` = 1980-01-01, the 1900 date system), which
  appear when a date cell loses its format; XLSX date cells arrive already as ISO text.

**Date order, per column.** A numeric ``a/b/y`` date with both ``a`` and ``b`` at most 12 and
``a != b`` (a *two-way* date) reads as two different dates depending on whether the day or the month
comes first. Each column decides for itself (:func:`infer_order`), from its *unambiguous* values: one
with ``a > 12`` can only be day-first, one with ``b > 12`` only month-first (US style).

* No month-first value: the column follows the template (day first).
* Month-first values only: the column is month-first and its two-way dates are read that way
  (announced by the caller; a whole column written US style is not an accident).
* Both: the larger side is the column's order when the other side is at most
  :data:`MIXED_SHARE` of the unambiguous values; the values written the other way *contradict* the
  column and are flagged (``contradicts_order``): they are the rows typed by someone using the other
  convention, so their two-way dates cannot be trusted either. Otherwise the column truly mixes the
  two conventions and its two-way dates are ``ambiguous`` (the unambiguous ones are still read).

So one ``01/13/1980`` among hundreds of day-first dates of birth flags one row, not half the file.

**Two-digit years** expand with a pivot: ``yy <= pivot`` means 20yy, otherwise 19yy. Callers pass
the pivot per column (see :mod:`jdl_lib.intake.validate`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Status of one parsed cell. Only ``ok`` carries a date.
STATUSES = ("ok", "empty", "unparseable", "ambiguous", "contradicts_order", "impossible")
#: Largest share of a column's unambiguous numeric dates that may be written in the other order
#: before the column counts as mixing the two conventions.
MIXED_SHARE = 0.10
#: The orders a column can have.
ORDERS = ("day_first", "month_first", "mixed")
_TIME = r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
_ISO = rf"^(\d{{4}})[-/.](\d{{1,2}})[-/.](\d{{1,2}}){_TIME}$"
_NUMERIC = rf"^(\d{{1,2}})[/.-](\d{{1,2}})[/.-](\d{{2}}|\d{{4}}){_TIME}$"
_WRITTEN = rf"^(\d{{1,2}})[ /.-]*([A-Za-z]{{3,9}})\.?[ /.,-]*(\d{{2}}|\d{{4}}){_TIME}$"
_SERIAL = r"^(\d{5})(?:\.0+)?$"
_EXCEL_EPOCH = np.datetime64("1899-12-30")
_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ]
    )
    for name in names
}


@dataclass(frozen=True)
class ParsedDates:
    """Dates parsed from one column: ``dates`` (datetime64, NaT unless ok) and ``status`` per cell."""

    dates: pd.Series
    status: pd.Series


@dataclass(frozen=True)
class DateOrder:
    """The date order of one column and the evidence for it.

    ``order`` is one of :data:`ORDERS`; ``day_first`` and ``month_first`` count the numeric values that
    can only be read that way.
    """

    order: str
    day_first: int
    month_first: int

    @property
    def contradicting(self) -> int:
        """Unambiguous values written in the order opposite to the column's (0 for a mixed column)."""
        if self.order == "day_first":
            return self.month_first
        if self.order == "month_first":
            return self.day_first
        return 0


def _numeric_parts(text: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    parts = text.str.extract(_NUMERIC)
    a = pd.to_numeric(parts[0], errors="coerce")
    b = pd.to_numeric(parts[1], errors="coerce")
    return parts[2], a, b


def infer_order(values: pd.Series) -> DateOrder:
    """Decide a column's date order from its unambiguous numeric values (see the module notes).

    Parameters
    ----------
    values
        The column's date text.

    Returns
    -------
    DateOrder
        Day-first unless month-first values are present; mixed when neither side holds at least
        ``1 - MIXED_SHARE`` of the unambiguous values.
    """
    _, a, b = _numeric_parts(values.astype(str).str.strip())
    day_first = int(((a > 12) & (b <= 12)).sum())
    month_first = int(((b > 12) & (a <= 12)).sum())
    evidence = day_first + month_first
    if month_first == 0:
        order = "day_first"
    elif min(day_first, month_first) <= MIXED_SHARE * evidence:
        order = "day_first" if day_first > month_first else "month_first"
    else:
        order = "mixed"
    return DateOrder(order, day_first, month_first)


def _expand_year(year_text: pd.Series, pivot: int) -> pd.Series:
    year = pd.to_numeric(year_text, errors="coerce")
    short = year_text.str.len() == 2
    century = np.where(year <= pivot, 2000, 1900)
    return year.where(~short, year + century)


def _assemble(year: pd.Series, month: pd.Series, day: pd.Series) -> pd.Series:
    ymd = pd.DataFrame({"year": year, "month": month, "day": day}).astype("float64")
    plausible = ymd["year"].between(1000, 2999) & ymd["month"].between(1, 12) & ymd["day"].between(1, 31)
    out = pd.Series(pd.NaT, index=year.index, dtype="datetime64[s]")
    if plausible.any():
        good = ymd.loc[plausible].astype("int64")
        out.loc[plausible] = pd.to_datetime(good, errors="coerce").astype("datetime64[s]")
    return out


def parse_dates(values: pd.Series, *, pivot: int, order: str = "day_first") -> ParsedDates:
    """Parse a column of date text.

    Parameters
    ----------
    values
        Text cells (already stripped or not).
    pivot
        Two-digit years ``<= pivot`` are read as 20yy, others as 19yy.
    order
        The column's order from :func:`infer_order`: two-way numeric dates are read in it (and are
        ``ambiguous`` in a mixed column); unambiguous ones written the other way ``contradict`` it.

    Returns
    -------
    ParsedDates
        Dates are midnight ``datetime64[s]``; statuses are from :data:`STATUSES`.
    """
    text = values.astype(str).str.strip()
    status = pd.Series("unparseable", index=text.index, dtype=object)
    dates = pd.Series(pd.NaT, index=text.index, dtype="datetime64[s]")
    status[text == ""] = "empty"

    iso = text.str.extract(_ISO)
    is_iso = iso[0].notna()
    dates[is_iso] = _assemble(pd.to_numeric(iso[0]), pd.to_numeric(iso[1]), pd.to_numeric(iso[2]))[is_iso]

    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    year_text, a, b = _numeric_parts(text)
    is_num = a.notna()
    year = _expand_year(year_text.fillna(""), pivot)
    # A value is read month-first when the column is, or when only that reading exists (mixed column).
    month_first = (b > 12) & (a <= 12) if order == "mixed" else pd.Series(order == "month_first", text.index)
    day, month = a.where(~month_first, b), b.where(~month_first, a)
    dates[is_num] = _assemble(year, month, day)[is_num]

    written = text.str.extract(_WRITTEN)
    month = written[1].str.lower().map(_MONTHS)
    is_written = written[0].notna() & month.notna()
    wyear = _expand_year(written[2].fillna(""), pivot)
    dates[is_written] = _assemble(wyear, month, pd.to_numeric(written[0], errors="coerce"))[is_written]

    serial = pd.to_numeric(text.str.extract(_SERIAL)[0], errors="coerce")
    is_serial = serial.notna()
    if is_serial.any():
        days = serial[is_serial].astype("int64").to_numpy().astype("timedelta64[D]")
        dates[is_serial] = pd.Series(_EXCEL_EPOCH + days, index=serial.index[is_serial]).astype(
            "datetime64[s]"
        )

    recognised = is_iso | is_num | is_written | is_serial
    status[recognised] = np.where(dates[recognised].notna(), "ok", "impossible")
    if order == "mixed":
        status[is_num & (a <= 12) & (b <= 12) & (a != b)] = "ambiguous"
    else:
        other_way = (b > 12) & (a <= 12) if order == "day_first" else (a > 12) & (b <= 12)
        status[is_num & other_way] = "contradicts_order"
    dates[status != "ok"] = pd.NaT
    return ParsedDates(dates=dates, status=status)


__all__ = ["MIXED_SHARE", "ORDERS", "STATUSES", "DateOrder", "ParsedDates", "infer_order", "parse_dates"]
