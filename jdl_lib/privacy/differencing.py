"""Differencing guard: refuse a request whose analysed group nearly equals an earlier one's.

If an organisation asked for two analyses whose treatment groups differ by two people, subtracting one
report from the other would give those two people's reoffending. The lab therefore keeps, per
organisation and per request, the salted hashes (HMAC-SHA256 under the lab secret, see
:mod:`jdl_lib.privacy.lab`) of the national person ids analysed, and refuses a new request whose group
differs from an earlier one by at least one but fewer than ``min_difference`` people.

The registry is one JSON file per organisation in ``<lab dir>/registry/``, named by a keyed hash of the
organisation, written atomically with owner-only permissions and updated under a file lock. It holds
request ids, dates and hashes only: no personal data in the clear.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from jdl_lib.errors import DisclosureError
from jdl_lib.privacy.disclosure import DEFAULT_THRESHOLD
from jdl_lib.privacy.lab import keyed_hash, lab_dir, lab_secret

log = logging.getLogger(__name__)

#: Default smallest allowed difference between two analysed groups of one organisation.
DEFAULT_MIN_DIFFERENCE = 10


@dataclass(frozen=True)
class DifferencingCheck:
    """A passed differencing check: the settings and how close the nearest earlier request was.

    ``nearest_difference`` is None when the organisation has no other request on record; 0 means an
    identical group (the same people, which reveals nothing new).
    """

    request_id: str
    n_people: int
    min_difference: int
    earlier_requests: int
    nearest_request: str | None
    nearest_difference: int | None


def _hashes(key: bytes, person_ids: Iterable[object]) -> set[str]:
    # One HMAC per person of one request (hundreds to thousands), not a national-scale loop.
    return {keyed_hash(key, str(pid)) for pid in person_ids}


class _Registry:
    """One organisation's registry file, opened under an exclusive lock."""

    def __init__(self, org: str, directory: str | os.PathLike[str] | None) -> None:
        if not str(org).strip():
            raise DisclosureError(
                "differencing: the organisation name is empty; give the requesting organisation"
            )
        self.root = lab_dir(directory)
        self.key = lab_secret(self.root)
        folder = self.root / "registry"
        folder.mkdir(exist_ok=True, mode=0o700)
        self.path = folder / f"{keyed_hash(self.key, 'org:' + str(org).strip().casefold())[:32]}.json"

    @contextmanager
    def locked(self) -> Iterator[dict[str, dict]]:
        """Yield the requests dict under an exclusive lock; changes are written back atomically."""
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            requests = json.loads(self.path.read_text())["requests"] if self.path.exists() else {}
            before = json.dumps(requests, sort_keys=True)
            yield requests
            if json.dumps(requests, sort_keys=True) != before:
                fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
                with os.fdopen(fd, "w") as handle:
                    json.dump({"format": 1, "requests": requests}, handle, sort_keys=True)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.path)


def check_differencing(
    org: str,
    request_id: str,
    person_ids: Iterable[object],
    *,
    min_difference: int = DEFAULT_MIN_DIFFERENCE,
    directory: str | os.PathLike[str] | None = None,
) -> DifferencingCheck:
    """Refuse a request whose analysed group differs from an earlier request's by 1 to ``min_difference - 1``.

    Why: two published reports on groups that differ by a few people reveal those people's outcomes by
    subtraction. An identical group (difference 0) reveals nothing new and is allowed; so is a re-run of
    the same ``request_id``, whose own earlier entry is ignored (and replaced by :func:`record_request`).

    Parameters
    ----------
    org : str
        The requesting organisation (compared case-insensitively; stored only as a keyed hash).
    request_id : str
        This request's id.
    person_ids : iterable
        National person ids of the analysed treatment group.
    min_difference : int, default 10
        Smallest allowed difference; may not be below the cell threshold (5), since a difference of fewer
        people is exactly the small count that table suppression hides.
    directory : path, optional
        Lab directory (default ``$JDL_LAB_DIR`` or ``outputs/.lab``).

    Returns
    -------
    DifferencingCheck

    Raises
    ------
    DisclosureError
        Naming the earlier request and the size of the difference, never who differs.
    """
    if min_difference < DEFAULT_THRESHOLD:
        raise DisclosureError(
            f"differencing: min_difference {min_difference} is below the cell threshold {DEFAULT_THRESHOLD}; "
            f"set it to {DEFAULT_THRESHOLD} or more"
        )
    registry = _Registry(org, directory)
    current = _hashes(registry.key, person_ids)
    nearest: tuple[int, str] | None = None
    with registry.locked() as requests:
        for earlier_id, entry in requests.items():
            if earlier_id == request_id:
                continue
            difference = len(current.symmetric_difference(entry["people"]))
            if nearest is None or difference < nearest[0]:
                nearest = (difference, earlier_id)
            if 0 < difference < min_difference:
                raise DisclosureError(
                    f"request {request_id!r} is refused: its analysed group differs from that of earlier "
                    f"request {earlier_id!r} (recorded {entry['recorded'][:10]}) by only {difference} "
                    f"{'person' if difference == 1 else 'people'}, fewer than the {min_difference} the lab "
                    "requires. Comparing the two reports would reveal those people's reoffending. Send a "
                    f"cohort that differs from the earlier one by at least {min_difference} people, or ask "
                    "for the earlier report to be re-run unchanged."
                )
        earlier = sum(1 for rid in requests if rid != request_id)
    log.info("differencing: request checked against %d earlier request(s)", earlier)
    return DifferencingCheck(
        request_id=request_id,
        n_people=len(current),
        min_difference=min_difference,
        earlier_requests=earlier,
        nearest_request=None if nearest is None else nearest[1],
        nearest_difference=None if nearest is None else nearest[0],
    )


def record_request(
    org: str,
    request_id: str,
    person_ids: Iterable[object],
    *,
    directory: str | os.PathLike[str] | None = None,
) -> int:
    """Record the analysed group of a request that has passed every check; return the number recorded.

    Call after the report is released so that later requests are compared with it. Re-recording the same
    ``request_id`` replaces its entry.
    """
    registry = _Registry(org, directory)
    people = sorted(_hashes(registry.key, person_ids))
    with registry.locked() as requests:
        requests[request_id] = {"recorded": datetime.now(UTC).isoformat(timespec="seconds"), "people": people}
    return len(people)


def forget_request(org: str, request_id: str, *, directory: str | os.PathLike[str] | None = None) -> bool:
    """Remove a request from the registry (for a report withdrawn before release); True if it was there."""
    registry = _Registry(org, directory)
    with registry.locked() as requests:
        return requests.pop(request_id, None) is not None


def registry_path(org: str, *, directory: str | os.PathLike[str] | None = None) -> Path:
    """Path of the organisation's registry file (for inspection and tests)."""
    return _Registry(org, directory).path
