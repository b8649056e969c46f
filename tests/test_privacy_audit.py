"""Audit log: append-only, tamper-evident, and free of personal data."""

from __future__ import annotations

import json
import multiprocessing
import stat

import pandas as pd
import pytest

from jdl_lib.privacy.audit import (
    AuditLogError,
    append_audit_record,
    code_version,
    now,
    read_audit_log,
    verify_audit_log,
)
from jdl_lib.privacy.lab import keyed_file_hash, lab_secret
from jdl_lib.privacy.scanner import scan_outputs

UPLOAD = pd.DataFrame(
    {
        "forename": ["Ada", "Kwame"],
        "surname": ["Lovelace", "Mensah"],
        "date_of_birth": ["1985-03-01", "1979-11-30"],
        "pnc_id": ["1998/0012345J", None],
        "prison_number": ["A1234BC", None],
    }
)


def _run_record(lab, upload_file):
    return {
        "request_id": "R-42",
        "upload_hash": keyed_file_hash(lab_secret(lab), upload_file),
        "counts": {"submitted": 203, "linked": 170, "eligible": 142, "matched": 142},
        "spec_hash": "ab" * 32,
        "code_version": code_version(),
        "data_version": "cd" * 32,
        "started": now(),
        "finished": now(),
        "status": "succeeded",
        "workspace_deleted": True,
        "deleted_at": now(),
        "swept": 0,
        "released": True,
        "test_override": False,
    }


@pytest.fixture
def lab(tmp_path):
    return tmp_path / "lab"


@pytest.fixture
def upload_file(tmp_path):
    path = tmp_path / "upload.csv"
    UPLOAD.to_csv(path, index=False)
    return path


def test_records_chain_and_verify(lab, upload_file):
    first = append_audit_record("run", _run_record(lab, upload_file), directory=lab, upload_people=UPLOAD)
    second = append_audit_record("sweep", {"swept": 2}, directory=lab)
    assert (first["seq"], second["seq"]) == (1, 2) and second["prev"] == first["hash"]
    assert verify_audit_log(directory=lab) == 2
    assert [r["event"] for r in read_audit_log(directory=lab)] == ["run", "sweep"]
    assert stat.S_IMODE((lab / "audit.log").stat().st_mode) == 0o600


def test_the_log_holds_no_personal_data(lab, upload_file):
    append_audit_record("run", _run_record(lab, upload_file), directory=lab, upload_people=UPLOAD)
    assert scan_outputs([lab / "audit.log"], UPLOAD) == []
    assert "Lovelace" not in (lab / "audit.log").read_text()


def _lines(lab):
    return (lab / "audit.log").read_text().splitlines()


def test_editing_a_record_is_detected(lab):
    for n in (10, 20, 30):
        append_audit_record("sweep", {"swept": n}, directory=lab)
    lines = _lines(lab)
    lines[1] = lines[1].replace('"swept": 20', '"swept": 21')
    (lab / "audit.log").write_text("\n".join(lines) + "\n")
    with pytest.raises(AuditLogError, match="line 2"):
        verify_audit_log(directory=lab)


def test_removing_a_record_is_detected(lab):
    for n in (10, 20, 30):
        append_audit_record("sweep", {"swept": n}, directory=lab)
    lines = _lines(lab)
    (lab / "audit.log").write_text("\n".join([lines[0], lines[2]]) + "\n")
    with pytest.raises(AuditLogError, match="line 2"):
        verify_audit_log(directory=lab)


def test_a_rebuilt_chain_without_the_lab_secret_is_detected(lab):
    import hashlib

    append_audit_record("sweep", {"swept": 1}, directory=lab)
    record = json.loads(_lines(lab)[0])
    record["swept"] = 0
    body = {k: v for k, v in record.items() if k != "hash"}
    record["hash"] = hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    (lab / "audit.log").write_text(json.dumps(record) + "\n")
    with pytest.raises(AuditLogError, match="line 1"):
        verify_audit_log(directory=lab)


@pytest.mark.parametrize(
    "fields",
    [
        {"request_id": "01/03/1985"},
        {"error": "IntakeError: row with PNC 98/12345J is invalid"},
        {"error": "prison number A1234BC unknown"},
        {"counts": {"1985-03-01": 1}},
        {"started": "yesterday"},
        {"code_version": "1.0.0"},
        {"surname": "x"},
        {"counts": {"linked": 1.5}},
        {"request_id": ["R1"]},
    ],
)
def test_fields_that_could_hold_personal_data_are_refused(lab, fields):
    with pytest.raises(AuditLogError):
        append_audit_record("run", fields, directory=lab)
    assert read_audit_log(directory=lab) == []


def test_upload_identifiers_are_refused_even_in_free_text(lab):
    with pytest.raises(AuditLogError, match="identifier from the upload"):
        append_audit_record(
            "run",
            {"error": "MatchingError: no control for Kwame Mensah"},
            directory=lab,
            upload_people=UPLOAD,
        )
    assert read_audit_log(directory=lab) == []


def test_earlier_records_survive_appends(lab):
    append_audit_record("sweep", {"swept": 1}, directory=lab)
    before = (lab / "audit.log").read_text()
    append_audit_record("sweep", {"swept": 2}, directory=lab)
    assert (lab / "audit.log").read_text().startswith(before)


def _append_many(directory: str) -> None:
    for n in range(15):
        append_audit_record("sweep", {"swept": n}, directory=directory)


def test_concurrent_writers_keep_the_chain_intact(lab):
    lab_secret(lab)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(lab),)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert verify_audit_log(directory=lab) == 30


def test_code_version_names_package_and_commit():
    assert code_version().startswith("jdl 0.1.0 git ")
