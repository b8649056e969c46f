"""Aggregate views of a design for the workbench: balance, effective sample size, who was matched and dropped.

Everything here is a table or figure of aggregates under the request's disclosure rules (counts of 1 to
``cell_threshold - 1`` people are hidden, and a group that small is never described), so a workbench
display can be shown, saved or screenshotted without carrying anyone's record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from jdl_lib.balance.stats import assess_balance, expand_covariates
from jdl_lib.matching.result import MatchResult
from jdl_lib.pipeline import Design, PreparedRequest, design_sections
from jdl_lib.spec import MatchingSpec

#: Shown in place of a count or a figure that would describe fewer people than the cell threshold.
HIDDEN = "hidden (fewer than {threshold})"


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2: what the weights are worth in unweighted people.

    Matching with replacement or many controls per person reuses some controls heavily; the ESS says how
    much information the weighted control group really holds (cobalt reports the same figure).
    """
    w = np.asarray(weights, dtype=float)
    return float(w.sum() ** 2 / (w**2).sum()) if len(w) and (w**2).sum() > 0 else 0.0


@dataclass(frozen=True)
class SampleSizes:
    """Treated people matched and the size of their weighted comparison group."""

    treated_offered: int
    treated_matched: int
    controls_used: int
    controls_effective: float
    treated_effective: float


def sample_sizes(match: MatchResult) -> SampleSizes:
    """Counts and effective sizes of both groups of a matched sample."""
    m = match.matched
    treated = m["treat"].to_numpy() == 1
    return SampleSizes(
        treated_offered=match.n_treated,
        treated_matched=match.n_treated_matched,
        controls_used=match.n_controls_used,
        controls_effective=effective_sample_size(m.loc[~treated, "weights"].to_numpy()),
        treated_effective=effective_sample_size(m.loc[treated, "weights"].to_numpy()),
    )


@dataclass(frozen=True)
class DesignView:
    """What the analyst sees of one design: aggregates only, as results.json would hold them.

    ``sections`` are the results contract's ``attrition``, ``balance``, ``overlap`` and ``profile``
    sections (built by :func:`jdl_lib.pipeline.design_sections`, so the workbench shows what the report
    will); ``balance`` is the balance table in the chosen SMD convention; ``refused`` holds the message
    of a design the disclosure rules refuse (e.g. too few people matched), when there is nothing else.
    """

    matching: MatchingSpec
    sections: dict[str, Any]
    balance: pd.DataFrame
    sd_convention: str
    verdict: str
    max_abs_smd: float
    sizes: SampleSizes | None
    dropped: pd.DataFrame
    refused: str = ""

    @property
    def ok(self) -> bool:
        """True when the design produced a matched sample the disclosure rules allow."""
        return not self.refused


def matching_losses(sections: dict[str, Any]) -> pd.DataFrame:
    """People dropped at matching, by reason, as the attrition section has them (small ones hidden)."""
    stage = next(s for s in sections["attrition"]["stages"] if s["stage"] == "matched")
    return pd.DataFrame(
        [{"reason": r["reason"], "people": r["count"]} for r in stage["reasons"]],
        columns=["reason", "people"],
    )


def design_view(design: Design, threshold: int, sd: str = "treated") -> DesignView:
    """The aggregate view of a design, with its balance table in the ``sd`` convention."""
    sections = design_sections(design, threshold)
    balance = (
        design.balance
        if sd == design.balance.sd_convention
        else assess_balance(design.frame, design.match, design.matching.covariates, sd=sd)
    )
    table = balance.table[
        ["variable", "smd_before", "smd_after", "var_ratio_before", "var_ratio_after", "verdict_after"]
    ].rename(columns={"verdict_after": "verdict"})
    return DesignView(
        matching=design.matching,
        sections=sections,
        balance=table.reset_index(drop=True),
        sd_convention=balance.sd_description,
        verdict=balance.overall_after,
        max_abs_smd=balance.max_abs_smd_after,
        sizes=sample_sizes(design.match),
        dropped=matching_losses(sections),
    )


def refused_view(matching: MatchingSpec, message: str) -> DesignView:
    """A view for a design the rules refused: the message and nothing person-level."""
    return DesignView(
        matching=matching,
        sections={},
        balance=pd.DataFrame(),
        sd_convention="",
        verdict="refused",
        max_abs_smd=float("nan"),
        sizes=None,
        dropped=pd.DataFrame(columns=["reason", "people"]),
        refused=message,
    )


