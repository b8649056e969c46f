"""Differencing guard: refuse a report whose analysed group nearly equals one the lab has released.

If two published reports are about groups that differ by a few people, subtracting one from the other gives
those people's reoffending. So before a report is released its treatment group is compared with the group
of every report the lab has released (all organisations, and earlier releases of the same request), and it
is refused if the two differ by at least one but fewer than ``min_difference`` people.

What the lab keeps, and why it cannot name anyone
-------------------------------------------------
The guard needs one fact per earlier release: is the new group within ``min_difference - 1`` people of
it, and if so by how many? It does not need the earlier group itself. So the registry keeps, per release,
a *set-reconciliation sketch* (Minsky, Trachtenberg and Zippel 2003): each person is mapped to a field
element ``h`` (a keyed hash of the national id, under the lab secret), the group to its characteristic
polynomial ``chi(z) = prod(z - h)`` over GF(2^61 - 1), and the sketch is ``chi`` evaluated at
:data:`SKETCH_POINTS` random points drawn for that release. Nothing else about the people is stored; the
group size is kept because every report publishes it.

When a new group ``A`` (known in full while the run lasts) is compared with a stored release ``B``, the
guard evaluates ``chi_A`` at ``B``'s points. The ratio ``chi_A / chi_B = P / Q`` is a rational function
whose numerator has the people only in ``A`` as roots and whose denominator those only in ``B``, so the
size of the difference ``d`` is the smallest total degree that fits the ratios (found by solving a small
linear system, with at least one equation to spare and, when ``A`` has extra people, the check that every
root of ``P`` is a person in ``A``). Differences of ``min_difference`` or more are not measured: they are
allowed whatever their size.

What someone holding the whole lab folder (sketches *and* secret) and the national data can learn:

* not whether a given person was in a programme: a person's factor ``(z - h)`` is hidden in a product of
  hundreds of unknown factors, so a sketch is consistent with every candidate;
* not the group: 20 field elements (about 1,200 bits) cannot single out a group of hundreds among
  hundreds of thousands of national records (tens of thousands of bits);
* not the difference between two released groups: each release has its own random points, so two
  sketches cannot be divided by each other (and a group released again unchanged gets no second sketch,
  which would add points to the same polynomial);
* only this: with a list that already matches a released group in all but fewer than about 20 people,
  the sketch tells them who the rest are, exactly as the guard itself can. Such a list is the group.

SECURITY.md states the threat model; ``tests/test_privacy_adversarial.py`` holds it.

The registry is one JSON file, ``<lab dir>/registry.json`` (0600), updated atomically under a file lock.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from jdl_lib.errors import DisclosureError
from jdl_lib.privacy.disclosure import DEFAULT_THRESHOLD
from jdl_lib.privacy.lab import keyed_hash, lab_dir, lab_secret

log = logging.getLogger(__name__)

#: Default smallest allowed difference between two released groups.
DEFAULT_MIN_DIFFERENCE = 10
#: Largest ``min_difference`` the sketches can check (one equation to spare at ``d = MAX - 1``).
MAX_MIN_DIFFERENCE = 20
#: Evaluation points kept per release.
SKETCH_POINTS = MAX_MIN_DIFFERENCE
#: The field: integers modulo the Mersenne prime 2^61 - 1. Person values lie below 2^60 and evaluation
#: points at or above it, so no characteristic polynomial is ever evaluated at one of its roots.
PRIME = (1 << 61) - 1
_POINT_FLOOR = 1 << 60
_PRIME64, _LOW31, _LOW30 = np.uint64(PRIME), np.uint64((1 << 31) - 1), np.uint64((1 << 30) - 1)
_FORMAT = 2
_REGISTRY = "registry.json"
_LEGACY_FOLDER = "registry"


class DifferencingError(DisclosureError):
    """A request was refused by the differencing guard or the registry's rules (request ids, re-runs)."""


@dataclass(frozen=True)
class DifferencingCheck:
    """A passed differencing check.

    ``identical_to`` names a released report with exactly the same group (which reveals nothing new), if
    any; every other release differs by at least ``min_difference`` people (how many more is not measured).
    """

    request_id: str
    n_people: int
    min_difference: int
    releases_compared: int
    identical_to: str | None


# ---------------------------------------------------------------------------------------------- field maths


