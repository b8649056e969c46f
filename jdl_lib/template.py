"""The Data Upload Template: the columns a charity sends, in the order the template lists them."""

from __future__ import annotations

#: Canonical column name -> heading printed in the template file.
UPLOAD_COLUMNS: dict[str, str] = {
    "forename": "Forename",
    "surname": "Surname",
    "date_of_birth": "Date of birth",
    "gender": "Gender",
    "pnc_id": "PNC ID",
    "prison_number": "Prison number",
    "intervention_start": "Intervention start date",
    "intervention_end": "Intervention end date",
    "setting": "Custody or community",
}
#: Columns that must be filled on every row.
REQUIRED_COLUMNS = ("forename", "surname", "date_of_birth", "gender", "intervention_start", "setting")
#: Allowed values of the ``setting`` column.
SETTINGS = ("custody", "community")
