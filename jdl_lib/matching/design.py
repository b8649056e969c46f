"""The matching design: which covariates enter the propensity model and how they are encoded.

The default list follows the JDL's published description of its matching variables
("demographics, criminal history, individual risks and needs, employment and benefit history";
see ``docs/methods.md``) and names columns of the derived index-event frame (``jdl_lib.derived``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from jdl_lib.errors import JdlWarning, MatchingError

logger = logging.getLogger(__name__)

#: Covariates of the JDL-style propensity model, as columns of the derived index-event frame.
DEFAULT_COVARIATES: tuple[str, ...] = (
    # demographics
    "gender",
    "ethnicity",
    "region",
    "uk_national",
    "age_at_index",
    "age_at_first_contact",
    # index disposal
    "setting",
    "disposal_type",
    "sentence_length_days",
    "index_offence_group",
    "index_year",
    # criminal history and risk
    "previous_offences",
    "previous_sanctions",
    "previous_convictions",
    "previous_cautions",
    "previous_custody",
    "previous_breaches",
    "years_since_first_sanction",
    "copas_rate",
    "ogrs_score",
    # circumstances, employment and benefits
    "employed_year_before",
    "on_benefit_year_before",
    "assessed",
    "accommodation_need",
    "ete_need",
    "drug_need",
    "alcohol_need",
)

#: Exact-matching strata of the JDL default: same gender, same setting, same index year (docs/methods.md).
DEFAULT_EXACT: tuple[str, ...] = ("gender", "setting", "index_year")

#: Width in years of the index-year bands used for exact matching.
DEFAULT_YEAR_BAND_WIDTH = 2


def index_year_band(
    index_year: pd.Series, width: int = DEFAULT_YEAR_BAND_WIDTH, start: int = 2000
) -> pd.Series:
    """Label each index year with its band (e.g. ``"2004-2005"`` for width 2 from 2000).

    Exact matching on a band rather than the single year keeps strata large enough to find
    controls while still comparing people released or sentenced under similar conditions.
    """
    if width < 1:
        raise MatchingError(f"index_year_band: width must be a positive number of years, got {width}.")
    year = pd.to_numeric(index_year).astype("int64")
    low = start + ((year - start) // width) * width
    labels = low.astype(str) + "-" + (low + width - 1).astype(str)
    return labels.rename("index_year_band")


def add_index_year_band(frame: pd.DataFrame, width: int = DEFAULT_YEAR_BAND_WIDTH) -> pd.DataFrame:
    """Return ``frame`` with an ``index_year_band`` column added from ``index_year`` (when missing)."""
    if "index_year_band" in frame.columns or "index_year" not in frame.columns:
        return frame
    return frame.assign(index_year_band=index_year_band(frame["index_year"], width).to_numpy())


#: Why a covariate is left out of the propensity model (see :func:`informative_covariates`).
NOT_AVAILABLE = "not available in this extract"
NO_VARIATION = "the same for everyone compared"


def informative_covariates(
    treated: pd.DataFrame, pool: pd.DataFrame, covariates: Sequence[str]
) -> tuple[tuple[str, ...], dict[str, str]]:
    """Split ``covariates`` into those that carry information and those that do not, with the reason.

    A covariate missing for every treated person or every candidate control was not supplied by the
    data owner (an optional table left out: :mod:`jdl_lib.derived` leaves its variables null); one with a
    single value across both groups (e.g. a region recorded the same for everyone) cannot tell anyone
    apart. Either would be reported as perfectly balanced while it measures nothing, so both are left
    out of the model and named in the method annex instead (issue 16, item 8).

    Returns
    -------
    tuple
        The informative covariates in their given order, and ``{covariate: reason}`` for the others
        (reason :data:`NOT_AVAILABLE` or :data:`NO_VARIATION`).
    """
    kept, unused = [], {}
    for name in covariates:
        if name not in treated.columns or name not in pool.columns:
            kept.append(name)  # design_matrix names the missing column
        elif treated[name].isna().all() or pool[name].isna().all():
            unused[name] = NOT_AVAILABLE
        elif pd.concat([treated[name], pool[name]]).astype(str).nunique() <= 1:
            unused[name] = NO_VARIATION
        else:
            kept.append(name)
    missing = [name for name, why in unused.items() if why == NOT_AVAILABLE]
    if missing:  # a gap in the data is announced; a constant (e.g. the setting itself) is only logged
        warnings.warn(
            f"Covariates left out of the propensity model ({NOT_AVAILABLE}): {', '.join(missing)}.",
            JdlWarning,
            stacklevel=2,
        )
    if len(missing) < len(unused):
        logger.info(
            "Covariates with one value for everyone, left out: %s", sorted(set(unused) - set(missing))
        )
    return tuple(kept), unused


def unknown_as_level(col: pd.Series) -> pd.DataFrame | None:
    """A yes/no covariate with unknown values (e.g. ``uk_national`` left empty by the data owner) as two
    0/1 columns, ``<name>`` (yes) and ``<name>_unknown``, so unknown is a category of its own and no row is
    lost; None when ``col`` has no missing value or is not yes/no.
    """
    if not col.isna().any() or not col.dropna().isin([True, False]).all():
        return None
    known = col.notna().to_numpy()
    yes = np.where(known, col.fillna(False).to_numpy(dtype=bool, na_value=False), False)
    return pd.DataFrame(
        {col.name: yes.astype(float), f"{col.name}_unknown": (~known).astype(float)}, index=col.index
    )


def design_matrix(frame: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    """Encode named covariates as a numeric design matrix (no intercept).

    Numeric and boolean columns enter as they are; text and categorical columns are one-hot
    encoded with their first level (sorted) as the reference, as R's ``model.matrix`` does, so a
    model fitted here has the same parameterisation as MatchIt's ``glm``. Constant columns are
    dropped (they carry no information and make the fit singular). A yes/no covariate with unknown
    values gets an ``_unknown`` level (:func:`unknown_as_level`).

    Raises
    ------
    MatchingError
        When a covariate is missing from the frame or has missing values (other than an unknown yes/no).
    """
    missing = [c for c in covariates if c not in frame.columns]
    if missing:
        raise MatchingError(
            f"Covariates {missing} are not columns of the matching frame; "
            "add them to the derived index-event frame or remove them from the covariate list."
        )
    parts: list[pd.DataFrame] = []
    for name in covariates:
        col = frame[name]
        unknown = unknown_as_level(col)
        if unknown is not None:
            parts.append(unknown)
            continue
        if col.isna().any():
            raise MatchingError(
                f"Covariate '{name}' has {int(col.isna().sum())} missing values; "
                "impute or drop those rows before matching."
            )
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            parts.append(pd.DataFrame({name: col.to_numpy(dtype=float)}, index=frame.index))
        else:
            levels = sorted(pd.unique(col.astype(str)))
            dummies = pd.get_dummies(
                pd.Categorical(col.astype(str), categories=levels), prefix=name, prefix_sep="_", dtype=float
            )
            dummies.index = frame.index
            parts.append(dummies.iloc[:, 1:])
    x = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=frame.index)
    x = x.drop(columns=x.columns[x.nunique() <= 1])
    return x.drop(columns=_dependent_columns(x))


def _dependent_columns(x: pd.DataFrame) -> list[str]:
    """Columns that are exact linear combinations of earlier ones (with the intercept).

    E.g. previous sanctions = previous convictions + previous cautions. Such a column adds nothing to
    a model and makes its fit singular, so it is dropped (and logged), as R's ``glm`` reports it NA.
    Found on the correlation matrix (k x k, cheap even for a million rows), keeping the earliest columns.
    """
    if x.shape[1] == 0:
        return []
    z = x.to_numpy(dtype=float)
    z = (z - z.mean(0)) / z.std(0)
    corr = z.T @ z / len(z)
    kept: list[int] = []
    for j in range(corr.shape[0]):
        idx = kept + [j]
        if np.linalg.eigvalsh(corr[np.ix_(idx, idx)]).min() > 1e-9:
            kept.append(j)
    dropped = [c for j, c in enumerate(x.columns) if j not in kept]
    if dropped:
        logger.info("Dropped covariates that are linear combinations of others: %s", dropped)
    return dropped


def exact_strata(frame: pd.DataFrame, exact: Sequence[str]) -> np.ndarray:
    """Integer code of each row's exact-matching stratum (all rows 0 when ``exact`` is empty)."""
    if not exact:
        return np.zeros(len(frame), dtype=np.int64)
    missing = [c for c in exact if c not in frame.columns]
    if missing:
        raise MatchingError(
            f"Exact-matching variables {missing} are not columns of the matching frame; "
            "add them (index_year_band is derived from index_year) or change `exact`."
        )
    codes, _ = pd.MultiIndex.from_frame(frame[list(exact)].astype(str)).factorize()
    return codes.astype(np.int64)
