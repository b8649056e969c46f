"""Identifiers and aliases for the synthetic population, built as fixed-width bytes (no Python loops)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from jdl_lib.identifiers import PNC_CHECK_LETTERS
from jdl_lib.synth.names import nicknames

_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)
_LETTERS = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
_CHECK = np.frombuffer(PNC_CHECK_LETTERS.encode(), dtype=np.uint8)


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) ASCII digits of non-negative integers, zero-padded."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return _DIGITS[(values[:, None] // powers) % 10]


def pnc_ids(years: np.ndarray, serials: np.ndarray) -> np.ndarray:
    """Canonical PNC IDs ``YYYY/NNNNNNNL`` with their check letter, as an array of 13-byte strings."""
    n = years.size
    buf = np.empty((n, 13), dtype=np.uint8)
    buf[:, :4] = _digits(years, 4)
    buf[:, 4] = ord("/")
    buf[:, 5:12] = _digits(serials, 7)
    buf[:, 12] = _CHECK[((years % 100) * 10_000_000 + serials) % 23]
    return buf.view("S13").ravel()


def prison_numbers(codes: np.ndarray) -> np.ndarray:
    """Prison numbers ``A1234BC`` from distinct non-negative integer codes (below 26**3 * 10**4)."""
    n = codes.size
    buf = np.empty((n, 7), dtype=np.uint8)
    buf[:, 0] = _LETTERS[codes // (10_000 * 676) % 26]
    buf[:, 1:5] = _digits(codes % 10_000, 4)
    buf[:, 5] = _LETTERS[codes // 10_000 // 26 % 26]
    buf[:, 6] = _LETTERS[codes // 10_000 % 26]
    return buf.view("S7").ravel()


def nickname_of(rng: np.random.Generator, names: np.ndarray) -> np.ndarray:
    """For each name, one of its nicknames chosen at random, or None when it has none."""
    table = nicknames()
    grouped = table.groupby("name")["nickname"].apply(list)
    out = np.full(names.size, None, dtype=object)
    options = pd.Series(names).map(grouped)
    has = options.notna().to_numpy()
    if has.any():
        lists = options[has].to_list()
        picks = (rng.random(len(lists)) * np.array([len(x) for x in lists])).astype(int)
        out[has] = [opts[i] for opts, i in zip(lists, picks, strict=True)]
    return out


def draw_aliases(
    rng: np.random.Generator,
    person_id: np.ndarray,
    forename: np.ndarray,
    surname: np.ndarray,
    dob: np.ndarray,
    n_disposals: np.ndarray,
    surname_pool: np.ndarray,
) -> pd.DataFrame:
    """Other identities used by about 15% of people, more often by prolific offenders (as on the PNC).

    Each alias changes one thing: the forename (a nickname), the surname (another name, e.g. a
    partner's), or the date of birth (a day or a year off, or day and month swapped).
    ``forename``/``surname`` are object arrays of strings; ``dob`` holds day numbers.
    """
    p_alias = 1 / (1 + np.exp(-(-2.35 + 0.45 * np.log1p(n_disposals))))
    has = rng.random(person_id.size) < p_alias
    k = 1 + (rng.random(person_id.size) < 0.3) + (rng.random(person_id.size) < 0.1)
    owner = np.repeat(np.flatnonzero(has), k[has])
    n = owner.size
    fn, sn, db = forename[owner].copy(), surname[owner].copy(), dob[owner].copy()
    kind = rng.choice(3, n, p=[0.3, 0.3, 0.4])
    nick = nickname_of(rng, fn)
    use_nick = (kind == 0) & (nick != None)  # noqa: E711 (element-wise comparison)
    fn[use_nick] = nick[use_nick]
    other_surname = (kind == 1) | ((kind == 0) & ~use_nick)
    sn[other_surname] = surname_pool[rng.integers(0, surname_pool.size, int(other_surname.sum()))]
    dob_kind = rng.integers(0, 3, n)
    dates = pd.to_datetime(db.astype("datetime64[D]"))
    swapped = (
        pd.to_datetime(
            {"year": dates.year, "month": np.minimum(dates.day, 12), "day": np.minimum(dates.month, 28)}
        )
        .to_numpy()
        .astype("datetime64[D]")
        .astype(np.int64)
    )
    shift = np.where(
        dob_kind == 0, rng.choice([-1, 1], n), np.where(dob_kind == 1, rng.choice([-365, 365], n), 0)
    )
    new_dob = np.where(dob_kind == 2, swapped, db + shift)
    new_dob = np.where(new_dob == db, db + 1, new_dob)
    db = np.where(kind == 2, new_dob, db)
    return pd.DataFrame(
        {
            "alias_id": np.arange(1, n + 1, dtype=np.int64),
            "person_id": person_id[owner],
            "forename": fn,
            "surname": sn,
            "date_of_birth": db.astype("datetime64[D]"),
        }
    )
