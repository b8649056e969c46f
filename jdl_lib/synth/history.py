"""Criminal histories simulated by sanction step: every active person advances one disposal per step.

The model (documented in ``docs/synthetic_model.md``): after each disposal *k* the person's
one-year proven reoffending indicator is drawn as ``Y_k ~ Bernoulli(p_k)``. When ``Y_k = 1`` the
next offence is committed within (0, 365] days of the index date and proven by a disposal no
later than 540 days after it (inside the MoJ six-month waiting period); when ``Y_k = 0`` the next
offence, if any, comes more than 366 days after the index date. So ``p_k`` is exactly the
probability that the lab, applying the MoJ definition to the raw tables, finds event *k*
reoffended. Loops run over steps (at most a few dozen), never over people.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from jdl_lib import schema

#: Simulated histories start here (so index events from 2000 have earlier records) ...
SIM_START = np.datetime64("1990-01-01", "D").astype(np.int64)
#: ... and end at the store's coverage end: nothing is recorded after it.
SIM_END = np.datetime64("2012-12-31", "D").astype(np.int64)
#: Employment and benefit status is simulated for these calendar years.
EMPLOYMENT_YEARS = np.arange(1988, 2013)

DISPOSALS = schema.DISPOSAL_TYPES  # custody, suspended_sentence, community_order, fine, discharge, caution
GROUPS = schema.OFFENCE_GROUPS
CUSTODY, SUSPENDED, COMMUNITY, FINE, DISCHARGE, CAUTION = range(6)
#: Share of offences in each offence group (order of schema.OFFENCE_GROUPS).
GROUP_SHARES = np.array([0.18, 0.015, 0.02, 0.25, 0.07, 0.12, 0.03, 0.05, 0.055, 0.03, 0.11, 0.07])
SERIOUS_GROUPS = np.array([0, 1, 2, 6])  # violence, sexual, robbery, possession of weapons
BREACH_GROUP = GROUPS.index("misc_crimes_against_society")

# One-year proven reoffending model, logit scale (see docs/synthetic_model.md).
P_INTERCEPT = -2.27
P_PREVIOUS = 0.45  # per log(1 + previous sanctions)
P_AGE = -0.7  # per 10 years of age over 30 (age clipped to 12-60)
P_SHORT_CUSTODY = 1.3  # custodial sentence under 12 months
P_LONG_CUSTODY = 0.1
P_TYPE = np.array([0.0, 0.15, 0.2, -0.05, -0.2, -0.35])  # by disposal type
P_FEMALE = -0.3
P_EMPLOYED = -0.35
P_BENEFIT = 0.2
P_NEEDS = np.array([0.2, 0.15, 0.35, 0.1])  # accommodation, ETE, drug, alcohol (when assessed)
P_FRAILTY = 0.5


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


_YEAR_TABLE_START = np.datetime64("1880-01-01", "D").astype(np.int64)
_YEAR_TABLE = (
    np.arange(_YEAR_TABLE_START, np.datetime64("2040-01-01", "D").astype(np.int64))
    .astype("datetime64[D]")
    .astype("datetime64[Y]")
    .astype(np.int16)
    + 1970
).astype(np.int16)


def year_of(days: np.ndarray) -> np.ndarray:
    """Calendar year of day numbers (days since 1970-01-01), by table look-up (1880-2039)."""
    return _YEAR_TABLE[np.asarray(days) - _YEAR_TABLE_START].astype(np.int64)


@dataclass(frozen=True)
class Population:
    """Person-level draws the histories depend on (one entry per person, index = person_id - 1)."""

    female: np.ndarray
    dob: np.ndarray  # day numbers
    first_offence: np.ndarray  # day number of the first offence
    frailty: np.ndarray  # latent propensity to offend (never observed by the lab)
    employed_bits: np.ndarray  # bit j: employed in EMPLOYMENT_YEARS[j]
    benefit_bits: np.ndarray
    need_u: np.ndarray  # (n, 4) latent need propensities: accommodation, ETE, drug, alcohol


@dataclass(frozen=True)
class Histories:
    """Raw history rows as arrays (dates are day numbers, -1 for null)."""

    disposal_person: np.ndarray
    disposal_date: np.ndarray
    disposal_type: np.ndarray  # index into schema.DISPOSAL_TYPES
    sentence_length: np.ndarray  # -1 when none
    release_date: np.ndarray  # -1 when not custody
    p_reoffend: np.ndarray
    offence_disposal: np.ndarray  # index into the disposal arrays
    offence_date: np.ndarray
    offence_group: np.ndarray
    offence_breach: np.ndarray
    assessment_person: np.ndarray
    assessment_date: np.ndarray
    assessment_needs: np.ndarray  # (n, 4) booleans


def draw_population(rng: np.random.Generator, n: int) -> Population:
    """Draw gender, age at first offence, date of birth, frailty, employment and need propensities.

    Early starters are more frail (the age-crime curve), and frailty lowers employability, so
    observed risk factors carry information about the unobserved propensity, as in real data.
    """
    female = rng.random(n) < 0.17
    frailty = rng.standard_normal(n)
    age_first_years = 10.02 + np.exp(2.2 - 0.25 * frailty + 0.3 * female + 0.8 * rng.standard_normal(n))
    age_first = np.minimum(age_first_years, 75.0) * 365.25
    first_offence = SIM_START + rng.integers(0, SIM_END - SIM_START - 60, n)
    dob = first_offence - np.ceil(age_first).astype(np.int64)
    employability = -0.5 * frailty + 0.87 * rng.standard_normal(n) - 0.2 * female
    employed_bits = np.zeros(n, dtype=np.int64)
    benefit_bits = np.zeros(n, dtype=np.int64)
    birth_year = year_of(dob)
    for j, year in enumerate(EMPLOYMENT_YEARS):
        age = year - birth_year
        adult = age >= 16
        working_age = (age >= 18) & (age < 65)
        emp = adult & (rng.random(n) < _sigmoid(-0.7 + 1.3 * employability + 0.6 * working_age))
        ben = working_age & (rng.random(n) < _sigmoid(-0.6 - 1.1 * employability - 0.8 * emp))
        employed_bits |= emp.astype(np.int64) << j
        benefit_bits |= ben.astype(np.int64) << j
    need_u = rng.standard_normal((n, 4)) + np.outer(frailty, [0.5, 0.4, 0.6, 0.3])
    need_u[:, 1] -= 0.8 * employability
    return Population(female, dob, first_offence, frailty, employed_bits, benefit_bits, need_u)


def bit_in_year(bits: np.ndarray, year: np.ndarray) -> np.ndarray:
    """Whether each person's yearly flag (employed or on benefit) is set in ``year``."""
    j = np.clip(year - EMPLOYMENT_YEARS[0], 0, EMPLOYMENT_YEARS.size - 1)
    return ((bits >> j) & 1).astype(bool)


