"""Linkage quality against an answer key: precision, recall, F1, and recall by sex and ethnicity.

Used by the truth tests and ``bench/bench_linkage.py`` for jdl and for the plain Splink model alike,
so that both are scored by one rule. Recall is counted over distinct people who are on the national
index (a person submitted twice is found once); precision over links made.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class LinkageQuality:
    """Precision, recall and F1 of a set of links, with recall by group.

    Attributes
    ----------
    precision
        Share of links whose national person is the answer key's.
    recall
        Share of the distinct people on the national index who were linked correctly.
    f1
        Harmonic mean of precision and recall.
    n_links, n_wrong, n_people
        Links made, wrong links, people on the index.
    recall_by
        For each grouping column (``gender``, ``ethnicity``): recall per group, with the group size.
    """

    precision: float
    recall: float
    f1: float
    n_links: int
    n_wrong: int
    n_people: int
    recall_by: dict[str, pd.DataFrame] = field(repr=False, default_factory=dict)


def score_links(
    links: pd.DataFrame, answer_key: pd.DataFrame, people: pd.DataFrame | None = None
) -> LinkageQuality:
    """Score ``links`` (``upload_row, person_id``) against an answer key (``upload_row, person_id``).

    Parameters
    ----------
    links
        One row per link made.
    answer_key
        The generator's answer key: the true ``person_id`` of each upload row (null when the person
        is not on the index).
    people
        Optional ``person_id`` with grouping columns (``gender``, ``ethnicity``) from the national
        store, for recall by group: linkage errors must not fall on one group.

    Returns
    -------
    LinkageQuality
    """
    key = answer_key.set_index("upload_row")["person_id"]
    true = links["upload_row"].map(key)
    correct = (links["person_id"].astype("Int64") == true.astype("Int64")).fillna(False).astype(bool)
    present = pd.Series(key.dropna().astype("int64").unique(), name="person_id")
    found = set(links.loc[correct.to_numpy(), "person_id"].astype("int64"))
    precision = float(correct.mean()) if len(links) else 1.0
    recall = len(found) / len(present) if len(present) else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    recall_by: dict[str, pd.DataFrame] = {}
    if people is not None:
        frame = pd.DataFrame({"person_id": present}).merge(people, on="person_id", how="left")
        frame["found"] = frame["person_id"].isin(found)
        for column in [c for c in ("gender", "ethnicity") if c in frame]:
            recall_by[column] = frame.groupby(column)["found"].agg(recall="mean", people="size").reset_index()
    return LinkageQuality(
        precision=precision,
        recall=recall,
        f1=f1,
        n_links=len(links),
        n_wrong=int((~correct).sum()),
        n_people=len(present),
        recall_by=recall_by,
    )
