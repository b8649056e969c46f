"""Adversarial command line and batch: what a careless or hostile operator does, and what must hold.

Regression tests for issue 11 items 7 (the command line says what intake dropped), 9 (batch isolation,
shared uploads, --keep-upload), 10 (parameter-file problems without a traceback; repeated keys refused)
and 11 (the report re-render scans its outputs; a quiet kernel that leaves nothing in the temporary
folder, even when killed). Each failed on the code the issue was filed against.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_pipeline import _request
from test_spec import MINIMAL
from typer.testing import CliRunner

from jdl_lib import pipeline
from jdl_lib.cli import app
from jdl_lib.errors import SpecError
from jdl_lib.pipeline import RunOutcome, run_batch
from jdl_lib.spec import load_spec

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with two uploads, a store file and parameter files that pass ``load_spec``."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    (tmp_path / "parameters").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "national.duckdb").write_bytes(b"")
    for name in ("shared.csv", "own.csv"):
        (tmp_path / "data" / name).write_text("forename\n")
    return tmp_path


def _spec(project: Path, request_id: str, upload: str, folder: str = "parameters") -> Path:
    path = project / folder / f"{request_id}.yaml"
    path.parent.mkdir(exist_ok=True)
    spec = {
        **MINIMAL,
        "request_id": request_id,
        "upload": f"../data/{upload}",
        "store": "../data/national.duckdb",
    }
    path.write_text(yaml.safe_dump(spec))
    return path


# --- item 10: parameter-file problems ------------------------------------------------------------------


def test_run_with_a_missing_parameter_file_says_so_without_a_traceback(tmp_path):
    result = runner.invoke(app, ["run", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "parameter file not found" in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_running_a_released_request_again_explains_the_deleted_upload(project):
    params = _spec(project, "demo", "shared.csv")
    (project / "data" / "shared.csv").unlink()  # what a release does to the upload
    result = runner.invoke(app, ["run", str(params)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "deleted once its report is released" in result.output and "--keep-upload" in result.output


def test_a_repeated_key_is_refused_naming_both_lines(project):
    params = project / "parameters" / "dup.yaml"
    params.write_text(yaml.safe_dump(MINIMAL) + "setting: community\n")
    first = yaml.safe_dump(MINIMAL).splitlines().index("setting: custody") + 1
    with pytest.raises(SpecError, match=rf"key 'setting' repeats the key on line {first}"):
        load_spec(params)
    nested = project / "parameters" / "nested.yaml"
    nested.write_text(yaml.safe_dump(MINIMAL) + "matching:\n  ratio: 1\n  ratio: 5\n")
    with pytest.raises(SpecError, match="key 'ratio' repeats"):
        load_spec(nested)


# --- item 9: batch isolation and uploads -----------------------------------------------------------------


def _fake_run(statuses: dict[str, str | type[BaseException]]):
    def run_request(path, **kwargs):
        assert kwargs["keep_upload"] is True  # uploads are the batch's to delete, after every request
        what = statuses[Path(path).stem]
        if isinstance(what, type):
            raise what("JOHN SMITH 01/02/1980")  # an unexpected error whose text could hold personal data
        return RunOutcome(Path(path).stem, what, what, None, 0.0)

    return run_request


def test_batch_reports_every_request_whatever_fails(project, monkeypatch):
    for rid, upload in (("a-shared", "shared.csv"), ("b-buggy", "own.csv"), ("c-shared", "shared.csv")):
        _spec(project, rid, upload)
    (project / "parameters" / "d-broken.yaml").write_text("request_id: broken\nunknown_key: 1\n")
    monkeypatch.setattr(
        pipeline,
        "run_request",
        _fake_run({"a-shared": "released", "b-buggy": RuntimeError, "c-shared": "released"}),
    )
    outcomes = {o.request_id: o for o in run_batch(project / "parameters", root=project, progress=False)}
    assert {k: o.status for k, o in outcomes.items()} == {
        "a-shared": "released",
        "b-buggy": "failed",
        "c-shared": "released",
        "d-broken": "failed",
    }
    assert "unexpected RuntimeError" in outcomes["b-buggy"].message
    assert "JOHN" not in outcomes["b-buggy"].message and "SpecError" in outcomes["d-broken"].message
    assert not (project / "data" / "shared.csv").exists()  # both its requests released: deleted after both
    assert (project / "data" / "own.csv").exists()  # its request failed: kept for a re-run


def test_a_shared_upload_is_kept_while_one_of_its_requests_is_refused(project, monkeypatch):
    _spec(project, "custody", "shared.csv")
    _spec(project, "community", "shared.csv")
    monkeypatch.setattr(pipeline, "run_request", _fake_run({"custody": "released", "community": "refused"}))
    run_batch(project / "parameters", root=project, progress=False)
    assert (project / "data" / "shared.csv").exists()


def test_keep_upload_keeps_every_upload(project, monkeypatch):
    _spec(project, "a", "shared.csv")
    monkeypatch.setattr(pipeline, "run_request", _fake_run({"a": "released"}))
    run_batch(project / "parameters", root=project, progress=False, keep_upload=True)
    assert (project / "data" / "shared.csv").exists()
    result = runner.invoke(app, ["batch", str(project / "parameters"), "--keep-upload"])
    assert result.exit_code == 0 and "1 released" in result.output
    assert (project / "data" / "shared.csv").exists()


def test_ctrl_c_reports_the_requests_not_run(project, monkeypatch):
    for rid in ("a", "b", "c"):
        _spec(project, rid, "own.csv")
    monkeypatch.setattr(pipeline, "run_request", _fake_run({"a": "released", "b": KeyboardInterrupt}))
    outcomes = run_batch(project / "parameters", root=project, progress=False)
    assert [(o.request_id, o.status) for o in outcomes] == [
        ("a", "released"),
        ("b", "interrupted"),
        ("c", "not run"),
    ]
    assert (project / "data" / "own.csv").exists()


def test_accept_dropped_rows_reaches_the_run(project, monkeypatch):
    seen = {}

    def run_request(path, **kwargs):
        seen.update(kwargs)
        return RunOutcome("demo", "released", "released", None, 0.0)

    monkeypatch.setattr(pipeline, "run_request", run_request)
    assert runner.invoke(app, ["run", "x.yaml"]).exit_code == 0 and seen["max_dropped_share"] == 0.10
    assert runner.invoke(app, ["run", "x.yaml", "--accept-dropped-rows"]).exit_code == 0
    assert seen["max_dropped_share"] == 1.0


# --- end to end on the synthetic store (slow) -------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with the small synthetic store, its own lab folder and workspace root."""
    from synth_helpers import small_store

    root = tmp_path_factory.mktemp("lab-project")
    (root / "pyproject.toml").write_text("[project]\nname = 'lab'\n")
    store = small_store()
    shutil.copy(store, root / "national.duckdb")
    shutil.copy(store.with_name(f"{store.stem}.truth.parquet"), root / "national.truth.parquet")
    mp = pytest.MonkeyPatch()
    mp.setenv("JDL_LAB_DIR", str(root / "lab"))
    mp.setenv("JDL_WORKSPACE_ROOT", str(root / "workspaces"))
    mp.chdir(root)
    yield root
    mp.undo()


