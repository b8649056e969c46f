"""Deterministic passes and the contract of LinkageResult, on a small seeded index."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from linkage_fixtures import make_store, make_upload, open_store

from jdl_lib.errors import LinkageError
from jdl_lib.linkage import METHODS, REVIEW_REASONS, LinkageSettings, link_cohort
from jdl_lib.linkage.deterministic import pnc_check_ok, prepare_upload, swap_day_month

SMALL = LinkageSettings(u_sample_records=4000, u_max_pairs=2e5)


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    path = tmp_path_factory.mktemp("linkage") / "index.duckdb"
    people = make_store(path)
    store = open_store(path)
    yield people, store
    store.connection.close()


@pytest.fixture(scope="module")
def linked(index):
    people, store = index
    upload, truth = make_upload(people, n=200)
    # Row 1: a valid PNC ID of someone else entirely (a conflict); row 2: a wrong check letter.
    other = people[~people["person_id"].isin(truth)].iloc[0]
    upload.loc[0, "pnc_id"] = other["pnc_id"]
    good = people.loc[people["person_id"] == truth[1], "pnc_id"].iloc[0]
    upload.loc[1, "pnc_id"] = good[:-1] + ("A" if good[-1] != "A" else "B")
    # Row 3 repeated as an extra row: a duplicate.
    dup = upload.iloc[[2]].assign(upload_row=len(upload) + 1)
    upload = pd.concat([upload, dup], ignore_index=True)
    truth = pd.concat([truth, truth.iloc[[2]]], ignore_index=True)
    return upload, truth, link_cohort(upload, store, SMALL)


def test_pnc_check_letter_is_verified():
    ids = pd.Series(["2001/0000001Q", "2001/0000001R", None, "not a pnc"])
    assert pnc_check_ok(ids).tolist() == [True, False, False, False]


def test_day_month_swap_only_when_a_different_valid_date():
    dates = pd.Series(pd.to_datetime(["1985-03-07", "1985-03-25", "1985-04-04"]))
    swapped = swap_day_month(dates)
    assert str(swapped[0]) == "1985-07-03"
    assert pd.isna(swapped[1]) and pd.isna(swapped[2])


def test_nickname_key_folds_nicknames():
    up = pd.DataFrame(
        {
            "upload_row": [1, 2],
            "forename": ["bob", "ROBERT"],
            "surname": ["X", "X"],
            "date_of_birth": ["1980-01-01", "1980-01-01"],
            "gender": ["M", "M"],
            "pnc_id": [None, None],
            "prison_number": [None, ""],
        }
    )
    prepared = prepare_upload(up)
    assert prepared["forename_key"].tolist() == ["ROBERT", "ROBERT"]
    assert prepared["prison_number"].isna().all()


def test_result_contract(linked):
    upload, _, result = linked
    assert dataclasses.is_dataclass(result) and result.settings == SMALL
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.counts = {}  # type: ignore[misc]
    assert list(result.links.columns) == ["upload_row", "person_id", "method", "match_probability"]
    assert set(result.links["method"]) <= set(METHODS)
    assert set(result.review["reason"]) <= set(REVIEW_REASONS)
    assert result.links["person_id"].is_unique
    outcomes = (
        set(result.links["upload_row"])
        | set(result.review["upload_row"])
        | set(result.duplicates["upload_row"])
        | set(result.unlinked)
    )
    assert outcomes == set(upload["upload_row"])
    assert sum(v for k, v in result.counts.items() if k != "submitted") == result.counts["submitted"]
    assert result.model["comparisons"], "the trained model is kept for the method annex"


def test_links_are_right(linked):
    upload, truth, result = linked
    true = dict(zip(upload["upload_row"], truth, strict=True))
    correct = result.links["person_id"] == result.links["upload_row"].map(true)
    assert correct.all()
    assert len(result.links) >= 0.95 * truth.nunique()
    assert {"pnc", "exact", "probabilistic"} <= set(result.links["method"])


def test_conflicting_pnc_goes_to_review_and_bad_check_letter_is_ignored(linked):
    _, _, result = linked
    assert result.review.set_index("upload_row")["reason"].get(1) == "pnc_conflict"
    assert result.links.set_index("upload_row")["method"].get(2) != "pnc"
    assert 2 in set(result.links["upload_row"])


def test_duplicate_row_is_counted_once(linked):
    upload, _, result = linked
    dup_row = int(upload["upload_row"].iloc[-1])
    dups = result.duplicates.set_index("upload_row")
    assert dups.loc[dup_row, "duplicate_of"] == 3
    assert result.counts["duplicate"] == len(result.duplicates) >= 1


def test_bad_input_is_refused_without_personal_data(index):
    people, store = index
    upload, _ = make_upload(people, n=5)
    with pytest.raises(LinkageError, match="lacks the column"):
        link_cohort(upload.drop(columns="gender"), store, SMALL)
    with pytest.raises(LinkageError, match="unique"):
        link_cohort(pd.concat([upload, upload]), store, SMALL)
    with pytest.raises(LinkageError, match="review_floor") as err:
        link_cohort(upload, store, dataclasses.replace(SMALL, review_floor=0.99))
    assert upload["surname"].iloc[0] not in str(err.value)
