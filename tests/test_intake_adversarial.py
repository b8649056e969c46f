"""Adversarial intake: uploads a hostile or careless user sends, and what the lab must do with each.

Each test is a regression test for an item of issue 11 (items 7, 8 and 11): it failed on the code
the issue was filed against.
"""

from __future__ import annotations

import re
import zipfile
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from intake_helpers import as_template, clean_cohort, write_csv
from openpyxl import Workbook

from jdl_lib.errors import IntakeError
from jdl_lib.intake import check_upload, format_report, read_upload
from jdl_lib.intake.reader import MAX_FIELD_CHARS, read_cells


def _with_dob(cohort: pd.DataFrame, row: int, text: str) -> pd.DataFrame:
    cohort = cohort.copy()
    cohort["date_of_birth"] = cohort["date_of_birth"].astype(object)
    cohort.loc[row, "date_of_birth"] = text
    return cohort


# --- item 7: date order per column, and the 10% loss guard ------------------------------------------


def test_one_month_first_date_of_birth_drops_one_row_not_half_the_file(tmp_path):
    cohort = _with_dob(clean_cohort(309, seed=3), 17, "01/13/1980")
    path = tmp_path / "upload.csv"
    write_csv(cohort, path)
    result = read_upload(path)
    assert result.n_valid == 308
    assert result.dropped.keys() == {19}  # spreadsheet row of cohort row 17
    assert result.drop_counts() == {"Date of birth: date in the other day/month order": 1}
    expected = pd.to_datetime(pd.Series(cohort["date_of_birth"]).drop(17)).to_numpy()
    assert (result.people["date_of_birth"].to_numpy() == expected.astype("datetime64[s]")).all()


def test_a_whole_column_written_month_first_is_read_month_first_and_said_so(tmp_path):
    cohort = clean_cohort(120, seed=4)
    path = tmp_path / "upload.csv"
    write_csv(cohort, path, date_format="%m/%d/%Y")
    result = read_upload(path)
    assert result.n_valid == 120
    assert {c: o.order for c, o in result.date_orders.items()} == {
        "date_of_birth": "month_first",
        "intervention_start": "month_first",
        "intervention_end": "month_first",
    }
    assert (result.people["date_of_birth"] == pd.to_datetime(cohort["date_of_birth"])).all()
    assert "Date of birth: read month-first" in format_report(result)


def test_losing_more_than_a_tenth_of_rows_is_refused_naming_the_cause(tmp_path):
    cohort = clean_cohort(300, seed=5)
    cohort["setting"] = cohort["setting"].astype(object)
    cohort.loc[:39, "setting"] = ""  # 40 of 300 rows (13%) lose a required field
    path = tmp_path / "upload.csv"
    write_csv(cohort, path)
    with pytest.raises(IntakeError) as refused:
        read_upload(path)
    message = str(refused.value)
    assert "40 of 300 rows (13%)" in message and "40 row(s): Custody or community: empty" in message
    assert "more people" not in message
    accepted = read_upload(path, max_dropped_share=1.0)  # explicitly accepted once understood
    assert accepted.n_valid == 260


def test_repeated_rows_are_not_lost_people(tmp_path):
    cohort = clean_cohort(100, seed=6)
    cohort = pd.concat([cohort, cohort.iloc[:30]], ignore_index=True)
    path = tmp_path / "upload.csv"
    write_csv(cohort, path)
    result = read_upload(path)
    assert result.n_valid == 100 and result.n_lost == 0


def test_a_truly_mixed_column_is_refused_as_ambiguous(tmp_path):
    cohort = clean_cohort(200, seed=8)
    dob = [d.strftime("%m/%d/%Y" if i % 2 else "%d/%m/%Y") for i, d in enumerate(cohort["date_of_birth"])]
    cohort["date_of_birth"] = dob
    path = tmp_path / "upload.csv"
    write_csv(cohort, path)
    result = check_upload(path)
    assert result.date_orders["date_of_birth"].order == "mixed"
    assert not result.analysable and "Date of birth: ambiguous date" in result.refusal
    assert result.settings.coverage_end == date(2012, 12, 31)


# --- item 8: formula cells read as the values Excel saved -------------------------------------------------


