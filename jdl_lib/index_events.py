"""Find each linked person's index event: the disposal whose date starts their one-year follow-up.

The MoJ's proven reoffending measure starts the one-year follow-up when an offender leaves
custody or starts a court sentence (``../shared/reference/jdl_methodology.md`` section 1). For a
charity's cohort the lab must decide *which* release or sentence the intervention relates to.
The rules (also in ``docs/index_events.md``):

* **custody**: the first release from custody (``release_date`` of a ``custody`` disposal) on or
  after the intervention start and at most ``custody_window_days`` (default 365) after it. Prison
  services work with people before release; a release more than a year after the work began is
  not credibly the one it prepared them for.
* **community**: the community order or suspended sentence *in force* at the intervention start,
  taken as the latest one sentenced on or before the start and at most
  ``community_lookback_days`` (default 365) before it; if there is none, the first one sentenced
  within ``community_lookahead_days`` (default 90) after the start (the work began while the
  case was at court). The index date is the sentence date.
* Ties (two disposals on the same day) go to the lower ``disposal_id``, so the result is stable.

A linked row is dropped, with its reason counted, when it has no such event; when the index date
falls before the store's ``coverage_start``; when the one-year follow-up plus the six-month
waiting period (``index_date + 18 months``) runs past the store's ``coverage_end``; or when it is
linked to the same national person as an earlier row (the first row is kept).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date

import pandas as pd

from jdl_lib.schema import COMMUNITY_DISPOSALS
from jdl_lib.store import NationalStore
from jdl_lib.template import SETTINGS

logger = logging.getLogger(__name__)

#: Columns the links frame must have.
LINK_COLUMNS = ("upload_row", "person_id", "setting", "intervention_start")
#: Columns of :attr:`IndexEventResult.events`.
EVENT_COLUMNS = ("upload_row", "person_id", "setting", "disposal_id", "disposal_type", "index_date")
#: Follow-up (12 months) plus the waiting period for proceedings to finish (6 months).
FOLLOW_UP_MONTHS = 18


@dataclass(frozen=True)
class IndexEventSettings:
    """The rule's windows and the store coverage they were applied with."""

    custody_window_days: int
    community_lookback_days: int
    community_lookahead_days: int
    coverage_start: date
    coverage_end: date
    follow_up_months: int = FOLLOW_UP_MONTHS

    def reasons(self) -> dict[str, str]:
        """Reason code -> the sentence shown in the attrition table."""
        return {
            "same_person": "linked to the same national person as an earlier row",
            "no_custody_release": (
                f"no release from custody within {self.custody_window_days} days after the intervention start"
            ),
            "no_community_sentence": (
                "no community order or suspended sentence in force at the intervention start "
                f"(sentenced up to {self.community_lookback_days} days before) "
                f"or made up to {self.community_lookahead_days} days after it"
            ),
            "before_coverage": (
                f"index event before {self.coverage_start:%d %B %Y}, when the analysed period begins"
            ),
            "follow_up_incomplete": (
                "the one-year follow-up and six-month waiting period run past the end of the national data "
                f"({self.coverage_end:%d %B %Y})"
            ),
        }


@dataclass(frozen=True)
class IndexEventResult:
    """Index events of a linked cohort, the rows dropped with their reasons, and the settings used.

    ``events`` has :data:`EVENT_COLUMNS`, one row per kept upload row (``index_date`` as
    ``datetime64``). ``dropped`` has ``upload_row``, ``person_id``, ``reason`` (a code of
    :meth:`IndexEventSettings.reasons`).
    """

    events: pd.DataFrame
    dropped: pd.DataFrame
    settings: IndexEventSettings
    n_links: int

    def drop_counts(self) -> dict[str, int]:
        """Number of dropped rows per reason sentence, in the order the rule applies them."""
        counts = self.dropped["reason"].value_counts()
        return {text: int(counts[code]) for code, text in self.settings.reasons().items() if code in counts}


_EVENT_SQL = f"""
WITH l AS (
    SELECT upload_row, person_id, setting, CAST(intervention_start AS DATE) AS s FROM {{links}}
),
candidates AS (
    SELECT l.upload_row, d.disposal_id, d.disposal_type, d.release_date AS index_date,
           0 AS pass, epoch(d.release_date) AS rank_key
    FROM l JOIN disposals d ON d.person_id = l.person_id
    WHERE l.setting = 'custody' AND d.disposal_type = 'custody'
      AND d.release_date BETWEEN l.s AND l.s + CAST($custody_window AS INTEGER)
    UNION ALL
    SELECT l.upload_row, d.disposal_id, d.disposal_type, d.disposal_date,
           CASE WHEN d.disposal_date <= l.s THEN 0 ELSE 1 END,
           CASE WHEN d.disposal_date <= l.s THEN -epoch(d.disposal_date) ELSE epoch(d.disposal_date) END
    FROM l JOIN disposals d ON d.person_id = l.person_id
    WHERE l.setting = 'community'
      AND d.disposal_type IN ({", ".join(f"'{t}'" for t in COMMUNITY_DISPOSALS)})
      AND d.disposal_date BETWEEN l.s - CAST($lookback AS INTEGER) AND l.s + CAST($lookahead AS INTEGER)
)
SELECT upload_row, disposal_id, disposal_type, index_date,
       index_date + INTERVAL {FOLLOW_UP_MONTHS} MONTH <= $coverage_end AS follow_up_complete
FROM candidates
QUALIFY row_number() OVER (PARTITION BY upload_row ORDER BY pass, rank_key, disposal_id) = 1
"""


