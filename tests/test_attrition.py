"""The attrition table: counts always consistent, built from real intake and index-event results."""

from datetime import date
from types import SimpleNamespace

import pandas as pd
import pytest
from intake_helpers import clean_cohort, write_csv

from jdl_lib.attrition import Attrition, Stage, add_index_events, add_linkage, from_intake
from jdl_lib.index_events import IndexEventResult, IndexEventSettings
from jdl_lib.intake import check_upload


def _chain() -> Attrition:
    return (
        Attrition.start(100)
        .then("valid", "Valid records", {"Gender: unknown code": 3, "repeated person": 2})
        .then("linked", "Found", {"not found": 20, "none": 0}, breakdown={"by PNC ID": 30, "exact": 45})
        .then("index_event", "Eligible", {"no release": 5}, count=70)
    )


def test_each_stage_is_previous_minus_losses():
    table = _chain().table()
    assert table["count"].tolist() == [100, 95, 75, 70]
    assert (table["count"].shift() - table["lost"] == table["count"]).iloc[1:].all()
    assert table.loc[2, "reasons"] == "20 not found"  # zero-count reasons are left out
    assert table.loc[2, "breakdown"] == "30 by PNC ID; 45 exact"
    assert table["pct_of_submitted"].tolist() == [100.0, 95.0, 75.0, 70.0]
    assert _chain().losses()["n"].sum() == 100 - _chain().final


def test_inconsistent_stages_are_refused():
    with pytest.raises(ValueError, match="do not account"):
        Attrition.start(10).then("valid", "Valid", {"bad": 2}, count=7)
    with pytest.raises(ValueError, match="breakdown"):
        Attrition.start(10).then("linked", "Linked", {}, breakdown={"pnc": 3})
    with pytest.raises(ValueError, match="previous count minus"):
        Attrition((Stage("submitted", "Submitted", 10), Stage("valid", "Valid", 9, (("bad", 2),))))
    with pytest.raises(ValueError, match="unique"):
        Attrition.start(10).then("submitted", "Again", {})
    with pytest.raises(AttributeError):
        _chain().stages = ()


def test_from_real_intake_index_events_and_linkage(tmp_path):
    cohort = clean_cohort(70)
    cohort["gender"] = cohort["gender"].astype(object)
    cohort.loc[:2, "gender"] = "?"
    cohort.loc[5] = cohort.loc[6]
    path = tmp_path / "upload.csv"
    write_csv(cohort, path)
    intake = check_upload(path)
    people = intake.people
    linkage = SimpleNamespace(
        links=pd.DataFrame(
            {
                "upload_row": people.upload_row[:60],
                "person_id": range(60),
                "method": ["pnc"] * 20 + ["exact"] * 35 + ["probabilistic"] * 5,
            }
        ),
        review=pd.DataFrame(
            {"upload_row": people.upload_row[60:62], "reason": ["exact_tie", "low_confidence"]}
        ),
        unlinked=pd.DataFrame({"upload_row": people.upload_row[62:65]}),
        duplicates=pd.DataFrame({"upload_row": people.upload_row[65:]}),
    )
    settings = IndexEventSettings(365, 365, 90, date(2000, 1, 1), date(2012, 12, 31))
    events = IndexEventResult(
        events=pd.DataFrame({"upload_row": people.upload_row[:50]}),
        dropped=pd.DataFrame(
            {
                "upload_row": people.upload_row[50:60],
                "person_id": range(10),
                "reason": ["no_custody_release"] * 7 + ["follow_up_incomplete"] * 3,
            }
        ),
        settings=settings,
        n_links=60,
    )
    attrition = add_index_events(add_linkage(from_intake(intake), linkage), events)
    table = attrition.table().set_index("stage")
    assert table["count"].tolist() == [70, 66, 60, 50]
    assert table.loc["valid", "reasons"] == "3 Gender: unknown code; 1 repeated person"
    assert "2 by PNC ID" not in table.loc["linked", "breakdown"]
    assert table.loc["linked", "breakdown"].startswith("20 by PNC ID; 35 by exact name")
    assert "3 not found in the national records" in table.loc["linked", "reasons"]
    assert table.loc["index_event", "reasons"].startswith("7 no release from custody within 365 days")


def test_explain_shortfall_names_the_largest_loss_and_its_cause() -> None:
    """Issue 16 item 7: 0 of 433 linked because every PNC ID met a name conflict, said as such."""
    from jdl_lib.attrition import explain_shortfall
    from jdl_lib.linkage.result import REVIEW_REASONS

    conflict = REVIEW_REASONS["pnc_conflict"]
    a = (
        Attrition.start(433)
        .then("valid", "Valid records", {})
        .then("linked", "Found in national records", {conflict: 400, "not found in the national records": 33})
    )
    text = explain_shortfall(a)
    assert "Found in national records: 0 (lost 433: 400 " in text
    assert "Largest loss (92% of those submitted)" in text and "most PNC IDs point to" in text
    assert "people.surname values not in the documented form" in explain_shortfall(a, ["people.surname"])
