"""The Data Upload Template: the columns a charity sends, in the order the template lists them."""

from __future__ import annotations

from pathlib import Path

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
    # Optional programme columns (never required): who completed, how much, how and where the service
    # was delivered. They feed the pre-specified subgroups of a request (jdl_lib.subgroups).
    "completed": "Completed the programme",
    "sessions_attended": "Sessions attended",
    "delivery_method": "Delivery method",
    "site": "Site",
}
#: The optional programme columns, in template order.
PROGRAMME_COLUMNS = ("completed", "sessions_attended", "delivery_method", "site")
#: Columns that must be filled on every row.
REQUIRED_COLUMNS = ("forename", "surname", "date_of_birth", "gender", "intervention_start", "setting")
#: Allowed values of the ``setting`` column.
SETTINGS = ("custody", "community")

#: Column -> (required?, what to enter): the guidance sheet of the XLSX template and docs/upload_template.md.
GUIDANCE: dict[str, tuple[str, str]] = {
    "forename": ("yes", "First name as known to your service (upper or lower case)."),
    "surname": ("yes", "Family name."),
    "date_of_birth": ("yes", "Date of birth, dd/mm/yyyy (e.g. 07/03/1984)."),
    "gender": ("if known", "M or F. Blank: the person is linked on name and date of birth alone."),
    "pnc_id": ("if held", "Police National Computer ID if you hold it, e.g. 1998/0123456X; else blank."),
    "prison_number": ("if held", "Prison (NOMIS) number if you hold it, e.g. A1234BC; else blank."),
    "intervention_start": ("yes", "Date the person started with your service, dd/mm/yyyy."),
    "intervention_end": ("if held", "Date the person finished (blank if still engaged), dd/mm/yyyy."),
    "setting": ("yes", "custody (worked with in prison) or community."),
    "completed": ("optional", "yes or no: did the person complete the programme? Used for subgroup results."),
    "sessions_attended": ("optional", "Whole number of sessions the person attended (0 to 1000)."),
    "delivery_method": ("optional", "How the service was delivered, e.g. one-to-one or group."),
    "site": ("optional", "Where the person was supported, e.g. the prison or office name."),
}


def write_template(folder: str | Path) -> tuple[Path, Path]:
    """Write the Data Upload Template (CSV headings; XLSX with an Upload sheet and a Guidance sheet).

    The shipped files in ``templates/`` are this function's output (a test keeps them in step).
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, xlsx_path = out / "data_upload_template.csv", out / "data_upload_template.xlsx"
    csv_path.write_text(",".join(UPLOAD_COLUMNS.values()) + "\n", encoding="utf-8")
    wb = Workbook()
    upload = wb.active
    upload.title = "Upload"
    upload.append(list(UPLOAD_COLUMNS.values()))
    guidance = wb.create_sheet("Guidance")
    guidance.append(["Column", "Required", "What to enter"])
    for column, (required, what) in GUIDANCE.items():
        guidance.append([UPLOAD_COLUMNS[column], required, what])
    for ws in (upload, guidance):
        for cell in ws[1]:
            cell.font = Font(bold=True)
    wb.save(xlsx_path)
    return csv_path, xlsx_path
