"""Differencing guard and the lab secret: near-repeat groups are refused; nothing is stored in the clear."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from jdl_lib.errors import DisclosureError
from jdl_lib.privacy.differencing import (
    check_differencing,
    forget_request,
    record_request,
    registry_path,
)
from jdl_lib.privacy.lab import lab_secret

GROUP = [int(x) for x in np.random.default_rng(8).choice(10**9, size=200, replace=False)]


@pytest.fixture
def lab(tmp_path):
    return tmp_path / "lab"


def test_first_request_passes_and_is_recorded(lab):
    check = check_differencing("Hope Trust", "R1", GROUP, directory=lab)
    assert check.earlier_requests == 0 and check.nearest_difference is None and check.n_people == 200
    assert record_request("Hope Trust", "R1", GROUP, directory=lab) == 200


@pytest.mark.parametrize("removed", [1, 2, 9])
def test_group_differing_by_a_few_people_is_refused(lab, removed):
    record_request("Hope Trust", "R1", GROUP, directory=lab)
    with pytest.raises(DisclosureError, match=rf"earlier request 'R1' .* by only {removed} (person|people)"):
        check_differencing("Hope Trust", "R2", GROUP[removed:], directory=lab)


def test_added_people_count_too(lab):
    record_request("Hope Trust", "R1", GROUP, directory=lab)
    with pytest.raises(DisclosureError, match="by only 1 person"):
        check_differencing("Hope Trust", "R2", [*GROUP, 7], directory=lab)


def test_enough_difference_identical_group_and_rerun_pass(lab):
    record_request("Hope Trust", "R1", GROUP, directory=lab)
    far = check_differencing("Hope Trust", "R2", GROUP[10:], directory=lab)
    assert (far.nearest_request, far.nearest_difference) == ("R1", 10)
    same = check_differencing("Hope Trust", "R3", list(reversed(GROUP)), directory=lab)
    assert same.nearest_difference == 0
    # Re-running R1 with a changed group is compared with other requests only, not with itself.
    assert check_differencing("Hope Trust", "R1", GROUP[1:], directory=lab).earlier_requests == 0


def test_threshold_is_configurable_but_not_below_cell_threshold(lab):
    record_request("Hope Trust", "R1", GROUP, directory=lab)
    with pytest.raises(DisclosureError, match="fewer than the 50"):
        check_differencing("Hope Trust", "R2", GROUP[20:], min_difference=50, directory=lab)
    with pytest.raises(DisclosureError, match="below the cell threshold"):
        check_differencing("Hope Trust", "R2", GROUP, min_difference=2, directory=lab)


def test_organisations_are_separate_and_names_case_insensitive(lab):
    record_request("Hope Trust", "R1", GROUP, directory=lab)
    check_differencing("Other Charity", "X1", GROUP[1:], directory=lab)
    with pytest.raises(DisclosureError):
        check_differencing("  HOPE TRUST ", "R2", GROUP[1:], directory=lab)


def test_rerecording_replaces_and_forget_removes(lab):
    record_request("Hope Trust", "R1", GROUP, directory=lab)
    record_request("Hope Trust", "R1", GROUP[50:], directory=lab)
    check_differencing("Hope Trust", "R2", GROUP, directory=lab)  # 50 away from the new R1
    assert forget_request("Hope Trust", "R1", directory=lab)
    check_differencing("Hope Trust", "R2", GROUP[50:][1:], directory=lab)


def test_registry_holds_no_ids_or_organisation_in_the_clear(lab):
    record_request("Hope Trust", "R1", GROUP, directory=lab)
    path = registry_path("Hope Trust", directory=lab)
    text = path.read_text()
    assert "hope" not in text.casefold() and "hope" not in path.name.casefold()
    assert not any(str(pid) in text for pid in GROUP)
    hashes = json.loads(text)["requests"]["R1"]["people"]
    assert len(hashes) == 200 and all(len(h) == 64 for h in hashes)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_hashes_are_keyed_by_the_lab_secret(tmp_path):
    record_request("Hope Trust", "R1", GROUP, directory=tmp_path / "a")
    record_request("Hope Trust", "R1", GROUP, directory=tmp_path / "b")
    people = [
        set(json.loads(p.read_text())["requests"]["R1"]["people"])
        for p in (
            registry_path("Hope Trust", directory=tmp_path / "a"),
            registry_path("Hope Trust", directory=tmp_path / "b"),
        )
    ]
    assert not people[0] & people[1]


def test_secret_is_owner_only_stable_and_refused_if_exposed(lab):
    key = lab_secret(lab)
    path = lab / "secret.key"
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert lab_secret(lab) == key
    assert stat.S_IMODE(lab.stat().st_mode) & 0o077 == 0
    os.chmod(path, 0o644)
    with pytest.raises(DisclosureError, match="chmod 600"):
        lab_secret(lab)
