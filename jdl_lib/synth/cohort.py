"""Charity cohorts with a planted true effect (``jdl synth-cohort``): an upload and its answer key.

A cohort is drawn from the lab's own candidate pool (:func:`jdl_lib.derived.candidate_pool`),
selected on observables the way real organisations select (towards higher or lower OGRS risk),
and the effect is planted by *outcome tilting*, without touching the store: each event is drawn
with weight ``s(X) * (p_t/p if reoffended else (1 - p_t)/(1 - p))`` where ``p`` is the event's
true one-year reoffending probability and ``p_t = clip(p + effect_rate, 0, 1)``. Among the
treated, ``P(reoffend | X) = p_t(X)`` while national controls keep ``p(X)``, so the effect on the
treated is the planted one (less clipping), and the frequency of reoffending falls with the
reoffenders removed. Because selection is on risk, the naive difference is biased; matching has
to fix that. Events, not people, are the sampling units (see :func:`_draw_events`). Drawing the
treated leaves the pool at their risk slightly richer in reoffenders (about f x |effect|, f the
share drawn there; ``docs/synthetic_model.md``), so keep cohorts a small share of the pool.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jdl_lib.synth.names import draw_names
from jdl_lib.synth.national import TRUTH_COLUMN, truth_path
from jdl_lib.synth.noise import NoiseConfig, apply_noise, typo
from jdl_lib.template import PROGRAMME_COLUMNS, SETTINGS, UPLOAD_COLUMNS

logger = logging.getLogger(__name__)
#: Spreadsheet row of the first person (the heading is row 1), the numbering intake reports problems in.
FIRST_DATA_ROW = 2

SELECTIONS = ("higher_risk", "lower_risk", "random")
_SIGN = {"higher_risk": 1.0, "lower_risk": -1.0, "random": 0.0}
#: Columns of the answer key, one row per upload row.
ANSWER_KEY_COLUMNS = (
    "upload_row",
    "person_id",
    "disposal_id",
    "index_date",
    "noise",
    "duplicate_of",
)


@dataclass(frozen=True)
class Cohort:
    """A generated cohort: the upload (template columns), its answer key, and the true effects.

    ``truth`` holds the planted and population-level true effects, the naive difference, the
    realised treated outcomes, the counts (people, fabricated, duplicates, pool) and the settings.
    """

    upload: pd.DataFrame
    answer_key: pd.DataFrame
    truth: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)


def _selection_weight(ogrs: np.ndarray, selection: str, strength: float) -> np.ndarray:
    sd = ogrs.std()
    z = (ogrs - ogrs.mean()) / (sd if sd > 0 else 1.0)
    return np.exp(_SIGN[selection] * strength * z)


def _true_effects(pool: pd.DataFrame, s: np.ndarray, p: np.ndarray, p_t: np.ndarray) -> dict[str, float]:
    """True effects over the candidate population, weighted by the selection weight s(X)."""
    y = pool.reoffended_1y.to_numpy(bool)
    freq = pool.reoffences_1y.to_numpy(float)
    return {
        "rate": float(np.sum(s * (p_t - p)) / s.sum()),
        "frequency": float(np.sum(s * (p_t / p - 1) * y * freq) / s.sum()),
        "days_to_first_reoffence": 0.0,
        "first_reoffence_custody": 0.0,
    }


#: Sites and delivery methods of the synthetic programme (the optional upload columns).
PROGRAMME_SITES = ("North", "Midlands", "South", "Wales")
PROGRAMME_DELIVERY = ("one-to-one", "group")


def programme_attributes(n: int, seed: int) -> pd.DataFrame:
    """What the organisation records of each person's participation, drawn at random (not from risk).

    Completed the programme (70%), sessions attended (more among completers), delivery method and site.
    Drawn from a stream of its own so that adding them changes no other draw of a cohort; drawn for every
    candidate event, so ``effect_by`` can plant an effect that depends on them (e.g. on completion).
    """
    rng = np.random.default_rng([seed, 0x5E55])
    completed = rng.random(n) < 0.7
    sessions = np.where(completed, 8 + rng.poisson(4, n), rng.poisson(3, n))
    return pd.DataFrame(
        {
            "completed": completed,
            "sessions_attended": sessions.astype(np.int64),
            "delivery_method": rng.choice(PROGRAMME_DELIVERY, n, p=[0.6, 0.4]),
            "site": rng.choice(PROGRAMME_SITES, n),
        }
    )


def _effect_modification(
    pool: pd.DataFrame, effect_by: Mapping[str, Mapping[str, float]] | None
) -> np.ndarray:
    """Each candidate event's extra planted change from ``effect_by`` (0 where no level is named)."""
    extra = np.zeros(len(pool))
    for column, levels in (effect_by or {}).items():
        if column not in pool.columns:
            raise ValueError(f"effect_by names '{column}', which is not a column of the candidate pool.")
        extra += pool[column].map(dict(levels)).fillna(0.0).to_numpy(dtype=float)
    return extra


