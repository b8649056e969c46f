"""Row checks: what is dropped, what only warns, duplicates, the minimum cohort, and no personal data."""

from datetime import date

import pandas as pd
import pytest
from intake_helpers import clean_cohort, write_csv

from jdl_lib.errors import IntakeError
from jdl_lib.intake import check_upload, format_report, problems_frame, read_upload


def _check(tmp_path, cohort, **kwargs):
    path = tmp_path / "upload.csv"
    write_csv(cohort, path)
    return check_upload(path, **kwargs)


# (column, bad value, expected kind, dropped?)
CASES = [
    ("forename", "", "missing", True),
    ("surname", "=1+1", "not_a_name", True),
    ("surname", "-SMITH", "not_a_name", True),
    ("forename", "JOHN2", "unusual_characters", False),
    ("date_of_birth", "yesterday", "unparseable", True),
    ("date_of_birth", "30/02/1980", "impossible", True),
    ("date_of_birth", date(1899, 5, 1), "implausible_dob", True),
    ("date_of_birth", date(2000, 1, 1), "implausible_dob", True),  # under 10 at the intervention start
    ("intervention_start", date(1998, 6, 1), "outside_coverage", True),
    ("intervention_start", date(2013, 2, 1), "outside_coverage", True),
    ("intervention_end", date(2002, 1, 1), "end_before_start", True),
    ("intervention_end", "not yet", "end_unreadable", False),
    ("gender", "U", "unknown_code", True),
    ("setting", "both", "unknown_code", True),
    ("pnc_id", "2001/0000001Z", "bad_check_letter", False),
    ("pnc_id", "12345", "malformed_pnc", False),
    ("prison_number", "12AB", "malformed_prison_number", False),
    ("pnc_id", "@SUM(1)", "formula_like", False),
]


@pytest.mark.parametrize(("column", "value", "kind", "dropped"), CASES)
def test_each_rule_drops_or_warns_as_documented(tmp_path, column, value, kind, dropped):
    cohort = clean_cohort(70)
    cohort["intervention_start"] = date(2005, 6, 1)
    cohort["intervention_end"] = date(2005, 12, 1)
    cohort[column] = cohort[column].astype(object)
    cohort.loc[4, column] = value
    result = _check(tmp_path, cohort)
    row_problems = [p for p in result.problems if p.row == 6]
    assert kind in {p.kind for p in row_problems}
    assert {p.row for p in result.problems} == {6}
    assert (6 in result.dropped) is dropped
    assert result.n_valid == 70 - dropped
    assert result.n_valid + len(result.dropped) == result.n_submitted
    if column in ("pnc_id", "prison_number") and not dropped:
        kept = result.people.set_index("upload_row").loc[6]
        assert kept[column] is None


def test_canonical_values(tmp_path):
    cohort = clean_cohort(60)
    cohort.loc[0, ["forename", "gender", "setting", "pnc_id"]] = ["  mary  ann ", "female", " In Custody", ""]
    canonical = cohort.loc[1, "pnc_id"]
    cohort.loc[1, "pnc_id"] = (
        f" {canonical[2:4]}/{int(canonical[5:12])}{canonical[12].lower()} "  # short form
    )
    result = _check(tmp_path, cohort)
    first = result.people.iloc[0]
    assert (first.forename, first.gender, first.setting, first.pnc_id) == ("MARY ANN", "F", "custody", None)
    assert result.people.iloc[1].pnc_id == canonical
    assert result.people["upload_row"].tolist() == list(range(2, 62))


def test_duplicates_keep_first_and_name_it(tmp_path):
    cohort = clean_cohort(64)
    cohort.loc[10] = cohort.loc[3]  # exact repeat
    cohort.loc[11, "pnc_id"] = cohort.loc[5, "pnc_id"]  # same PNC, other name
    cohort.loc[12, ["forename", "surname", "date_of_birth"]] = cohort.loc[
        11, ["forename", "surname", "date_of_birth"]
    ].to_numpy()
    result = _check(tmp_path, cohort)
    assert result.dropped.keys() == {12, 13, 14}
    assert "row 5" in result.dropped[12]
    assert "row 7" in result.dropped[13]
    assert "row 7" in result.dropped[14]  # chained through row 13 to the kept row
    assert result.drop_counts() == {"repeated person": 3}


def test_a_date_against_its_columns_order_flags_only_its_row(tmp_path):
    cohort = clean_cohort(70)
    cohort["date_of_birth"] = cohort["date_of_birth"].astype(object)
    cohort.loc[0, "date_of_birth"] = "12/25/1980"
    cohort.loc[1, "date_of_birth"] = "03/04/1980"
    cohort.loc[2, "date_of_birth"] = "25/12/1980"
    result = _check(tmp_path, cohort, coverage_end=date(2012, 12, 31))
    kinds = {p.row: p.kind for p in result.problems if p.column == "date_of_birth"}
    assert kinds == {2: "contradicts_order"}
    assert result.date_orders["date_of_birth"].order == "day_first"


def test_too_few_valid_people_is_refused_with_counts(tmp_path):
    cohort = clean_cohort(62)
    cohort["gender"] = cohort["gender"].astype(object)
    cohort.loc[:4, "gender"] = "?"
    path = tmp_path / "small.csv"
    write_csv(cohort, path)
    result = check_upload(path)
    assert not result.analysable and "57 of 62" in result.refusal
    with pytest.raises(IntakeError, match=r"57 of 62.*5 row\(s\): Gender: unknown code"):
        read_upload(path)


def test_no_personal_data_in_problems_reports_or_errors(tmp_path):
    cohort = clean_cohort(61)
    cohort["date_of_birth"] = cohort["date_of_birth"].astype(object)
    cohort["pnc_id"] = cohort["pnc_id"].astype(object)
    cohort.loc[0, "date_of_birth"] = "31/02/1979"
    cohort.loc[1, "pnc_id"] = cohort.loc[1, "pnc_id"][:-1] + (
        "A" if cohort.loc[1, "pnc_id"][-1] != "A" else "B"
    )
    cohort.loc[2, "surname"] = "QWERTYZ9"
    cohort.loc[3] = cohort.loc[4]
    cohort.loc[5, "forename"] = "=cmd|' /C calc'!A0"
    path = tmp_path / "upload.csv"
    write_csv(cohort, path)
    result = check_upload(path)
    texts = [
        format_report(result, max_problems=None),
        problems_frame(result).to_csv(),
        *result.dropped.values(),
    ]
    with pytest.raises(IntakeError) as refused:
        read_upload(path, min_people=100)
    texts.append(str(refused.value))
    secrets = ["31/02/1979", "QWERTYZ9", "calc", cohort.loc[1, "pnc_id"], cohort.loc[4, "surname"]]
    secrets += [d.strftime("%d/%m/%Y") for d in cohort["date_of_birth"] if isinstance(d, date)]
    secrets += [str(p) for p in cohort["pnc_id"]]
    for text in texts:
        for secret in secrets:
            assert secret not in text


def test_result_carries_settings_and_consistent_counts(tmp_path):
    result = _check(tmp_path, clean_cohort(60), coverage_start=date(2001, 1, 1), min_people=10)
    assert result.settings.coverage_start == date(2001, 1, 1) and result.settings.min_people == 10
    assert result.n_valid + len(result.dropped) == result.n_submitted
    assert sum(result.drop_counts().values()) == len(result.dropped)
    assert pd.api.types.is_datetime64_any_dtype(result.people["date_of_birth"])
    with pytest.raises(AttributeError):
        result.n_submitted = 3
