"""Date parsing: accepted forms, the per-column date order, two-digit years."""

import pandas as pd
import pytest

from jdl_lib.intake.dates import infer_order, parse_dates


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
    parsed = parse_dates(pd.Series([text]), pivot=68)
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
    parsed = parse_dates(pd.Series([text]), pivot=68)
    assert parsed.status[0] == status
    assert pd.isna(parsed.dates[0])


def test_one_month_first_date_contradicts_a_day_first_column_and_nothing_else():
    # Issue 11 item 7: one 01/13/1980 used to make every two-way date of the file ambiguous.
    values = pd.Series(
        ["01/13/2001", "02/03/2001", "04/04/2001", "25/12/2001", "2001-02-03"] + ["14/05/1990"] * 20
    )
    order = infer_order(values)
    assert (order.order, order.day_first, order.month_first, order.contradicting) == ("day_first", 21, 1, 1)
    parsed = parse_dates(values, pivot=68, order=order.order)
    assert parsed.status.tolist()[:5] == ["contradicts_order", "ok", "ok", "ok", "ok"]
    assert parsed.dates[1] == pd.Timestamp("2001-03-02")


def test_a_column_written_month_first_is_read_month_first():
    values = pd.Series(["12/25/1980", "03/04/1981", "01/31/1979", "2001-02-03"])
    order = infer_order(values)
    assert order.order == "month_first"
    parsed = parse_dates(values, pivot=68, order=order.order)
    assert parsed.status.eq("ok").all()
    assert parsed.dates.tolist()[:3] == [
        pd.Timestamp("1980-12-25"),
        pd.Timestamp("1981-03-04"),
        pd.Timestamp("1979-01-31"),
    ]


def test_a_truly_mixed_column_rejects_only_its_two_way_dates():
    values = pd.Series(["01/13/2001", "02/03/2001", "04/04/2001", "25/12/2001", "2001-02-03"])
    order = infer_order(values)
    assert order.order == "mixed"
    parsed = parse_dates(values, pivot=68, order="mixed")
    assert parsed.status.tolist() == ["ok", "ambiguous", "ok", "ok", "ok"]
    assert parsed.dates[0] == pd.Timestamp("2001-01-13") and parsed.dates[3] == pd.Timestamp("2001-12-25")


def test_no_evidence_follows_the_template():
    assert infer_order(pd.Series(["02/03/2001", "", "2001-02-03"])).order == "day_first"


def test_day_first_is_the_default_convention():
    parsed = parse_dates(pd.Series(["02/03/2001"]), pivot=68)
    assert parsed.dates[0] == pd.Timestamp("2001-03-02")


def test_two_digit_year_pivot():
    parsed = parse_dates(pd.Series(["1/1/02", "1/1/03", "1/1/99"]), pivot=2)
    assert [d.year for d in parsed.dates] == [2002, 1903, 1999]
