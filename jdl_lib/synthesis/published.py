"""The published reports: every released request folder under ``outputs/``, read through results.json only.

A report counts as published when its folder carries a ``COMPLETE`` marker whose file hashes all match
(:func:`jdl_lib.privacy.workspace.is_complete`): a run that failed, was refused or was interrupted leaves no
such folder, and a folder edited after release no longer matches its marker. Only ``results.json`` is read
(aggregates, validated against the results contract), never a notebook, an upload or the national store.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jdl_lib.privacy.workspace import is_complete
from jdl_lib.report.results import ResultsError, read_results

log = logging.getLogger(__name__)

#: Files of a released report the published site links to, when present.
REPORT_FILES = ("report.html", "report.pdf")


@dataclass(frozen=True)
class PublishedReport:
    """One released report: its folder, its validated results and which report files it holds."""

    request_id: str
    folder: Path
    results: dict[str, Any]
    files: tuple[str, ...]


def published_reports(outputs: str | os.PathLike[str] = "outputs") -> list[PublishedReport]:
    """Every released report under ``outputs``, sorted by request id.

    Why: publication and synthesis must see exactly what the lab released, and nothing half-written or
    tampered with. Folders that are hidden (staging, the lab's private directory) or not complete are
    skipped silently; a complete folder whose results.json breaks the contract is skipped with a warning
    naming the folder (re-run that request to publish it).
    """
    root = Path(outputs)
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not (folder / "results.json").is_file() or not is_complete(folder):
            continue
        try:
            results = read_results(folder / "results.json")
        except ResultsError as exc:
            log.warning("skipping released folder %s: %s", folder.name, exc)
            continue
        files = tuple(name for name in REPORT_FILES if (folder / name).is_file())
        found.append(PublishedReport(results["request"]["request_id"], folder, results, files))
    return found
