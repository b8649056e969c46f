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

import numpy as np
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
#: Columns read from an XLSX sheet at most (the template has thirteen).
MAX_COLUMNS = 60
#: Longest cell accepted, in characters: a name, date, code or identifier is far shorter; a longer cell
#: is pasted text or an attack on memory, and is blanked and reported by row and column.
MAX_FIELD_CHARS = 255
_SEPARATORS = (",", ";", "\t", "|")
_SNIFF_BYTES = 1024**2
_CHUNK_ROWS = 10_000
_FORMULA_TAG = re.compile(rb"<(?:\w+:)?f[\s>/]")
#: Stands for a formula cell saved without its value, until the cell is flagged and blanked.
_NO_CACHED_VALUE = "\x00formula without a saved value\x00"


@dataclass(frozen=True)
class RawUpload:
    """The upload as text cells under canonical column names, before any row-level check.

    ``cells`` holds one row per non-blank spreadsheet row, every canonical column (absent optional
    columns are empty strings), plus ``upload_row``. ``ignored_columns`` are spreadsheet column
    letters whose headings matched nothing (reported without the heading text, which could be data).
    ``cell_flags`` lists cells that were blanked, by ``row``, canonical ``column`` and ``kind``:
    ``too_long`` (over :data:`MAX_FIELD_CHARS`) or ``no_cached_value`` (a formula saved without its value).
    """

    cells: pd.DataFrame
    file_format: str
    encoding: str | None
    blank_rows: int
    ignored_columns: tuple[str, ...]
    cell_flags: pd.DataFrame


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
        Largest number of non-blank data rows accepted; reading stops as soon as it is passed (blank
        rows, such as the formatted empty rows a spreadsheet saves below the data, do not count).

    Returns
    -------
    RawUpload

    Raises
    ------
    IntakeError
        For any file-level problem: missing, empty, binary, undecodable or mixed encodings (naming
        lines), too large, malformed CSV (naming the line), unreadable workbook, or required columns
        missing.
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
        return _read_xlsx(path, max_rows)
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
    return _read_csv(path, head, max_rows)


def _lines(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:5])
    return (
        f"line {shown}" if len(numbers) == 1 else f"lines {shown}" + (" and more" if len(numbers) > 5 else "")
    )


def _detect_encoding(path: Path, max_rows: int) -> str:
    """UTF-8 (with or without BOM) or Windows-1252, decided line by line so a mixture is named, not guessed.

    Lines that are plain ASCII are neutral. A file whose non-ASCII lines all decode as UTF-8 is UTF-8;
    one whose non-ASCII lines are all not UTF-8 is Windows-1252. A file with both kinds was assembled
    from two sources, and reading it either way garbles someone's name, so it is refused naming lines.
    Only the lines up to the row limit are examined (a longer file is refused for its length anyway).
    """
    name = path.name
    utf8: list[int] = []
    other: list[int] = []
    undecodable: list[int] = []
    rows = 0
    with path.open("rb") as fh:
        bom = fh.read(3) == b"\xef\xbb\xbf"
        fh.seek(0)
        for number, line in enumerate(fh, start=1):
            if b"\x00" in line:
                raise IntakeError(
                    f"{name}: line {number} contains NUL bytes, so the file is binary data or UTF-16 text, "
                    "not a CSV file. Save the template as 'CSV UTF-8' or .xlsx and upload again."
                )
            if line.strip(b" ,;|\t\r\n"):
                rows += 1
            if not line.isascii():
                try:
                    line.decode("utf-8")
                    utf8.append(number)
                except UnicodeDecodeError:
                    try:
                        line.decode("cp1252")
                        other.append(number)
                    except UnicodeDecodeError:
                        undecodable.append(number)
            if rows > max_rows + 1:
                break
    if undecodable:
        raise IntakeError(
            f"{name}: {_lines(undecodable)} is neither UTF-8 nor Windows-1252 text (binary data or another "
            "encoding). Save the template as 'CSV UTF-8' or .xlsx and upload again."
        )
    if utf8 and other:
        raise IntakeError(
            f"{name}: the file mixes text encodings ({_lines(other)} Windows-1252, {_lines(utf8)} UTF-8), so "
            "some names would be garbled. Re-type those rows, or save the whole file from the spreadsheet "
            "as 'CSV UTF-8', and upload again."
        )
    if other:
        return "cp1252"
    return "utf-8-sig" if bom else "utf-8"