def _person_values(key: bytes, person_ids: Iterable[object]) -> list[int]:
    """Each distinct person's field element: the first 60 bits of an HMAC of the national id."""
    return sorted({int(keyed_hash(key, str(pid))[:15], 16) for pid in person_ids})


def _mulmod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise ``a * b mod PRIME`` for uint64 arrays below PRIME, in 31-bit halves (no overflow)."""
    a_hi, a_lo, b_hi, b_lo = a >> 31, a & _LOW31, b >> 31, b & _LOW31
    mid = a_hi * b_lo + a_lo * b_hi  # < 2^62; times 2^31 folds to (mid >> 30) + (mid mod 2^30) * 2^31
    total = (a_hi * b_hi << 1) + (mid >> 30) + ((mid & _LOW30) << 31) + a_lo * b_lo  # < 2^64
    total = (total & _PRIME64) + (total >> 61)
    total = (total & _PRIME64) + (total >> 61)
    return np.where(total >= _PRIME64, total - _PRIME64, total)


def _characteristic(values: list[int], points: list[int]) -> list[int]:
    """``prod(z - h)`` over the group at each point (a product tree, all points at once)."""
    # Points lie at or above 2^60 and values below it, so every factor is in 1 .. PRIME - 1.
    factors = np.asarray(points, dtype=np.uint64)[:, None] - np.asarray(values, dtype=np.uint64)[None, :]
    while factors.shape[1] > 1:
        if factors.shape[1] % 2:
            factors = np.hstack([factors, np.ones((len(points), 1), dtype=np.uint64)])
        factors = _mulmod(factors[:, 0::2], factors[:, 1::2])
    return [int(v) for v in factors[:, 0]] if len(values) else [1] * len(points)


def _solve(rows: list[list[int]]) -> list[int] | None:
    """Solve an augmented linear system modulo PRIME; None if inconsistent (free unknowns set to 0)."""
    rows = [r[:] for r in rows]
    n_unknowns = len(rows[0]) - 1
    pivots: list[int] = []
    r = 0
    for c in range(n_unknowns):
        pivot = next((i for i in range(r, len(rows)) if rows[i][c]), None)
        if pivot is None:
            continue
        rows[r], rows[pivot] = rows[pivot], rows[r]
        inv = pow(rows[r][c], PRIME - 2, PRIME)
        rows[r] = [v * inv % PRIME for v in rows[r]]
        for i in range(len(rows)):
            if i != r and rows[i][c]:
                f = rows[i][c]
                rows[i] = [(a - f * b) % PRIME for a, b in zip(rows[i], rows[r], strict=True)]
        pivots.append(c)
        r += 1
    if any(row[-1] for row in rows[r:]):
        return None
    solution = [0] * n_unknowns
    for i, c in enumerate(pivots):
        solution[c] = rows[i][-1]
    return solution


def _poly(coefficients: list[int], z: int) -> int:
    """Monic polynomial with the given low-order coefficients, evaluated at ``z``."""
    acc = 1
    for c in reversed(coefficients):
        acc = (acc * z + c) % PRIME
    return acc


def _difference(values: list[int], entry: dict, below: int) -> int | None:
    """People in exactly one of the group ``values`` and the release ``entry``, if fewer than ``below``.

    Returns None when the difference is ``below`` or more (how much more is not measurable).
    """
    points, stored = entry["points"], entry["values"]
    delta = len(values) - int(entry["people"])
    if abs(delta) >= below:
        return None
    current = _characteristic(values, points)
    ratios = [a * pow(b, PRIME - 2, PRIME) % PRIME for a, b in zip(current, stored, strict=True)]
    sizes = [d for d in range(abs(delta), below, 2) if d < len(points)]  # always one equation to spare
    if not sizes:
        return None
    if sizes[0] == 0 and all(r == 1 for r in ratios):
        return 0
    # A fit at the largest size is necessary for any smaller difference (multiply P and Q by a common
    # factor), so one solve settles the usual case of a group far from this release.
    if _fit(points, ratios, delta, sizes[-1]) is None:
        return None
    for d in sizes:
        solution = _fit(points, ratios, delta, d) if d else None
        if solution is None:
            continue
        a = (d + delta) // 2
        if a and sum(_poly(solution[:a], h) == 0 for h in values) != a:
            continue  # the people only in the new group must be people in it
        return d
    return None


def _fit(points: list[int], ratios: list[int], delta: int, d: int) -> list[int] | None:
    """Coefficients of monic P, Q with P(z) = r Q(z) at every point, deg P + deg Q = d; None if none fit."""
    a, b = (d + delta) // 2, (d - delta) // 2
    if d == 0:
        return [] if all(r == 1 for r in ratios) else None
    rows = [
        [pow(z, j, PRIME) for j in range(a)]
        + [(-r * pow(z, j, PRIME)) % PRIME for j in range(b)]
        + [(r * pow(z, b, PRIME) - pow(z, a, PRIME)) % PRIME]
        for z, r in zip(points, ratios, strict=True)
    ]
    return _solve(rows)


# ------------------------------------------------------------------------------------------------ registry


class _Registry:
    """The lab's registry of released groups, opened under an exclusive lock."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.root = lab_dir(directory)
        self.key = lab_secret(self.root)
        self.path = self.root / _REGISTRY

    def org(self, organisation_id: str) -> str:
        """The organisation as the registry stores it: a keyed hash of its stable identifier."""
        if not str(organisation_id).strip():
            raise DifferencingError("differencing: the organisation id is empty; give organisation_id")
        return keyed_hash(self.key, "org:" + str(organisation_id).strip())[:32]

    @contextmanager
    def locked(self) -> Iterator[list[dict]]:
        """Yield the list of releases under an exclusive lock; changes are written back atomically."""
        with open(self.root / "registry.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            releases = json.loads(self.path.read_text())["releases"] if self.path.exists() else []
            before = json.dumps(releases, sort_keys=True)
            migrated = self._migrate_legacy(releases)
            yield releases
            if migrated or json.dumps(releases, sort_keys=True) != before:
                fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
                with os.fdopen(fd, "w") as handle:
                    json.dump({"format": _FORMAT, "releases": releases}, handle, sort_keys=True)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.path)
                if migrated:
                    for path in migrated:
                        path.unlink()
                    (self.root / _LEGACY_FOLDER).rmdir()

    def _migrate_legacy(self, releases: list[dict]) -> list[Path]:
        """Turn an earlier version's registry (a reversible list of hashes) into sketches; return its files.

        The old files are deleted once the new registry is written. Their organisation was a hash of free
        text, so migrated releases have no owner (``None``): they are still compared with every group.
        """
        folder = self.root / _LEGACY_FOLDER
        files = sorted(folder.glob("*.json")) if folder.is_dir() else []
        for path in files:
            for request_id, old in json.loads(path.read_text())["requests"].items():
                values = sorted({int(h[:15], 16) for h in old["people"]})
                releases.append(_entry(request_id, None, values, old["recorded"][:10]))
        for leftover in folder.glob("*.lock") if folder.is_dir() else []:
            files.append(leftover)
        if files:
            log.warning("differencing: %d legacy registry file(s) converted to sketches", len(files))
        return files