def _inclusion_probabilities(weight: np.ndarray, n: int) -> np.ndarray:
    """Inclusion probabilities proportional to ``weight`` and summing to ``n`` (capped at 1).

    Units whose share would exceed 1 are taken with certainty and the rest rescaled (the standard
    iterative capping of probability-proportional-to-size designs).
    """
    lam = np.zeros(len(weight))
    free = weight > 0
    remaining = n
    while True:
        lam[free] = remaining * weight[free] / weight[free].sum()
        over = free & (lam >= 1)
        if not over.any():
            return lam
        lam[over] = 1.0
        free &= ~over
        remaining = n - int((lam == 1).sum())


def _draw_events(rng: np.random.Generator, pool: pd.DataFrame, weight: np.ndarray, n: int) -> pd.DataFrame:
    """Draw ``n`` events of ``n`` distinct people with inclusion probabilities proportional to ``weight``.

    Events, not people, are the sampling units (Pareto πps sampling, Rosén 1997), as an organisation
    meets people at a release or a sentence. Why not one random event per person first: how many
    events a person has depends on the outcomes of the earlier ones (a reoffence soon brings another
    sentence), so the kept event is less likely to be a reoffending one (about 2 points at 5M) and
    its person less frequent an offender than the pool's events with the same observables: neither
    is on observables, so no matching can remove it. Why not successive weighted draws
    (``choice(..., p=w, replace=False)``): once ``n`` is a noticeable share of the pool their
    inclusion probabilities flatten towards uniform for heavily weighted units. A person whose
    second event is also drawn keeps the one with the smaller Pareto key and the next key fills the
    place; that departs from exact proportionality only by the (logged) share of such collisions.
    """
    person = pool.person_id.to_numpy()
    eligible = np.unique(person[weight > 0]).size
    if eligible < n:
        raise ValueError(
            f"only {eligible} people are eligible in this setting and window, fewer than n={n}; "
            "widen the window, lower n or build a larger store."
        )
    lam = _inclusion_probabilities(weight, n)
    n_certain = int((lam >= 1).sum())
    if n_certain:
        logger.warning(
            "%d of %d events are drawn with certainty (selection too strong for the pool); the planted "
            "effect is not applied to them exactly: lower the selection strength or widen the window.",
            n_certain,
            n,
        )
    u = rng.random(len(pool))
    with np.errstate(divide="ignore", invalid="ignore"):
        keys = np.where(lam >= 1, -1.0, (u / (1 - u)) / (lam / (1 - lam)))
    keys[lam <= 0] = np.inf
    order = np.argsort(keys, kind="stable")
    _, first = np.unique(person[order], return_index=True)  # each person's smallest key
    chosen = order[np.sort(first)[:n]]
    collisions = n - np.unique(person[order[:n]]).size
    if collisions:
        logger.info("%d of %d draws fell on a person already drawn; the next keys filled them", collisions, n)
    return pool.iloc[np.sort(chosen)]


