"""Offending over time: proven offences per 100 people in each year around the index date.

For the matched treatment group and its weighted controls, the offences committed in each of the five
years before the index date and the two years after it are counted, each year read as the one-year
measure is (an offence counts when it was proven within that year or a further six months). Matching
makes the years before coincide, a balance check a reader can see; the years after show whether a fall
in the first year holds in the second.

Years are numbered -5 … -1 before the index date (year -1 ends on the index date itself) and +1, +2
after it (year +1 is the JDL's one-year follow-up, offences on days 1 to 365, so its count equals the
frequency measure). A person's year is left out (not counted as zero) when the national data do not
cover it: before the store's coverage start, or after its coverage end, waiting period included.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from jdl_lib.matching.result import MatchResult
from jdl_lib.outcomes import estimate_effects
from jdl_lib.store import NationalStore

#: The years shown, relative to the index date.
YEARS: tuple[int, ...] = (-5, -4, -3, -2, -1, 1, 2)
#: Waiting period after each year for an offence to be proven (the JDL's six months).
PROVING_MONTHS = 6

_SQL = """
WITH ev AS (SELECT disposal_id, person_id, CAST(index_date AS DATE) AS index_date FROM __jdl_traj_events),
yrs AS (SELECT unnest($years::INTEGER[]) AS year),
win AS (
    SELECT ev.disposal_id, ev.person_id, yrs.year,
           CASE WHEN yrs.year < 0 THEN ev.index_date + to_years(yrs.year) + INTERVAL 1 DAY
                ELSE ev.index_date + to_years(yrs.year - 1) + INTERVAL 1 DAY END AS first_day,
           CASE WHEN yrs.year < 0 THEN ev.index_date + to_years(yrs.year + 1)
                ELSE ev.index_date + to_years(yrs.year) END AS last_day
    FROM ev CROSS JOIN yrs
),
counted AS (
    SELECT w.disposal_id, w.year,
           count(o.offence_id) FILTER (
               WHERE o.offence_date BETWEEN w.first_day AND w.last_day
                 AND d.disposal_date <= w.last_day + to_months($proving)) AS offences,
           any_value(w.first_day) AS first_day, any_value(w.last_day) AS last_day
    FROM win w
    LEFT JOIN offences o ON o.person_id = w.person_id
                        AND o.offence_date BETWEEN w.first_day AND w.last_day
    LEFT JOIN disposals d ON d.disposal_id = o.disposal_id
    GROUP BY w.disposal_id, w.year
)
SELECT disposal_id, year,
       CASE WHEN first_day >= $coverage_start AND last_day + to_months($proving) <= $coverage_end
            THEN offences END AS offences
FROM counted
"""


def yearly_offences(store: NationalStore, events: pd.DataFrame) -> pd.DataFrame:
    """Count each index event's proven offences in every year of :data:`YEARS`.

    ``events`` holds ``disposal_id``, ``person_id`` and ``index_date``. Returns one row per event and one
    column ``offences_year_<k>`` per year (float; missing where the data do not cover that year).
    """
    frame = events[["disposal_id", "person_id", "index_date"]].drop_duplicates("disposal_id")
    with store.connection.cursor() as con:
        con.register("__jdl_traj_events", frame)
        long = con.execute(
            _SQL,
            {
                "years": list(YEARS),
                "proving": PROVING_MONTHS,
                "coverage_start": store.provenance.coverage_start,
                "coverage_end": store.provenance.coverage_end,
            },
        ).df()
    wide = long.pivot(index="disposal_id", columns="year", values="offences").astype(float)
    wide.columns = [column_name(int(y)) for y in wide.columns]
    return wide.reindex(columns=[column_name(y) for y in YEARS]).reset_index()


def column_name(year: int) -> str:
    """The matched-frame column of a year's offence count (``offences_year_-1``, ``offences_year_+1``)."""
    return f"offences_year_{year:+d}"


@dataclass(frozen=True)
class TrajectoryYear:
    """One year of the trajectory: offences per 100 people in each group, the difference and its CI."""

    year: int
    n_treated: int
    n_control: int
    treated_per_100: float
    control_per_100: float
    difference_per_100: float
    ci_low_per_100: float
    ci_high_per_100: float
    p_value: float


def offence_trajectory(
    store: NationalStore,
    match: MatchResult,
    *,
    method: str = "cluster_robust",
    alpha: float = 0.05,
    standard_errors: str = "auto",
    random_state: int | None = None,
) -> tuple[TrajectoryYear, ...]:
    """Offences per 100 people by year around the index date, treated against weighted matched controls.

    Each year is estimated like the frequency measure (same weights, same standard errors), so the
    years before the index date read as a balance check and the years after as effects over time.
    """
    counts = yearly_offences(store, match.matched)
    frame = match.matched.merge(counts, on="disposal_id", how="left", validate="many_to_one")
    frame.index = match.matched.index
    # The same matched sample with the yearly counts added, so each year gets the headline's standard
    # errors (which may need the matched sets, not only the matched frame).
    enriched = replace(match, matched=frame)
    columns = {column_name(y): column_name(y) for y in YEARS}
    effects = estimate_effects(
        enriched,
        measures=list(columns),
        method=method,
        alpha=alpha,
        columns=columns,
        standard_errors=standard_errors,
        random_state=random_state,
    )
    out = []
    for year in YEARS:
        e = effects[column_name(year)]
        out.append(
            TrajectoryYear(
                year=year,
                n_treated=e.n_treated,
                n_control=e.n_control,
                treated_per_100=100 * e.treated_value,
                control_per_100=100 * e.control_value,
                difference_per_100=100 * e.difference,
                ci_low_per_100=100 * e.ci_low,
                ci_high_per_100=100 * e.ci_high,
                p_value=float(e.p_value) if np.isfinite(e.p_value) else float("nan"),
            )
        )
    return tuple(out)


def trajectory_results(years: tuple[TrajectoryYear, ...]) -> dict:
    """The trajectory as results.json holds it (aggregates of the whole matched groups only)."""

    def num(x: float) -> float | None:
        return float(x) if np.isfinite(x) else None

    return {
        "unit": "proven offences per 100 people",
        "years": [
            {
                "year": t.year,
                "n_treated": t.n_treated,
                "n_control": t.n_control,
                "treated_per_100": num(t.treated_per_100),
                "control_per_100": num(t.control_per_100),
                "difference_per_100": num(t.difference_per_100),
                "ci_low_per_100": num(t.ci_low_per_100),
                "ci_high_per_100": num(t.ci_high_per_100),
                "p_value": num(t.p_value),
            }
            for t in years
        ],
    }
