"""Append-only audit log of runs: what was analysed, with which code and data, and that it was deleted.

One JSON object per line, appended with ``O_APPEND`` under a file lock, in ``<lab dir>/audit.log`` (or a
path given). Each record carries a sequence number, the keyed hash (HMAC-SHA256 under the lab secret) of
the record before it and its own keyed hash, so editing, deleting or re-ordering any line is detected by
:func:`verify_audit_log`, and nobody without the lab secret can rebuild a consistent chain.

A record holds only whitelisted fields of simple types (:data:`AUDIT_FIELDS`), never names, dates of
birth or ids: strings that look like a date, PNC ID or prison number are refused, and when the upload is
passed the serialised record is also checked with the output scanner before it is written.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from jdl_lib.errors import JdlError
from jdl_lib.privacy.lab import has_lab, keyed_hash, lab_dir, lab_secret
from jdl_lib.privacy.scanner import identifiers_from_upload, scan_text

log = logging.getLogger(__name__)

#: Fields a record may hold, and what each means.
AUDIT_FIELDS: dict[str, str] = {
    "request_id": "The request's id.",
    "organisation": "Keyed hash of the requesting organisation.",
    "upload_hash": "Keyed hash of the uploaded file's bytes.",
    "counts": "People remaining after each stage (stage name -> count).",
    "spec_hash": "SHA-256 of the request specification as read.",
    "code_version": "jdl package version and git commit.",
    "data_version": "Provenance hash of the national store.",
    "started": "Run start time (UTC, ISO 8601).",
    "finished": "Run end time (UTC, ISO 8601).",
    "status": "succeeded, refused (a disclosure or intake rule said no), failed or interrupted.",
    "error": "Error class and message for a failed run (messages never hold personal data).",
    "test_override": "True if the test-only small-group override was used.",
    "workspace_deleted": "True once the run's personal-data workspace is gone.",
    "deleted_at": "Time the workspace deletion was confirmed (UTC, ISO 8601).",
    "swept": "Number of workspaces of killed runs deleted at this run's start.",
    "released": "True if the report was released to outputs/<request id>/.",
    "replaced": "True if the run replaces a report already released for the request (--replace).",
    "design": "Workbench: a locked design's matching settings (method, ratio, caliper, strata, covariates).",
    "design_hash": "Workbench: SHA-256 of the locked design's settings, to tie outcome looks to a lock.",
    "balance_verdict": "Workbench: the locked design's overall balance verdict (good, reasonable, poor).",
    "max_abs_smd": "Workbench: the locked design's largest absolute standardised difference after matching.",
    "outcome_looks": "Workbench: how many times outcomes have been shown in this session.",
}
_TIME_FIELDS = ("started", "finished", "deleted_at")
_GENESIS = "0" * 64
_CODE_VERSION = re.compile(r"jdl [0-9A-Za-z.+-]{1,40} git (?:[0-9a-f]{7,40}|no-git)")
_LOOKS_PERSONAL = re.compile(
    r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"  # a date
    r"|\d{2,4}\s*/\s*\d{1,7}\s*[A-Za-z]\b"  # a PNC ID
    r"|\b[A-Za-z]\d{4}[A-Za-z]{2}\b"  # a prison number
)


class AuditLogError(JdlError):
    """The audit log has been altered, or a record would break the log's rules."""


def audit_log_path(path: str | os.PathLike[str] | None = None, *, directory: str | os.PathLike[str]) -> Path:
    """The audit log's path: ``path`` if given, else ``<lab dir>/audit.log``."""
    return Path(path) if path is not None else lab_dir(directory) / "audit.log"


