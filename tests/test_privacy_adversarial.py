"""A determined user against the lab's promises (issue 11): differencing, the registry, suppression.

Each test is an attack that worked on an earlier version. The run lifecycle is the real one
(:func:`jdl_lib.pipeline.run_request`: lab folder, request-id rules, differencing guard, staging, output
scan, release, audit log); only the statistics and the notebook rendering are replaced by stand-ins so the
analysed group can be chosen person by person and a run takes a fraction of a second.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from intake_helpers import clean_cohort
from typer.testing import CliRunner

from jdl_lib import pipeline
from jdl_lib.cli import app
from jdl_lib.errors import DisclosureError, SpecError
from jdl_lib.privacy import read_audit_log, suppress_table, verify_audit_log
from jdl_lib.privacy.differencing import DEFAULT_MIN_DIFFERENCE, _difference, registry_path
from jdl_lib.privacy.lab import keyed_hash, lab_secret
from jdl_lib.report.example import example_results
from jdl_lib.spec import load_spec

NATIONAL = np.arange(1, 20_001)  # the national person ids an attacker can enumerate
GROUP = [int(x) for x in np.random.default_rng(11).choice(NATIONAL, size=300, replace=False)]
UPLOAD = clean_cohort(n=8, seed=5)


class Lab:
    """A project whose runs analyse whichever group the test sets in ``self.group``."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.outputs = root / "outputs"
        self.group: list[int] = GROUP
        self.parts: dict[str, list[int]] = {}
        (root / "pyproject.toml").write_text("[project]\nname='lab'\n")
        (root / "national.duckdb").write_bytes(b"")
        monkeypatch.setenv("JDL_WORKSPACE_ROOT", str(root / "workspaces"))
        monkeypatch.setattr(pipeline, "analyse", self._analyse)
        monkeypatch.setattr(pipeline, "render_report", self._render)
        monkeypatch.setattr(pipeline.NationalStore, "open", self._store)

    @staticmethod
    @contextmanager
    def _store(path):
        yield SimpleNamespace(
            provenance=SimpleNamespace(content_hash="0" * 64),
            connection=SimpleNamespace(execute=lambda sql: None),
        )

    def _analyse(self, spec, store, upload_path, step=None, **options):
        return pipeline.Analysis(
            results=example_results(),
            analysed_person_ids=np.array(self.group),
            upload_people=UPLOAD,
            counts={"submitted": len(self.group)},
            published_parts={label: np.array(ids) for label, ids in self.parts.items()},
        )

    @staticmethod
    def _render(results_path, out_dir, report_date=None):
        (Path(out_dir) / "report.html").write_text("<p>aggregate report</p>")

    def params(self, request_id: str, organisation_id: str, name: str = "Diff Org") -> Path:
        (self.root / "upload.csv").write_text("Forename\n")
        spec = {
            "request_id": request_id,
            "organisation": name,
            "organisation_id": organisation_id,
            "intervention": {"name": "mentoring", "description": "weekly mentoring after release"},
            "upload": "upload.csv",
            "setting": "custody",
            "store": "national.duckdb",
        }
        path = self.root / f"{request_id}-{organisation_id}.yaml"
        path.write_text(yaml.safe_dump(spec))
        return path

    def run(self, request_id: str, organisation_id: str = "diff-org", **kwargs):
        path = self.params(request_id, organisation_id, kwargs.pop("name", "Diff Org"))
        kwargs.setdefault("outputs", self.outputs)
        return pipeline.run_request(path, progress=False, keep_upload=True, **kwargs)

    def audit(self) -> list[dict]:
        return read_audit_log(directory=self.outputs / ".lab")


@pytest.fixture
def lab(tmp_path, monkeypatch) -> Lab:
    (tmp_path / "project").mkdir()
    return Lab(tmp_path / "project", monkeypatch)


# --- 1a. re-running the same request with one person removed -------------------------------------------


def test_rerun_of_the_same_request_with_one_person_removed_is_refused(lab):
    assert lab.run("r1").status == "released"
    lab.group = GROUP[1:]
    plain = lab.run("r1")
    assert plain.status == "refused" and "already released" in plain.message and "--replace" in plain.message
    replaced = lab.run("r1", replace=True)
    assert replaced.status == "refused"
    assert "report already released for this request by only 1 person" in replaced.message
    assert json.loads((lab.outputs / "r1" / "results.json").read_text()) == example_results()


def test_replacement_is_explicit_audited_and_keeps_the_old_group_comparable(lab):
    assert lab.run("r1", replace=True).status == "released"  # nothing to replace yet
    assert lab.audit()[-1]["replaced"] is False
    lab.group = GROUP[::-1]  # the same people: a re-run that reveals nothing new
    assert lab.run("r1", replace=True).status == "released"
    assert lab.audit()[-1]["replaced"] is True and lab.audit()[-1]["status"] == "succeeded"
    lab.group = GROUP[40:]  # far enough from the released group: a new report may replace it ...
    assert lab.run("r1", replace=True).status == "released"
    lab.group = GROUP[2:]  # ... but the first report is still public, so this is 2 people from it
    outcome = lab.run("r2")
    assert outcome.status == "refused" and "released report 'r1' by only 2 people" in outcome.message


