"""Data-entry noise of the kind found in charities' uploads: typos, nicknames, swapped dates, gaps.

Rates are set in :class:`NoiseConfig`; every change made to a row is recorded by name in the
answer key (``noise`` column), so linkage can be scored against exactly what was done.
Named profiles (:data:`PROFILES`, :meth:`NoiseConfig.profile`) give the levels the linkage bench and
truth tests run at: ``default`` (light noise, identifiers often present), ``none-id`` (the same noise,
no PNC ID or prison number), ``messy`` (within-person disagreement as published for a UK cohort:
about 18% of surnames and 12% of forenames differ between two records of one person, about 4% of
names swapped, day/month swaps, missing gender) and ``messy-none-id`` (both: names and a date of
birth only, the hardest case and the commonest charity upload).
Cohorts are small (hundreds to a few thousand rows), so string edits run row by row here.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from jdl_lib.synth.identities import nickname_of
from jdl_lib.synth.names import forenames, surnames

_ALPHABET = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
#: Spelling variants of English surnames (pattern, replacement), tried in order.
_SURNAME_VARIANTS = (
    (r"SON$", "SEN"),
    (r"SEN$", "SON"),
    (r"EY$", "IE"),
    (r"IE$", "EY"),
    (r"PH", "F"),
    (r"LL", "L"),
    (r"TT", "T"),
    (r"Y", "I"),
    (r"I", "Y"),
    (r"CK", "K"),
    (r"S$", ""),
    (r"E$", ""),
    (r"$", "E"),
)


@dataclass(frozen=True)
class NoiseConfig:
    """Rates of each kind of data-entry noise in a cohort upload (shares of people or rows).

    Defaults follow what the Justice Data Lab reports about real uploads: most organisations do
    not hold PNC IDs, prison numbers are often missing, and names and dates are typed by hand.
    """

    pnc_missing: float = 0.7
    prison_missing: float = 0.5
    nickname: float = 0.08
    forename_typo: float = 0.03
    surname_typo: float = 0.03
    surname_variant: float = 0.02
    dob_swap: float = 0.02
    dob_digit: float = 0.02
    alias: float = 0.03
    duplicate: float = 0.03
    fabricated: float = 0.05
    iso_dates: float = 0.1
    surname_change: float = 0.0
    forename_change: float = 0.0
    name_swap: float = 0.0
    gender_missing: float = 0.0
    duplicate_typo: float = 0.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"NoiseConfig.{name} must be between 0 and 1 (got {value}); give a share.")

    @classmethod
    def none(cls) -> NoiseConfig:
        """No noise at all: every identifier present and exact (for tests of the clean path)."""
        return cls(**{name: 0.0 for name in asdict(cls())})

    @classmethod
    def profile(cls, name: str) -> NoiseConfig:
        """The named noise profile (see :data:`PROFILES` and the module docstring).

        Raises
        ------
        ValueError
            For an unknown name; the message lists the valid ones.
        """
        if name not in PROFILES:
            raise ValueError(f"unknown noise profile {name!r}; choose one of {', '.join(PROFILES)}.")
        return cls(**PROFILES[name])


_NO_IDS = {"pnc_missing": 1.0, "prison_missing": 1.0}
#: Published within-person disagreement in a UK administrative cohort (about 18% of surnames and 12% of
#: forenames differ between two records of one person; about 4% of names swapped), with day/month swaps
#: and gender left blank on some rows, split into the kinds of difference the generator can make.
#: Surnames: 7% typed wrongly, 6% spelt another way, 5% changed (a third of those double-barrelled).
#: Forenames: 6% a nickname, 5% typed wrongly, 1% another name altogether.
_MESSY = {
    "nickname": 0.06,
    "forename_typo": 0.05,
    "forename_change": 0.01,
    "surname_typo": 0.07,
    "surname_variant": 0.06,
    "surname_change": 0.05,
    "name_swap": 0.04,
    "dob_swap": 0.04,
    "dob_digit": 0.03,
    "gender_missing": 0.1,
    "alias": 0.03,
    "duplicate": 0.03,
    "duplicate_typo": 0.5,
}
#: Named noise profiles: field overrides of :class:`NoiseConfig`'s defaults.
PROFILES: dict[str, dict[str, float]] = {
    "default": {},
    "none-id": _NO_IDS,
    "messy": _MESSY,
    "messy-none-id": _MESSY | _NO_IDS,
}


def typo(rng: np.random.Generator, text: str) -> str:
    """One single-character edit: substitute, delete, insert or swap two neighbours."""
    if len(text) < 3:
        return text + str(_ALPHABET[rng.integers(26)])
    i = int(rng.integers(1, len(text) - 1))
    kind = int(rng.integers(4))
    letter = str(_ALPHABET[rng.integers(26)])
    if kind == 0:
        out = text[:i] + letter + text[i + 1 :]
    elif kind == 1:
        out = text[:i] + text[i + 1 :]
    elif kind == 2:
        out = text[:i] + letter + text[i:]
    else:
        out = text[: i - 1] + text[i] + text[i - 1] + text[i + 1 :]
    return out if out != text else text[:i] + text[i + 1 :]


def surname_variant(text: str) -> str:
    """A common alternative spelling (THOMPSON -> THOMSEN, MURPHY -> MURFY, ...)."""
    for pattern, replacement in _SURNAME_VARIANTS:
        out = re.sub(pattern, replacement, text, count=1)
        if out != text:
            return out
    return text + "E"


def changed_surname(rng: np.random.Generator, text: str, pool: np.ndarray, weight: np.ndarray) -> str:
    """Another surname: a new one (marriage, a partner's name) or, one time in three, double-barrelled.

    The new name is drawn from the population's surnames by frequency (``weight`` sums to one).
    """
    other = str(rng.choice(pool, p=weight))
    if rng.random() < 1 / 3:
        return f"{text}-{other}" if rng.random() < 0.5 else f"{other}-{text}"
    return other


def _swap_day_month(dob: pd.Series) -> pd.Series:
    """Day and month exchanged where that is a valid date (day <= 12); other dates unchanged."""
    ok = dob.dt.day <= 12
    swapped = pd.to_datetime(
        {"year": dob.dt.year, "month": dob.dt.day.where(ok, 1), "day": dob.dt.month.where(ok, 1)}
    )
    return swapped.where(ok, dob)


def apply_noise(
    rng: np.random.Generator, rows: pd.DataFrame, aliases: pd.DataFrame, config: NoiseConfig
) -> tuple[pd.DataFrame, pd.Series]:
    """Apply identifier noise to true identities; return the noisy rows and the noise applied.

    Parameters
    ----------
    rows
        One row per real person: ``person_id, forename, surname, date_of_birth, pnc_id,
        prison_number`` (true values from the store).
    aliases
        The people's aliases (``person_id, forename, surname, date_of_birth``).
    config
        Noise rates.

    Returns
    -------
    rows, noise
        The rows with noise applied, and per row the ``;``-joined names of what was changed.
    """
    out = rows.copy()
    n = len(out)
    kinds: list[list[str]] = [[] for _ in range(n)]

    def mark(mask: np.ndarray, name: str) -> None:
        for i in np.flatnonzero(mask):
            kinds[i].append(name)

    # A person submitted under one of their PNC aliases (only people who have one).
    alias_by_person = aliases.groupby("person_id").head(1).set_index("person_id")
    has_alias = out.person_id.isin(alias_by_person.index).to_numpy()
    use_alias = has_alias & (rng.random(n) < config.alias / max(has_alias.mean(), 1e-9))
    if use_alias.any():
        chosen = alias_by_person.loc[out.person_id[use_alias]]
        for col in ("forename", "surname", "date_of_birth"):
            out.loc[use_alias, col] = chosen[col].to_numpy()
        mark(use_alias, "alias")

    nick = nickname_of(rng, out.forename.to_numpy(dtype=object))
    has_nick = nick != None  # noqa: E711 (element-wise comparison)
    use_nick = has_nick & ~use_alias & (rng.random(n) < config.nickname / max(has_nick.mean(), 1e-9))
    out.loc[use_nick, "forename"] = nick[use_nick]
    mark(use_nick, "nickname")

    for col, rate, name, edit in (
        ("forename", config.forename_typo, "forename_typo", lambda s: typo(rng, s)),
        ("surname", config.surname_typo, "surname_typo", lambda s: typo(rng, s)),
        ("surname", config.surname_variant, "surname_variant", surname_variant),
    ):
        hit = rng.random(n) < rate
        out.loc[hit, col] = [edit(s) for s in out.loc[hit, col]]
        mark(hit, name)
    # The rarer kinds draw from the random stream only when asked for, so that cohorts drawn with the
    # default profile stay exactly as they were before these kinds existed.
    if config.surname_change:
        table = surnames()
        pool, weight = table["surname"].to_numpy(dtype=object), table["weight"].to_numpy(float)
        hit = rng.random(n) < config.surname_change
        out.loc[hit, "surname"] = [
            changed_surname(rng, s, pool, weight / weight.sum()) for s in out.loc[hit, "surname"]
        ]
        mark(hit, "surname_change")
    if config.forename_change:
        hit = rng.random(n) < config.forename_change
        pool = forenames()
        genders = out.get("gender", pd.Series("M", index=out.index)).fillna("M").to_numpy()
        for g in ("M", "F"):
            names = pool.loc[pool["gender"] == g, "forename"].to_numpy(dtype=object)
            pick = hit & (genders == g)
            out.loc[pick, "forename"] = names[rng.integers(len(names), size=int(pick.sum()))]
        mark(hit, "forename_change")
    if config.name_swap:
        hit = rng.random(n) < config.name_swap
        out.loc[hit, ["forename", "surname"]] = out.loc[hit, ["surname", "forename"]].to_numpy()
        mark(hit, "name_swap")

    dob = pd.to_datetime(out.date_of_birth)
    swappable = ((dob.dt.day <= 12) & (dob.dt.day != dob.dt.month)).to_numpy()
    swap = swappable & (rng.random(n) < config.dob_swap / max(swappable.mean(), 1e-9))
    dob = dob.where(~swap, _swap_day_month(dob))
    mark(swap, "dob_swap")
    digit = ~swap & (rng.random(n) < config.dob_digit)
    shift = pd.to_timedelta(rng.choice([-1, 1, -10, 10], n), unit="D")
    year_shift = rng.random(n) < 0.3
    shifted = dob + shift
    shifted = shifted.where(~year_shift, dob + pd.DateOffset(years=1))
    dob = dob.where(~digit, shifted)
    mark(digit, "dob_digit")
    out["date_of_birth"] = dob.dt.date

    drop_pnc = rng.random(n) < config.pnc_missing
    out.loc[drop_pnc, "pnc_id"] = None
    mark(drop_pnc, "pnc_missing")
    has_prison = out.prison_number.notna().to_numpy()
    drop_prison = has_prison & (rng.random(n) < config.prison_missing)
    out.loc[drop_prison, "prison_number"] = None
    mark(drop_prison, "prison_missing")
    if config.gender_missing and "gender" in out:
        blank = rng.random(n) < config.gender_missing
        out.loc[blank, "gender"] = None
        mark(blank, "gender_missing")
    return out, pd.Series([";".join(k) for k in kinds], index=out.index, dtype=object)