def _lag(rng: np.random.Generator, n: int) -> np.ndarray:
    """Days from offence to the disposal that proves it (median about seven weeks)."""
    return np.floor(rng.gamma(1.3, 45.0, n)).astype(np.int64)


def _disposal_types(
    rng: np.random.Generator,
    prev: np.ndarray,
    serious: np.ndarray,
    breach: np.ndarray,
    age: np.ndarray,
    z: np.ndarray,
) -> np.ndarray:
    """Sample disposal types from a multinomial logit in history, seriousness, breach and age."""
    lp = np.log1p(prev)[:, None]
    juvenile = (age < 18)[:, None]
    score = (
        np.array([-2.6, -2.2, -1.0, 0.0, -0.9, 0.9])
        + lp * np.array([1.1, 0.6, 0.6, 0.25, 0.0, -1.6])
        + serious[:, None] * np.array([1.3, 0.7, 0.4, -0.3, -0.3, -0.2])
        + breach[:, None] * np.array([0.8, 0.3, 0.5, 0.0, -0.5, -3.0])
        + juvenile * np.array([-1.2, -1.0, 0.0, -0.8, 0.0, 0.9])
        + z[:, None] * np.array([0.2, 0.1, 0.05, 0.0, 0.0, 0.0])
    )
    prob = np.exp(score - score.max(axis=1, keepdims=True))
    cum = np.cumsum(prob, axis=1)
    u = rng.random(prev.size) * cum[:, -1]
    return (u[:, None] > cum).sum(axis=1).astype(np.int8)


