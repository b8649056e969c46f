"""Seeded generator of Data Upload Template files for the intake tests (no hand-edited fixtures)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from jdl_lib.identifiers import pnc_check_letters
from jdl_lib.template import UPLOAD_COLUMNS

FORENAMES = ["JOHN", "MARY", "AHMED", "SIOBHAN", "PIOTR", "GRACE", "DAVID", "AMINA", "JOSÉ", "ZOË"]
SURNAMES = ["SMITH", "O'NEIL", "KHAN", "NOWAK", "JONES", "ADEYEMI", "BROWN", "SMITH-JONES", "WRIGHT", "EVANS"]


def clean_cohort(n: int = 80, seed: int = 1) -> pd.DataFrame:
    """A valid cohort in canonical columns with Python dates (distinct people, all codes right)."""
    rng = np.random.default_rng(seed)
    years = rng.integers(1975, 2005, n)
    serials = rng.choice(9_000_000, n, replace=False) + 1
    letters = pnc_check_letters(years, serials)
    dob = [date(1960, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 12_000, n)]
    start = [date(2003, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 2_500, n)]
    end = [s + timedelta(days=int(d)) for s, d in zip(start, rng.integers(10, 300, n), strict=True)]
    return pd.DataFrame(
        {
            "forename": rng.choice(FORENAMES, n),
            "surname": rng.choice(SURNAMES, n),
            "date_of_birth": dob,
            "gender": rng.choice(["M", "F"], n, p=[0.85, 0.15]),
            "pnc_id": [f"{y}/{s:07d}{c}" for y, s, c in zip(years, serials, letters, strict=True)],
            "prison_number": [f"A{i:04d}BC" for i in range(n)],
            "intervention_start": start,
            "intervention_end": end,
            "setting": rng.choice(["Custody", "Community"], n),
        }
    )


def as_template(cohort: pd.DataFrame, *, date_format: str = "%d/%m/%Y") -> pd.DataFrame:
    """The cohort as the text a charity types, under the template's printed headings."""
    out = cohort.copy()
    for col in ("date_of_birth", "intervention_start", "intervention_end"):
        out[col] = [
            d.strftime(date_format) if isinstance(d, date) else ("" if d is None else d) for d in out[col]
        ]
    return out.rename(columns=UPLOAD_COLUMNS)


def write_csv(cohort: pd.DataFrame, path, *, encoding: str = "utf-8", **kwargs) -> None:
    """Write the cohort as a template CSV in an encoding."""
    as_template(cohort, **kwargs).to_csv(path, index=False, encoding=encoding)
