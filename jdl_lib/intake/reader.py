"""Read a Data Upload Template file (CSV or XLSX) into a frame of text cells, defensively.

What is accepted, and why:

* **CSV** in UTF-8 (with or without a byte-order mark) or Windows-1252, the two encodings Excel
  writes on Windows. UTF-8 is tried first because it is strict: text that decodes as UTF-8 is
  almost never Windows-1252 by accident. The separator is sniffed from the heading line
  (comma, semicolon, tab or bar).
* **XLSX** (the first worksheet), read with openpyxl in read-only mode. Before openpyxl sees the
  file, the zip directory is checked so that a small file that inflates to gigabytes (a zip bomb)
  is refused. Formulas are read as their text, never evaluated; dates become ISO text.
* Row 1 is the heading row. Headings are matched to the template's canonical names ignoring case,
  spacing and punctuation, and through :data:`COLUMN_ALIASES` (e.g. ``DOB``, ``Sex``, ``First name``).
* Blank rows are ignored and counted. Row numbers are the ones a spreadsheet shows (heading = 1).

Everything else (binary junk, NUL bytes, text that is neither encoding, an unknown file type, a
file over the row cap, missing required columns) raises :class:`~jdl_lib.errors.IntakeError`.
The row cap is enforced while reading, so a million-row file is refused without being loaded.
Messages name rows and columns, never cell values (they may be personal data).
"""

from __future__ import annotations

import csv
import logging
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

import pandas as pd

from jdl_lib.errors import IntakeError
from jdl_lib.template import REQUIRED_COLUMNS, UPLOAD_COLUMNS

logger = logging.getLogger(__name__)

#: Other headings charities use for each canonical column (compared after :func:`normalise_heading`).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "forename": (
        "first name",
        "firstname",
        "forenames",
        "first names",
        "given name",
        "given names",
        "name 1",
    ),
    "surname": ("last name", "lastname", "family name", "second name"),
    "date_of_birth": ("dob", "d o b", "birth date", "birthdate", "date born"),
    "gender": ("sex", "gender code"),
    "pnc_id": ("pnc", "pnc number", "pnc no", "pncid", "pnc ref", "police national computer id"),
    "prison_number": (
        "prison no",
        "prison id",
        "prisoner number",
        "nomis number",
        "nomis id",
        "nomis",
        "noms number",
        "noms id",
    ),
    "intervention_start": (
        "start date",
        "start",
        "intervention start",
        "programme start date",
        "program start date",
        "date started",
    ),
    "intervention_end": (
        "end date",
        "end",
        "intervention end",
        "programme end date",
        "program end date",
        "date ended",
    ),
    "setting": (
        "custody community",
        "custody or community",
        "custodial or community",
        "custody community setting",
        "sentence setting",
    ),
}

#: Largest CSV file read, in bytes (a JDL cohort is a few thousand rows, far below this).
MAX_CSV_BYTES = 256 * 1024**2
#: Largest total uncompressed size of an XLSX package, and largest inflation ratio of any member.
MAX_XLSX_UNCOMPRESSED = 512 * 1024**2
MAX_XLSX_RATIO = 200
#: Columns read from an XLSX sheet at most (the template has nine).
MAX_COLUMNS = 60
_SEPARATORS = (",", ";", "\t", "|")
_SNIFF_BYTES = 1024**2


@dataclass(frozen=True)
class RawUpload:
    """The upload as text cells under canonical column names, before any row-level check.

    ``cells`` holds one row per non-blank spreadsheet row, every canonical column (absent optional
    columns are empty strings), plus ``upload_row``. ``ignored_columns`` are spreadsheet column
    letters whose headings matched nothing (reported without the heading text, which could be data).
    """

    cells: pd.DataFrame
    file_format: str
    encoding: str | None
    blank_rows: int
    ignored_columns: tuple[str, ...]


def normalise_heading(heading: object) -> str:
    """Lower-case a heading and reduce every run of non-alphanumeric characters to one space."""
    return re.sub(r"[^0-9a-z]+", " ", str(heading).lower()).strip()


def _alias_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for canonical, heading in UPLOAD_COLUMNS.items():
        for name in (canonical, heading, *COLUMN_ALIASES.get(canonical, ())):
            lookup[normalise_heading(name)] = canonical
    return lookup


_ALIASES = _alias_lookup()