def _sentence_lengths(
    rng: np.random.Generator, dtype: np.ndarray, group: np.ndarray, prev: np.ndarray
) -> np.ndarray:
    """Sentence lengths in days: custody log-normal by seriousness; court orders on usual terms."""
    n = dtype.size
    serious = np.isin(group, SERIOUS_GROUPS)
    very = np.isin(group, [1, 2])
    custody = np.exp(
        np.log(100) + 0.8 * serious + 1.2 * very + 0.15 * np.log1p(prev) + 0.9 * rng.standard_normal(n)
    )
    custody = np.clip(np.round(custody), 7, 15 * 365)
    order = rng.choice(np.array([180, 270, 365, 540, 730, 1095]), n, p=[0.15, 0.15, 0.35, 0.1, 0.2, 0.05])
    length = np.where(
        dtype == CUSTODY, custody, np.where((dtype == SUSPENDED) | (dtype == COMMUNITY), order, -1)
    )
    return length.astype(np.int64)


def simulate(rng: np.random.Generator, pop: Population, progress: Any = None) -> Histories:
    """Run the sanction-step simulation for a population and return the history rows.

    Parameters
    ----------
    rng
        The generator's random stream.
    pop
        Person-level draws from :func:`draw_population`.
    progress
        Optional tqdm-like object; ``update(k)`` is called with the disposals made per step.
    """
    n = pop.dob.size
    prev = np.zeros(n, dtype=np.int64)
    next_o = pop.first_offence.copy()
    next_d = np.minimum(next_o + _lag(rng, n), SIM_END)
    order_end = np.full(n, -1, dtype=np.int64)
    last_assessed = np.full(n, -10_000, dtype=np.int64)
    last_needs = np.zeros((n, 4), dtype=bool)
    active = np.arange(n)
    out: dict[str, list[np.ndarray]] = {k: [] for k in Histories.__dataclass_fields__}
    n_disposals = 0
    while active.size:
        pid, m_people = active, active.size
        d, o = next_d[pid], next_o[pid]
        z = pop.frailty[pid]
        k = prev[pid]
        # Offences proved by this disposal: the first on o, extras (heavy-tailed count) up to d,
        # and a breach when the first offence was committed during a court order or licence.
        breach = (o <= order_end[pid]) & (rng.random(m_people) < 0.3)
        m = 1 + rng.negative_binomial(0.6, 0.6 / (0.6 + 1.2), m_people) + breach
        starts = np.cumsum(m) - m
        owner = np.repeat(np.arange(m_people), m)
        pos = np.arange(owner.size) - starts[owner]
        last = pos == m[owner] - 1
        odate = o[owner] + np.where(pos == 0, 0, np.floor(rng.random(owner.size) * (d - o + 1)[owner]))
        is_breach = last & breach[owner]
        group = np.where(is_breach, BREACH_GROUP, rng.choice(len(GROUPS), owner.size, p=GROUP_SHARES))
        main_group = np.minimum.reduceat(group, starts)
        age_d = (d - pop.dob[pid]) / 365.25
        dtype = _disposal_types(rng, k, np.isin(main_group, SERIOUS_GROUPS), breach, age_d, z)
        length = _sentence_lengths(rng, dtype, main_group, k)
        custody = dtype == CUSTODY
        release = np.where(custody, d + (length + 1) // 2, -1)
        index = np.where(custody, release, d)
        supervised = dtype <= COMMUNITY
        order_end[pid] = np.where(supervised, d + length, order_end[pid])

        # Assessments: a pre-sentence one for supervised disposals and a pre-release one for
        # longer custody; coverage grows as OASys rolls out (2002-2004).
        year_d = year_of(d)
        p_ass = np.where(year_d >= 2004, 0.8, np.where(year_d >= 2002, 0.45, 0.15))
        pre_sentence = supervised & (rng.random(m_people) < p_ass)
        pre_release = custody & (index - d > 90) & (rng.random(m_people) < 0.8 * p_ass)
        ass_date = np.concatenate([d - rng.integers(1, 22, m_people), index - rng.integers(1, 61, m_people)])
        ass_take = np.concatenate([pre_sentence, pre_release])
        ass_owner = np.concatenate([pid, pid])
        lin = (
            np.array([-1.2, -0.3, -0.9, -1.1])
            + 0.9 * pop.need_u[ass_owner]
            + 0.4 * np.concatenate([custody, custody])[:, None]
        )
        needs = rng.random((ass_owner.size, 4)) < _sigmoid(lin)
        out["assessment_person"].append(ass_owner[ass_take])
        out["assessment_date"].append(ass_date[ass_take])
        out["assessment_needs"].append(needs[ass_take])
        for take, sl in ((pre_sentence, slice(0, m_people)), (pre_release, slice(m_people, None))):
            last_assessed[pid[take]] = ass_date[sl][take]
            last_needs[pid[take]] = needs[sl][take]

        # One-year proven reoffending probability of this event, from what is known at its index date.
        age_i = (index - pop.dob[pid]) / 365.25
        year_before = year_of(index) - 1
        assessed = (index - last_assessed[pid] > 0) & (index - last_assessed[pid] <= 365)
        logit = (
            P_INTERCEPT
            + P_PREVIOUS * np.log1p(k)
            + P_AGE * (np.clip(age_i, 12, 60) - 30) / 10
            + P_SHORT_CUSTODY * (custody & (length < 365))
            + P_LONG_CUSTODY * (custody & (length >= 365))
            + P_TYPE[dtype]
            + P_FEMALE * pop.female[pid]
            + P_EMPLOYED * bit_in_year(pop.employed_bits[pid], year_before)
            + P_BENEFIT * bit_in_year(pop.benefit_bits[pid], year_before)
            + (last_needs[pid] & assessed[:, None]) @ P_NEEDS
            + P_FRAILTY * z
        )
        p = np.clip(_sigmoid(logit), 0.002, 0.98)
        reoffends = rng.random(m_people) < p

        # Next offence: inside the year and proven in time when Y = 1; later, or never, when Y = 0.
        within = 1 + np.floor(365 * rng.beta(0.9, 1.7, m_people)).astype(np.int64)
        later = 367 + np.floor(rng.exponential(800.0, m_people)).astype(np.int64)
        carry_on = rng.random(m_people) < _sigmoid(
            0.2 + 0.7 * z - 0.5 * (age_i - 30) / 10 + 0.2 * np.log1p(k)
        )
        lag = _lag(rng, m_people)
        offset = np.where(reoffends, within, later)
        lag = np.where(reoffends, np.minimum(lag, 540 - within), lag)
        next_o[pid] = index + offset
        next_d[pid] = index + offset + lag
        prev[pid] = k + 1

        base = n_disposals
        for key, val in (
            ("disposal_person", pid),
            ("disposal_date", d),
            ("disposal_type", dtype),
            ("sentence_length", length),
            ("release_date", release),
            ("p_reoffend", p),
            ("offence_disposal", base + owner),
            ("offence_date", odate.astype(np.int64)),
            ("offence_group", group.astype(np.int8)),
            ("offence_breach", is_breach),
        ):
            out[key].append(val)
        n_disposals += m_people
        if progress is not None:
            progress.update(m_people)
        keep = (reoffends | carry_on) & (next_d[pid] <= SIM_END) & (age_i < 80)
        active = pid[keep]
    return Histories(**{key: np.concatenate(vals) for key, vals in out.items()})