def _entry(request_id: str, org: str | None, values: list[int], released: str) -> dict:
    """A registry entry for one released group: its size and its sketch at fresh random points."""
    points = [_POINT_FLOOR + secrets.randbelow(PRIME - _POINT_FLOOR) for _ in range(SKETCH_POINTS)]
    return {
        "request_id": request_id,
        "organisation": org,
        "released": released,
        "people": len(values),
        "points": points,
        "values": _characteristic(values, points),
    }


def _check_min_difference(min_difference: int) -> None:
    if not DEFAULT_THRESHOLD <= min_difference <= MAX_MIN_DIFFERENCE:
        raise DifferencingError(
            f"differencing: min_difference {min_difference} must be between the cell threshold "
            f"{DEFAULT_THRESHOLD} and {MAX_MIN_DIFFERENCE}, the largest difference the registry can check"
        )


def _check_request(releases: list[dict], org: str, request_id: str, replace: bool) -> int:
    """Apply the request-id rules; return how many releases this request already has."""
    own = [e for e in releases if e["request_id"] == request_id]
    if any(e["organisation"] not in (None, org) for e in own):
        raise DifferencingError(
            f"request {request_id!r} is refused: that request id was already released for another "
            "organisation. Give this request a new request_id."
        )
    if own and not replace:
        raise DifferencingError(
            f"request {request_id!r} is refused: a report for it was already released. To replace it, run "
            "again with --replace: the replacement is audited, and its group must still be identical to the "
            "released one or differ from it by at least the lab's minimum."
        )
    return len(own)


