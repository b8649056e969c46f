"""Parse the dates in an upload: UK day-first, ISO, written months and Excel serial numbers.

Accepted forms (optionally followed by a time of day, which is ignored):

* ``dd/mm/yyyy`` and ``d/m/yy`` (separators ``/``, ``.`` or ``-``): day first, as the template asks;
* ISO ``yyyy-mm-dd`` (also ``yyyy/mm/dd``): a four-digit year first is never ambiguous;
* written months: ``5 Jan 1980``, ``05-January-80``;
* Excel serial day numbers of five digits (``29221`` = 1980-01-01, the 1900 date system), which
  appear when a date cell loses its format; XLSX date cells arrive already as ISO text.

**Ambiguity, precisely.** A numeric ``a/b/y`` date with both ``a`` and ``b`` at most 12 and
``a != b`` reads as two different dates depending on whether the day or the month comes first.
The file decides: across all its date columns, a value with ``a > 12`` is evidence that it writes
the day first, a value with ``b > 12`` that it writes the month first (US style). With no
month-first evidence the file follows the template (day first) and every value is read day-first.
Once any month-first value is present the convention is unknown, so every two-way value is
*ambiguous* and rejected, and the month-first values themselves are rejected too (the template
asks for day first; swapping fields silently is how wrong dates of birth get through).

**Two-digit years** expand with a pivot: ``yy <= pivot`` means 20yy, otherwise 19yy. Callers pass
the pivot per column (see :mod:`jdl_lib.intake.validate`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Status of one parsed cell. Only ``ok`` carries a date.
STATUSES = ("ok", "empty", "unparseable", "ambiguous", "month_first", "impossible")
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


def month_first_evidence(columns: list[pd.Series]) -> tuple[int, int]:
    """Count cells that can only be day-first, and cells that can only be month-first.

    Used to decide the file's date convention before any column is parsed.
    """
    day_first = month_first = 0
    for values in columns:
        parts = values.astype(str).str.strip().str.extract(_NUMERIC)
        a = pd.to_numeric(parts[0], errors="coerce")
        b = pd.to_numeric(parts[1], errors="coerce")
        day_first += int(((a > 12) & (b <= 12)).sum())
        month_first += int(((b > 12) & (a <= 12)).sum())
    return day_first, month_first


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


def parse_dates(values: pd.Series, *, pivot: int, month_first_seen: bool) -> ParsedDates:
    """Parse a column of date text.

    Parameters
    ----------
    values
        Text cells (already stripped or not).
    pivot
        Two-digit years ``<= pivot`` are read as 20yy, others as 19yy.
    month_first_seen
        True when the file holds any month-first date (see :func:`month_first_evidence`); then
        two-way numeric dates are ambiguous and month-first ones are rejected.

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

    num = text.str.extract(_NUMERIC)
    is_num = num[0].notna()
    a, b = pd.to_numeric(num[0], errors="coerce"), pd.to_numeric(num[1], errors="coerce")
    year = _expand_year(num[2].fillna(""), pivot)
    dates[is_num] = _assemble(year, b, a)[is_num]

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
    if month_first_seen:
        two_way = is_num & (a <= 12) & (b <= 12) & (a != b)
        only_month_first = is_num & (b > 12) & (a <= 12)
        status[two_way] = "ambiguous"
        status[only_month_first] = "month_first"
    dates[status != "ok"] = pd.NaT
    return ParsedDates(dates=dates, status=status)


__all__ = ["STATUSES", "ParsedDates", "month_first_evidence", "parse_dates"]
