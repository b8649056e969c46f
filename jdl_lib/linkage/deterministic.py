"""Deterministic linkage passes: PNC ID, then prison number, then exact name and date of birth.

Rules (``docs/linkage.md`` explains why):

* A PNC ID is used only if its check letter is right; a wrong check letter means a typing error, so
  the ID is ignored and the row goes on to the next pass.
* A valid PNC ID (or prison number) that is not on the national index is ignored the same way.
* A PNC ID (or prison number) that *is* found is trusted only if the person it points to agrees with
  the submitted forename, surname and date of birth on at least ``identifier_min_agreement`` of the
  three, loosely (see :data:`AGREEMENT_SQL`), on their main record or any alias. Otherwise the row
  goes to the review band as a conflict: the charity may have typed another person's identifier, and
  the lab does not guess which of the two pieces of evidence is right.
* Exact name and date of birth (main record or alias): one national person links; several people
  are narrowed to those whose gender agrees; if still several, the row goes to review as a tie.

All work is DuckDB SQL against the national store's connection; the upload is registered as a
temporary view for the duration of a pass and never written to disk.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import numpy as np
import pandas as pd

from jdl_lib.identifiers import PNC_CHECK_LETTERS
from jdl_lib.linkage.nicknames import forename_keys

#: Every identity the national index holds: each main record and each alias, with the person's gender.
#: Names and gender are compared upper case and trimmed whatever the extract's spelling, so a store
#: written in "Smith" case links as well as one in "SMITH" case.
NATIONAL_RECORDS_SQL = """
    SELECT person_id, upper(trim(forename)) AS forename, upper(trim(surname)) AS surname,
           date_of_birth, upper(trim(gender)) AS gender
    FROM people
    UNION ALL
    SELECT a.person_id, upper(trim(a.forename)), upper(trim(a.surname)), a.date_of_birth,
           upper(trim(p.gender))
    FROM aliases a JOIN people p USING (person_id)
"""

#: Loose agreement of one submitted identity ``u`` with one national record ``r`` (``rk`` holds the
#: record's nickname key): used to decide whether a supplied identifier can be trusted. Names count in
#: whichever order agrees better, so forename and surname typed the wrong way round still agree.
AGREEMENT_SQL = """
    greatest(
        (u.forename = r.forename OR u.forename_key = coalesce(rk.forename_key, r.forename)
            OR jaro_winkler_similarity(u.forename, r.forename) >= 0.88)::INT
        + (jaro_winkler_similarity(u.surname, r.surname) >= 0.88)::INT,
        (jaro_winkler_similarity(u.forename, r.surname) >= 0.88)::INT
        + (jaro_winkler_similarity(u.surname, r.forename) >= 0.88)::INT
    )
    + (u.date_of_birth = r.date_of_birth OR coalesce(u.dob_swapped = r.date_of_birth, false)
        OR levenshtein(strftime(u.date_of_birth, '%Y%m%d'), strftime(r.date_of_birth, '%Y%m%d')) <= 1)::INT
