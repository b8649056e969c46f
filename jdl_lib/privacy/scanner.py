"""Output scanner: the last check before a report is released.

Every output file (HTML, PDF text, executed notebook, ``results.json``, logs, anything else in the report
folder) is searched for the identifiers of every person in the upload:

* forename + surname, in either order, any case, separated by any run of whitespace (or ``surname,
  forename``), matched on whole words so that "Ann Lee" does not match "Joann Leeds";
* date of birth, in any common written form (``1985-03-01``, ``01/03/1985``, ``1/3/85``, ``1.3.1985``,
  ``1 March 1985``, ``1st Mar 1985``, ``March 1, 1985``);
* PNC ID, canonical or short (``1985/0012345X``, ``85/12345x``, with or without spaces);
* prison number (``A1234BC``, any case, with or without spaces).

Dates, PNC IDs and prison numbers are found by pattern, parsed and compared as values, so one pass over
each file serves every person. A finding names the file and the kind of identifier and how often it
occurs, never the value or the person.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from jdl_lib.errors import DisclosureError
from jdl_lib.identifiers import normalise_pnc, normalise_prison_number

log = logging.getLogger(__name__)

KINDS = ("name", "date_of_birth", "pnc_id", "prison_number")

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for m in names
}
_MONTH = "(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_ORD = r"(?:st|nd|rd|th)?"
_YMD = re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
_DMY = re.compile(r"(?<!\d)(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})(?!\d)")
_D_MONTH_Y = re.compile(rf"(?<!\d)(\d{{1,2}}){_ORD}\s+(?:of\s+)?{_MONTH},?\s+(\d{{4}}|\d{{2}})(?!\d)", re.I)
_MONTH_D_Y = re.compile(rf"(?<![a-z]){_MONTH}\s+(\d{{1,2}}){_ORD},?\s+(\d{{4}}|\d{{2}})(?!\d)", re.I)
_PNC = re.compile(r"(?<![\d/])(\d{4}|\d{2})\s*/\s*(\d{1,7})\s*([A-Za-z])(?![A-Za-z])")
_PRISON = re.compile(r"(?<![A-Za-z0-9])([A-Za-z])\s?(\d{4})\s?([A-Za-z]{2})(?![A-Za-z0-9])")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class Finding:
    """An identifier from the upload found in an output file: which file, which kind, how many times."""

    file: str
    kind: str
    occurrences: int


@dataclass(frozen=True)
class Identifiers:
    """The upload's identifiers as the scanner compares them (built by :func:`identifiers_from_upload`)."""

    names: frozenset[tuple[str, ...]]
    dates_of_birth: frozenset[tuple[int, int, int]]
    pnc_ids: frozenset[tuple[int, int, str]]
    prison_numbers: frozenset[str]

    @property
    def name_lengths(self) -> frozenset[int]:
        """Word counts of the name sequences searched for."""
        return frozenset(len(n) for n in self.names)


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def _pnc_key(year: str, serial: str, letter: str) -> tuple[int, int, str]:
    # Century-free so that "85/…" and "1985/…" compare equal.
    return int(year) % 100, int(serial), letter.upper()


def identifiers_from_upload(upload_people: pd.DataFrame) -> Identifiers:
    """Collect the identifiers to search for from an upload (template column names, see ``template.py``).

    Uses ``forename``, ``surname``, ``date_of_birth``, ``pnc_id`` and ``prison_number`` where present;
    unparseable values are skipped (intake reports them). Dates may be datetimes or ISO strings.
    """
    names: set[tuple[str, ...]] = set()
    if {"forename", "surname"} <= set(upload_people.columns):
        for fore, sur in zip(upload_people["forename"], upload_people["surname"], strict=True):
            f, s = _words(str(fore)) if pd.notna(fore) else [], _words(str(sur)) if pd.notna(sur) else []
            if f and s:
                names.update({(*f, *s), (*s, *f)})
    dobs: set[tuple[int, int, int]] = set()
    if "date_of_birth" in upload_people.columns:
        column = upload_people["date_of_birth"]
        # ISO first: dayfirst parsing would read "1985-03-01" as 3 January.
        parsed = pd.to_datetime(column, errors="coerce", format="ISO8601")
        rest = column[parsed.isna() & column.notna()]
        if len(rest):
            parsed = pd.concat(
                [
                    parsed.dropna(),
                    pd.to_datetime(rest.astype(str), errors="coerce", format="mixed", dayfirst=True),
                ]
            )
        dobs = {(d.year, d.month, d.day) for d in parsed.dropna()}
    pncs: set[tuple[int, int, str]] = set()
    if "pnc_id" in upload_people.columns:
        for value in upload_people["pnc_id"].dropna():
            canonical = normalise_pnc(str(value))
            if canonical:
                pncs.add(_pnc_key(canonical[:4], canonical[5:12], canonical[12]))
    prisons: set[str] = set()
    if "prison_number" in upload_people.columns:
        prisons = {
            p for v in upload_people["prison_number"].dropna() if (p := normalise_prison_number(str(v)))
        }
    return Identifiers(frozenset(names), frozenset(dobs), frozenset(pncs), frozenset(prisons))


