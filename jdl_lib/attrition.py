"""The attrition table: how many submitted people reach the analysis, and why the others do not.

JDL reports show this as a "chevron": people submitted, then at each stage the number lost with
its reasons, and the final group as a share of those submitted (``../shared/reference/
jdl_methodology.md`` section 6). :class:`Attrition` is built by appending one stage per pipeline
step; a stage's count is always the previous count minus its losses, which the constructor checks,
so the published numbers cannot disagree with each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from jdl_lib.index_events import IndexEventResult
from jdl_lib.intake import IntakeResult
from jdl_lib.linkage.result import METHODS, REVIEW_REASONS, LinkageResult

#: How each link method is named in the table.
METHOD_LABELS = {
    "pnc": "by PNC ID",
    "prison_number": "by prison number",
    "exact": "by exact name and date of birth",
    "probabilistic": "by probabilistic matching",
}


@dataclass(frozen=True)
class Stage:
    """One step: the people remaining after it, the losses by reason, and an optional breakdown.

    ``breakdown`` splits ``count`` (e.g. linked people by link method); it is not a loss.
    """

    key: str
    label: str
    count: int
    losses: tuple[tuple[str, int], ...] = ()
    breakdown: tuple[tuple[str, int], ...] = ()

    @property
    def lost(self) -> int:
        """People lost at this stage."""
        return sum(n for _, n in self.losses)


@dataclass(frozen=True)
class Attrition:
    """Ordered stages from submission to analysis; start with :meth:`start`, extend with :meth:`then`."""

    stages: tuple[Stage, ...]

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("attrition needs at least the submitted stage")
        if self.stages[0].losses:
            raise ValueError("the first stage (submitted) cannot have losses")
        keys = [s.key for s in self.stages]
        if len(set(keys)) != len(keys):
            raise ValueError(f"stage keys must be unique (got {keys})")
        for before, stage in zip(self.stages, self.stages[1:], strict=False):
            if any(n < 0 for _, n in stage.losses):
                raise ValueError(f"stage {stage.key!r} has a negative loss")
            if stage.count != before.count - stage.lost or stage.count < 0:
                raise ValueError(
                    f"stage {stage.key!r}: {before.count} before, {stage.lost} lost, {stage.count} remain; "
                    "each stage must equal the previous count minus its losses"
                )
        for stage in self.stages:
            if stage.breakdown and sum(n for _, n in stage.breakdown) != stage.count:
                raise ValueError(f"stage {stage.key!r}: the breakdown does not add up to the stage count")

    @classmethod
    def start(cls, submitted: int, label: str = "Records submitted") -> Attrition:
        """Begin with the number of records the organisation submitted."""
        return cls((Stage("submitted", label, int(submitted)),))

    @property
    def submitted(self) -> int:
        """Records submitted (the first stage)."""
        return self.stages[0].count

    @property
    def final(self) -> int:
        """People remaining after the last stage."""
        return self.stages[-1].count

    def then(
        self,
        key: str,
        label: str,
        losses: Mapping[str, int],
        *,
        count: int | None = None,
        breakdown: Mapping[str, int] | None = None,
    ) -> Attrition:
        """Return a new Attrition with one more stage.

        Parameters
        ----------
        key, label
            Stage identifier and the wording shown in the table.
        losses
            People lost at this stage by reason; zero counts are left out.
        count
            The number the step itself reports remaining; checked against the previous count minus
            the losses (a mismatch is a bug upstream and raises ``ValueError``). Omit to derive it.
        breakdown
            An optional split of the remaining people (must add up to the count).
        """
        kept = tuple((str(r), int(n)) for r, n in losses.items() if int(n) != 0)
        remaining = self.final - sum(n for _, n in kept)
        if count is not None and int(count) != remaining:
            raise ValueError(
                f"stage {key!r}: {self.final} before and {remaining} after its losses, but the step reports "
                f"{count}; the losses do not account for every person"
            )
        split = tuple((str(r), int(n)) for r, n in (breakdown or {}).items() if int(n) != 0)
        return Attrition((*self.stages, Stage(key, label, remaining, kept, split)))

    def table(self) -> pd.DataFrame:
        """The attrition table for the report: one row per stage.

        Columns: ``stage``, ``label``, ``count``, ``lost``, ``pct_of_submitted`` (of the count),
        ``lost_pct_of_submitted``, ``reasons`` ("n reason; ...") and ``breakdown``.
        """
        base = max(self.submitted, 1)
        return pd.DataFrame(
            {
                "stage": [s.key for s in self.stages],
                "label": [s.label for s in self.stages],
                "count": [s.count for s in self.stages],
                "lost": [s.lost for s in self.stages],
                "pct_of_submitted": [round(100 * s.count / base, 1) for s in self.stages],
                "lost_pct_of_submitted": [round(100 * s.lost / base, 1) for s in self.stages],
                "reasons": ["; ".join(f"{n} {r}" for r, n in s.losses) for s in self.stages],
                "breakdown": ["; ".join(f"{n} {r}" for r, n in s.breakdown) for s in self.stages],
            }
        )

    def losses(self) -> pd.DataFrame:
        """Every loss as a long table: ``stage``, ``reason``, ``n``, ``pct_of_submitted``."""
        rows = [(s.key, r, n) for s in self.stages for r, n in s.losses]
        frame = pd.DataFrame(rows, columns=["stage", "reason", "n"])
        return frame.assign(pct_of_submitted=(100 * frame["n"] / max(self.submitted, 1)).round(1))


def from_intake(intake: IntakeResult) -> Attrition:
    """Submitted and valid stages from a checked upload (losses: the deciding problem of each dropped row)."""
    return Attrition.start(intake.n_submitted).then(
        "valid", "Valid records", intake.drop_counts(), count=intake.n_valid
    )


def add_linkage(attrition: Attrition, linkage: LinkageResult) -> Attrition:
    """Add the linked stage: losses by review reason, not found and repeated person; breakdown by method."""
    losses = {REVIEW_REASONS[k]: int(v) for k, v in linkage.review["reason"].value_counts().items()}
    losses["not found in the national records"] = len(linkage.unlinked)
    losses["the same person as another submitted row"] = len(linkage.duplicates)
    by_method = linkage.links["method"].value_counts()
    breakdown = {METHOD_LABELS[m]: int(by_method.get(m, 0)) for m in METHODS}
    return attrition.then(
        "linked", "Found in national records", losses, count=len(linkage.links), breakdown=breakdown
    )


def add_index_events(attrition: Attrition, events: IndexEventResult) -> Attrition:
    """Add the eligible-index-event stage, with the index-event rule's drop reasons."""
    return attrition.then(
        "index_event", "Had an eligible index event", events.drop_counts(), count=len(events.events)
    )


