"""Home Office offence codes mapped to the twelve MoJ offence groups of :data:`jdl_lib.schema.OFFENCE_GROUPS`.

Owners' extracts usually carry an offence code, not the MoJ group the lab matches and reports on. The
lookup shipped in ``jdl_lib/data/offence_groups.csv`` (columns ``offence_code, description,
offence_group``) covers the Home Office notifiable offence classification as published for police
recorded crime (ONS offence hierarchy, Open Government Licence): 139 codes such as ``28E`` (residential
burglary, theft) or ``105A`` (assault without injury, violence against the person). Summary offences
have no code in it: an owner gives those rows their group (``summary_motoring`` or
``summary_non_motoring``) in an ``offence_group`` column. ``jdl import-national`` applies the lookup when
the offences file has an ``offence_code`` column (see ``docs/national_schema.md``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd

from jdl_lib import schema

#: The shipped lookup (package data).
LOOKUP_PATH = Path(__file__).resolve().parent / "data" / "offence_groups.csv"


@cache
def _lookup() -> pd.DataFrame:
    table = pd.read_csv(LOOKUP_PATH, dtype=str, keep_default_na=False)
    unknown = set(table["offence_group"]) - set(schema.OFFENCE_GROUPS)
    if unknown or table["offence_code"].duplicated().any():  # pragma: no cover - guarded by a test
        raise ValueError(f"{LOOKUP_PATH.name}: unknown groups {sorted(unknown)} or repeated codes")
    return table


def offence_group_lookup() -> pd.DataFrame:
    """The shipped lookup as a frame ``offence_code, description, offence_group`` (one row per code)."""
    return _lookup().copy()


def normalised_code_sql(expr: str) -> str:
    """SQL writing an offence code as the lookup does: upper case, no spaces, no leading zeros (``028e``
    is ``28E``)."""
    packed = f"upper(regexp_replace(({expr})::VARCHAR, '\\s+', '', 'g'))"
    return f"regexp_replace({packed}, '^0+([0-9])', '\\1')"
