"""A simulated offender population with a planted treatment effect, for matching truth tests and benches.

Selection on risk: people with more previous sanctions and younger age are more likely to be in
the cohort, and also more likely to reoffend, so the naive treated-minus-pool difference is biased
upwards. The service lowers every treated person's reoffending probability by ``effect`` (on the
probability scale), so the true ATT on the rate is exactly ``effect``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COVARIATES = ["gender", "setting", "age_at_index", "previous_sanctions", "copas_rate", "employed_year_before"]
EXACT = ("gender", "setting", "index_year_band")


def population(n: int, seed: int) -> pd.DataFrame:
    """Covariates of ``n`` index events (one per person), in the derived frame's column names."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(18, 60, n)
    sanctions = rng.poisson(np.exp(1.0 + 0.8 * rng.standard_normal(n) * 0.6))
    years = np.maximum(age - 17 - rng.uniform(0, 10, n), 0.5)
    return pd.DataFrame(
        {
            "person_id": np.arange(n),
            "gender": rng.choice(["M", "F"], n, p=[0.85, 0.15]),
            "setting": rng.choice(["custody", "community"], n, p=[0.4, 0.6]),
            "index_year": rng.integers(2004, 2011, n),
            "age_at_index": age,
            "previous_sanctions": sanctions,
            "copas_rate": np.log((sanctions + 1) / (years + 10)),
            "employed_year_before": rng.random(n) < 0.3,
        }
    )


def base_risk(pop: pd.DataFrame) -> np.ndarray:
    """Reoffending probability without the service (kept inside [0.08, 0.85], so the effect never clips)."""
    z = (
        -0.6
        + 1.2 * (pop["copas_rate"].to_numpy() + 1.5)
        - 0.03 * (pop["age_at_index"].to_numpy() - 35)
        + 0.3 * (pop["setting"].to_numpy() == "custody")
        - 0.4 * pop["employed_year_before"].to_numpy()
    )
    return np.clip(1 / (1 + np.exp(-z)), 0.08, 0.85)


def cohort(pop: pd.DataFrame, n_treated: int, effect: float, rng: np.random.Generator) -> pd.DataFrame:
    """Draw a treated cohort selected on risk, and everyone's outcomes, from ``pop``."""
    z = 0.9 * (pop["copas_rate"].to_numpy() + 1.5) - 0.02 * (pop["age_at_index"].to_numpy() - 35)
    w = np.exp(z)
    treated = rng.choice(len(pop), n_treated, replace=False, p=w / w.sum())
    treat = np.zeros(len(pop), dtype=int)
    treat[treated] = 1
    p = base_risk(pop) + effect * treat
    reoff = rng.random(len(pop)) < p
    extra = rng.poisson(1.2, len(pop))
    return pop.assign(
        treat=treat,
        reoffended_1y=reoff,
        reoffences_1y=np.where(reoff, 1 + extra, 0),
        days_to_first_reoffence=np.where(reoff, rng.integers(1, 366, len(pop)), np.nan),
        first_reoffence_custody=np.where(reoff, rng.random(len(pop)) < 0.3, np.nan),
    )
