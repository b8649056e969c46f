"""Forename nicknames (ROBERT, BOB, ROB, BOBBY): the table that lets linkage treat them as one name.

The pairs ship in ``jdl_lib/data/nicknames.csv`` (columns ``name,nickname``, upper case). Two lookups
are derived from it:

* the *roots* of a forename: itself plus every formal name it is a nickname of. Two forenames are
  nickname-equivalent when their roots intersect (BOB and BOBBY share ROBERT).
* the *key* of a forename: the alphabetically first formal name it is a nickname of, or the name itself.
  A single key is needed for blocking (an equi-join); it is coarser than the roots (ALEX keys to
  ALEXANDER, so ALEX and ALEXANDRA do not block together on name, only on date of birth).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd

from jdl_lib.errors import LinkageError


@lru_cache(maxsize=1)
def load_nicknames() -> pd.DataFrame:
    """Return the shipped nickname pairs as a frame ``name, nickname`` (upper case, unique pairs).

    Raises
    ------
    LinkageError
        If the shipped table is missing or lacks its two columns (a broken installation).
    """
    path = resources.files("jdl_lib") / "data" / "nicknames.csv"
    try:
        with resources.as_file(path) as p:
            table = pd.read_csv(p, dtype=str, keep_default_na=False)
    except FileNotFoundError as exc:
        raise LinkageError(
            "the nickname table jdl_lib/data/nicknames.csv is missing; reinstall jdl (pip install -e .)"
        ) from exc
    if not {"name", "nickname"} <= set(table.columns):
        raise LinkageError("jdl_lib/data/nicknames.csv must have the columns name,nickname; reinstall jdl")
    table = table[["name", "nickname"]].apply(lambda col: col.str.strip().str.upper())
    table = table[(table["name"] != "") & (table["nickname"] != "") & (table["name"] != table["nickname"])]
    return table.drop_duplicates().reset_index(drop=True)


@lru_cache(maxsize=1)
def forename_keys() -> pd.DataFrame:
    """Return ``forename, forename_key`` for every nickname: the blocking key of a nickname.

    Names absent from this frame are their own key (join and ``coalesce`` in SQL).
    """
    pairs = load_nicknames()
    keys = pairs.groupby("nickname", as_index=False)["name"].min()
    keys = keys.rename(columns={"nickname": "forename", "name": "forename_key"})
    # a formal name that is also someone's nickname (e.g. a short form) keeps itself as key
    return keys[~keys["forename"].isin(pairs["name"])].reset_index(drop=True)


@lru_cache(maxsize=1)
def forename_roots() -> pd.DataFrame:
    """Return ``forename, root`` pairs: each nickname with every formal name it may stand for.

    A forename's roots are itself plus its rows here; two forenames are nickname-equivalent when their
    roots intersect.
    """
    pairs = load_nicknames()
    return pairs.rename(columns={"nickname": "forename", "name": "root"})[["forename", "root"]]