def find_index_events(
    links: pd.DataFrame,
    store: NationalStore,
    *,
    custody_window_days: int = 365,
    community_lookback_days: int = 365,
    community_lookahead_days: int = 90,
) -> IndexEventResult:
    """Find the index event of every linked upload row, following the JDL rules in the module docstring.

    Parameters
    ----------
    links
        One row per linked upload row with ``upload_row``, ``person_id``, ``setting``
        ('custody' | 'community') and ``intervention_start``; other columns are ignored.
    store
        The open national store; its provenance gives the coverage period.
    custody_window_days
        Latest release counted, in days after the intervention start.
    community_lookback_days, community_lookahead_days
        How far before the start an order counts as in force, and how far after it a new one counts.

    Returns
    -------
    IndexEventResult
        Events, dropped rows with reasons, the settings, and the number of links considered.

    Raises
    ------
    ValueError
        If ``links`` lacks a column or holds an empty key, an unknown setting, or a repeated upload row.
    """
    missing = [c for c in LINK_COLUMNS if c not in links.columns]
    if missing:
        raise ValueError(
            f"links frame lacks column(s) {', '.join(missing)}; pass linkage links joined to intake."
        )
    frame = links[list(LINK_COLUMNS)].copy()
    if frame.isna().any().any() or frame["upload_row"].duplicated().any():
        raise ValueError(
            "links frame has an empty key or a repeated upload_row; pass one row per linked person."
        )
    unknown = set(frame["setting"]) - set(SETTINGS)
    if unknown:
        raise ValueError(
            f"links frame has setting(s) other than {', '.join(SETTINGS)}; check the intake output."
        )
    prov = store.provenance
    settings = IndexEventSettings(
        custody_window_days=custody_window_days,
        community_lookback_days=community_lookback_days,
        community_lookahead_days=community_lookahead_days,
        coverage_start=prov.coverage_start,
        coverage_end=prov.coverage_end,
    )
    frame = frame.sort_values("upload_row", kind="stable")
    frame["intervention_start"] = pd.to_datetime(frame["intervention_start"]).dt.normalize()
    same_person = frame["person_id"].duplicated()
    frame["reason"] = pd.Series(pd.NA, index=frame.index, dtype=object).where(~same_person, "same_person")

    found = _query(frame.loc[~same_person], store, settings)
    frame = frame.merge(found, on="upload_row", how="left")
    no_event = frame["reason"].isna() & frame["disposal_id"].isna()
    frame.loc[no_event, "reason"] = frame.loc[no_event, "setting"].map(
        {"custody": "no_custody_release", "community": "no_community_sentence"}
    )
    undecided = frame["reason"].isna()
    before = undecided & (frame["index_date"] < pd.Timestamp(settings.coverage_start))
    frame.loc[before, "reason"] = "before_coverage"
    late = frame["reason"].isna() & ~frame["follow_up_complete"].astype("boolean").fillna(False)
    frame.loc[late, "reason"] = "follow_up_incomplete"

    kept = frame["reason"].isna()
    events = frame.loc[kept, list(EVENT_COLUMNS)].reset_index(drop=True)
    events["disposal_id"] = events["disposal_id"].astype("int64")
    dropped = frame.loc[~kept, ["upload_row", "person_id", "reason"]].reset_index(drop=True)
    result = IndexEventResult(events=events, dropped=dropped, settings=settings, n_links=len(frame))
    logger.info(
        "index events: %d of %d linked rows kept; dropped %s", len(events), len(frame), result.drop_counts()
    )
    return result


def _query(frame: pd.DataFrame, store: NationalStore, settings: IndexEventSettings) -> pd.DataFrame:
    """Run the event SQL on a private cursor, with the links registered as a temporary view."""
    name = f"__jdl_links_{uuid.uuid4().hex[:8]}"
    con = store.connection.cursor()
    try:
        con.register(name, frame[["upload_row", "person_id", "setting", "intervention_start"]])
        found = con.execute(
            _EVENT_SQL.format(links=name),
            {
                "custody_window": settings.custody_window_days,
                "lookback": settings.community_lookback_days,
                "lookahead": settings.community_lookahead_days,
                "coverage_end": settings.coverage_end,
            },
        ).df()
    finally:
        con.close()
    found["index_date"] = pd.to_datetime(found["index_date"])
    return found


__all__ = ["EVENT_COLUMNS", "IndexEventResult", "IndexEventSettings", "find_index_events"]