def _describe(entry: dict, request_id: str) -> str:
    """How a refusal names a recorded group: the report, and the subgroup if it is one."""
    report = (
        "the report already released for this request"
        if entry["request_id"] == request_id
        else f"released report {entry['request_id']!r}"
    )
    return f"subgroup {entry['part']!r} of {report}" if entry.get("part") else report


def close_groups(
    group: Iterable[object], others: Mapping[str, Iterable[object]], min_difference: int
) -> dict[str, int]:
    """Which of ``others`` differ from ``group`` by 1 to ``min_difference - 1`` people, and by how many.

    Why: the parts of one report (the whole group, subgroup levels, robustness variants) are published
    together, so any two of them must be the same people or differ by at least ``min_difference``, as
    two released reports must. All are known in full while the run lasts, so the difference is exact.
    """
    mine = set(group)
    sizes = {label: len(mine.symmetric_difference(ids)) for label, ids in others.items()}
    return {label: d for label, d in sizes.items() if 0 < d < min_difference}


def _part_name(part: str) -> str:
    return f"its subgroup {part!r}" if part else "its analysed group"


def _guard(
    releases: list[dict], request_id: str, groups: dict[str, list[int]], min_difference: int
) -> dict[str, str]:
    """Refuse if any group is 1 to ``min_difference - 1`` people from a recorded one or another of its own.

    Returns, for each group identical to a recorded one, that entry's request id.
    """
    labels = list(groups)
    for i, part in enumerate(labels):
        close = close_groups(
            groups[part], {other: groups[other] for other in labels[i + 1 :]}, min_difference
        )
        for other, d in close.items():
            raise DifferencingError(
                f"request {request_id!r} is refused: {_part_name(part)} and {_part_name(other)} differ by "
                f"only {d} {'person' if d == 1 else 'people'}, fewer than the {min_difference} the lab "
                "requires; publishing both would reveal those people's reoffending. Withhold one of them."
            )
    identical: dict[str, str] = {}
    for part, values in groups.items():
        for entry in releases:
            if "same_as" in entry:  # the same group as an earlier entry, which is compared instead
                continue
            d = _difference(values, entry, min_difference)
            if d == 0:
                identical.setdefault(part, entry["request_id"])
            elif d is not None:
                raise DifferencingError(
                    f"request {request_id!r} is refused: {_part_name(part)} differs from the group of "
                    f"{_describe(entry, request_id)} by only {d} {'person' if d == 1 else 'people'}, fewer "
                    f"than the {min_difference} the lab requires. Comparing the two reports would reveal "
                    "those people's reoffending. Send a cohort that differs from the earlier one by at "
                    f"least {min_difference} people, or exactly the same people."
                )
    return identical


def _groups(key: bytes, person_ids: Iterable[object], parts: Mapping[str, Iterable[object]] | None) -> dict:
    """The whole group (key ``""``) and each published part, as field elements."""
    groups = {"": _person_values(key, person_ids)}
    for label, ids in (parts or {}).items():
        if not label:
            raise DifferencingError("differencing: a published part of a report needs a label")
        groups[str(label)] = _person_values(key, ids)
    return groups