def _intervention_dates(rng: np.random.Generator, events: pd.DataFrame, setting: str, con) -> pd.DataFrame:
    """Intervention start/end such that the lab's index-event rule picks the sampled event."""
    n = len(events)
    index = pd.to_datetime(events.index_date).to_numpy("datetime64[D]")
    ids = pd.DataFrame({"disposal_id": events.disposal_id.to_numpy()})
    con.register("__cohort_events", ids)
    try:
        facts = con.execute(
            """
            SELECT e.disposal_id, d.disposal_date,
                   (SELECT min(n.disposal_date) FROM disposals n
                     WHERE n.person_id = d.person_id AND n.disposal_date > d.disposal_date
                       AND n.disposal_type IN ('community_order', 'suspended_sentence')) AS next_community
            FROM __cohort_events e JOIN disposals d USING (disposal_id)
            """
        ).df()
    finally:
        con.unregister("__cohort_events")
    facts = ids.merge(facts, on="disposal_id", how="left")
    sentenced = pd.to_datetime(facts.disposal_date).to_numpy("datetime64[D]")
    if setting == "custody":
        # Work starts during the sentence and ends around release.
        start = np.maximum(sentenced, index - rng.integers(0, 121, n).astype("timedelta64[D]"))
        end = np.maximum(start, index + rng.integers(-14, 91, n).astype("timedelta64[D]"))
    else:
        # Work starts soon after the order is made, before any later community disposal.
        nxt = pd.to_datetime(facts.next_community).to_numpy("datetime64[D]")
        start = index + rng.integers(0, 61, n).astype("timedelta64[D]")
        start = np.where(np.isnat(nxt), start, np.minimum(start, nxt - np.timedelta64(1, "D")))
        end = start + rng.integers(60, 366, n).astype("timedelta64[D]")
    return pd.DataFrame({"intervention_start": start, "intervention_end": end}, index=events.index)


def _fabricated(rng: np.random.Generator, k: int, index_from: date, index_to: date) -> pd.DataFrame:
    """People who are not in the national data (never convicted, or mistyped beyond recognition)."""
    female = rng.random(k) < 0.15
    names = draw_names(rng, np.where(female, "F", "M"), np.full(k, "White"))
    start = np.datetime64(index_from) + rng.integers(0, max((index_to - index_from).days, 1), k).astype(
        "timedelta64[D]"
    )
    dob = np.datetime64("1960-01-01") + rng.integers(0, 35 * 365, k).astype("timedelta64[D]")
    return pd.DataFrame(
        {
            "person_id": pd.array([pd.NA] * k, dtype="Int64"),
            "forename": names.vocabulary[names.forename_code],
            "surname": names.vocabulary[names.surname_code],
            "date_of_birth": pd.to_datetime(dob).date,
            "gender": np.where(female, "F", "M"),
            "pnc_id": None,
            "prison_number": None,
            "intervention_start": start,
            "intervention_end": start + rng.integers(30, 300, k).astype("timedelta64[D]"),
            "disposal_id": pd.array([pd.NA] * k, dtype="Int64"),
            "index_date": pd.NaT,
            "noise": "fabricated",
        }
    )


def _format_dates(rng: np.random.Generator, upload: pd.DataFrame, iso_rate: float) -> pd.Series:
    """Write dates as dd/mm/yyyy (UK style) on most rows and ISO yyyy-mm-dd on some."""
    iso = rng.random(len(upload)) < iso_rate
    for col in ("date_of_birth", "intervention_start", "intervention_end"):
        d = pd.to_datetime(upload[col])
        upload[col] = np.where(iso, d.dt.strftime("%Y-%m-%d"), d.dt.strftime("%d/%m/%Y"))
    return pd.Series(iso, index=upload.index)


