"""``link_cohort``: link a validated upload to the national store, deterministic passes first."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd

from jdl_lib.errors import LinkageError
from jdl_lib.linkage import deterministic, probabilistic
from jdl_lib.linkage.result import METHODS, REVIEW_COLUMNS, REVIEW_REASONS, LinkageResult, LinkageSettings

if TYPE_CHECKING:
    from jdl_lib.store import NationalStore

logger = logging.getLogger(__name__)

#: The settings used when none are given.
DEFAULT_SETTINGS = LinkageSettings()

_REQUIRED = ("upload_row", "forename", "surname", "date_of_birth", "gender", "pnc_id", "prison_number")


def _check(people: pd.DataFrame, settings: LinkageSettings) -> None:
    """Raise LinkageError for inputs or settings linkage cannot work with."""
    missing = [c for c in _REQUIRED if c not in people.columns]
    if missing:
        raise LinkageError(
            f"the upload frame lacks the column(s) {', '.join(missing)}; pass the validated frame from intake"
        )
    if people.empty:
        raise LinkageError("the upload frame has no rows; nothing to link")
    if people["upload_row"].duplicated().any():
        raise LinkageError(
            "upload_row must be unique in the upload frame; pass the validated frame from intake"
        )
    if not 0 < settings.review_floor <= settings.threshold < 1:
        raise LinkageError(
            "linkage settings need 0 < review_floor <= threshold < 1 "
            f"(got review_floor={settings.review_floor}, threshold={settings.threshold})"
        )
    if settings.identifier_min_agreement not in (0, 1, 2, 3):
        raise LinkageError(
            "identifier_min_agreement must be 0, 1, 2 or 3 (of forename, surname, date of birth)"
        )


def repeated_submissions(upload_pairs: pd.DataFrame, links: pd.DataFrame, already: pd.Series) -> pd.DataFrame:
    """Rows left unlinked that Splink's dedupe finds to be the same person as a linked row.

    The same person submitted twice with a typo is one person: the row that did not link (in the
    review band or not found) is counted as a duplicate of the linked one rather than as a loss, so
    the attrition table says why it is not in the analysis. Rows are never newly linked this way.

    Parameters
    ----------
    upload_pairs
        ``upload_row_l, upload_row_r, match_probability``: pairs of upload rows scoring at least the
        link threshold in the dedupe model.
    links
        The links kept (one per person).
    already
        Upload rows already counted as duplicates.

    Returns
    -------
    pandas.DataFrame
        ``upload_row, person_id, duplicate_of`` for each repeated submission.
    """
    both = pd.concat(
        [
            upload_pairs.rename(columns={"upload_row_l": "row", "upload_row_r": "other"}),
            upload_pairs.rename(columns={"upload_row_r": "row", "upload_row_l": "other"}),
        ],
        ignore_index=True,
    )
    linked = links.set_index("upload_row")["person_id"]
    both = both[
        ~both["row"].isin(linked.index) & ~both["row"].isin(already) & both["other"].isin(linked.index)
    ]
    both = both.sort_values(["match_probability", "other"], ascending=[False, True]).drop_duplicates("row")
    return pd.DataFrame(
        {
            "upload_row": both["row"].astype("int64").to_numpy(),
            "person_id": both["other"].map(linked).astype("int64").to_numpy(),
            "duplicate_of": both["other"].astype("int64").to_numpy(),
        }
    )


def link_cohort(
    people: pd.DataFrame, store: NationalStore, settings: LinkageSettings = DEFAULT_SETTINGS
) -> LinkageResult:
    """Link each submitted person to at most one national person.

    Passes run in order, each on the rows still open: PNC ID (check letter verified, and the person it
    names must agree with the submitted name and date of birth), prison number (same check), exact
    forename + surname + date of birth (main record or alias), then Splink's probabilistic model.
    Conflicting identifiers, ties and weak or ambiguous scores go to a review band rather than being
    guessed. When two upload rows reach the same national person, the row linked by the earlier method
    (then the higher probability, then the lower row number) is kept and the other counted as a
    duplicate. Rules and thresholds: ``docs/linkage.md``.

    Parameters
    ----------
    people
        The validated upload from intake: ``upload_row``, ``forename``, ``surname`` (upper case),
        ``date_of_birth``, ``gender`` ('M'/'F'), ``pnc_id`` (canonical or null), ``prison_number``
        (or null); other columns are ignored.
    store
        An open :class:`jdl_lib.store.NationalStore` (anything with a DuckDB ``connection`` holding the
        ``people`` and ``aliases`` tables).
    settings
        Thresholds, review band and training sample sizes.

    Returns
    -------
    LinkageResult
        Links, review band, duplicates, unlinked rows and counts by outcome, with the settings and the
        trained model's parameters.

    Raises
    ------
    LinkageError
        If the frame lacks columns, is empty, repeats an upload_row, or the settings are inconsistent.
    """
    _check(people, settings)
    con = store.connection.cursor()  # own cursor: the store's connection may be shared
    try:
        return _link(con, deterministic.prepare_upload(people), settings)
    finally:
        con.close()


def _link(con: duckdb.DuckDBPyConnection, upload: pd.DataFrame, settings: LinkageSettings) -> LinkageResult:
    """Run the passes on a prepared upload (see :func:`link_cohort`)."""
    clock = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(stage: str) -> None:
        nonlocal clock
        seconds[stage] = time.perf_counter() - clock
        clock = time.perf_counter()

    n_national = con.execute("SELECT count(*) FROM people").fetchall()[0][0]
    found: list[pd.DataFrame] = []
    review: list[pd.DataFrame] = []

    def open_rows() -> pd.DataFrame:
        done = (
            pd.concat([f["upload_row"] for f in found + review])
            if found or review
            else pd.Series([], dtype="int64")
        )
        return upload[~upload["upload_row"].isin(done)]

    for column, method in (("pnc_id", "pnc"), ("prison_number", "prison_number")):
        rows = open_rows()
        if column == "pnc_id":
            rows = rows[rows["pnc_valid"]]
        links, conflicts = deterministic.identifier_pass(con, rows, column, settings.identifier_min_agreement)
        found.append(links.assign(method=method, match_probability=1.0))
        review.append(conflicts.assign(reason=f"{method}_conflict"))
        lap(method)
    links, ties = deterministic.exact_pass(con, open_rows())
    found.append(links.assign(method="exact", match_probability=1.0))
    review.append(ties.assign(reason="exact_tie"))
    lap("exact")

    verified = pd.concat(found[:2], ignore_index=True)[["upload_row", "person_id"]].astype("int64")
    pairs, upload_pairs, model, stage_seconds = probabilistic.score_pairs(
        con, upload, verified, n_national, settings
    )
    seconds |= stage_seconds
    clock = time.perf_counter()
    remaining = open_rows()["upload_row"]
    prob_links, prob_review = probabilistic.resolve(pairs[pairs["upload_row"].isin(remaining)], settings)
    found.append(prob_links.assign(method="probabilistic"))
    review.append(prob_review)

    links = pd.concat(found, ignore_index=True)[["upload_row", "person_id", "method", "match_probability"]]
    links = links.astype({"upload_row": "int64", "person_id": "int64", "match_probability": float})
    links["rank"] = links["method"].map({m: i for i, m in enumerate(METHODS)})
    links = links.sort_values(["rank", "match_probability", "upload_row"], ascending=[True, False, True])
    first = links.groupby("person_id")["upload_row"].transform("first")
    duplicates = links.loc[links["upload_row"] != first, ["upload_row", "person_id"]].assign(
        duplicate_of=first[links["upload_row"] != first]
    )
    links = links[links["upload_row"] == first].drop(columns="rank").sort_values("upload_row")
    review_frame = pd.concat(review, ignore_index=True).reindex(columns=list(REVIEW_COLUMNS))
    review_frame = review_frame.astype({"person_id": "Int64", "match_probability": float})
    repeats = repeated_submissions(upload_pairs, links, duplicates["upload_row"])
    duplicates = pd.concat([duplicates, repeats], ignore_index=True)
    review_frame = review_frame[~review_frame["upload_row"].isin(repeats["upload_row"])].sort_values(
        "upload_row"
    )
    lap("resolve")
    resolved = np.concatenate([links["upload_row"], duplicates["upload_row"], review_frame["upload_row"]])
    unlinked = tuple(int(r) for r in np.setdiff1d(upload["upload_row"], resolved))

    counts = {"submitted": len(upload)}
    counts |= {m: int((links["method"] == m).sum()) for m in METHODS}
    counts["duplicate"] = len(duplicates)
    counts |= {r: int((review_frame["reason"] == r).sum()) for r in REVIEW_REASONS}
    counts["unlinked"] = len(unlinked)
    logger.info("linkage counts: %s", counts)
    return LinkageResult(
        links=links.reset_index(drop=True),
        review=review_frame.reset_index(drop=True),
        duplicates=duplicates.sort_values("upload_row").reset_index(drop=True),
        unlinked=unlinked,
        counts=counts,
        settings=settings,
        model=model,
        seconds=seconds,
    )
