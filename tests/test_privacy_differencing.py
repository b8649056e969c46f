"""Differencing guard and the lab secret: near-repeat groups are refused; nothing is stored in the clear.

The hostile cases (re-runs, variant organisations, another working directory, reading the registry back)
are in ``test_privacy_adversarial.py``.
"""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from jdl_lib.errors import DisclosureError
from jdl_lib.privacy.differencing import (
    PRIME,
    SKETCH_POINTS,
    DifferencingError,
    _characteristic,
    _mulmod,
    check_differencing,
    check_request_id,
    forget_request,
    record_request,
    registry_path,
)
from jdl_lib.privacy.lab import keyed_hash, lab_secret, open_lab

GROUP = [int(x) for x in np.random.default_rng(8).choice(10**9, size=200, replace=False)]
OTHERS = [10**9 + i for i in range(40)]  # people in no earlier group


@pytest.fixture
def lab(tmp_path):
    return tmp_path / "lab"


def test_first_request_passes_and_is_recorded(lab):
    check = check_differencing("hope-trust", "r1", GROUP, directory=lab)
    assert check.releases_compared == 0 and check.identical_to is None and check.n_people == 200
    assert record_request("hope-trust", "r1", GROUP, directory=lab) == 200


@pytest.mark.parametrize("removed", [1, 2, 9])
def test_group_differing_by_a_few_people_is_refused(lab, removed):
    record_request("hope-trust", "r1", GROUP, directory=lab)
    with pytest.raises(DifferencingError, match=rf"report 'r1' by only {removed} (person|people)"):
        check_differencing("hope-trust", "r2", GROUP[removed:], directory=lab)


@pytest.mark.parametrize(
    ("dropped", "added", "refused"), [(0, 1, 1), (1, 1, 2), (4, 5, 9), (3, 4, 7), (5, 5, None)]
)
def test_added_and_swapped_people_count_too(lab, dropped, added, refused):
    record_request("hope-trust", "r1", GROUP, directory=lab)
    group = GROUP[dropped:] + OTHERS[:added]
    if refused is None:
        assert check_differencing("hope-trust", "r2", group, directory=lab).identical_to is None
    else:
        with pytest.raises(DifferencingError, match=f"by only {refused} "):
            check_differencing("hope-trust", "r2", group, directory=lab)


def test_enough_difference_and_identical_group_pass(lab):
    record_request("hope-trust", "r1", GROUP, directory=lab)
    assert check_differencing("hope-trust", "r2", GROUP[10:], directory=lab).identical_to is None
    assert check_differencing("hope-trust", "r3", list(reversed(GROUP)), directory=lab).identical_to == "r1"
    assert check_differencing("hope-trust", "r4", GROUP[100:], directory=lab).releases_compared == 1


def test_threshold_is_configurable_within_what_the_sketch_can_check(lab):
    record_request("hope-trust", "r1", GROUP, directory=lab)
    with pytest.raises(DifferencingError, match="by only 19 people, fewer than the 20"):
        check_differencing("hope-trust", "r2", GROUP[19:], min_difference=20, directory=lab)
    check_differencing("hope-trust", "r2", GROUP[20:], min_difference=20, directory=lab)
    for bad in (4, SKETCH_POINTS + 1):
        with pytest.raises(DifferencingError, match="must be between the cell threshold 5"):
            check_differencing("hope-trust", "r2", GROUP, min_difference=bad, directory=lab)


def test_recording_rechecks_and_forget_removes(lab):
    record_request("hope-trust", "r1", GROUP, directory=lab)
    with pytest.raises(DifferencingError, match="by only 3 people"):
        record_request("hope-trust", "r2", GROUP[3:], directory=lab)
    record_request("hope-trust", "r2", GROUP[50:], directory=lab)
    assert forget_request("hope-trust", "r2", directory=lab)
    assert not forget_request("hope-trust", "r2", directory=lab)
    assert check_request_id("hope-trust", "r2", directory=lab) == 0


def test_registry_holds_no_ids_hashes_or_organisation(lab):
    record_request("hope-trust", "r1", GROUP, directory=lab)
    path = registry_path(lab)
    text = path.read_text()
    key = lab_secret(lab)
    assert "hope" not in text.casefold()
    assert not any(str(pid) in text for pid in GROUP)
    assert not any(keyed_hash(key, str(pid))[:15] in text for pid in GROUP)
    assert not any(str(int(keyed_hash(key, str(pid))[:15], 16)) in text for pid in GROUP)
    (entry,) = json.loads(text)["releases"]
    assert entry["people"] == 200 and len(entry["values"]) == SKETCH_POINTS
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_secret_is_owner_only_stable_and_refused_if_exposed(lab):
    key = lab_secret(lab)
    path = lab / "secret.key"
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert lab_secret(lab) == key
    assert stat.S_IMODE(lab.stat().st_mode) & 0o077 == 0
    os.chmod(path, 0o644)
    with pytest.raises(DisclosureError, match="chmod 600"):
        lab_secret(lab)


