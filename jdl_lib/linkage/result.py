"""Settings and result types of record linkage (frozen, so a result always carries what made it)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

#: Link methods in the order they are tried; an earlier method wins when two upload rows meet one person.
METHODS = ("pnc", "prison_number", "exact", "probabilistic")

#: Reasons an upload row is put in the review band instead of being linked.
REVIEW_REASONS = {
    "pnc_conflict": "the PNC ID belongs to a person whose name and date of birth disagree",
    "prison_number_conflict": "the prison number belongs to a person whose name and date of birth disagree",
    "exact_tie": "name and date of birth match more than one national person equally",
    "ambiguous": "two national people score too closely to choose between them",
    "low_confidence": "the best candidate scores below the link threshold",
}


#: Columns of :attr:`LinkageResult.review`.
REVIEW_COLUMNS = ("upload_row", "reason", "person_id", "match_probability")


@dataclass(frozen=True)
class LinkageSettings:
    """Every choice that decides a link; the defaults are justified in ``docs/linkage.md``.

    Parameters
    ----------
    threshold
        Minimum Splink match probability for a probabilistic link.
    min_weight_margin
        Minimum gap in match weight (log2 Bayes factor) between the best and the second-best national
        person for one upload row; below it the row is ambiguous and goes to review.
    review_floor
        Best candidates scoring at or above this probability but not linked go to the review band;
        below it the row is counted as not found in the national data.
    prior_in_store
        Prior share of submitted people expected to be on the national index; with the store size it
        sets Splink's probability that two random records match.
    identifier_min_agreement
        Of forename, surname and date of birth, how many must agree (loosely) with the person a PNC ID or
        prison number points to for that identifier to be trusted.
    u_sample_records
        National people sampled to estimate u probabilities by random pairs.
    u_max_pairs
        Random pairs drawn among the sample to estimate u probabilities.
    em_max_pairs
        Most blocked pairs each expectation-maximisation session works on; larger blocks are sampled
        by record (Splink's ``max_pairs``), which keeps training time flat as the store grows.
    seed
        Seed for every random sample, so a run can be repeated exactly.
    """

    threshold: float = 0.95
    min_weight_margin: float = 5.0
    review_floor: float = 0.5
    prior_in_store: float = 0.9
    identifier_min_agreement: int = 2
    u_sample_records: int = 100_000
    u_max_pairs: float = 1e6
    em_max_pairs: float = 2e5
    seed: int = 2013


@dataclass(frozen=True)
class LinkageResult:
    """What linkage found for one upload.

    Attributes
    ----------
    links
        One row per linked upload row: ``upload_row``, ``person_id``, ``method`` (one of :data:`METHODS`),
        ``match_probability`` (1.0 for deterministic links). Each ``person_id`` appears at most once.
    review
        Upload rows not linked because the evidence is conflicting or weak: ``upload_row``, ``reason``
        (a key of :data:`REVIEW_REASONS`), and the candidate it was not linked to: ``person_id`` (the
        person its identifier names, or the best-scoring one; null for an exact tie) and
        ``match_probability`` (null unless scored). Used to re-run the result with the review band
        included, so a reader sees whether linkage choices could change the conclusion.
    duplicates
        Upload rows that linked to a person already linked from another row: ``upload_row``,
        ``person_id``, ``duplicate_of`` (the upload row kept).
    unlinked
        Upload rows with no plausible national candidate.
    counts
        Rows by outcome: submitted, each method, duplicate, each review reason, unlinked.
    settings
        The settings that made this result.
    model
        The trained Splink model (settings, m and u probabilities; no personal data), for the method annex.
    seconds
        Wall-clock seconds per stage (identifier passes, exact pass, candidate selection, u and m
        training, scoring, resolution), for the bench.
    """

    links: pd.DataFrame
    review: pd.DataFrame
    duplicates: pd.DataFrame
    unlinked: tuple[int, ...]
    counts: dict[str, int]
    settings: LinkageSettings
    model: dict = field(repr=False, default_factory=dict)
    seconds: dict[str, float] = field(repr=False, default_factory=dict)