# --- 1b. a variant organisation name ----------------------------------------------------------------


def test_a_variant_organisation_is_still_compared_with_every_release(lab):
    assert lab.run("r1", "diff-org", name="Diff Org").status == "released"
    lab.group = GROUP[1:]
    for org, name in [("diff-org", "diff org ltd"), ("diff-org-ltd", "Diff Org Ltd."), ("other", "Other")]:
        outcome = lab.run(f"r2-{org}", org, name=name)
        assert outcome.status == "refused" and "by only 1 person" in outcome.message, org


def test_organisations_need_a_stable_identifier(lab):
    path = lab.params("r1", "diff-org")
    spec = yaml.safe_load(path.read_text())
    for bad in (
        {k: v for k, v in spec.items() if k != "organisation_id"},
        {**spec, "organisation_id": "Diff Org"},
    ):
        path.write_text(yaml.safe_dump(bad))
        with pytest.raises(SpecError, match="organisation_id"):
            load_spec(path)


# --- 1c. another working directory ------------------------------------------------------------------


def test_another_working_directory_uses_the_lab_of_the_outputs(lab, tmp_path, monkeypatch):
    lab.run("r1")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    lab.group = GROUP[1:]
    outcome = lab.run("r2", outputs=lab.outputs)
    assert outcome.status == "refused" and "by only 1 person" in outcome.message
    default = pipeline.run_request(lab.params("r3", "diff-org"), progress=False, keep_upload=True)
    assert default.status == "refused" and "by only 1 person" in default.message
    assert not (elsewhere / "outputs").exists()
    assert [r["status"] for r in lab.audit()] == ["succeeded", "refused", "refused"]


def test_a_deleted_lab_folder_does_not_reset_the_guard(lab):
    lab.run("r1")
    for item in sorted((lab.outputs / ".lab").rglob("*"), reverse=True):
        item.rmdir() if item.is_dir() else item.unlink()
    lab.group = GROUP[1:]
    outcome = lab.run("r2")
    assert outcome.status == "refused" and "restore the lab folder" in outcome.message
    assert not (lab.outputs / ".lab" / "secret.key").exists() and not (lab.outputs / "r2").exists()


# --- 2. refusals are audited and explained ----------------------------------------------------------


def test_every_refusal_is_audited_and_explained(lab):
    lab.run("r1")
    lab.group = GROUP[1:]
    outcome = lab.run("r2")
    assert outcome.status == "refused" and "Comparing the two reports would reveal" in outcome.message
    record = lab.audit()[-1]
    assert record["status"] == "refused" and record["released"] is False
    assert "by only 1 person" in record["error"] and record["request_id"] == "r2"
    assert verify_audit_log(directory=lab.outputs / ".lab") == 2


def test_a_refusal_whose_message_trips_the_audit_filter_is_still_audited(lab, monkeypatch):
    def refuse(*args, **kwargs):
        raise DisclosureError("refused: the group recorded on 2026-01-02 is too close")

    monkeypatch.setattr(pipeline, "check_differencing", refuse)
    outcome = lab.run("r1")
    assert outcome.status == "refused" and "2026-01-02 is too close" in outcome.message
    record = lab.audit()[-1]
    assert record["status"] == "refused" and "withheld" in record["error"] and "2026" not in record["error"]


# --- 3. suppression cannot be turned down -----------------------------------------------------------


@pytest.mark.parametrize("threshold", [0, 1, 2, 4, 21])
def test_cell_threshold_cannot_be_lowered_below_5(lab, threshold):
    path = lab.params("r1", "diff-org")
    path.write_text(
        yaml.safe_dump({**yaml.safe_load(path.read_text()), "disclosure": {"cell_threshold": threshold}})
    )
    with pytest.raises(SpecError, match="disclosure.cell_threshold: must be between 5 and 20"):
        load_spec(path)
    result = CliRunner().invoke(app, ["check-spec", str(path)])
    assert result.exit_code == 1 and "cell_threshold" in result.output