def now() -> str:
    """Current UTC time as an ISO 8601 string, the form every time field uses."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def code_version() -> str:
    """Return ``"jdl <version> git <commit>"`` (``"no-git"`` outside a git checkout)."""
    from jdl_lib import __version__

    try:
        commit = subprocess.run(
            ["git", "-C", str(Path(__file__).parent), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "no-git"
    return f"jdl {__version__} git {commit}"


def _check_fields(fields: Mapping[str, object]) -> dict[str, object]:
    unknown = sorted(set(fields) - set(AUDIT_FIELDS))
    if unknown:
        raise AuditLogError(
            f"audit record: unknown field(s) {unknown}; allowed fields are {sorted(AUDIT_FIELDS)}"
        )
    clean: dict[str, object] = {}
    for key, value in fields.items():
        if key == "counts":
            if not isinstance(value, Mapping) or not all(
                isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
                for k, v in value.items()
            ):
                raise AuditLogError("audit record: 'counts' must map stage names to whole numbers")
            strings = list(value)
            value = dict(value)
        elif value is None or isinstance(value, bool | int | float):
            strings = []
        elif isinstance(value, str):
            strings = [value]
        else:
            raise AuditLogError(f"audit record: field {key!r} must be text, a number or true/false")
        if key in _TIME_FIELDS:
            try:
                datetime.fromisoformat(str(value))
            except ValueError:
                raise AuditLogError(f"audit record: {key!r} must be an ISO 8601 time from now()") from None
        elif key == "code_version":
            if not _CODE_VERSION.fullmatch(str(value)):
                raise AuditLogError("audit record: 'code_version' must come from code_version()")
        elif any(_LOOKS_PERSONAL.search(s) for s in strings):
            raise AuditLogError(
                f"audit record: field {key!r} looks like a date or an identifier; the audit log never "
                "records personal data. Record a count or a hash instead."
            )
        clean[key] = value
    return clean


def _seal(key: bytes, record: dict[str, object]) -> str:
    return keyed_hash(key, json.dumps(record, sort_keys=True, separators=(",", ":")))


def append_audit_record(
    event: str,
    fields: Mapping[str, object],
    *,
    directory: str | os.PathLike[str],
    path: str | os.PathLike[str] | None = None,
    upload_people: pd.DataFrame | None = None,
) -> dict[str, object]:
    """Append one record to the audit log and return it as written.

    Why: the lab must be able to show, for every run, what was analysed with which code and data, and
    that the personal data was deleted, without the log itself becoming a store of personal data.

    Parameters
    ----------
    event : str
        What happened: ``"run"`` for a finished run, ``"sweep"`` for leftovers of killed runs removed.
    fields : mapping
        Keys from :data:`AUDIT_FIELDS`; values text, numbers, booleans, or stage counts.
    directory : path
        The lab directory holding the secret (and ``audit.log`` unless ``path`` is given).
    path : path, optional
        Log path, if not ``<directory>/audit.log``.
    upload_people : pandas.DataFrame, optional
        The upload; if given, the record is refused if it contains anyone's identifiers.

    Raises
    ------
    AuditLogError
        If a field is unknown, malformed or looks like personal data.
    """
    if not re.fullmatch(r"[a-z_]{1,30}", event):
        raise AuditLogError(f"audit record: event {event!r} must be a short lower-case word")
    record: dict[str, object] = {"event": event, **_check_fields(fields)}
    if upload_people is not None and scan_text(json.dumps(record), identifiers_from_upload(upload_people)):
        raise AuditLogError("audit record: it contains an identifier from the upload, so it was not written")
    key = lab_secret(directory)
    log_path = audit_log_path(path, directory=directory)
    fd = os.open(log_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        lines = log_path.read_text().splitlines()
        last = json.loads(lines[-1]) if lines else {"seq": 0, "hash": _GENESIS}
        record = {"seq": int(last["seq"]) + 1, "time": now(), "prev": last["hash"], **record}
        record["hash"] = _seal(key, record)
        os.write(fd, (json.dumps(record, sort_keys=True) + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)  # also releases the lock
    return record


def read_audit_log(
    path: str | os.PathLike[str] | None = None, *, directory: str | os.PathLike[str]
) -> list[dict]:
    """Return every record of the audit log, oldest first (an empty list if there is no log yet)."""
    log_path = audit_log_path(path, directory=directory)
    if not log_path.exists():
        return []
    return [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]


def verify_audit_log(path: str | os.PathLike[str] | None = None, *, directory: str | os.PathLike[str]) -> int:
    """Check the audit log's chain of keyed hashes and return the number of records.

    Raises
    ------
    AuditLogError
        Naming the first line that was edited, removed, inserted or re-ordered; or naming ``directory``
        when it is not a lab in use (no secret), rather than starting one there and reporting an empty
        log as intact.
    """
    if not has_lab(directory):
        raise AuditLogError(
            f"{Path(directory).resolve()} is not a lab folder in use (it holds no lab secret), so there is "
            "no audit log there to verify. Give the lab of the outputs the runs release to: "
            "<outputs>/.lab, by default the outputs/ folder of the project holding the parameter files."
        )
    key = lab_secret(directory)
    log_path = audit_log_path(path, directory=directory)
    prev, seq = _GENESIS, 0
    lines = log_path.read_text().splitlines() if log_path.exists() else []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
            body = {k: v for k, v in record.items() if k != "hash"}
            intact = (
                record["seq"] == seq + 1 and record["prev"] == prev and record["hash"] == _seal(key, body)
            )
        except (ValueError, KeyError, TypeError):
            intact = False
        if not intact:
            raise AuditLogError(
                f"audit log {log_path} line {number}: a record was changed, or one before it removed "
                "or inserted; restore the log from the lab's backup and investigate who had write access"
            )
        prev, seq = record["hash"], record["seq"]
    return seq