"""


def _no_links() -> pd.DataFrame:
    """The empty links of a pass, typed like full ones (untyped, they turn ids into floats in a concat)."""
    return pd.DataFrame(
        {"upload_row": pd.Series([], dtype="int64"), "person_id": pd.Series([], dtype="int64")}
    )


def _no_rows() -> pd.DataFrame:
    """The empty row list of a pass, typed like a full one."""
    return pd.DataFrame({"upload_row": pd.Series([], dtype="int64")})


def pnc_check_ok(pnc_ids: pd.Series) -> pd.Series:
    """Return True where a canonical PNC ID (``YYYY/NNNNNNNL``) carries the right check letter.

    Vectorised form of :func:`jdl_lib.identifiers.is_valid_pnc`; missing or malformed IDs give False.
    """
    parts = pnc_ids.astype("string").str.extract(r"^(\d{4})/(\d{7})([A-Z])$")
    ok = parts.notna().all(axis=1).to_numpy()
    year = pd.to_numeric(parts[0], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    serial = pd.to_numeric(parts[1], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    expected = np.array(list(PNC_CHECK_LETTERS))[((year % 100) * 10_000_000 + serial) % 23]
    return pd.Series(ok & (expected == parts[2].fillna("").to_numpy()), index=pnc_ids.index)


def swap_day_month(dates: pd.Series) -> pd.Series:
    """Return each date with day and month swapped, or NaT where the swap is not a different valid date.

    A charity writing 03/07/1985 for 7 March 1985 is the commonest date-of-birth error; the swapped date
    is compared and blocked on explicitly.
    """
    d = pd.to_datetime(dates)
    swappable = (d.dt.day <= 12) & (d.dt.day != d.dt.month)
    swapped = pd.to_datetime(
        {
            "year": d.dt.year.where(swappable, 2000),
            "month": d.dt.day.where(swappable, 1),
            "day": d.dt.month.where(swappable, 1),
        }
    )
    return swapped.where(swappable).dt.date


def prepare_upload(people: pd.DataFrame) -> pd.DataFrame:
    """Return the upload columns linkage needs, with derived keys, one row per ``upload_row``.

    Adds ``dob_swapped`` (see :func:`swap_day_month`), ``forename_key`` (see
    :mod:`jdl_lib.linkage.nicknames`) and ``pnc_valid`` (check letter right), and blanks
    identifiers that are empty strings.
    """
    up = people[
        ["upload_row", "forename", "surname", "date_of_birth", "gender", "pnc_id", "prison_number"]
    ].copy()
    for col in ("forename", "surname", "gender"):
        up[col] = up[col].astype("string").str.strip().str.upper()
    for col in ("pnc_id", "prison_number"):
        up[col] = up[col].astype("string").str.strip().str.upper().replace("", pd.NA)
    up["date_of_birth"] = pd.to_datetime(up["date_of_birth"]).dt.date
    up["dob_swapped"] = swap_day_month(up["date_of_birth"])
    keys = forename_keys().set_index("forename")["forename_key"]
    up["forename_key"] = up["forename"].map(keys).fillna(up["forename"]).astype("string")
    up["pnc_valid"] = pnc_check_ok(up["pnc_id"])
    return up.reset_index(drop=True)


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, **frames: pd.DataFrame) -> Iterator[dict[str, str]]:
    """Register frames as uniquely named temporary views on ``con``; unregister them on exit.

    Unique names let several runs share one store connection; views keep the upload in memory only.
    """
    names = {key: f"jdl_{key}_{uuid.uuid4().hex[:12]}" for key in frames}
    try:
        for key, frame in frames.items():
            con.register(names[key], frame)
        yield names
    finally:
        for name in names.values():
            con.unregister(name)


def identifier_pass(
    con: duckdb.DuckDBPyConnection, upload: pd.DataFrame, column: str, min_agreement: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Link rows by a supplied identifier (``pnc_id`` or ``prison_number``) checked against name and dob.

    Parameters
    ----------
    con
        Connection to the national store (read-only is enough).
    upload
        Rows still to link, from :func:`prepare_upload`; rows with a null identifier are skipped.
    column
        ``"pnc_id"`` or ``"prison_number"``: the column in both the upload and ``people``.
    min_agreement
        How many of forename, surname, date of birth must agree loosely for the identifier to be trusted.

    Returns
    -------
    links, conflicts
        ``links``: upload_row, person_id of trusted identifiers. ``conflicts``: upload_row and person_id of
        rows whose identifier points to a person who disagrees. Rows whose identifier is not found are in
        neither.
    """
    rows = upload[upload[column].notna()]
    if rows.empty:
        return _no_links(), _no_rows()
    with registered(con, up=rows, keys=forename_keys()) as t:
        found = con.execute(
            f"""
            WITH hit AS (
                SELECT u.upload_row, p.person_id FROM {t["up"]} u
                JOIN people p ON upper(trim(p.{column})) = u.{column}
            ), rec AS (
                SELECT * FROM ({NATIONAL_RECORDS_SQL}) WHERE person_id IN (SELECT person_id FROM hit)
            )
            SELECT h.upload_row, h.person_id, max({AGREEMENT_SQL}) AS n_agree
            FROM hit h
            JOIN {t["up"]} u USING (upload_row)
            JOIN rec r USING (person_id)
            LEFT JOIN {t["keys"]} rk ON rk.forename = r.forename
            GROUP BY ALL
            """
        ).df()
    found = found.astype({"upload_row": "int64", "person_id": "int64"})
    trusted = found["n_agree"] >= min_agreement
    return (
        found.loc[trusted, ["upload_row", "person_id"]].reset_index(drop=True),
        found.loc[~trusted, ["upload_row", "person_id"]].reset_index(drop=True),
    )


def exact_pass(con: duckdb.DuckDBPyConnection, upload: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Link rows whose forename, surname and date of birth equal one national identity exactly.

    Aliases count as identities. Where several people match, those whose gender agrees are kept; if
    still several, the row is a tie. A row with no exact match on its date of birth as read is tried
    once more with day and month swapped (03/07 read as 7 March when the charity meant 3 July), the
    commonest date error; a direct match always takes precedence over a swapped one.

    Returns
    -------
    links, ties
        ``links``: upload_row, person_id. ``ties``: upload_row of rows matching several people equally.
    """
    if upload.empty:
        return _no_links(), _no_rows()
    with registered(con, up=upload) as t:
        hits = con.execute(
            f"""
            WITH hit AS (
                SELECT u.upload_row, r.person_id, coalesce(r.gender = u.gender, false) AS same_gender,
                       r.date_of_birth <> u.date_of_birth AS swapped
                FROM {t["up"]} u
                JOIN ({NATIONAL_RECORDS_SQL}) r
                  ON r.forename = u.forename AND r.surname = u.surname
                 AND (r.date_of_birth = u.date_of_birth OR r.date_of_birth = u.dob_swapped)
            ), per_person AS (
                SELECT upload_row, person_id, bool_or(same_gender) AS same_gender,
                       bool_and(swapped) AS only_swapped
                FROM hit GROUP BY upload_row, person_id
            )
            -- the swapped reading counts only for rows with no direct hit
            SELECT upload_row, person_id, same_gender FROM per_person
            QUALIFY NOT only_swapped OR bool_and(only_swapped) OVER (PARTITION BY upload_row)
            """
        ).df()
    hits = hits.astype({"upload_row": "int64", "person_id": "int64"})
    n_people = hits.groupby("upload_row")["person_id"].transform("size")
    n_same = hits.groupby("upload_row")["same_gender"].transform("sum")
    keep = (n_people == 1) | (hits["same_gender"] & (n_same == 1))
    links = hits.loc[keep, ["upload_row", "person_id"]].reset_index(drop=True)
    ties = pd.DataFrame(
        {"upload_row": np.setdiff1d(hits["upload_row"].unique(), links["upload_row"]).astype("int64")}
    )
    return links, ties