def test_a_raised_cell_threshold_is_accepted_and_raises_the_differencing_minimum(lab):
    path = lab.params("r1", "diff-org")
    path.write_text(
        yaml.safe_dump({**yaml.safe_load(path.read_text()), "disclosure": {"cell_threshold": 15}})
    )
    assert load_spec(path).disclosure.cell_threshold == 15
    pipeline.run_request(path, outputs=lab.outputs, progress=False, keep_upload=True)
    lab.group = GROUP[12:]  # 12 people away: enough for the default 10, not for a threshold of 15
    outcome = lab.run("r2")
    assert outcome.status == "released"  # r2's own threshold is the default
    lab.group = GROUP[13:]
    raised = lab.params("r3", "diff-org")
    raised.write_text(
        yaml.safe_dump({**yaml.safe_load(raised.read_text()), "disclosure": {"cell_threshold": 15}})
    )
    refused = pipeline.run_request(raised, outputs=lab.outputs, progress=False, keep_upload=True)
    assert refused.status == "refused" and "fewer than the 15" in refused.message


@pytest.mark.parametrize("threshold", [1, 2, 4])
def test_suppress_table_refuses_a_lowered_threshold(threshold):
    table = pd.DataFrame({"n": [2, 30, 40]}, index=["a", "b", "c"])
    with pytest.raises(DisclosureError, match="never lowered"):
        suppress_table(table, ["n"], threshold=threshold)


# --- 5. the registry cannot name who was in a programme ---------------------------------------------


def test_reading_the_lab_folder_recovers_no_one(lab):
    """The attack that recovered 755 of 755 people: hash every national id with the lab's own secret."""
    lab.run("r1")
    key = lab_secret(lab.outputs / ".lab")
    stored = "\n".join(
        p.read_text(errors="replace") for p in (lab.outputs / ".lab").rglob("*") if p.is_file()
    )
    found = [
        pid
        for pid in NATIONAL
        if (h := keyed_hash(key, str(pid))[:15]) in stored or str(int(h, 16)) in stored
    ]
    assert found == []


def test_a_sketch_cannot_tell_members_from_non_members(lab):
    """Every same-sized group is equally consistent with a release: 'are you within 9 people?' says no."""
    lab.run("r1")
    (entry,) = json.loads(registry_path(lab.outputs / ".lab").read_text())["releases"]
    key = lab_secret(lab.outputs / ".lab")
    rng = np.random.default_rng(3)
    members = sorted(int(keyed_hash(key, str(p))[:15], 16) for p in GROUP)
    strangers = [p for p in NATIONAL if p not in set(GROUP)]
    for _ in range(5):  # half the real group plus strangers, or only strangers: no signal either way
        guess = list(rng.choice(GROUP, 150, replace=False)) + list(rng.choice(strangers, 150, replace=False))
        values = sorted({int(keyed_hash(key, str(p))[:15], 16) for p in guess})
        assert _difference(values, entry, DEFAULT_MIN_DIFFERENCE) is None
    assert _difference(members, entry, DEFAULT_MIN_DIFFERENCE) == 0  # only the group itself matches


def test_two_released_groups_cannot_be_subtracted_through_the_registry(lab):
    """Releases 10 people apart are allowed; their sketches share no points, so they cannot be divided."""
    lab.run("r1")
    lab.group = GROUP[DEFAULT_MIN_DIFFERENCE:]
    assert lab.run("r2").status == "released"
    first, second = json.loads(registry_path(lab.outputs / ".lab").read_text())["releases"]
    assert not set(first["points"]) & set(second["points"])


def test_releasing_the_same_group_again_stores_no_further_sketch(lab):
    """Sketches of one group at more points than it has people would give the group away by interpolation."""
    for request_id, replace in [("r1", False), ("r1", True), ("r1", True), ("r2", False)]:
        assert lab.run(request_id, replace=replace).status == "released"
    releases = json.loads(registry_path(lab.outputs / ".lab").read_text())["releases"]
    assert sum("values" in e for e in releases) == 1 and len(releases) == 4
    assert {e.get("same_as") for e in releases[1:]} == {"r1"}
    lab.group = GROUP[1:]
    assert "by only 1 person" in lab.run("r3").message


def test_a_published_subgroup_cannot_be_differenced_against_another_report(lab):
    """Report r1 publishes the women of its group; r2's whole group is those women plus one person."""
    lab.parts = {"Gender: Women": GROUP[:150]}
    assert lab.run("r1").status == "released"
    lab.group, lab.parts = GROUP[:150] + [int(NATIONAL[-1])], {}
    outcome = lab.run("r2", "another-org")
    assert (
        outcome.status == "refused" and "subgroup 'Gender: Women' of released report 'r1'" in outcome.message
    )


# --- 6. a request id belongs to one organisation ----------------------------------------------------


def test_a_request_id_released_for_another_organisation_is_refused(lab):
    lab.run("r1", "diff-org")
    before = (lab.outputs / "r1" / "COMPLETE").read_text()
    lab.group = GROUP[150:] + [int(x) for x in NATIONAL[-150:]]
    for replace in (False, True):
        outcome = lab.run("r1", "someone-else", replace=replace)
        assert outcome.status == "refused" and "released for another organisation" in outcome.message
    assert (lab.outputs / "r1" / "COMPLETE").read_text() == before
    assert lab.audit()[-1]["status"] == "refused"