def _workbook(path: Path, rows: list[list[object]], cached: dict[str, str] | None = None) -> Path:
    """Write rows with openpyxl; then store ``cached`` values beside formulas, as Excel does on save."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Upload")
    for row in rows:
        ws.append(row)
    wb.save(path)
    if cached:
        with zipfile.ZipFile(path) as archive:
            members = {m: archive.read(m) for m in archive.namelist()}
        sheet = members["xl/worksheets/sheet1.xml"].decode()
        for ref, value in cached.items():
            sheet, n = re.subn(
                rf'<c r="{ref}"([^>]*)><f>(.*?)</f><v\s*/>',
                rf'<c r="{ref}"\1 t="str"><f>\2</f><v>{value}</v>',
                sheet,
            )
            assert n == 1, ref
        members["xl/worksheets/sheet1.xml"] = sheet.encode()
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for member, data in members.items():
                archive.writestr(member, data)
    return path


def _template_rows(cohort: pd.DataFrame) -> list[list[object]]:
    frame = as_template(cohort)
    return [list(frame.columns), *frame.astype(object).to_numpy().tolist()]


def test_formula_names_are_read_as_the_values_excel_saved(tmp_path):
    cohort = clean_cohort(80, seed=9)
    rows = _template_rows(cohort)
    cached = {}
    for i in range(1, 21):  # 20 surnames typed as formulas, e.g. =UPPER("smith"), saved by Excel
        rows[i][1] = f'=UPPER("{rows[i][1].lower()}")'
        cached[f"B{i + 1}"] = cohort.loc[i - 1, "surname"]
    rows[30][0] = '=PROPER("x")'  # one formula never saved by Excel: no value to read
    path = _workbook(tmp_path / "upload.xlsx", rows, cached)
    result = check_upload(path)
    assert result.n_valid == 79
    assert result.people["surname"].head(20).tolist() == cohort["surname"].head(20).str.upper().tolist()
    flagged = [(p.row, p.column, p.kind) for p in result.problems if p.severity == "error"]
    assert flagged == [(31, "forename", "no_cached_value")]
    assert "formula without a saved value" in result.drop_counts().popitem()[0]


# --- item 11: hostile sizes, encodings, quotes and blank rows ---------------------------------------------


def test_a_million_character_field_is_refused_by_row_and_column(tmp_path):
    cohort = clean_cohort(80, seed=10)
    cohort.loc[4, "surname"] = "A" * 1_000_000
    path = tmp_path / "upload.csv"
    write_csv(cohort, path)
    result = check_upload(path)
    problems = [(p.row, p.column, p.kind) for p in result.problems if p.severity == "error"]
    assert problems == [(6, "surname", "too_long")]
    assert result.n_valid == 79 and result.people["surname"].str.len().max() <= MAX_FIELD_CHARS
    assert "AAAAAAAAAA" not in format_report(result, max_problems=None)


def test_mixed_encodings_are_refused_naming_the_lines(tmp_path):
    cohort = clean_cohort(70, seed=11)
    cohort.loc[0, "forename"] = "ZOË"
    cohort.loc[9, "forename"] = "JOSÉ"
    path = tmp_path / "upload.csv"
    text = as_template(cohort).to_csv(index=False)
    lines = text.splitlines(keepends=True)
    data = b"".join(line.encode("cp1252" if i == 10 else "utf-8") for i, line in enumerate(lines))
    path.write_bytes(data)
    with pytest.raises(IntakeError, match=r"line 11 Windows-1252, lines 2, "):
        read_cells(path, max_rows=100)


def test_an_unclosed_quote_names_its_line(tmp_path):
    text = as_template(clean_cohort(70, seed=12)).to_csv(index=False).splitlines()
    text[8] = '"' + text[8]
    path = tmp_path / "upload.csv"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(IntakeError, match="a quote opened on line 9 is never closed"):
        read_cells(path, max_rows=100)


def test_trailing_blank_excel_rows_do_not_count_towards_the_row_limit(tmp_path):
    rows = _template_rows(clean_cohort(80, seed=13))
    rows += [[None] * 9 for _ in range(500)]  # formatted empty rows below the data
    path = _workbook(tmp_path / "upload.xlsx", rows)
    raw = read_cells(path, max_rows=100)
    assert len(raw.cells) == 80 and raw.blank_rows == 500
    with pytest.raises(IntakeError, match="more than 79 rows"):
        read_cells(path, max_rows=79)
