"""Shipped name tables and vectorised name draws for the synthetic population.

``jdl_lib/data/forenames.csv`` (forename, gender, origin, weight), ``surnames.csv`` (surname,
origin, weight) and ``nicknames.csv`` (name, nickname) were written for this project from general
knowledge of names common in England and Wales among people born 1940-1995: weights fall with
frequency rank within each origin (Zipf-like), so a few names are very common and many are rare,
which makes record linkage realistically hard (many people share a common name) without being
artificial. Names are drawn by an *origin* that depends on the person's ethnic group, so a
population's name mix matches its ethnic mix.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

#: Origin mix of names for each ethnic group (schema.ETHNICITIES), as (origin, share) pairs.
#: Black British people of Caribbean heritage mostly carry British names.
SURNAME_ORIGINS: dict[str, tuple[tuple[str, float], ...]] = {
    "White": (("british", 0.92), ("east_european", 0.05), ("other", 0.03)),
    "Black": (("caribbean", 0.55), ("african", 0.45)),
    "Asian": (("south_asian", 0.93), ("other", 0.07)),
    "Mixed": (("british", 0.6), ("caribbean", 0.3), ("south_asian", 0.05), ("african", 0.05)),
    "Other": (("other", 0.6), ("south_asian", 0.2), ("british", 0.2)),
    "Unknown": (("british", 0.8), ("south_asian", 0.1), ("other", 0.1)),
}
#: Forename origin used for each surname origin (Caribbean forenames are in the British table).
FORENAME_ORIGIN = {
    "british": "british",
    "caribbean": "british",
    "african": "african",
    "south_asian": "south_asian",
    "east_european": "east_european",
    "other": "other",
}


@cache
def _read(name: str) -> pd.DataFrame:
    with resources.files("jdl_lib.data").joinpath(name).open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


def forenames() -> pd.DataFrame:
    """The forename table: ``forename, gender, origin, weight`` (weights per million within origin)."""
    df = _read("forenames.csv").copy()
    df["weight"] = df["weight"].astype(np.int64)
    return df


def surnames() -> pd.DataFrame:
    """The surname table: ``surname, origin, weight`` (weights per million within origin)."""
    df = _read("surnames.csv").copy()
    df["weight"] = df["weight"].astype(np.int64)
    return df


def nicknames() -> pd.DataFrame:
    """The nickname table: ``name, nickname`` pairs in upper case (ROBERT, BOB)."""
    return _read("nicknames.csv").copy()


@dataclass(frozen=True)
class NameDraw:
    """Names drawn for a population, as codes into ``vocabulary`` (cheap at millions of people)."""

    vocabulary: np.ndarray  # object array of distinct names
    forename_code: np.ndarray
    surname_code: np.ndarray


def _vocabulary() -> np.ndarray:
    return np.array(sorted(set(forenames().forename) | set(surnames().surname)), dtype=object)


def draw_names(rng: np.random.Generator, gender: np.ndarray, ethnicity: np.ndarray) -> NameDraw:
    """Draw a forename and a surname for each person, by gender and ethnic group.

    Parameters
    ----------
    rng
        The generator's random stream (advanced deterministically).
    gender, ethnicity
        Arrays of schema codes, one per person.

    Returns
    -------
    NameDraw
        Integer codes into one shared vocabulary (sorted, so codes are stable).
    """
    vocab = _vocabulary()
    n = gender.size
    fn, sn = forenames(), surnames()
    origins = sorted(FORENAME_ORIGIN)
    origin = np.empty(n, dtype=np.int8)
    for eth, mix in SURNAME_ORIGINS.items():
        idx = np.flatnonzero(ethnicity == eth)
        codes = np.array([origins.index(o) for o, _ in mix], dtype=np.int8)
        shares = np.array([s for _, s in mix])
        origin[idx] = codes[rng.choice(codes.size, idx.size, p=shares / shares.sum())]
    forename_code = np.empty(n, dtype=np.int32)
    surname_code = np.empty(n, dtype=np.int32)
    for k, o in enumerate(origins):
        in_origin = origin == k
        table = sn[sn.origin == o]
        idx = np.flatnonzero(in_origin)
        w = table.weight.to_numpy(float)
        surname_code[idx] = np.searchsorted(vocab, table.surname.to_numpy())[
            rng.choice(w.size, idx.size, p=w / w.sum())
        ]
        for g in ("M", "F"):
            table = fn[(fn.origin == FORENAME_ORIGIN[o]) & (fn.gender == g)]
            idx = np.flatnonzero(in_origin & (gender == g))
            w = table.weight.to_numpy(float)
            forename_code[idx] = np.searchsorted(vocab, table.forename.to_numpy())[
                rng.choice(w.size, idx.size, p=w / w.sum())
            ]
    return NameDraw(vocab, forename_code, surname_code)