@pytest.fixture(scope="module")
def shared_batch(lab: Path):
    """Two requests sharing an upload (with one month-first date of birth), a lossy upload, a broken file."""
    first = _request(lab, "shared-a", 200, -0.10, seed=21, folder="batch")
    upload = lab / "shared-a" / "upload.csv"
    cells = pd.read_csv(upload, dtype=str, keep_default_na=False)
    cells.loc[0, "Date of birth"] = "01/13/1980"
    cells.to_csv(upload, index=False)
    shutil.copy(upload, lab / "shared-copy.csv")  # for the report re-render below
    second = yaml.safe_load(first.read_text()) | {"request_id": "shared-b", "comparison": "moj_ttest"}
    (lab / "batch" / "shared-b.yaml").write_text(yaml.safe_dump(second))
    _request(lab, "lossy", 100, -0.05, seed=22, folder="batch")
    lossy_upload = lab / "lossy" / "upload.csv"
    cells = pd.read_csv(lossy_upload, dtype=str, keep_default_na=False)
    cells.loc[: len(cells) // 5, "Custody or community"] = ""
    cells.to_csv(lossy_upload, index=False)
    (lab / "batch" / "zz-broken.yaml").write_text("request_id: broken\nrequest_id: again\n")
    # Two workers: the requests run in parallel processes, sharing the lab's registry and audit log.
    outcomes = run_batch(lab / "batch", outputs=lab / "outputs", root=lab, progress=False, workers=2)
    assert [o.request_id for o in outcomes] == ["lossy", "shared-a", "shared-b", "zz-broken"]  # file order
    return {o.request_id: o for o in outcomes}


@pytest.mark.slow
def test_a_real_batch_reports_everything_and_deletes_a_shared_upload_after_both(shared_batch, lab):
    assert shared_batch["shared-a"].status == "released", shared_batch["shared-a"].message
    assert shared_batch["shared-b"].status == "released", shared_batch["shared-b"].message
    for rid in ("shared-a", "shared-b"):  # the command line says what intake dropped
        message = shared_batch[rid].message
        assert "Rows dropped, by main reason:" in message
        assert "1 row(s): Date of birth: date in the other day/month order" in message
    assert not (lab / "shared-a" / "upload.csv").exists()
    lossy = shared_batch["lossy"]
    assert (
        lossy.status == "refused"
        and "more than the 10%" in lossy.message
        and "Custody or community: empty" in lossy.message
    )
    assert "more people" not in lossy.message
    assert (lab / "lossy" / "upload.csv").exists()
    assert (
        shared_batch["zz-broken"].status == "failed"
        and "repeats the key on line 1" in shared_batch["zz-broken"].message
    )


def _cli(lab: Path, *args: str, tmp: Path) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-m", "jdl_lib", *args],
        cwd=lab,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_report_rerender_is_scanned_quiet_and_leaves_no_kernel_files(shared_batch, lab, tmp_path):
    results = shared_batch["shared-a"].out_dir / "results.json"
    refused = runner.invoke(app, ["report", str(results), "--out", str(lab / "rerender")])
    assert refused.exit_code == 2 and "--upload" in refused.output and not (lab / "rerender").exists()
    child = _cli(
        lab,
        "report",
        str(results),
        "--out",
        str(lab / "rerender"),
        "--upload",
        "shared-copy.csv",
        tmp=tmp_path,
    )
    out, err = child.communicate(timeout=600)
    assert child.returncode == 0, err.decode()
    assert (lab / "rerender" / "report.pdf").exists() and json.loads(results.read_text())
    assert err.decode().strip() == ""  # no "kernel over TCP", no "KeyboardInterrupt caught in kernel"
    assert list(tmp_path.iterdir()) == []  # no connection file, no socket, no staging left behind


@pytest.mark.slow
def test_a_report_killed_while_its_kernel_runs_leaves_nothing(shared_batch, lab, tmp_path):
    results = shared_batch["shared-a"].out_dir / "results.json"
    child = _cli(
        lab, "report", str(results), "--out", str(lab / "killed"), "--upload", "shared-copy.csv", tmp=tmp_path
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("jdl-kernel-*/kernel.json")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert child.poll() is None, "the report ended before its kernel was seen"
    time.sleep(1.0)
    child.send_signal(signal.SIGTERM)
    child.communicate(timeout=60)
    assert child.returncode != 0
    time.sleep(1.0)  # a kernel that outlived its parent would rewrite its connection file now
    assert list(tmp_path.iterdir()) == []
    assert not (lab / "killed" / "report.pdf").exists()