def column_letter(index: int) -> str:
    """Spreadsheet letter of a 0-based column index (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def read_cells(path: str | Path, *, max_rows: int) -> RawUpload:
    """Read an upload file into text cells under canonical column names.

    Parameters
    ----------
    path
        CSV or XLSX file. The type is decided by content (an XLSX is a zip package), not by name.
    max_rows
        Largest number of data rows accepted; reading stops as soon as it is passed.

    Returns
    -------
    RawUpload

    Raises
    ------
    IntakeError
        For any file-level problem: missing, empty, binary, undecodable, too large, malformed
        CSV, unreadable workbook, or required columns missing.
    """
    path = Path(path)
    name = path.name
    if path.is_dir():
        raise IntakeError(f"{name}: this is a folder, not a file. Give the path to the upload file itself.")
    if not path.is_file():
        raise IntakeError(f"{name}: no such file. Check the path to the upload.")
    size = path.stat().st_size
    if size == 0:
        raise IntakeError(f"{name}: the file is empty. Export the Data Upload Template with its heading row.")
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if zipfile.is_zipfile(path):
        rows, file_format = _read_xlsx_rows(path, max_rows), "xlsx"
    else:
        if head.startswith((b"\xd0\xcf\x11\xe0", b"%PDF")):
            raise IntakeError(
                f"{name}: this is an old-style .xls workbook or another binary document, not CSV or XLSX. "
                "Save it as .xlsx or CSV (UTF-8) and upload again."
            )
        if size > MAX_CSV_BYTES:
            raise IntakeError(
                f"{name}: the file is {size / 1024**2:.0f} MB, larger than the {MAX_CSV_BYTES // 1024**2} MB "
                "an upload may be. A JDL cohort is at most a few thousand people; send only them."
            )
        rows, file_format = _read_csv_rows(path, head, max_rows), "csv"
    return _canonical(rows, name, file_format, rows.attrs.get("encoding"), max_rows)


def _detect_encoding(head: bytes, name: str) -> str:
    if b"\x00" in head:
        raise IntakeError(
            f"{name}: the file contains NUL bytes, so it is binary data or UTF-16 text, not a CSV file. "
            "Save the template as 'CSV UTF-8' or .xlsx and upload again."
        )
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as err:
        # A multi-byte character cut at the end of the sniffed block is still UTF-8.
        if err.start >= len(head) - 3 and err.reason == "unexpected end of data":
            return "utf-8"
    return "cp1252"


def _read_csv_rows(path: Path, head: bytes, max_rows: int) -> pd.DataFrame:
    name = path.name
    encoding = _detect_encoding(head, name)
    text_head = head.decode(encoding, errors="replace")
    first_line = text_head.splitlines()[0] if text_head.strip() else ""
    if not first_line.strip():
        raise IntakeError(f"{name}: the first row is blank; row 1 must hold the column headings.")
    sep = max(_SEPARATORS, key=first_line.count)
    last_error: Exception | None = None
    for enc in dict.fromkeys((encoding, "cp1252")):
        try:
            frame = pd.read_csv(
                path,
                sep=sep,
                header=None,
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
                encoding=enc,
                nrows=max_rows + 2,
                quoting=csv.QUOTE_MINIMAL,
                engine="c",
            )
        except UnicodeDecodeError as err:
            last_error = err
            continue
        except pd.errors.ParserError as err:
            where = re.search(r"line (\d+)", str(err))
            at = f" at line {where.group(1)}" if where else ""
            raise IntakeError(
                f"{name}: the CSV is malformed{at} (a row has more cells than the heading row, or a quote "
                "is not closed). Re-save the file from the spreadsheet as CSV and upload again."
            ) from None
        except (pd.errors.EmptyDataError, ValueError) as err:
            raise IntakeError(
                f"{name}: no rows could be read ({type(err).__name__}). Is it a CSV file?"
            ) from None
        frame.attrs["encoding"] = "utf-8" if enc.startswith("utf-8") else "windows-1252"
        return frame
    raise IntakeError(
        f"{name}: the file is neither UTF-8 nor Windows-1252 text (it may be binary data or another "
        "encoding). Save the template as 'CSV UTF-8' or .xlsx and upload again."
    ) from last_error


def _check_zip(path: Path) -> None:
    name = path.name
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        raise IntakeError(
            f"{name}: the workbook is damaged and cannot be opened. Re-save it as .xlsx."
        ) from None
    names = {m.filename for m in members}
    if "[Content_Types].xml" not in names or not any(n.startswith("xl/") for n in names):
        raise IntakeError(
            f"{name}: this is a zip archive but not an Excel workbook. Upload the template as .xlsx or CSV."
        )
    total = sum(m.file_size for m in members)
    worst = max((m.file_size / max(m.compress_size, 1) for m in members), default=0)
    if total > MAX_XLSX_UNCOMPRESSED or worst > MAX_XLSX_RATIO:
        raise IntakeError(
            f"{name}: the workbook would unpack to {total / 1024**2:.0f} MB (largest inflation ratio "
            f"{worst:.0f}:1), beyond the limits ({MAX_XLSX_UNCOMPRESSED // 1024**2} MB, {MAX_XLSX_RATIO}:1). "
            "Copy only the template's columns and people into a new workbook and upload that."
        )


def _xlsx_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_xlsx_rows(path: Path, max_rows: int) -> pd.DataFrame:
    from openpyxl import load_workbook  # deferred: only XLSX uploads need it

    _check_zip(path)
    name = path.name
    try:
        workbook = load_workbook(path, read_only=True, data_only=False)
    except Exception as err:  # openpyxl raises many types for damaged packages
        raise IntakeError(
            f"{name}: the workbook cannot be read ({type(err).__name__}). Re-save it as .xlsx and try again."
        ) from None
    try:
        sheet = workbook.worksheets[0]
        rows: list[list[str]] = []
        for values in sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True):
            rows.append([_xlsx_text(v) for v in values])
            if len(rows) > max_rows + 1:
                break
    except Exception as err:
        raise IntakeError(
            f"{name}: the first worksheet cannot be read ({type(err).__name__}). Re-save it as .xlsx."
        ) from None
    finally:
        workbook.close()
    width = max((len(r) for r in rows), default=0)
    return pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype=object)


def _canonical(
    rows: pd.DataFrame, name: str, file_format: str, encoding: str | None, max_rows: int
) -> RawUpload:
    if rows.empty or rows.shape[1] == 0:
        raise IntakeError(f"{name}: the file has no rows. Fill in the Data Upload Template and upload again.")
    rows = rows.fillna("").astype(str)
    headings = rows.iloc[0].tolist()
    body = rows.iloc[1:]
    if len(body) > max_rows:
        raise IntakeError(
            f"{name}: the upload has more than {max_rows:,} rows, the most accepted. A JDL cohort is at most "
            "a few thousand people: send only the people the organisation worked with."
        )
    mapping: dict[int, str] = {}
    ignored: list[str] = []
    seen: dict[str, int] = {}
    clashes: list[str] = []
    for i, heading in enumerate(headings):
        key = normalise_heading(heading)
        if not key:
            continue
        canonical = _ALIASES.get(key)
        if canonical is None:
            ignored.append(column_letter(i))
        elif canonical in seen:
            clashes.append(
                f"columns {column_letter(seen[canonical])} and {column_letter(i)} are both read as "
                f"'{UPLOAD_COLUMNS[canonical]}'"
            )
        else:
            seen[canonical] = i
            mapping[i] = canonical
    missing = [c for c in REQUIRED_COLUMNS if c not in seen]
    if missing or clashes:
        parts = []
        if missing:
            wanted = ", ".join(f"'{UPLOAD_COLUMNS[c]}'" for c in missing)
            parts.append(f"required column(s) missing: {wanted}")
        parts.extend(clashes)
        hint = (
            " Row 1 must hold the template's headings (any case or spacing; common alternatives such as "
            "'DOB' or 'Sex' are accepted)."
        )
        if any(re.search(r"\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}", h) for h in headings):
            hint += " Row 1 seems to hold a date, so the heading row may be missing."
        raise IntakeError(f"{name}: " + "; ".join(parts) + "." + hint)
    cells = pd.DataFrame(
        {canonical: body.iloc[:, i].to_numpy() for i, canonical in mapping.items()}, index=body.index
    )
    for canonical in UPLOAD_COLUMNS:
        if canonical not in cells:
            cells[canonical] = ""
    cells = cells[list(UPLOAD_COLUMNS)].astype(object)
    cells.insert(0, "upload_row", (body.index.to_numpy() + 1).astype("int64"))
    blank = (cells[list(UPLOAD_COLUMNS)].apply(lambda s: s.str.strip()) == "").all(axis=1)
    if ignored:
        logger.info("%s: ignored %d column(s) with unrecognised headings: %s", name, len(ignored), ignored)
    return RawUpload(
        cells=cells.loc[~blank].reset_index(drop=True),
        file_format=file_format,
        encoding=encoding,
        blank_rows=int(blank.sum()),
        ignored_columns=tuple(ignored),
    )


__all__ = ["COLUMN_ALIASES", "RawUpload", "column_letter", "normalise_heading", "read_cells"]