def make_cohort(
    store_path: str | os.PathLike,
    n: int,
    setting: str,
    index_from: date,
    index_to: date,
    *,
    selection: str = "higher_risk",
    selection_strength: float = 1.0,
    effect_rate: float = -0.05,
    effect_by: Mapping[str, Mapping[str, float]] | None = None,
    noise: NoiseConfig | None = None,
    seed: int = 0,
    candidates: pd.DataFrame | None = None,
) -> Cohort:
    """Draw an organisation's cohort from a synthetic store with a planted effect on reoffending.

    Parameters
    ----------
    store_path
        A store built by :func:`jdl_lib.synth.build_synthetic_store` (its truth table must sit beside it).
    n
        Number of distinct people the organisation worked with (real plus fabricated).
    setting
        ``"custody"`` or ``"community"``.
    index_from, index_to
        Window of the index dates sampled (follow-up must be complete, as for the candidate pool).
    selection
        ``"higher_risk"``, ``"lower_risk"`` or ``"random"``: selection weight
        ``exp(±strength × standardised ogrs_score)``.
    selection_strength
        How strongly selection leans on risk (0 = random).
    effect_rate
        Planted change in the one-year reoffending probability (e.g. -0.05 = 5 points fewer).
    effect_by
        Further changes by characteristic, added to ``effect_rate``: ``{column: {level: change}}`` over
        columns of the candidate pool, e.g. ``{"gender": {"F": -0.10}}`` with ``effect_rate=0`` plants
        a 10-point fall for women and none for men. ``truth["subgroup_truth"]`` gives each level's
        true rate effect.
    noise
        Data-entry noise rates (defaults: :class:`NoiseConfig`; named levels:
        ``NoiseConfig.profile("messy-none-id")`` and the others in :data:`jdl_lib.synth.noise.PROFILES`).
    seed
        Seed of the cohort's random stream.
    candidates
        The store's ``candidate_pool(store, setting, index_from, index_to)``, precomputed to save its
        derivation when many cohorts are drawn from a large store (10-20 s at 5M people); it may
        already carry the truth column. None derives it here.

    Returns
    -------
    Cohort
        The upload (template columns, shuffled), the answer key and the true effects.
    """
    from jdl_lib.derived import candidate_pool
    from jdl_lib.store import NationalStore

    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {', '.join(SETTINGS)} (got {setting!r}).")
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {', '.join(SELECTIONS)} (got {selection!r}).")
    if n < 1:
        raise ValueError(f"n must be at least 1 (got {n}).")
    noise = noise or NoiseConfig()
    rng = np.random.default_rng(seed)
    truth_file = truth_path(store_path)
    if not truth_file.is_file():
        raise FileNotFoundError(
            f"no truth table {truth_file.name} beside the store; cohorts need a synthetic store built "
            "with `jdl synth`."
        )
    with NationalStore.open(store_path) as store:
        pool = candidate_pool(store, setting, index_from, index_to) if candidates is None else candidates
        if TRUTH_COLUMN not in pool:
            pool = pool.merge(pd.read_parquet(truth_file), on="disposal_id", how="left")
        pool = pool.reset_index(drop=True)
        pool = pool.join(programme_attributes(len(pool), seed))
        p = pool[TRUTH_COLUMN].to_numpy(float)
        p_t = np.clip(p + effect_rate + _effect_modification(pool, effect_by), 0.0, 1.0)
        s = _selection_weight(pool.ogrs_score.to_numpy(float), selection, selection_strength)
        y = pool.reoffended_1y.to_numpy(bool)
        tilt = np.where(y, p_t / p, (1 - p_t) / (1 - p))
        n_fake = int(round(n * noise.fabricated))
        events = _draw_events(rng, pool, s * tilt, n - n_fake)
        events = events.join(_intervention_dates(rng, events, setting, store.connection))
        people_ids = pd.DataFrame({"person_id": events.person_id.to_numpy()})
        store.connection.register("__cohort_people", people_ids)
        try:
            identity = store.connection.execute(
                "SELECT person_id, forename, surname, date_of_birth, gender, pnc_id, prison_number "
                "FROM people JOIN __cohort_people USING (person_id)"
            ).df()
            aliases = store.connection.execute(
                "SELECT a.person_id, a.forename, a.surname, a.date_of_birth FROM aliases a "
                "JOIN __cohort_people USING (person_id) ORDER BY a.alias_id"
            ).df()
        finally:
            store.connection.unregister("__cohort_people")
    real = events[
        [
            "person_id",
            "disposal_id",
            "index_date",
            "intervention_start",
            "intervention_end",
            *PROGRAMME_COLUMNS,
        ]
    ].merge(identity, on="person_id", how="left")
    real["completed"] = np.where(real["completed"].astype(bool), "yes", "no")
    real, noise_applied = apply_noise(rng, real, aliases, noise)
    real["noise"] = noise_applied.to_numpy()
    rows = pd.concat([real, _fabricated(rng, n_fake, index_from, index_to)], ignore_index=True)
    rows["duplicate_of"] = pd.array([pd.NA] * len(rows), dtype="Int64")
    rows = rows.iloc[rng.permutation(len(rows))].reset_index(drop=True)
    # Duplicates: a second row for some people, added at random positions.
    n_dup = int(round(len(rows) * noise.duplicate))
    originals = rng.choice(len(rows), n_dup, replace=False)
    dups = rows.iloc[originals].copy()
    dups["duplicate_of"] = pd.array(originals, dtype="Int64")
    dups["noise"] = [f"{k};duplicate" if k else "duplicate" for k in dups.noise]
    if noise.duplicate_typo and n_dup:
        # The second submission is typed again: a typo in the forename or the surname.
        retyped = rng.random(n_dup) < noise.duplicate_typo
        column = np.where(rng.random(n_dup) < 0.5, "forename", "surname")
        for i in np.flatnonzero(retyped):
            dups.iloc[i, dups.columns.get_loc(column[i])] = typo(rng, str(dups.iloc[i][column[i]]))
        dups.loc[retyped, "noise"] = [f"{k};duplicate_typo" for k in dups.noise[retyped]]
    rows = pd.concat([rows, dups], ignore_index=True)
    order = rng.permutation(len(rows))
    position = np.empty_like(order)
    position[order] = np.arange(len(rows))
    rows = rows.iloc[order].reset_index(drop=True)
    rows["duplicate_of"] = pd.array(
        [pd.NA if pd.isna(v) else int(position[v]) + FIRST_DATA_ROW for v in rows.duplicate_of], dtype="Int64"
    )
    rows["setting"] = setting
    upload = rows[list(UPLOAD_COLUMNS)].copy()
    upload["sessions_attended"] = upload["sessions_attended"].astype("Int64")  # whole numbers, blanks
    iso = _format_dates(rng, upload, noise.iso_dates)
    rows.loc[iso.to_numpy(), "noise"] = [f"{k};iso_dates" if k else "iso_dates" for k in rows.noise[iso]]
    answer_key = rows.assign(upload_row=np.arange(FIRST_DATA_ROW, len(rows) + FIRST_DATA_ROW))[
        list(ANSWER_KEY_COLUMNS)
    ]

    treated = pool.disposal_id.isin(events.disposal_id).to_numpy()
    others = ~pool.person_id.isin(events.person_id).to_numpy()
    effects = _true_effects(pool, s, p, p_t)
    settings = {
        "n": n,
        "setting": setting,
        "index_from": index_from.isoformat(),
        "index_to": index_to.isoformat(),
        "selection": selection,
        "selection_strength": selection_strength,
        "effect_rate": effect_rate,
        "seed": seed,
        "noise": asdict(noise),
        "store": Path(store_path).name,
    }
    truth = {
        "planted_effect_rate": effect_rate,
        "planted_effect_by": {c: dict(v) for c, v in (effect_by or {}).items()},
        "true_effect": effects,
        "subgroup_truth": {
            column: {
                str(level): float(np.sum((s * (p_t - p))[at]) / s[at].sum())
                for level in pd.unique(pool[column])
                if (at := (pool[column] == level).to_numpy()).any()
            }
            for column in (effect_by or {})
        },
        "treated_true_p": float(p[treated].mean()),
        "treated_rate": float(y[treated].mean()),
        "treated_reoffences_per_person": float(pool.reoffences_1y[treated].mean()),
        "comparison_rate": float(y[others].mean()),
        "naive_difference_rate": float(y[treated].mean() - y[others].mean()),
        "counts": {
            "people": n,
            "real": int(treated.sum()),
            "fabricated": n_fake,
            "duplicates": n_dup,
            "upload_rows": len(upload),
            "candidate_events": len(pool),
        },
        "settings": settings,
    }
    logger.info(
        "cohort of %d people (%d upload rows) drawn from %d candidate events", n, len(upload), len(pool)
    )
    return Cohort(upload, answer_key, truth, settings)


