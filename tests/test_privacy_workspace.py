"""Run workspace and staged release: personal data goes however a run ends; no half report looks complete."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap

import pytest

from jdl_lib.errors import DisclosureError
from jdl_lib.privacy.workspace import COMPLETE_MARKER, RunWorkspace, StagedOutputs, is_complete

CHILD = textwrap.dedent(
    """
    import sys, time
    from jdl_lib.privacy.workspace import RunWorkspace, StagedOutputs
    with RunWorkspace("R-7", root=sys.argv[1]) as ws, StagedOutputs("R-7", outputs=sys.argv[2]) as staged:
        ws.file("upload.csv").write_text("forename,surname\\nAda,Lovelace\\n")
        (staged.path / "report.html").write_text("<p>half written</p>")
        print(ws.path, staged.path, flush=True)
        while True:
            time.sleep(0.05)
    """
)


def _start_child(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "ws"), str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().split()
    assert line, proc.stderr.read()
    ws_path, staging = line
    assert os.path.exists(os.path.join(ws_path, "upload.csv")) and os.path.isdir(staging)
    return proc, ws_path, staging


def test_workspace_is_owner_only_and_deleted_on_normal_exit(tmp_path):
    with RunWorkspace("R-1", root=tmp_path) as ws:
        ws.file("upload.csv").write_text("x")
        assert stat.S_IMODE(ws.path.stat().st_mode) == 0o700
        path = ws.path
    assert not path.exists() and ws.deleted


def test_workspace_is_deleted_when_the_run_fails(tmp_path):
    with pytest.raises(ZeroDivisionError), RunWorkspace("R-1", root=tmp_path) as ws:
        ws.file("linked.parquet").write_text("x")
        1 / 0  # noqa: B018
    assert not ws.path.exists() and ws.deleted


def test_signal_handlers_are_restored(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    with RunWorkspace("R-1", root=tmp_path):
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_deletes_workspace_and_unreleased_report(tmp_path, sig):
    proc, ws_path, staging = _start_child(tmp_path)
    proc.send_signal(sig)
    proc.wait(timeout=30)
    assert proc.returncode != 0
    assert not os.path.exists(ws_path), "personal data left behind"
    assert not os.path.exists(staging) and not (tmp_path / "out" / "R-7").exists()


def test_sigkill_leftovers_are_swept_and_the_next_run_succeeds(tmp_path):
    proc, ws_path, staging = _start_child(tmp_path)
    proc.kill()
    proc.wait(timeout=30)
    assert os.path.exists(ws_path)  # a killed process cannot clean up...
    with RunWorkspace("R-7", root=tmp_path / "ws") as ws, StagedOutputs("R-7", tmp_path / "out") as staged:
        assert not os.path.exists(ws_path) and not os.path.exists(staging)  # ...the next run does
        assert len(ws.swept) == 1
        (staged.path / "report.html").write_text("<p>done</p>")
        staged.release()
    assert is_complete(tmp_path / "out" / "R-7")


def test_live_workspaces_of_other_runs_are_not_swept(tmp_path):
    with RunWorkspace("R-1", root=tmp_path) as first, RunWorkspace("R-2", root=tmp_path):
        assert first.path.exists()


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".."])
def test_workspace_files_must_be_plain_names(tmp_path, name):
    with RunWorkspace("R-1", root=tmp_path) as ws, pytest.raises(DisclosureError, match="plain name"):
        ws.file(name)


@pytest.mark.parametrize("request_id", ["../R1", "R/1", "..", "", "a" * 101, "R 1"])
def test_request_ids_cannot_escape_their_folder(tmp_path, request_id):
    with pytest.raises(DisclosureError, match="cannot name an output folder"):
        RunWorkspace(request_id, root=tmp_path)
    with pytest.raises(DisclosureError):
        StagedOutputs(request_id, tmp_path)


def test_release_marks_complete_with_a_manifest(tmp_path):
    with StagedOutputs("R-1", tmp_path) as staged:
        (staged.path / "report.html").write_text("<p>ok</p>")
        (staged.path / "figures").mkdir()
        (staged.path / "figures" / "rate.png").write_bytes(b"png")
        assert not (tmp_path / "R-1").exists()
        released = staged.release()
    assert released.files == ("figures/rate.png", "report.html")
    folder = tmp_path / "R-1"
    assert is_complete(folder)
    assert set(json.loads((folder / COMPLETE_MARKER).read_text())["files"]) == set(released.files)
    (folder / "report.html").write_text("<p>edited</p>")
    assert not is_complete(folder)


def test_failed_run_releases_nothing_and_keeps_the_earlier_report(tmp_path):
    with StagedOutputs("R-1", tmp_path) as staged:
        (staged.path / "report.html").write_text("first")
        staged.release()
    with pytest.raises(RuntimeError), StagedOutputs("R-1", tmp_path) as staged:
        (staged.path / "report.html").write_text("half")
        raise RuntimeError("scan failed")
    assert (tmp_path / "R-1" / "report.html").read_text() == "first" and is_complete(tmp_path / "R-1")
    assert [p.name for p in tmp_path.iterdir()] == ["R-1"]


def test_rerelease_replaces_the_earlier_report(tmp_path):
    for text in ("first", "second"):
        with StagedOutputs("R-1", tmp_path) as staged:
            (staged.path / "report.html").write_text(text)
            staged.release()
    assert (tmp_path / "R-1" / "report.html").read_text() == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["R-1"]
