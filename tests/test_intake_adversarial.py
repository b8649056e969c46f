"""Adversarial intake: uploads a hostile or careless user sends, and what the lab must do with each.

Each test is a regression test for an item of issue 11 (items 7, 8 and 11): it failed on the code
the issue was filed against.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from intake_helpers import clean_cohort, write_csv

from jdl_lib.errors import IntakeError
from jdl_lib.intake import check_upload, format_report, read_upload


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