def write_cohort(
    cohort: Cohort, out_dir: str | os.PathLike, formats: tuple[str, ...] = ("csv",)
) -> dict[str, Path]:
    """Write the upload (template headings), ``answer_key.csv`` and ``truth.json``.

    The upload is ``upload.csv`` and/or ``upload.xlsx`` as ``formats`` asks: one file by default, as a
    charity sends one (a second copy would outlive the upload the lab deletes after release). The answer
    key and the truth sit in separate files and never enter the upload.
    """
    unknown = set(formats) - {"csv", "xlsx"}
    if unknown or not formats:
        raise ValueError(f"formats must be 'csv' and/or 'xlsx', got {formats}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    upload = cohort.upload.rename(columns=UPLOAD_COLUMNS)
    paths = {f"upload_{fmt}": out / f"upload.{fmt}" for fmt in formats}
    paths |= {"answer_key": out / "answer_key.csv", "truth": out / "truth.json"}
    if "csv" in formats:
        upload.to_csv(paths["upload_csv"], index=False)
    if "xlsx" in formats:
        upload.to_excel(paths["upload_xlsx"], index=False, sheet_name="Upload")
    key = cohort.answer_key.copy()
    key["index_date"] = pd.to_datetime(key.index_date).dt.strftime("%Y-%m-%d")
    key.to_csv(paths["answer_key"], index=False)
    paths["truth"].write_text(json.dumps(cohort.truth, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return paths
