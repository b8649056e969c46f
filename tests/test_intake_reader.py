"""Reading uploads: encodings, XLSX, headings and aliases, and hostile files that must be refused cleanly."""

import os
import zipfile
from datetime import date, datetime

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from intake_helpers import as_template, clean_cohort, write_csv
from openpyxl import Workbook

from jdl_lib.errors import IntakeError
from jdl_lib.intake import check_upload
from jdl_lib.intake.reader import read_cells


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_encodings_keep_accented_names(tmp_path, encoding):
    cohort = clean_cohort(70)
    cohort.loc[0, "forename"] = "ZOË"
    cohort.loc[1, "surname"] = "NÚÑEZ"
    path = tmp_path / "upload.csv"
    write_csv(cohort, path, encoding=encoding)
    result = check_upload(path)
    assert result.n_valid == 70
    assert result.people.loc[0, "forename"] == "ZOË"
    assert result.people.loc[1, "surname"] == "NÚÑEZ"
    assert result.encoding == ("windows-1252" if encoding == "cp1252" else "utf-8")


def test_headings_tolerate_case_spacing_and_aliases(tmp_path):
    frame = as_template(clean_cohort(60)).rename(
        columns={
            "Forename": "  first NAME ",
            "Date of birth": "D.O.B.",
            "Gender": "sex",
            "PNC ID": "pnc_number",
            "Custody or community": "custody/community",
            "Intervention start date": "Start Date",
        }
    )
    frame["Notes"] = "free text"
    path = tmp_path / "aliases.csv"
    frame.to_csv(path, index=False, sep=";")
    result = check_upload(path)
    assert result.n_valid == 60
    assert result.ignored_columns == ("J",)
    assert result.people["pnc_id"].notna().all()


def test_row_numbers_are_spreadsheet_rows_and_blank_rows_are_counted(tmp_path):
    text = as_template(clean_cohort(3)).to_csv(index=False).splitlines()
    path = tmp_path / "blank.csv"
    path.write_text("\n".join([text[0], text[1], ",,,,,,,,", "", text[2], text[3]]) + "\n")
    raw = read_cells(path, max_rows=100)
    assert raw.cells["upload_row"].tolist() == [2, 5, 6]
    assert raw.blank_rows == 2


def _xlsx(path, rows):
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    wb.save(path)


def test_xlsx_real_dates_serials_and_formulas(tmp_path):
    cohort = clean_cohort(61)
    header = list(as_template(cohort).columns)
    rows = [header]
    for i, r in cohort.iterrows():
        dob = (
            datetime.combine(r.date_of_birth, datetime.min.time())
            if i % 2
            else r.date_of_birth.strftime("%d/%m/%Y")
        )
        start = (r.intervention_start - date(1899, 12, 30)).days if i % 3 == 0 else r.intervention_start
        rows.append(
            [
                r.forename,
                r.surname,
                dob,
                r.gender,
                r.pnc_id,
                r.prison_number,
                start,
                r.intervention_end,
                r.setting,
            ]
        )
    rows[2][0] = '=HYPERLINK("http://example.org","x")'
    path = tmp_path / "upload.xlsx"
    _xlsx(path, rows)
    result = check_upload(path)
    assert result.file_format == "xlsx"
    assert result.n_valid == 60
    assert result.dropped.keys() == {3}
    kinds = {(p.row, p.column, p.kind) for p in result.problems}
    assert (3, "forename", "no_cached_value") in kinds  # openpyxl saves formulas without their values
    expected = pd.to_datetime(cohort["intervention_start"]).drop(index=1).reset_index(drop=True)
    assert (result.people["intervention_start"] == expected).all()
    dob = pd.to_datetime(cohort["date_of_birth"]).drop(index=1).reset_index(drop=True)
    assert (result.people["date_of_birth"] == dob).all()


def test_zip_bomb_is_refused_before_opening(tmp_path):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * 20_000_000)
    with pytest.raises(IntakeError, match="unpack"):
        check_upload(path)


def test_zip_that_is_not_a_workbook(tmp_path):
    path = tmp_path / "upload.csv"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(IntakeError, match="not an Excel workbook"):
        check_upload(path)


def test_million_rows_refused_quickly_without_loading(tmp_path):
    header = ",".join(as_template(clean_cohort(1)).columns)
    line = "JOHN,SMITH,01/01/1980,M,,,01/01/2005,,Custody\n"
    path = tmp_path / "huge.csv"
    with path.open("w") as fh:
        fh.write(header + "\n")
        fh.write(line * 1_000_000)
    with pytest.raises(IntakeError, match="more than 100,000 rows"):
        check_upload(path)


HEADER = b"Forename,Surname,Date of birth,Gender,Intervention start date,Custody or community\n"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "empty"),
        (b"\n\n", "first row is blank"),
        (os.urandom(4096) + b"\0", "NUL bytes"),
        (b"\xd0\xcf\x11\xe0" + bytes(range(1, 256)) * 4, "old-style .xls"),
        (b"Forename,Surname\n", "required column"),
        (
            b"Forename,Surname,Date of birth,Gender,Intervention start date,Custody or community\n",
            "has no rows|only 0",
        ),
        (
            HEADER + b"a,b,c,d,e,f,g,h\n",
            "malformed",
        ),
        (
            HEADER + b"\x81\x8d\x8f\x90\n",
            "neither UTF-8 nor Windows-1252",
        ),
        (
            b"Forename,Forenames,Surname,Date of birth,Gender,Intervention start date,Setting\n",
            "both read as",
        ),
    ],
)
def test_hostile_files_give_a_clear_intake_error(tmp_path, content, match):
    from jdl_lib.intake import read_upload

    path = tmp_path / "upload.csv"
    path.write_bytes(content)
    with pytest.raises(IntakeError, match=match):
        read_upload(path)


def test_missing_file(tmp_path):
    with pytest.raises(IntakeError, match="no such file"):
        check_upload(tmp_path / "nope.csv")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise_anything_but_intake_error(tmp_path, blob):
    path = tmp_path / "fuzz.csv"
    header = b"Forename,Surname,Date of birth,Gender,Intervention start date,Custody or community\n"
    for content in (blob, header + blob):
        path.write_bytes(content)
        try:
            check_upload(path, min_people=0)
        except IntakeError:
            pass