def _group_summary(x: pd.DataFrame, groups: dict[str, np.ndarray], threshold: int) -> pd.DataFrame:
    """Mean of each column per group and the standardised difference of the two groups, disclosure-safe.

    A group of 1 to ``threshold - 1`` people is described by nothing but that; a share of a yes/no
    characteristic is hidden when it counts, or leaves out, 1 to ``threshold - 1`` people of the group
    (share times group size would give the small count), and so is the difference using it.
    """
    out = pd.DataFrame(index=x.columns)
    binary = x.isin([0.0, 1.0]).all().to_numpy()
    hidden = pd.DataFrame(False, index=x.columns, columns=list(groups))
    for name, rows in groups.items():
        n = int(rows.sum())
        out[name] = x[rows].mean() if n else np.nan
        ones = x[rows].sum().to_numpy()
        small = lambda k: (k > 0) & (k < threshold)  # noqa: E731
        hidden[name] = (0 < n < threshold) | (binary & (small(ones) | small(n - ones)))
        out.loc[hidden[name].to_numpy(), name] = np.nan
    a, b = list(groups)
    sd = np.sqrt((x[groups[a]].var() + x[groups[b]].var()) / 2)
    out["std_difference"] = ((out[a] - out[b]) / sd.replace(0, np.nan)).where(~hidden.any(axis=1))
    counts = {
        name: (int(rows.sum()) if not 0 < rows.sum() < threshold else HIDDEN.format(threshold=threshold))
        for name, rows in groups.items()
    }
    out.attrs["people"] = counts
    out.index.name = "characteristic"
    return out.reset_index()


def analysed_vs_dropped(design: Design, threshold: int) -> pd.DataFrame:
    """Mean of each covariate among the treated people analysed and those matching dropped.

    Who did the caliper and the exact strata lose? A large standardised difference says the analysed group
    is no longer the organisation's whole cohort (the estimate is then about a narrower group). Means of a
    group of fewer than ``threshold`` people are hidden; the group sizes are in ``attrs["people"]``.
    """
    scores = design.match.scores
    treated_idx = scores.index[scores["treat"] == 1]
    x = expand_covariates(design.frame.loc[treated_idx], design.matching.covariates)
    analysed = x.index.isin(design.match.matched.index)
    return _group_summary(x, {"analysed": analysed, "dropped": ~analysed}, threshold)


def linked_vs_unlinked(prepared: PreparedRequest, threshold: int) -> pd.DataFrame:
    """What the upload says about people linkage kept and lost: gender, age at the intervention, setting.

    Only the template's own fields exist for people not found in the national records, so this is the
    comparison that shows whether linkage lost a different kind of person.
    """
    people = prepared.upload_people
    age = (people["intervention_start"] - people["date_of_birth"]).dt.days / 365.25
    x = pd.DataFrame(
        {
            "male": (people["gender"] == "M").astype(float),
            "age_at_intervention_start": age,
            "custody": (people["setting"] == "custody").astype(float),
        },
        index=people.index,
    )
    linked = people["upload_row"].isin(prepared.linkage.links["upload_row"]).to_numpy()
    return _group_summary(x, {"linked": linked, "not_linked": ~linked}, threshold)


def covariate_sets(covariates: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Reasonable covariate sets for a specification curve, from the analyst's chosen list.

    ``chosen``: the list as it is; ``without needs and employment``: dropping assessed needs and the
    employment and benefit history (recorded for fewer people, so a choice an analyst could make);
    ``history and demographics``: only demographics, criminal history and the risk scores.
    """
    needs = {
        "employed_year_before",
        "on_benefit_year_before",
        "assessed",
        "accommodation_need",
        "ete_need",
        "drug_need",
        "alcohol_need",
    }
    disposal = {"setting", "disposal_type", "sentence_length_days", "index_offence_group", "index_year"}
    chosen = tuple(covariates)
    sets = {
        "chosen": chosen,
        "without needs and employment": tuple(c for c in chosen if c not in needs),
        "history and demographics": tuple(c for c in chosen if c not in needs | disposal),
    }
    unique: dict[tuple[str, ...], str] = {}
    for name, cols in sets.items():
        if cols and cols not in unique:
            unique[cols] = name
    return {name: cols for cols, name in unique.items()}