def check_differencing(
    organisation_id: str,
    request_id: str,
    person_ids: Iterable[object],
    *,
    directory: str | os.PathLike[str],
    min_difference: int = DEFAULT_MIN_DIFFERENCE,
    replace: bool = False,
    parts: Mapping[str, Iterable[object]] | None = None,
) -> DifferencingCheck:
    """Refuse a group that is 1 to ``min_difference - 1`` people away from any group already released.

    Why: two published reports on groups that differ by a few people reveal those people's outcomes by
    subtraction, whoever asked for them. Every release is compared: other organisations' (reports are
    public) and earlier releases of this same request (a re-run is a second report). An identical group
    reveals nothing new and is allowed.

    Parameters
    ----------
    organisation_id : str
        The requesting organisation's stable identifier (stored only as a keyed hash).
    request_id : str
        This request's id. An id released for another organisation is refused; one released for this
        organisation is refused unless ``replace`` is True.
    person_ids : iterable
        National person ids of the analysed treatment group.
    directory : path
        The lab folder (``<outputs>/.lab``) of the outputs this report is released to.
    min_difference : int, default 10
        Smallest allowed difference, between the cell threshold (5) and :data:`MAX_MIN_DIFFERENCE`.
    replace : bool, default False
        The request's released report is being replaced (``jdl run --replace``).
    parts : mapping of str to iterable, optional
        Published parts of the report (e.g. ``"Gender: Women"`` -> the people of that subgroup level),
        each compared with every recorded group like the whole group: a subgroup result is a published
        group too.

    Returns
    -------
    DifferencingCheck

    Raises
    ------
    DifferencingError
        Naming the earlier report and the size of the difference, never who differs.
    """
    _check_min_difference(min_difference)
    registry = _Registry(directory)
    groups = _groups(registry.key, person_ids, parts)
    with registry.locked() as releases:
        _check_request(releases, registry.org(organisation_id), request_id, replace)
        identical = _guard(releases, request_id, groups, min_difference)
        compared = len(releases)
    log.info("differencing: %d group(s) checked against %d recorded group(s)", len(groups), compared)
    return DifferencingCheck(request_id, len(groups[""]), min_difference, compared, identical.get(""))


def check_request_id(
    organisation_id: str, request_id: str, *, directory: str | os.PathLike[str], replace: bool = False
) -> int:
    """Apply the request-id rules before any analysis; return how many releases the request already has.

    Raises
    ------
    DifferencingError
        If the id was released for another organisation, or released already and ``replace`` is False.
    """
    registry = _Registry(directory)
    with registry.locked() as releases:
        return _check_request(releases, registry.org(organisation_id), request_id, replace)


def record_request(
    organisation_id: str,
    request_id: str,
    person_ids: Iterable[object],
    *,
    directory: str | os.PathLike[str],
    min_difference: int = DEFAULT_MIN_DIFFERENCE,
    replace: bool = False,
    parts: Mapping[str, Iterable[object]] | None = None,
) -> int:
    """Check the groups once more and record them as released, in one locked step; return the group's size.

    Call just before the report is moved into place (and :func:`forget_request` if that fails), so two
    runs at the same time cannot both pass the guard against each other. A replaced report's earlier
    entry is kept: it was published and stays comparable. A group identical to one already released is
    recorded by reference, without a sketch of its own: sketches of one group at ever more points would,
    once there were more points than people, give the group away.
    """
    _check_min_difference(min_difference)
    registry = _Registry(directory)
    groups = _groups(registry.key, person_ids, parts)
    org = registry.org(organisation_id)
    with registry.locked() as releases:
        _check_request(releases, org, request_id, replace)
        identical = _guard(releases, request_id, groups, min_difference)
        released = datetime.now(UTC).date().isoformat()
        release = 1 + max((int(e.get("release", 0)) for e in releases), default=0)
        sketched: set[tuple[int, ...]] = set()
        for part, values in groups.items():
            if tuple(values) in sketched:  # another part of this report is the same group
                identical.setdefault(part, request_id)
            sketched.add(tuple(values))
            if part in identical:  # one sketch per distinct group: more points on one polynomial add up
                entry = {"request_id": request_id, "organisation": org, "released": released}
                entry["same_as"] = identical[part]
            else:
                entry = _entry(request_id, org, values, released)
            entry["release"] = release
            if part:
                entry["part"] = part
            releases.append(entry)
    return len(groups[""])


def forget_request(organisation_id: str, request_id: str, *, directory: str | os.PathLike[str]) -> bool:
    """Remove the latest recording of a request whose report was not released after all; True if found."""
    registry = _Registry(directory)
    org = registry.org(organisation_id)
    with registry.locked() as releases:
        own = [e for e in releases if e["request_id"] == request_id and e["organisation"] == org]
        if not own:
            return False
        latest = own[-1].get("release")
        releases[:] = [e for e in releases if not any(e is o and e.get("release") == latest for o in own)]
    return True


def registry_path(directory: str | os.PathLike[str]) -> Path:
    """Path of the lab's registry file (for inspection and tests)."""
    return lab_dir(directory) / _REGISTRY
