"""Check every row of an upload and keep the rows that can be analysed, saying why any other was dropped.

Which problems drop a row (``error``) and which only warn (``warning``), and why:

=========================  ========  ===============================================================
Problem                    Severity  Reason
=========================  ========  ===============================================================
required field empty       error     name, date of birth, start date and setting are needed
gender empty               warning   the person is still linked on name and date of birth (a blank
                                     gender is no evidence either way); matching uses the gender on
                                     the national record
name not starting with     error     cannot be a name (covers formula-like text ``=``, ``+``, ``-``,
a letter                             ``@``); linking on it would be meaningless
odd characters in a name   warning   e.g. digits; the name is kept, linkage may still find the person
date unparseable,          error     date of birth and start date drive linkage and the index event
ambiguous, against the               (see :mod:`jdl_lib.intake.dates`: each column's day/month order
column's order, impossible           is inferred from its unambiguous values)
date of birth implausible  error     before 1900, or younger than 10 / older than 100 at the start
start outside coverage     error     the national data cannot hold the index event
end date unreadable        warning   the end date is cleared; it is not needed for the index event
end before start           error     one of the two dates is wrong and we cannot tell which
end after coverage end     warning   the service may run on; the follow-up starts at the index event
gender / setting unknown   error     gender is a matching variable; setting decides the index rule
PNC ID malformed or wrong  warning   the PNC ID is cleared and the person kept: they can still be
check letter                         linked on name and date of birth
prison number malformed    warning   cleared, as for the PNC ID
formula-like cell          warning   the cell is kept as inert text and never evaluated; its own
                                     column check decides whether the row survives
duplicate person           error     same valid PNC ID, prison number, or name and date of birth as
                                     an earlier kept row; the first row is kept
=========================  ========  ===============================================================

Messages and fixes name the row and column and describe the kind of problem; they never contain a
cell's value.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

import pandas as pd

from jdl_lib.errors import IntakeError
from jdl_lib.identifiers import is_valid_pnc, normalise_pnc, normalise_prison_number
from jdl_lib.intake.dates import DateOrder, infer_order, parse_dates
from jdl_lib.intake.reader import MAX_FIELD_CHARS, read_cells
from jdl_lib.template import UPLOAD_COLUMNS

logger = logging.getLogger(__name__)

#: Minimum number of valid people for an analysis (the MoJ's published minimum).
MIN_PEOPLE = 60
#: Default cap on data rows; a JDL cohort is at most a few thousand people.
MAX_ROWS = 100_000
#: Largest share of submitted rows validation may drop before the upload is refused (a larger loss
#: points to a systematic problem, such as a date convention, that changes who is analysed; it can
#: be accepted explicitly once understood). Repeated rows of a person do not count: nobody is lost.
MAX_DROPPED_SHARE = 0.10
#: Two-digit intervention years up to this are 20yy (the POSIX ``%y`` convention).
INTERVENTION_YEAR_PIVOT = 68
#: Youngest and oldest plausible ages at the intervention start (10 = age of criminal responsibility).
MIN_AGE, MAX_AGE = 10, 100
#: Cell prefixes that a spreadsheet would treat as a formula (OWASP CSV-injection list).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

_GENDER_CODES = {"m": "M", "male": "M", "man": "M", "f": "F", "female": "F", "woman": "F"}
_SETTING_CODES = {
    "custody": "custody",
    "custodial": "custody",
    "in custody": "custody",
    "prison": "custody",
    "community": "community",
    "in the community": "community",
    "community order": "community",
    "community sentence": "community",
    "non custodial": "community",
    "probation": "community",
}
_COMPLETED_CODES = {
    "yes": True,
    "y": True,
    "true": True,
    "1": True,
    "completed": True,
    "complete": True,
    "no": False,
    "n": False,
    "false": False,
    "0": False,
    "did not complete": False,
    "not completed": False,
    "dropped out": False,
    "incomplete": False,
}
#: Most sessions a person is taken to have attended; a larger count is a typing error.
MAX_SESSIONS = 1000
#: Longest delivery method or site name kept (a category, not free text).
MAX_CATEGORY_LENGTH = 60
_CATEGORY = r"[^\W_][\w &'’./()-]*"

_FIX = {
    "missing": "fill in this field; it is required on every row",
    "too_long": f"shorten the cell to at most {MAX_FIELD_CHARS} characters (it was not read)",
    "no_cached_value": "open the workbook in Excel and save it, so the formula's value is saved, or type the "
    "value",
    "not_a_name": "write the name in letters (it must start with a letter)",
    "unusual_characters": "check the name: it holds characters other than letters, spaces, hyphens",
    "unparseable": "write the date as dd/mm/yyyy, e.g. 05/11/2008",
    "ambiguous": "this column mixes day-first and month-first dates: write every date as dd/mm/yyyy",
    "contradicts_order": "check the row's dates: this one is written in the other day/month order from "
    "the rest of the column; write every date as dd/mm/yyyy",
    "impossible": "the day does not exist in that month (or the year is out of range): correct the date",
    "implausible_dob": "check the date of birth: the person must be 10 to 100 at the intervention start",
    "outside_coverage": "only interventions starting within the national data's period can be analysed",
    "end_unreadable": "write the end date as dd/mm/yyyy, or leave it blank",
    "end_before_start": "the end date is before the start date: correct whichever is wrong",
    "end_after_coverage": "no action needed if the service continued; follow-up starts at the index event",
    "unknown_code": "use one of the template's codes",
    "gender_missing": "no action needed; fill it in if known, it helps linkage tell people apart",
    "malformed_pnc": "write the PNC ID as YYYY/NNNNNNNL, or leave it blank",
    "bad_check_letter": "the check letter does not fit the number: copy the PNC ID again from the record",
    "malformed_prison_number": "write the prison number as a letter, 4 digits and 2 letters, e.g. A1234BC",
    "formula_like": "remove the leading =, +, -, @, tab or line break; cells are never evaluated",
    "duplicate": "remove the repeated row, or correct it if it is a different person",
    "unknown_completed": "write yes or no, or leave it blank",
    "bad_sessions": f"write a whole number of sessions from 0 to {MAX_SESSIONS}, or leave it blank",
    "bad_category": f"write a short name (up to {MAX_CATEGORY_LENGTH} letters, digits and spaces), or leave "
    "it blank",
}
_SHORT = {
    "missing": "empty",
    "too_long": "cell too long",
    "no_cached_value": "formula without a saved value",
    "not_a_name": "not a name",
    "unparseable": "not a date",
    "ambiguous": "ambiguous date",
    "contradicts_order": "date in the other day/month order",
    "impossible": "not a real date",
    "implausible_dob": "implausible age",
    "outside_coverage": "outside the data's period",
    "end_before_start": "before the start date",
    "unknown_code": "unknown code",
    "duplicate": "repeated person",
}
_WHAT = {
    "missing": "is empty",
    "too_long": f"is longer than {MAX_FIELD_CHARS} characters, so it was not read",
    "no_cached_value": "is a formula saved without its value (the file was not saved by Excel)",
    "not_a_name": "does not start with a letter, so it is not read as a name",
    "unusual_characters": "contains characters other than letters, spaces, hyphens and apostrophes",
    "unparseable": "is not a date in a recognised format",
    "ambiguous": "is a date that could be read day-first or month-first",
    "contradicts_order": "is written in the other day/month order from the rest of its column",
    "impossible": "is not a real calendar date",
    "implausible_dob": "gives an age outside 10 to 100 years at the intervention start (or is before 1900)",
    "outside_coverage": "is outside the period the national data covers",
    "end_unreadable": "is not a readable date; it was cleared",
    "end_before_start": "is before the intervention start date",
    "end_after_coverage": "is after the end of the national data",
    "unknown_code": "is not a known code",
    "gender_missing": "is empty; the person is linked on name and date of birth alone",
    "malformed_pnc": "is not in the PNC ID format; it was cleared (the person is linked on other data)",
    "bad_check_letter": "has a check letter that does not match; it was cleared and the person will be "
    "linked on other details",
    "malformed_prison_number": "is not in the prison number format; it was cleared",
    "formula_like": "starts with a character a spreadsheet treats as a formula; it is kept as inert text",
    "duplicate": "repeats a person already in the upload",
    "unknown_completed": "is not yes or no; it was cleared (the person is still analysed)",
    "bad_sessions": "is not a whole number of sessions; it was cleared (the person is still analysed)",
    "bad_category": "is not a short category name; it was cleared (the person is still analysed)",
}


@dataclass(frozen=True)
class Problem:
    """One problem with one cell or row. ``row`` is the spreadsheet row number (heading = 1)."""

    row: int
    column: str
    kind: str
    message: str
    fix: str
    severity: Literal["error", "warning"]


@dataclass(frozen=True)
class IntakeSettings:
    """The settings an upload was checked with."""

    coverage_start: date
    coverage_end: date
    min_people: int
    max_rows: int
    max_dropped_share: float = MAX_DROPPED_SHARE


@dataclass(frozen=True)
class IntakeResult:
    """A checked upload: the valid people, every problem, and why each dropped row was dropped.

    ``people`` has ``upload_row`` and the template's canonical columns: names upper-case and
    trimmed, dates as ``datetime64``, ``gender`` 'M'/'F', ``pnc_id`` canonical or None,
    ``prison_number`` or None, ``setting`` 'custody'/'community'. ``dropped`` maps each dropped
    row to its reasons; ``drop_kinds`` to the first (deciding) problem kind.
    """

    source: str
    file_format: str
    encoding: str | None
    settings: IntakeSettings
    people: pd.DataFrame
    problems: tuple[Problem, ...]
    dropped: dict[int, str]
    drop_kinds: dict[int, str]
    n_submitted: int
    n_blank_rows: int
    ignored_columns: tuple[str, ...] = field(default=())
    date_orders: dict[str, DateOrder] = field(default_factory=dict)

    @property
    def n_valid(self) -> int:
        """Rows kept for linkage."""
        return len(self.people)

    @property
    def n_lost(self) -> int:
        """Dropped rows other than repeats of a person already kept (people lost to the analysis)."""
        return sum(kind != "repeated person" for kind in self.drop_kinds.values())

    @property
    def lost_share(self) -> float:
        """Share of submitted rows lost to validation (see :data:`MAX_DROPPED_SHARE`)."""
        return self.n_lost / self.n_submitted if self.n_submitted else 0.0

    @property
    def analysable(self) -> bool:
        """True when enough valid people remain and validation lost no more than the allowed share."""
        return self.refusal is None

    @property
    def refusal(self) -> str | None:
        """Why the upload is refused, naming the main reasons for dropped rows; None if analysable."""
        if self.n_valid < self.settings.min_people:
            head = (
                f"{self.source}: only {self.n_valid} of {self.n_submitted} submitted people are valid; the "
                f"Justice Data Lab needs at least {self.settings.min_people}."
            )
        elif self.lost_share > self.settings.max_dropped_share:
            head = (
                f"{self.source}: validation dropped {self.n_lost} of {self.n_submitted} rows "
                f"({self.lost_share:.0%}), more than the {self.settings.max_dropped_share:.0%} the lab "
                "accepts without review, so the people analysed would not be the people the service "
                "worked with."
            )
        else:
            return None
        return f"{head} {self.drop_summary()} Fix these problems and upload again."

    def drop_summary(self, limit: int = 5) -> str:
        """One sentence: how many rows were dropped and the main reasons (no values)."""
        counts = self.drop_counts()
        if not counts:
            return "No rows were dropped."
        shown = [f"{n} row(s): {reason}" for reason, n in list(counts.items())[:limit]]
        more = len(counts) - len(shown)
        tail = f"; and {more} other reason(s)" if more > 0 else ""
        return f"Rows dropped, by main reason: {'; '.join(shown)}{tail}."

    def drop_counts(self) -> dict[str, int]:
        """Number of dropped rows per deciding reason (column and kind), largest first."""
        labels = pd.Series(self.drop_kinds, dtype=object)
        return {str(k): int(v) for k, v in labels.value_counts().items()}


def _heading(column: str) -> str:
    return UPLOAD_COLUMNS.get(column, column)


def _collect(found: list[pd.DataFrame], rows: pd.Series, column: str, kind: str, severity: str) -> None:
    if len(rows):
        found.append(
            pd.DataFrame({"row": rows.to_numpy(), "column": column, "kind": kind, "severity": severity})
        )


def check_upload(
    path: str | Path,
    *,
    coverage_start: date = date(2000, 1, 1),
    coverage_end: date = date(2012, 12, 31),
    min_people: int = MIN_PEOPLE,
    max_rows: int = MAX_ROWS,
    max_dropped_share: float = MAX_DROPPED_SHARE,
) -> IntakeResult:
    """Read and check an upload; row problems are reported, never raised.

    Use this to show a charity everything wrong with a file (``jdl validate``); the pipeline uses
    :func:`read_upload`, which also refuses a cohort below the minimum size.

    Raises
    ------
    IntakeError
        Only for file-level problems (see :func:`jdl_lib.intake.reader.read_cells`).
    """
    settings = IntakeSettings(coverage_start, coverage_end, min_people, max_rows, max_dropped_share)
    raw = read_cells(path, max_rows=max_rows)
    cells = raw.cells
    row = cells["upload_row"]
    text = {c: cells[c].astype(str) for c in UPLOAD_COLUMNS}
    value = {c: s.str.strip() for c, s in text.items()}
    found: list[pd.DataFrame] = []

    for col, s in text.items():
        _collect(found, row[s.str.startswith(FORMULA_PREFIXES)], col, "formula_like", "warning")
    flags = raw.cell_flags
    for kind in ("too_long", "no_cached_value"):
        for col, rows in flags.loc[flags["kind"] == kind].groupby("column")["row"]:
            _collect(found, rows, str(col), kind, "error")
    flagged = {col: row.isin(rows) for col, rows in flags.groupby("column")["row"]}
    blank = {c: (value[c] == "") & ~flagged.get(c, pd.Series(False, index=row.index)) for c in value}
    for col in ("forename", "surname", "date_of_birth", "intervention_start", "setting"):
        _collect(found, row[blank[col]], col, "missing", "error")
    _collect(found, row[blank["gender"]], "gender", "gender_missing", "warning")

    names = {}
    for col in ("forename", "surname"):
        v = value[col]
        present = v != ""
        bad = present & ~v.str.match(r"^[^\W\d_]")
        _collect(found, row[bad], col, "not_a_name", "error")
        odd = present & ~bad & ~v.str.fullmatch(r"[^\W\d_][^\W\d_\s'’.\-]*(?:[\s'’.\-]+[^\W\d_]*)*")
        _collect(found, row[odd], col, "unusual_characters", "warning")
        names[col] = v.str.upper().str.replace(r"\s+", " ", regex=True).where(present & ~bad)

    codes = {}
    for col, table in (("gender", _GENDER_CODES), ("setting", _SETTING_CODES)):
        key = value[col].str.lower().str.replace(r"[^a-z]+", " ", regex=True).str.strip()
        codes[col] = key.map(table)
        _collect(found, row[(value[col] != "") & codes[col].isna()], col, "unknown_code", "error")

    dob_pivot = (coverage_end.year - MIN_AGE) % 100
    pivots = {
        "date_of_birth": dob_pivot,
        "intervention_start": INTERVENTION_YEAR_PIVOT,
        "intervention_end": INTERVENTION_YEAR_PIVOT,
    }
    orders = {col: infer_order(value[col]) for col in pivots}
    for col, order in orders.items():
        if order.order != "day_first":
            logger.warning(
                "%s: column '%s' read as %s (%d month-first and %d day-first unambiguous dates)",
                Path(path).name,
                _heading(col),
                order.order.replace("_", "-"),
                order.month_first,
                order.day_first,
            )
    parsed = {col: parse_dates(value[col], pivot=pivots[col], order=orders[col].order) for col in pivots}
    for col in ("date_of_birth", "intervention_start"):
        status = parsed[col].status
        for kind in ("unparseable", "ambiguous", "contradicts_order", "impossible"):
            _collect(found, row[status == kind], col, kind, "error")
    end_status = parsed["intervention_end"].status
    _collect(found, row[~end_status.isin(["ok", "empty"])], "intervention_end", "end_unreadable", "warning")

    dob, start, end = (parsed[c].dates for c in ("date_of_birth", "intervention_start", "intervention_end"))
    cov_start, cov_end = pd.Timestamp(coverage_start), pd.Timestamp(coverage_end)
    age_ref = start.fillna(cov_end)
    implausible = dob.notna() & (
        (dob < pd.Timestamp("1900-01-01"))
        | (dob + pd.DateOffset(years=MIN_AGE) > age_ref)
        | (dob + pd.DateOffset(years=MAX_AGE) < age_ref)
    )
    _collect(found, row[implausible], "date_of_birth", "implausible_dob", "error")
    _collect(
        found,
        row[start.notna() & ((start < cov_start) | (start > cov_end))],
        "intervention_start",
        "outside_coverage",
        "error",
    )
    _collect(
        found,
        row[end.notna() & start.notna() & (end < start)],
        "intervention_end",
        "end_before_start",
        "error",
    )
    _collect(found, row[end.notna() & (end > cov_end)], "intervention_end", "end_after_coverage", "warning")

    pnc_text = value["pnc_id"]
    pnc = pnc_text.map(lambda v: normalise_pnc(v) if v else None)
    pnc_ok = pnc.map(lambda v: v is not None and is_valid_pnc(v)).astype(bool)
    _collect(found, row[(pnc_text != "") & pnc.isna()], "pnc_id", "malformed_pnc", "warning")
    _collect(found, row[pnc.notna() & ~pnc_ok], "pnc_id", "bad_check_letter", "warning")
    prison_text = value["prison_number"]
    prison = prison_text.map(lambda v: normalise_prison_number(v) if v else None)
    _collect(
        found, row[(prison_text != "") & prison.isna()], "prison_number", "malformed_prison_number", "warning"
    )

    programme = _programme_columns(found, row, value)
    people = pd.DataFrame(
        {
            "upload_row": row,
            "forename": names["forename"],
            "surname": names["surname"],
            "date_of_birth": dob,
            "gender": codes["gender"],
            "pnc_id": _or_none(pnc, pnc_ok),
            "prison_number": _or_none(prison, prison.notna()),
            "intervention_start": start,
            "intervention_end": end,
            "setting": codes["setting"],
            **programme,
        }
    )
    issues = (
        pd.concat(found, ignore_index=True)
        if found
        else pd.DataFrame(columns=["row", "column", "kind", "severity"])
    )
    error_rows = set(issues.loc[issues["severity"] == "error", "row"])
    candidates = people[~people["upload_row"].isin(error_rows)]
    kept_as = _first_of_same_person(candidates)
    duplicate = kept_as != candidates["upload_row"]
    dup = pd.DataFrame(
        {
            "row": candidates.loc[duplicate, "upload_row"].to_numpy(),
            "column": "(row)",
            "kind": "duplicate",
            "severity": "error",
            "kept_row": kept_as[duplicate].to_numpy(),
        }
    )
    issues = pd.concat([issues, dup], ignore_index=True) if len(dup) else issues
    issues = _describe(issues, settings)

    order = {c: i for i, c in enumerate(["(row)", *UPLOAD_COLUMNS])}
    issues = issues.assign(_c=issues["column"].map(order)).sort_values(["row", "_c"], kind="stable")
    problems = tuple(
        Problem(int(r.row), r.column, r.kind, r.message, r.fix, r.severity)
        for r in issues.itertuples(index=False)
    )
    errors = issues[issues["severity"] == "error"]
    dropped = errors.groupby("row", sort=True)["message"].agg("; ".join)
    drop_kinds = errors.groupby("row", sort=True).first()
    kept = people[~people["upload_row"].isin(dropped.index)].reset_index(drop=True)
    result = IntakeResult(
        source=Path(path).name,
        file_format=raw.file_format,
        encoding=raw.encoding,
        settings=settings,
        people=kept,
        problems=problems,
        dropped={int(k): str(v) for k, v in dropped.items()},
        drop_kinds={
            int(k): "repeated person" if k2 == "duplicate" else f"{_heading(c)}: {_SHORT[k2]}"
            for k, c, k2 in zip(drop_kinds.index, drop_kinds["column"], drop_kinds["kind"], strict=True)
        },
        n_submitted=len(cells),
        n_blank_rows=raw.blank_rows,
        ignored_columns=raw.ignored_columns,
        date_orders=orders,
    )
    logger.info(
        "%s: %d submitted, %d valid, %d dropped, %d warnings",
        result.source,
        result.n_submitted,
        result.n_valid,
        len(result.dropped),
        sum(p.severity == "warning" for p in problems),
    )
    return result


def _programme_columns(found: list[pd.DataFrame], row: pd.Series, value: dict[str, pd.Series]) -> dict:
    """Read the optional programme columns; a value that cannot be read is cleared with a warning.

    They are never required and never cost a person their place in the analysis: they only decide which
    pre-specified subgroup a person falls in.
    """
    completed_key = value["completed"].str.lower().str.replace(r"[^a-z0-9]+", " ", regex=True).str.strip()
    completed = completed_key.map(_COMPLETED_CODES)
    _collect(
        found, row[(value["completed"] != "") & completed.isna()], "completed", "unknown_completed", "warning"
    )
    sessions = pd.to_numeric(
        value["sessions_attended"].where(value["sessions_attended"] != ""), errors="coerce"
    )
    bad = (value["sessions_attended"] != "") & (
        sessions.isna() | (sessions < 0) | (sessions > MAX_SESSIONS) | (sessions % 1 != 0)
    )
    _collect(found, row[bad], "sessions_attended", "bad_sessions", "warning")
    out = {
        "completed": completed.astype("boolean"),
        "sessions_attended": sessions.where(~bad).astype("Int64"),
    }
    for col in ("delivery_method", "site"):
        v = value[col].str.replace(r"\s+", " ", regex=True)
        ok = v.str.fullmatch(_CATEGORY) & (v.str.len() <= MAX_CATEGORY_LENGTH)
        _collect(found, row[(v != "") & ~ok], col, "bad_category", "warning")
        out[col] = v.where(ok & (v != ""))
    return out


def _or_none(values: pd.Series, keep: pd.Series) -> pd.Series:
    """Object column holding the value where ``keep``, else None (not NaN: identifiers are text)."""
    return pd.Series(
        [v if k else None for v, k in zip(values, keep, strict=True)], index=values.index, dtype=object
    )


def _describe(issues: pd.DataFrame, settings: IntakeSettings) -> pd.DataFrame:
    heading = issues["column"].map(lambda c: "Row" if c == "(row)" else _heading(c))
    what = issues["kind"].map(_WHAT)
    message = heading + " " + what
    fix = issues["kind"].map(_FIX)
    period = f" ({settings.coverage_start:%d/%m/%Y} to {settings.coverage_end:%d/%m/%Y})"
    fix = fix.where(issues["kind"] != "outside_coverage", fix + period)
    if "kept_row" in issues:
        is_dup = issues["kind"] == "duplicate"
        kept = issues["kept_row"].astype("Int64").astype(str)
        message = message.where(~is_dup, "Row repeats the person in row " + kept + ", which is kept")
    codes = {"gender": "M or F (Male/Female)", "setting": "'Custody' or 'Community'"}
    is_code = issues["kind"] == "unknown_code"
    fix = fix.where(~is_code, fix + ": " + issues["column"].map(codes).fillna(""))
    return issues.assign(message=message, fix=fix)[["row", "column", "kind", "message", "fix", "severity"]]


def _first_of_same_person(people: pd.DataFrame) -> pd.Series:
    """For each row, the first row of the same person: connected by PNC ID, prison number or name + DOB.

    Connected components by repeated min-label propagation over the three keys (vectorised; a
    handful of passes even for long chains in a real cohort).
    """
    label = people["upload_row"].copy()
    keys = [
        people["pnc_id"],
        people["prison_number"],
        people["forename"] + "|" + people["surname"] + "|" + people["date_of_birth"].astype(str),
    ]
    while True:
        before = label.copy()
        for key in keys:
            has = key.notna()
            label[has] = label[has].groupby(key[has]).transform("min")
        if label.equals(before):
            return label


def read_upload(
    path: str | Path,
    *,
    coverage_start: date = date(2000, 1, 1),
    coverage_end: date = date(2012, 12, 31),
    min_people: int = MIN_PEOPLE,
    max_rows: int = MAX_ROWS,
    max_dropped_share: float = MAX_DROPPED_SHARE,
) -> IntakeResult:
    """Read, check and accept an upload for analysis: the entry point the pipeline calls.

    Parameters
    ----------
    path
        The charity's Data Upload Template as CSV (UTF-8, UTF-8 with BOM, Windows-1252) or XLSX.
    coverage_start, coverage_end
        The period the national data covers; intervention starts outside it are dropped.
    min_people
        Fewest valid people accepted (the MoJ's minimum is 60).
    max_rows
        Most data rows accepted; larger files are refused while being read.
    max_dropped_share
        Largest share of rows validation may drop (repeats excluded) before the upload is refused;
        raise it (up to 1) only once the losses are understood.

    Returns
    -------
    IntakeResult
        Valid people, problems and dropped rows.

    Raises
    ------
    IntakeError
        For file-level problems, when fewer than ``min_people`` valid people remain, or when more
        than ``max_dropped_share`` of the rows were dropped; the message names the main reasons.
    """
    result = check_upload(
        path,
        coverage_start=coverage_start,
        coverage_end=coverage_end,
        min_people=min_people,
        max_rows=max_rows,
        max_dropped_share=max_dropped_share,
    )
    if not result.analysable:
        raise IntakeError(f"{result.refusal} Run 'jdl validate' for the full list by row.")
    return result


__all__ = [
    "MAX_DROPPED_SHARE",
    "MAX_ROWS",
    "MIN_PEOPLE",
    "IntakeResult",
    "IntakeSettings",
    "Problem",
    "check_upload",
    "read_upload",
]