def test_legacy_registry_is_converted_and_deleted(lab):
    """An earlier version kept HMACs of every id; opening the registry turns them into sketches."""
    key = lab_secret(lab)
    legacy = lab / "registry"
    legacy.mkdir()
    hashes = sorted(keyed_hash(key, str(pid)) for pid in GROUP)
    old = {"format": 1, "requests": {"r1": {"recorded": "2026-01-02T03:04:05+00:00", "people": hashes}}}
    (legacy / "abc.json").write_text(json.dumps(old))
    (legacy / "abc.lock").write_text("")
    with pytest.raises(DifferencingError, match="by only 1 person"):
        check_differencing("hope-trust", "r2", GROUP[1:], directory=lab)
    check_request_id("hope-trust", "r3", directory=lab)  # a passing call writes the new registry
    assert not legacy.exists()
    assert not any(h[:15] in registry_path(lab).read_text() for h in hashes)
    with pytest.raises(DifferencingError, match="by only 1 person"):
        check_differencing("hope-trust", "r2", GROUP[1:], directory=lab)


def test_open_lab_lives_in_the_outputs_and_is_not_restarted_beside_releases(tmp_path):
    outputs = tmp_path / "outputs"
    assert open_lab(outputs) == (outputs / ".lab").resolve()
    (outputs / "r1").mkdir()
    (outputs / "r1" / "COMPLETE").write_text("{}")
    assert open_lab(outputs).is_dir()  # the lab exists: fine
    (outputs / ".lab" / "secret.key").unlink()
    with pytest.raises(DisclosureError, match="1 released report.*restore the lab folder"):
        open_lab(outputs)


def test_vectorised_field_arithmetic_matches_python_integers():
    rng = np.random.default_rng(5)
    edge = [PRIME - 1, (1 << 61) - 2, 1 << 60, 1, 0]
    a = np.array(edge + [int(x) for x in rng.integers(0, PRIME, 200, dtype=np.uint64)], dtype=np.uint64)
    b = np.array(edge[::-1] + [int(x) for x in rng.integers(0, PRIME, 200, dtype=np.uint64)], dtype=np.uint64)
    assert [int(v) for v in _mulmod(a, b)] == [int(x) * int(y) % PRIME for x, y in zip(a, b, strict=True)]
    for n in (0, 1, 2, 3, 255, 801):
        values = [int(v) for v in rng.integers(0, 1 << 60, n, dtype=np.uint64)]
        points = [int(p) for p in rng.integers(1 << 60, PRIME, 7, dtype=np.uint64)]
        expected = [_plain_product(values, z) for z in points]
        assert _characteristic(values, points) == expected


def _plain_product(values, z):
    acc = 1
    for h in values:
        acc = acc * (z - h) % PRIME
    return acc


def test_published_subgroups_are_compared_both_ways_and_forgotten_together(lab):
    women = GROUP[:120]
    record_request("hope-trust", "r1", GROUP, directory=lab, parts={"Gender: Women": women})
    with pytest.raises(
        DifferencingError, match="analysed group differs from the group of subgroup 'Gender: Women'"
    ):
        check_differencing("hope-trust", "r2", women[1:], directory=lab)
    with pytest.raises(
        DifferencingError, match="its subgroup 'Completed: yes' differs .* report 'r1' by only 2"
    ):
        check_differencing("hope-trust", "r2", OTHERS, directory=lab, parts={"Completed: yes": GROUP[2:]})
    record_request("hope-trust", "r2", GROUP[50:], directory=lab, parts={"A: b": GROUP[50:170]})
    assert forget_request("hope-trust", "r2", directory=lab)
    releases = json.loads(registry_path(lab).read_text())["releases"]
    assert [(e["request_id"], e.get("part")) for e in releases] == [("r1", None), ("r1", "Gender: Women")]


def test_parts_of_one_report_a_few_people_apart_are_refused(lab):
    """Two parts of one report (e.g. the headline and a robustness variant) 1-9 people apart are refused."""
    with pytest.raises(DifferencingError, match="its analysed group and its subgroup 'V' differ by only 7"):
        check_differencing("hope-trust", "r1", GROUP, directory=lab, parts={"V": GROUP[7:]})
    with pytest.raises(DifferencingError, match="differ by only 3"):
        record_request("hope-trust", "r1", GROUP, directory=lab, parts={"A": GROUP[:100], "B": GROUP[3:100]})
    assert not registry_path(lab).exists() or json.loads(registry_path(lab).read_text())["releases"] == []
    record_request("hope-trust", "r1", GROUP, directory=lab, parts={"V": GROUP[10:], "Same": GROUP})
    parts = {e.get("part"): e for e in json.loads(registry_path(lab).read_text())["releases"]}
    assert "values" in parts["V"] and parts["Same"]["same_as"] == "r1" and "values" not in parts["Same"]