#: What to check when most people are lost for one reason, keyed by the start of the reason's wording.
_CAUSES = {
    "not found in the national records": (
        "most people were not found in the national records: check that the upload holds the intended "
        "people with their names and dates of birth as recorded, and that the national store covers them"
    ),
    REVIEW_REASONS["pnc_conflict"]: (
        "most PNC IDs point to national people whose names or dates of birth disagree with the upload: "
        "check the name and date columns of the upload and of the national extract"
    ),
    REVIEW_REASONS["prison_number_conflict"]: (
        "most prison numbers point to national people whose names or dates of birth disagree with the "
        "upload: check the name and date columns of the upload and of the national extract"
    ),
}


def explain_shortfall(attrition: Attrition, store_problems: list[str] | None = None) -> str:
    """Say where a group too small to analyse lost its people, and the likeliest cause.

    Why: a refusal that only says "send more people" hides a fixable fault, such as a national extract
    whose names are not in the documented form, against which nobody links (issue 16, item 7). The text
    holds counts only (no personal data): every stage with its losses, then the largest single loss and
    what to check for it. ``store_problems`` names national columns not in their documented form
    (:meth:`jdl_lib.store.NationalStore.identifier_form_problems`); they are named first when linkage
    lost the most.
    """
    lines = ["Where the people were lost:"]
    for s in attrition.stages:
        reasons = "; ".join(f"{n} {r}" for r, n in s.losses)
        lines.append(f"  {s.label}: {s.count}" + (f" (lost {s.lost}: {reasons})" if s.lost else ""))
    stage = max(attrition.stages[1:], key=lambda s: s.lost, default=None)
    if stage is None or stage.lost == 0:
        return "\n".join(lines)
    reason, n = max(stage.losses, key=lambda item: item[1])
    share = n / max(attrition.submitted, 1)
    if stage.key == "linked" and store_problems:
        cause = (
            f"the national store holds {', '.join(store_problems)} values not in the documented form "
            "(e.g. names not in upper case), so they cannot match the upload; re-import the extract with "
            "`jdl import-national`, which normalises them"
        )
    else:
        cause = _CAUSES.get(reason, f"{n} of {attrition.submitted} submitted were lost because {reason}")
    lines.append(f"Largest loss ({share:.0%} of those submitted) at '{stage.label}'. Likely cause: {cause}.")
    return "\n".join(lines)


__all__ = [
    "METHOD_LABELS",
    "Attrition",
    "Stage",
    "add_index_events",
    "add_linkage",
    "explain_shortfall",
    "from_intake",
]
