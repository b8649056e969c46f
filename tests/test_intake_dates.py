"""Date parsing: accepted forms, the ambiguity rule, two-digit years."""

import pandas as pd
import pytest

from jdl_lib.intake.dates import month_first_evidence, parse_dates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("05/11/2008", "2008-11-05"),
        ("5/11/08", "2008-11-05"),
        ("05.11.2008", "2008-11-05"),
        ("2008-11-05", "2008-11-05"),
        ("2008-11-05 00:00:00", "2008-11-05"),
        ("5 Nov 2008", "2008-11-05"),
        ("05-November-08", "2008-11-05"),
        ("39757", "2008-11-05"),  # Excel serial, 1900 system
        ("13/01/2001", "2001-01-13"),
    ],
)
def test_accepted_forms(text, expected):
    parsed = parse_dates(pd.Series([text]), pivot=68, month_first_seen=False)
    assert parsed.status[0] == "ok"
    assert parsed.dates[0] == pd.Timestamp(expected)


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("", "empty"),
        ("soon", "unparseable"),
        ("31/02/2008", "impossible"),
        ("2008-13-01", "impossible"),
        ("1/2/3/4", "unparseable"),
        ("5 Smarch 2008", "unparseable"),
    ],
)
def test_rejected_forms(text, status):
    parsed = parse_dates(pd.Series([text]), pivot=68, month_first_seen=False)
    assert parsed.status[0] == status
    assert pd.isna(parsed.dates[0])


def test_month_first_file_makes_two_way_dates_ambiguous():
    values = pd.Series(["01/13/2001", "02/03/2001", "04/04/2001", "25/12/2001", "2001-02-03"])
    day_first, month_first = month_first_evidence([values])
    assert (day_first, month_first) == (1, 1)
    parsed = parse_dates(values, pivot=68, month_first_seen=True)
    assert parsed.status.tolist() == ["month_first", "ambiguous", "ok", "ok", "ok"]
    assert parsed.dates[2] == pd.Timestamp("2001-04-04")


def test_day_first_is_the_default_convention():
    parsed = parse_dates(pd.Series(["02/03/2001"]), pivot=68, month_first_seen=False)
    assert parsed.dates[0] == pd.Timestamp("2001-03-02")


def test_two_digit_year_pivot():
    parsed = parse_dates(pd.Series(["1/1/02", "1/1/03", "1/1/99"]), pivot=2, month_first_seen=False)
    assert [d.year for d in parsed.dates] == [2002, 1903, 1999]