def _record_start_line(path: Path, encoding: str, record: int) -> int:
    """Physical line on which CSV record ``record`` (0-based) starts; records may span lines in quotes."""
    with path.open(encoding=encoding, newline="") as fh:
        reader = csv.reader(fh)
        line = 1
        for _ in range(record):
            try:
                next(reader)
            except (StopIteration, csv.Error):
                break
            line = reader.line_num + 1
    return line


def _read_csv(path: Path, head: bytes, max_rows: int) -> RawUpload:
    name = path.name
    encoding = _detect_encoding(path, max_rows)
    text_head = head.decode(encoding, errors="replace")
    first_line = text_head.splitlines()[0] if text_head.strip() else ""
    if not first_line.strip():
        raise IntakeError(f"{name}: the first row is blank; row 1 must hold the column headings.")
    sep = max(_SEPARATORS, key=first_line.count)
    rows = _Rows(name, max_rows)
    try:
        chunks = pd.read_csv(
            path,
            sep=sep,
            header=None,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            encoding=encoding,
            quoting=csv.QUOTE_MINIMAL,
            engine="c",
            chunksize=_CHUNK_ROWS,
        )
        start = 1
        for chunk in chunks:
            chunk.index = np.arange(start, start + len(chunk))
            start += len(chunk)
            rows.add(chunk)
            if rows.full:
                break
    except pd.errors.ParserError as err:
        raise IntakeError(
            f"{name}: the CSV is malformed{_where(err, path, encoding)}. Re-save the file from "
            "the spreadsheet as CSV and upload again."
        ) from None
    except (pd.errors.EmptyDataError, ValueError) as err:
        raise IntakeError(
            f"{name}: no rows could be read ({type(err).__name__}). Is it a CSV file?"
        ) from None
    return rows.finish("csv", "windows-1252" if encoding == "cp1252" else "utf-8")


def _where(err: Exception, path: Path, encoding: str) -> str:
    text = str(err)
    quote = re.search(r"EOF inside string starting at row (\d+)", text)
    if quote:
        line = _record_start_line(path, encoding, int(quote.group(1)))
        return f": a quote opened on line {line} is never closed (the rest of the file would be one cell)"
    cells = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if cells:
        return (
            f": line {cells.group(2)} has {cells.group(3)} cells but the heading row {cells.group(1)} "
            "(a stray separator, or a quote not closed)"
        )
    return " (a row has more cells than the heading row, or a quote is not closed)"


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


def _has_formulas(path: Path, member: str) -> bool:
    """True if a worksheet's XML holds any formula element (streamed; no parse)."""
    tail = b""
    with zipfile.ZipFile(path) as archive, archive.open(member.lstrip("/")) as fh:
        while block := fh.read(1024**2):
            if _FORMULA_TAG.search(tail + block):
                return True
            tail = block[-8:]
    return False


def _read_xlsx(path: Path, max_rows: int) -> RawUpload:
    """Stream the first worksheet: cached values of formulas, only the template's columns kept.

    Excel saves each formula's last value beside it, and that value is what the charity saw, so it is what
    is read (``data_only=True``); a formula cell saved without one (written by a program, never opened in
    Excel) has no value to read and is flagged by row and column. Only cells under recognised headings
    are kept, so memory follows the template's few columns, not the sheet's width.
    """
    from openpyxl import load_workbook  # deferred: only XLSX uploads need it

    _check_zip(path)
    name = path.name
    try:
        values_book = load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises many types for damaged packages
        raise IntakeError(
            f"{name}: the workbook cannot be read ({type(err).__name__}). Re-save it as .xlsx and try again."
        ) from None
    formula_book = None
    try:
        sheet = values_book.worksheets[0]
        values = sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True)
        formulas = None
        if _has_formulas(path, sheet._worksheet_path):
            formula_book = load_workbook(path, read_only=True, data_only=False)
            formulas = formula_book.worksheets[0].iter_rows(max_col=MAX_COLUMNS, values_only=True)
        rows = _Rows(name, max_rows)
        batch: list[list[str]] = []
        for number, cached in enumerate(values, start=1):
            written = next(formulas) if formulas is not None else None
            texts = [_xlsx_text(v) for v in cached]
            if written is not None:
                for i, (v, w) in enumerate(zip(cached, written, strict=False)):
                    if v is None and isinstance(w, str) and w.startswith("="):
                        texts[i] = _NO_CACHED_VALUE
            batch.append(texts)
            if len(batch) == _CHUNK_ROWS:
                rows.add(_frame(batch, number - len(batch) + 1))
                batch = []
                if rows.full:
                    break
        if batch and not rows.full:
            rows.add(_frame(batch, number - len(batch) + 1))
    except IntakeError:
        raise
    except Exception as err:
        raise IntakeError(
            f"{name}: the first worksheet cannot be read ({type(err).__name__}). Re-save it as .xlsx."
        ) from None
    finally:
        values_book.close()
        if formula_book is not None:
            formula_book.close()
    return rows.finish("xlsx", None)


