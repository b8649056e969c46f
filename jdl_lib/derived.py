"""The lab's derived variables: one row per candidate index event, computed from the raw tables.

Matching variables, risk score and proven reoffending outcomes are never taken from a producer:
the lab derives them here, in DuckDB SQL, the same way for the synthetic store and for a real
extract (issue 4). ``FEATURE_COLUMNS`` is the shared contract; ``DERIVED_VARIABLES`` documents
each column's sources and formula and feeds ``docs/national_schema.md``.

The proven reoffending rules follow the MoJ definition (methodology reference, section 1): an
offence committed in the year after the index date and proven by a court conviction or caution
within that year or a further six months. The index date is the release date for custody and the
sentence date for a community order or suspended sentence.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import duckdb
import pandas as pd

from jdl_lib import schema
from jdl_lib.store import NationalStore

#: The settings an index event can belong to.
SETTINGS = ("custody", "community")

#: Columns of the derived index-event frame, in contract order (see docs/national_schema.md).
FEATURE_COLUMNS = (
    "person_id",
    "disposal_id",
    "setting",
    "index_date",
    "index_year",
    "gender",
    "ethnicity",
    "region",
    "uk_national",
    "age_at_index",
    "age_at_first_contact",
    "disposal_type",
    "sentence_length_days",
    "index_offence_group",
    "previous_offences",
    "previous_sanctions",
    "previous_convictions",
    "previous_cautions",
    "previous_custody",
    "previous_breaches",
    "years_since_first_sanction",
    "copas_rate",
    "ogrs_score",
    "employed_year_before",
    "on_benefit_year_before",
    "assessed",
    "accommodation_need",
    "ete_need",
    "drug_need",
    "alcohol_need",
    "reoffended_1y",
    "reoffences_1y",
    "days_to_first_reoffence",
    "first_reoffence_custody",
    "follow_up_complete",
)

#: Our own OGRS3-style risk model (not the official coefficients): the log-odds of a proven
#: reoffence within two years are ``OGRS_INTERCEPT + age band + female + copas + offence group``.
OGRS_INTERCEPT = 1.6
#: (lower age bound in years, log-odds) per age band at the index date; the last band is open.
OGRS_AGE_BANDS = ((10, 0.8), (18, 0.6), (21, 0.4), (25, 0.2), (30, 0.0), (35, -0.2), (40, -0.45), (50, -0.9))
OGRS_FEMALE = -0.45
OGRS_COPAS = 1.25
#: Log-odds per index offence group, in the order of ``schema.OFFENCE_GROUPS``.
OGRS_OFFENCE = (0.0, -0.6, 0.1, 0.45, 0.3, 0.0, 0.05, 0.25, 0.2, -0.2, 0.3, 0.15)

#: Every derived column: (name, raw sources, formula). Rendered into docs/national_schema.md.
DERIVED_VARIABLES: tuple[tuple[str, str, str], ...] = (
    ("person_id, disposal_id", "disposals", "The person and the index disposal."),
    (
        "setting",
        "disposals.disposal_type",
        "'custody' for a custodial disposal; 'community' for a community_order or suspended_sentence. "
        "Other disposals start no index event.",
    ),
    (
        "index_date, index_year",
        "disposals.release_date, disposal_date",
        "Custody: the release date. Community: the disposal (sentence) date. index_year is its "
        "calendar year.",
    ),
    (
        "gender, ethnicity, region, uk_national",
        "people",
        "Copied from the person's record (region 'Unknown' and a null uk_national when the owner did "
        "not know them; matching treats each as a category of its own).",
    ),
    ("age_at_index", "people.date_of_birth", "(index_date - date_of_birth) in days / 365.25."),
    (
        "age_at_first_contact",
        "people.date_of_birth, disposals.disposal_date",
        "Age (days / 365.25) at the person's earliest disposal.",
    ),
    (
        "disposal_type, sentence_length_days",
        "disposals",
        "The index disposal's type and sentence length (0 when it has none).",
    ),
    (
        "index_offence_group",
        "offences.offence_group",
        "The most serious group among the offences the index disposal proved; seriousness is the order "
        "of the offence-group codes above (first = most serious).",
    ),
    (
        "previous_sanctions, previous_convictions, previous_cautions, previous_custody",
        "disposals",
        "Disposals of the person dated strictly before the index disposal's date: all of them; court "
        "disposals (every type but caution); cautions; custodial sentences.",
    ),
    (
        "previous_offences, previous_breaches",
        "offences, disposals.disposal_date",
        "Offences (and those with is_breach) proven by a disposal dated strictly before the index "
        "disposal's date.",
    ),
    (
        "years_since_first_sanction",
        "disposals.disposal_date",
        "(index disposal date - earliest disposal date) in days / 365.25; 0 for a first sanction.",
    ),
    (
        "copas_rate",
        "previous_sanctions, years_since_first_sanction",
        "ln((previous_sanctions + 1) / (years_since_first_sanction + 10)), the OGRS3 Copas rate.",
    ),
    (
        "ogrs_score",
        "age_at_index, gender, copas_rate, index_offence_group",
        "OGRS3-style two-year risk, 1 / (1 + exp(-z)) with z = "
        f"{OGRS_INTERCEPT} + age band ("
        + ", ".join(f"{lo}+: {v:+}" for lo, v in OGRS_AGE_BANDS)
        + f") + {OGRS_FEMALE} if female + {OGRS_COPAS} x copas_rate + offence group ("
        + ", ".join(f"{g}: {v:+}" for g, v in zip(schema.OFFENCE_GROUPS, OGRS_OFFENCE, strict=True))
        + "). The project's own documented coefficients, not the official OGRS3 ones.",
    ),
    (
        "employed_year_before, on_benefit_year_before",
        "employment_benefits",
        "The employed / on_benefit flags of the person's row for year = index_year - 1 (any row if "
        "several); False when there is no row; null for everyone when the extract has no "
        "employment_benefits rows at all (not available in this extract).",
    ),
    (
        "assessed",
        "assessments.assessment_date",
        "True when the person has an assessment dated within the 365 days up to and including the "
        "index date; null for everyone when the extract has no assessments rows at all.",
    ),
    (
        "accommodation_need, ete_need, drug_need, alcohol_need",
        "assessments",
        "The needs recorded by the latest such assessment; False when not assessed; null when the extract "
        "has no assessments rows at all.",
    ),
    (
        "reoffended_1y, reoffences_1y",
        "offences.offence_date, disposals.disposal_date",
        "Proven reoffences: the person's offences committed after the index date and no later than one "
        "calendar year after it, proven by a disposal dated no later than 18 months after the index date. "
        "reoffended_1y is True when there is at least one; reoffences_1y counts them. Offences committed "
        "on the index date do not count.",
    ),
    (
        "days_to_first_reoffence",
        "offences.offence_date",
        "Offence date of the earliest proven reoffence minus the index date, in days; null if none.",
    ),
    (
        "first_reoffence_custody",
        "disposals.disposal_type",
        "True when the disposal proving the earliest proven reoffence (ties: earliest proven, then lowest "
        "disposal_id) is custody; null if none.",
    ),
    (
        "follow_up_complete",
        "store_metadata.coverage_end",
        "index_date + 18 months <= the store's coverage end, so the outcome is fully observed.",
    ),
)


def _ogrs_sql() -> str:
    """The OGRS3-style score as a DuckDB expression over the feature columns."""
    bands = " ".join(f"WHEN age_at_index >= {lo} THEN {v}" for lo, v in reversed(OGRS_AGE_BANDS))
    groups = ", ".join(f"'{g}'" for g in schema.OFFENCE_GROUPS)
    coefs = ", ".join(str(v) for v in OGRS_OFFENCE)
    z = (
        f"{OGRS_INTERCEPT} + (CASE {bands} ELSE {OGRS_AGE_BANDS[0][1]} END)"
        f" + CASE WHEN gender = 'F' THEN {OGRS_FEMALE} ELSE 0 END"
        f" + {OGRS_COPAS} * copas_rate"
        f" + coalesce(list_extract([{coefs}]::DOUBLE[], list_position([{groups}], index_offence_group)), 0)"
    )
    return f"1 / (1 + exp(-({z})))"


_GROUPS_SQL = "[" + ", ".join(f"'{g}'" for g in schema.OFFENCE_GROUPS) + "]"

# ``{events}`` is a SELECT over disposals ``d`` with the columns named in the ``events`` CTE.
_FEATURES_SQL = """
WITH events AS (
    SELECT *, (index_date + INTERVAL 1 YEAR)::DATE AS follow_end,
           (index_date + INTERVAL 18 MONTH)::DATE AS proven_by
    FROM ({events})
),
persons AS (SELECT DISTINCT person_id FROM events),
available AS (  -- an optional table the owner could not supply leaves its variables null, not False
    SELECT EXISTS (SELECT 1 FROM employment_benefits) AS employment,
           EXISTS (SELECT 1 FROM assessments) AS assessments
),
pdisp AS (SELECT d.* FROM disposals d SEMI JOIN persons USING (person_id)),
poff AS (
    SELECT o.person_id, o.disposal_id, o.offence_date, o.offence_group, o.is_breach,
           d.disposal_date, d.disposal_type
    FROM offences o JOIN pdisp d USING (disposal_id)
),
per_disposal AS (  -- every disposal proves at least one offence (schema reverse key)
    SELECT disposal_id, count(*) AS n_offences, count(*) FILTER (WHERE is_breach) AS n_breaches
    FROM poff GROUP BY disposal_id
),
daily AS (
    SELECT d.person_id, d.disposal_date AS day,
           count(*) AS n_sanctions,
           count(*) FILTER (WHERE d.disposal_type <> 'caution') AS n_convictions,
           count(*) FILTER (WHERE d.disposal_type = 'caution') AS n_cautions,
           count(*) FILTER (WHERE d.disposal_type = 'custody') AS n_custody,
           sum(o.n_offences) AS n_offences,
           sum(o.n_breaches) AS n_breaches
    FROM pdisp d JOIN per_disposal o USING (disposal_id) GROUP BY ALL
),
hist AS (
    -- the person's sanction days up to the index disposal's date; strictly earlier ones are "previous"
    SELECT e.disposal_id,
           sum(a.n_sanctions) FILTER (WHERE a.day < e.disposal_date) AS previous_sanctions,
           sum(a.n_convictions) FILTER (WHERE a.day < e.disposal_date) AS previous_convictions,
           sum(a.n_cautions) FILTER (WHERE a.day < e.disposal_date) AS previous_cautions,
           sum(a.n_custody) FILTER (WHERE a.day < e.disposal_date) AS previous_custody,
           sum(a.n_offences) FILTER (WHERE a.day < e.disposal_date) AS previous_offences,
           sum(a.n_breaches) FILTER (WHERE a.day < e.disposal_date) AS previous_breaches,
           min(a.day) AS first_day
    FROM events e
    JOIN daily a ON a.person_id = e.person_id AND a.day <= e.disposal_date
    GROUP BY e.disposal_id
),
grp AS (
    SELECT disposal_id, {groups}[min(list_position({groups}, offence_group))] AS index_offence_group
    FROM poff SEMI JOIN events USING (disposal_id) GROUP BY disposal_id
),
emp AS (
    SELECT e.disposal_id, bool_or(b.employed) AS employed, bool_or(b.on_benefit) AS on_benefit
    FROM events e JOIN employment_benefits b
      ON b.person_id = e.person_id AND b.year = year(e.index_date) - 1
    GROUP BY e.disposal_id
),
ass AS (
    SELECT e.disposal_id,
           arg_max({{'acc': a.accommodation_need, 'ete': a.ete_need, 'drug': a.drug_need,
                    'alc': a.alcohol_need}}, (a.assessment_date, a.assessment_id)) AS needs
    FROM events e JOIN assessments a
      ON a.person_id = e.person_id
     AND a.assessment_date <= e.index_date
     AND a.assessment_date >= e.index_date - 365
    GROUP BY e.disposal_id
),
reoff AS (
    SELECT e.disposal_id, count(*) AS reoffences_1y,
           min(o.offence_date) - any_value(e.index_date) AS days_to_first_reoffence,
           arg_min(o.disposal_type = 'custody', (o.offence_date, o.disposal_date, o.disposal_id))
               AS first_reoffence_custody
    FROM events e JOIN poff o
      ON o.person_id = e.person_id
     AND o.offence_date > e.index_date
     AND o.offence_date <= e.follow_end
     AND o.disposal_date <= e.proven_by
    GROUP BY e.disposal_id
),
base AS (
    SELECT e.person_id, e.disposal_id, e.setting, e.index_date,
           year(e.index_date)::INTEGER AS index_year,
           p.gender, p.ethnicity, p.region, p.uk_national,
           datediff('day', p.date_of_birth, e.index_date) / 365.25 AS age_at_index,
           datediff('day', p.date_of_birth, h.first_day) / 365.25 AS age_at_first_contact,
           e.disposal_type, coalesce(e.sentence_length_days, 0)::INTEGER AS sentence_length_days,
           g.index_offence_group,
           coalesce(h.previous_offences, 0)::BIGINT AS previous_offences,
           coalesce(h.previous_sanctions, 0)::BIGINT AS previous_sanctions,
           coalesce(h.previous_convictions, 0)::BIGINT AS previous_convictions,
           coalesce(h.previous_cautions, 0)::BIGINT AS previous_cautions,
           coalesce(h.previous_custody, 0)::BIGINT AS previous_custody,
           coalesce(h.previous_breaches, 0)::BIGINT AS previous_breaches,
           datediff('day', h.first_day, e.disposal_date) / 365.25 AS years_since_first_sanction,
           ln((coalesce(h.previous_sanctions, 0) + 1)
              / (datediff('day', h.first_day, e.disposal_date) / 365.25 + 10)) AS copas_rate,
           CASE WHEN src.employment THEN coalesce(m.employed, false) END AS employed_year_before,
           CASE WHEN src.employment THEN coalesce(m.on_benefit, false) END AS on_benefit_year_before,
           CASE WHEN src.assessments THEN s.needs IS NOT NULL END AS assessed,
           CASE WHEN src.assessments THEN coalesce(s.needs.acc, false) END AS accommodation_need,
           CASE WHEN src.assessments THEN coalesce(s.needs.ete, false) END AS ete_need,
           CASE WHEN src.assessments THEN coalesce(s.needs.drug, false) END AS drug_need,
           CASE WHEN src.assessments THEN coalesce(s.needs.alc, false) END AS alcohol_need,
           r.disposal_id IS NOT NULL AS reoffended_1y,
           coalesce(r.reoffences_1y, 0)::BIGINT AS reoffences_1y,
           r.days_to_first_reoffence,
           r.first_reoffence_custody,
           e.proven_by <= $coverage_end AS follow_up_complete
    FROM events e
    JOIN people p USING (person_id)
    JOIN hist h ON h.disposal_id = e.disposal_id
    LEFT JOIN grp g ON g.disposal_id = e.disposal_id
    LEFT JOIN emp m ON m.disposal_id = e.disposal_id
    LEFT JOIN ass s ON s.disposal_id = e.disposal_id
    LEFT JOIN reoff r ON r.disposal_id = e.disposal_id
    CROSS JOIN available src
)
SELECT {columns} FROM base ORDER BY index_date, disposal_id
"""

# Candidate index events: custody starts at release, community orders at the sentence date.
_EVENTS_SQL = """
SELECT * FROM (
    SELECT d.person_id, d.disposal_id, d.disposal_type, d.disposal_date, d.sentence_length_days,
           CASE WHEN d.disposal_type = 'custody' THEN 'custody' ELSE 'community' END AS setting,
           CASE WHEN d.disposal_type = 'custody' THEN d.release_date ELSE d.disposal_date END AS index_date
    FROM disposals d
    WHERE d.disposal_type IN ('custody', {community})
) ev
"""


def _check_setting(setting: str | None) -> None:
    if setting is not None and setting not in SETTINGS:
        raise ValueError(f"setting must be one of {', '.join(SETTINGS)} (got {setting!r})")


def _features_sql(where: list[str], qualify: str = "") -> str:
    """The derived-feature query over the index events that satisfy ``where`` (and ``qualify``)."""
    community = ", ".join(f"'{t}'" for t in schema.COMMUNITY_DISPOSALS)
    events = _EVENTS_SQL.format(community=community)
    if where:
        events += " WHERE " + " AND ".join(where)
    events += qualify
    return _FEATURES_SQL.format(
        events=events,
        groups=_GROUPS_SQL,
        columns=", ".join(FEATURE_COLUMNS[:22])
        + f", {_ogrs_sql()} AS ogrs_score, "
        + ", ".join(FEATURE_COLUMNS[23:]),
    )


def _run(
    store: NationalStore,
    where: list[str],
    params: dict[str, object],
    frames: dict[str, pd.DataFrame],
    qualify: str = "",
) -> pd.DataFrame:
    """Run the feature query with the id frames registered, then tidy up."""
    sql = _features_sql(where, qualify)
    # A cursor of its own keeps the registered id frames and the result off the shared connection.
    with store.connection.cursor() as con:
        for name, frame in frames.items():
            con.register(name, frame)
        return con.execute(sql, {"coverage_end": store.provenance.coverage_end, **params}).df()


#: Table of every candidate index event with its derived features, built once when a store is imported,
#: so a request's candidate pool is a filter, not a national derivation (issue 17).
CANDIDATE_EVENTS_TABLE = "candidate_events"


#: People per slice when the importer derives the candidate events (bounds the import's memory at 5M+).
PEOPLE_PER_SLICE = 1_000_000


def materialise_candidate_events(con: duckdb.DuckDBPyConnection, coverage_end: date) -> int:
    """Derive the features of every index event whose follow-up is complete, into ``candidate_events``.

    Called by the importer (:func:`jdl_lib.store.import_national`) on the new store. The history counts,
    risk scores and outcomes of a national pool took 10-20 s per request at 5 million people; done once
    here, :func:`candidate_pool` becomes a filtered read. People are taken in slices of about
    :data:`PEOPLE_PER_SLICE` (every feature is per person), so memory stays bounded whatever the size
    of the extract. Returns the number of events.
    """
    n_people = int(con.execute("SELECT count(*) FROM people").fetchall()[0][0])
    slices = max(1, -(-n_people // PEOPLE_PER_SLICE))
    complete = "index_date + INTERVAL 18 MONTH <= $coverage_end"
    for k in range(slices):
        sql = _features_sql([complete, f"person_id % {slices} = {k}"])
        verb = (
            f"CREATE OR REPLACE TABLE {CANDIDATE_EVENTS_TABLE} AS"
            if k == 0
            else (f"INSERT INTO {CANDIDATE_EVENTS_TABLE}")
        )
        con.execute(f"{verb} {sql}", {"coverage_end": coverage_end})
    return int(con.execute(f"SELECT count(*) FROM {CANDIDATE_EVENTS_TABLE}").fetchall()[0][0])


def index_event_features(
    store: NationalStore,
    *,
    disposal_ids: Iterable[int] | None = None,
    setting: str | None = None,
    index_from: date | None = None,
    index_to: date | None = None,
) -> pd.DataFrame:
    """Derive the shared index-event frame (``FEATURE_COLUMNS``) from the store's raw tables.

    One row per candidate index event: each custodial disposal (index date = release) and each
    community order or suspended sentence (index date = sentence date). Criminal history counts
    what was proven before the index disposal's date; outcomes follow the MoJ one-year proven
    reoffending definition with an 18-month proving window. See ``DERIVED_VARIABLES``.

    Parameters
    ----------
    store
        An open :class:`NationalStore`.
    disposal_ids
        Restrict to these index disposals (e.g. a cohort's index events); ids that are not
        custody or community disposals yield no row.
    setting
        ``'custody'`` or ``'community'``; None for both.
    index_from, index_to
        Inclusive bounds on the index date; None for no bound.

    Returns
    -------
    pandas.DataFrame
        Columns exactly ``FEATURE_COLUMNS``, ordered by index date then disposal id.
    """
    _check_setting(setting)
    where: list[str] = []
    params: dict[str, object] = {}
    frames: dict[str, pd.DataFrame] = {}
    if disposal_ids is not None:
        name = "__jdl_ids"
        frames[name] = pd.DataFrame({"disposal_id": pd.array(list(disposal_ids), dtype="int64")})
        where.append(f"disposal_id IN (SELECT disposal_id FROM {name})")
    if setting is not None:
        where.append("setting = $setting")
        params["setting"] = setting
    if index_from is not None:
        where.append("index_date >= $index_from")
        params["index_from"] = index_from
    if index_to is not None:
        where.append("index_date <= $index_to")
        params["index_to"] = index_to
    return _run(store, where, params, frames)


def candidate_pool(
    store: NationalStore,
    setting: str,
    index_from: date,
    index_to: date,
    exclude_person_ids: Iterable[int] = (),
) -> pd.DataFrame:
    """The potential comparison group: eligible index events of everyone not excluded.

    Keeps index events of ``setting`` dated within ``[index_from, index_to]`` whose 18-month
    follow-up is complete, then one per person per calendar year (the first, as in the MoJ
    proven-reoffending cohort rule), for every person not in ``exclude_person_ids`` (the
    cohort itself). Same columns as :func:`index_event_features`.
    """
    if setting is None:
        raise ValueError(f"candidate_pool needs a setting: one of {', '.join(SETTINGS)}")
    _check_setting(setting)
    if index_from > index_to:
        raise ValueError("index_from is after index_to; give a window whose start precedes its end.")
    name = "__jdl_excluded"
    frames = {name: pd.DataFrame({"person_id": pd.array(list(exclude_person_ids), dtype="int64")})}
    where = [
        "setting = $setting",
        "index_date BETWEEN $index_from AND $index_to",
        "index_date + INTERVAL 18 MONTH <= $coverage_end",
        f"person_id NOT IN (SELECT person_id FROM {name})",
    ]
    qualify = (
        " QUALIFY row_number() OVER "
        "(PARTITION BY person_id, year(index_date) ORDER BY index_date, disposal_id) = 1"
    )
    params = {"setting": setting, "index_from": index_from, "index_to": index_to}
    if _has_candidate_events(store):
        # Same filter and per-person-year rule over the features derived at import.
        sql = (
            f"SELECT {', '.join(FEATURE_COLUMNS)} FROM {CANDIDATE_EVENTS_TABLE} WHERE {' AND '.join(where)}"
            f"{qualify} ORDER BY index_date, disposal_id"
        )
        with store.connection.cursor() as con:
            con.register(name, frames[name])
            return con.execute(sql, {"coverage_end": store.provenance.coverage_end, **params}).df()
    return _run(store, where, params, frames, qualify)


def _has_candidate_events(store: NationalStore) -> bool:
    """True when the store was imported with its candidate events derived (stores built before: no)."""
    found = store.connection.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [CANDIDATE_EVENTS_TABLE]
    ).fetchall()[0][0]
    return bool(found)