def _dates_in(text: str) -> Iterator[tuple[int, int, int]]:
    """Every date written in ``text``; two-digit years yield both the 1900s and 2000s reading."""

    def years(y: str) -> tuple[int, ...]:
        return (int(y),) if len(y) == 4 else (1900 + int(y), 2000 + int(y))

    for y, m, d in _YMD.findall(text):
        yield int(y), int(m), int(d)
    for d, m, y in _DMY.findall(text):
        for year in years(y):
            yield year, int(m), int(d)
            yield year, int(d), int(m)  # a US-style date of the same day is still that date of birth
    for d, month, y in _D_MONTH_Y.findall(text):
        for year in years(y):
            yield year, _MONTHS[month.casefold()], int(d)
    for month, d, y in _MONTH_D_Y.findall(text):
        for year in years(y):
            yield year, _MONTHS[month.casefold()], int(d)


def scan_text(text: str, ids: Identifiers) -> Counter[str]:
    """Count occurrences of the upload's identifiers in ``text``, by kind (never returns the values)."""
    found: Counter[str] = Counter()
    if ids.names:
        words = _words(text)
        for n in ids.name_lengths:
            found["name"] += sum(tuple(words[i : i + n]) in ids.names for i in range(len(words) - n + 1))
    if ids.dates_of_birth:
        found["date_of_birth"] += sum(d in ids.dates_of_birth for d in _dates_in(text))
    if ids.pnc_ids:
        found["pnc_id"] += sum(_pnc_key(*m) in ids.pnc_ids for m in _PNC.findall(text))
    if ids.prison_numbers:
        found["prison_number"] += sum("".join(m).upper() in ids.prison_numbers for m in _PRISON.findall(text))
    return +found


def _strings(value: object) -> Iterator[str]:
    """Every string (keys included) in a parsed JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _texts(path: Path) -> Iterator[str]:
    """The text a reader could see in ``path``: raw text always, plus parsed forms for known formats."""
    suffix = path.suffix.casefold()
    if suffix == ".pdf":
        from pypdf import PdfReader

        try:
            reader = PdfReader(path)
            yield "\n".join(page.extract_text() or "" for page in reader.pages)
            yield "\n".join(str(v) for v in (reader.metadata or {}).values())
        except Exception as exc:  # noqa: BLE001 - an unreadable PDF must fail the release, not pass it
            raise DisclosureError(
                f"output scan: {path.name} is not a readable PDF ({type(exc).__name__}), so it cannot be "
                "checked for personal data; re-render the report"
            ) from None
    raw = path.read_bytes().decode("utf-8", errors="replace")
    yield raw
    if suffix in (".html", ".htm", ".svg", ".xml"):
        yield html.unescape(_TAG.sub(" ", raw))
    if suffix in (".json", ".ipynb"):
        try:
            strings = list(_strings(json.loads(raw)))
        except ValueError:
            return
        yield "\n".join(strings)
        yield "\n".join(html.unescape(_TAG.sub(" ", s)) for s in strings if "<" in s)


def _files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.is_file())
        elif p.is_file():
            yield p
        else:
            raise DisclosureError(f"output scan: {p} does not exist; scan the files the run actually wrote")


def scan_outputs(
    paths: Iterable[str | os.PathLike[str]], upload_people: pd.DataFrame | Identifiers
) -> list[Finding]:
    """Search output files (or folders, recursively) for the identifiers of anyone in the upload.

    Why: the lab promises that only aggregate results leave it. Code can leak a person-level row into a
    notebook output, a log line or a figure label by mistake; this scan is the independent last check.

    Parameters
    ----------
    paths : iterable of path
        Files and folders to scan (HTML, PDF, ``.ipynb``, JSON, logs; anything else is read as text).
    upload_people : pandas.DataFrame or Identifiers
        The upload with template column names, or identifiers already collected from it.

    Returns
    -------
    list of Finding
        Empty when nothing was found.
    """
    ids = upload_people if isinstance(upload_people, Identifiers) else identifiers_from_upload(upload_people)
    findings = []
    for path in _files(paths):
        counts: Counter[str] = Counter()
        for text in _texts(path):
            for kind, n in scan_text(text, ids).items():
                counts[kind] = max(counts[kind], n)  # the parsed forms repeat the raw text's hits
        findings.extend(Finding(file=str(path), kind=k, occurrences=counts[k]) for k in KINDS if counts[k])
    log.info("output scan: %d finding(s)", len(findings))
    return findings


def assert_no_personal_data(
    paths: Iterable[str | os.PathLike[str]], upload_people: pd.DataFrame | Identifiers
) -> None:
    """Raise :class:`~jdl_lib.errors.DisclosureError` if any output holds an identifier from the upload.

    The message lists each file and kind of identifier (never the value), so the report is not released.
    """
    findings = scan_outputs(paths, upload_people)
    if findings:
        listed = "; ".join(f"{Path(f.file).name}: {f.kind} x{f.occurrences}" for f in findings)
        raise DisclosureError(
            f"output scan found personal data from the upload in {len({f.file for f in findings})} file(s) "
            f"({listed}); the report has not been released. Remove person-level output (rows, labels, log "
            "lines) from the notebook or report code and run the request again."
        )