def _frame(batch: list[list[str]], first_row: int) -> pd.DataFrame:
    width = max((len(r) for r in batch), default=0)
    frame = pd.DataFrame([r + [""] * (width - len(r)) for r in batch], dtype=object)
    frame.index = np.arange(first_row, first_row + len(batch))
    return frame


class _Rows:
    """Collects chunks of spreadsheet rows (index = spreadsheet row number) into the upload's cells.

    The first row read is the heading row; it decides which columns are kept. Later chunks keep only
    those columns, drop blank rows (counted), enforce the row cap on non-blank rows, and blank (and
    record) cells over :data:`MAX_FIELD_CHARS` and formula cells without a saved value.
    """

    def __init__(self, name: str, max_rows: int) -> None:
        self.name, self.max_rows = name, max_rows
        self.mapping: dict[int, str] | None = None
        self.ignored: list[str] = []
        self.parts: list[pd.DataFrame] = []
        self.flags: list[pd.DataFrame] = []
        self.blank = self.kept = 0

    @property
    def full(self) -> bool:
        return self.kept > self.max_rows

    def add(self, chunk: pd.DataFrame) -> None:
        if self.mapping is None:
            if chunk.empty:
                return
            self.mapping, self.ignored = _map_headings(
                chunk.iloc[0].fillna("").astype(str).tolist(), self.name
            )
            chunk = chunk.iloc[1:]
        cells = (
            pd.DataFrame(
                {c: (chunk[i] if i in chunk else "") for i, c in self.mapping.items()}, index=chunk.index
            )
            .fillna("")
            .astype(str)
        )
        blank = (cells.apply(lambda s: s.str.strip()) == "").all(axis=1)
        self.blank += int(blank.sum())
        cells = cells.loc[~blank]
        self.kept += len(cells)
        if self.full:
            raise IntakeError(
                f"{self.name}: the upload has more than {self.max_rows:,} rows, the most accepted. A JDL "
                "cohort is at most a few thousand people: send only the people the organisation worked with."
            )
        for kind, flagged in (
            ("no_cached_value", cells == _NO_CACHED_VALUE),
            ("too_long", cells.apply(lambda s: s.str.len()) > MAX_FIELD_CHARS),
        ):
            if flagged.to_numpy().any():
                where = flagged.stack()
                where = where[where]
                self.flags.append(
                    pd.DataFrame(
                        {
                            "row": where.index.get_level_values(0).astype("int64"),
                            "column": where.index.get_level_values(1),
                            "kind": kind,
                        }
                    )
                )
                cells = cells.mask(flagged, "")
        self.parts.append(cells)

    def finish(self, file_format: str, encoding: str | None) -> RawUpload:
        if self.mapping is None:
            raise IntakeError(
                f"{self.name}: the file has no rows. Fill in the Data Upload Template and upload again."
            )
        cells = pd.concat(self.parts) if self.parts else pd.DataFrame(columns=list(self.mapping.values()))
        for canonical in UPLOAD_COLUMNS:
            if canonical not in cells:
                cells[canonical] = ""
        cells = cells[list(UPLOAD_COLUMNS)].astype(object)
        cells.insert(0, "upload_row", cells.index.to_numpy().astype("int64"))
        flags = (
            pd.concat(self.flags, ignore_index=True)
            if self.flags
            else pd.DataFrame(
                {"row": pd.Series(dtype="int64"), "column": pd.Series(dtype=object), "kind": ""}
            )
        )
        if self.ignored:
            logger.info(
                "%s: ignored %d column(s) with unrecognised headings: %s",
                self.name,
                len(self.ignored),
                self.ignored,
            )
        return RawUpload(
            cells=cells.reset_index(drop=True),
            file_format=file_format,
            encoding=encoding,
            blank_rows=self.blank,
            ignored_columns=tuple(self.ignored),
            cell_flags=flags,
        )


def _map_headings(headings: list[str], name: str) -> tuple[dict[int, str], list[str]]:
    """Match row 1's headings to canonical columns; refuse missing required columns and clashes."""
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
    return mapping, ignored


__all__ = [
    "COLUMN_ALIASES",
    "MAX_FIELD_CHARS",
    "RawUpload",
    "column_letter",
    "normalise_heading",
    "read_cells",
]
