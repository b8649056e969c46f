"""Police National Computer IDs and prison numbers: canonical forms and validity checks.

A PNC ID is a year, a serial number and a check letter, written ``YYYY/NNNNNNNL`` in the
canonical form (people also write ``YY/NNNNNNL`` with a short year, or drop leading zeros).
The check letter is the remainder of the two-digit year followed by the seven-digit serial,
divided by 23, looked up in ``PNC_CHECK_LETTERS`` (I, O and S are never used).
A prison (NOMIS) number is one letter, four digits and two letters, e.g. ``A1234BC``.
"""

from __future__ import annotations

import re

import numpy as np

PNC_CHECK_LETTERS = "ZABCDEFGHJKLMNPQRTUVWXY"
#: Two-digit PNC years up to this one are read as 20YY, later ones as 19YY (``98/1234A`` is 1998).
PNC_SHORT_YEAR_PIVOT = 30
_PNC_PATTERN = re.compile(r"^(\d{2}|\d{4})/(\d{1,7})([A-Z])$")
_PRISON_NUMBER_PATTERN = re.compile(r"^[A-Z]\d{4}[A-Z]{2}$")


def pnc_check_letter(year: int, serial: int) -> str:
    """Return the check letter for a PNC ID with this year (2 or 4 digits) and serial number."""
    return PNC_CHECK_LETTERS[(int(year) % 100 * 10_000_000 + int(serial)) % 23]


def pnc_check_letters(years: np.ndarray, serials: np.ndarray) -> np.ndarray:
    """Vectorised :func:`pnc_check_letter` for arrays of years and serials (used by the generator)."""
    letters = np.array(list(PNC_CHECK_LETTERS))
    return letters[((np.asarray(years) % 100) * 10_000_000 + np.asarray(serials)) % 23]


def normalise_pnc(value: str, *, default_century: int = 1900) -> str | None:
    """Return the canonical ``YYYY/NNNNNNNL`` form of a PNC ID, or None if it is malformed.

    Accepts upper or lower case, surrounding spaces, short years (``98/1234A`` is read with
    ``default_century`` for years above the current two-digit year cut-off of 30, else 2000s)
    and serials without leading zeros. The check letter is *not* verified here: see
    :func:`is_valid_pnc`.
    """
    text = re.sub(r"\s+", "", str(value)).upper()
    m = _PNC_PATTERN.match(text)
    if not m:
        return None
    year_text, serial, letter = m.groups()
    year = int(year_text)
    if len(year_text) == 2:
        year += 2000 if year <= PNC_SHORT_YEAR_PIVOT else default_century
    return f"{year:04d}/{int(serial):07d}{letter}"


def is_valid_pnc(value: str) -> bool:
    """True if ``value`` is a well-formed PNC ID whose check letter is right."""
    canonical = normalise_pnc(value)
    if canonical is None:
        return False
    year, rest = canonical.split("/")
    return pnc_check_letter(int(year), int(rest[:7])) == rest[7]


def normalise_prison_number(value: str) -> str | None:
    """Return a prison number in upper case without spaces, or None if it is malformed."""
    text = re.sub(r"\s+", "", str(value)).upper()
    return text if _PRISON_NUMBER_PATTERN.match(text) else None
