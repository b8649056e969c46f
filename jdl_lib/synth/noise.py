"""Data-entry noise of the kind found in charities' uploads: typos, nicknames, swapped dates, gaps.

Rates are set in :class:`NoiseConfig`; every change made to a row is recorded by name in the
answer key (``noise`` column), so linkage can be scored against exactly what was done.
Cohorts are small (hundreds to a few thousand rows), so string edits run row by row here.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from jdl_lib.synth.identities import nickname_of

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

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"NoiseConfig.{name} must be between 0 and 1 (got {value}); give a share.")

    @classmethod
    def none(cls) -> NoiseConfig:
        """No noise at all: every identifier present and exact (for tests of the clean path)."""
        return cls(**{name: 0.0 for name in asdict(cls())})


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
    return out, pd.Series([";".join(k) for k in kinds], index=out.index, dtype=object)
