"""Differencing guard: time to check a group against every release, and what the registry gives away.

Usage: ``python bench/bench_differencing.py [--releases 200] [--size 800] [--national 300000]``

Prints, for a lab holding ``--releases`` released groups:

* the time to check and record one new group of ``--size`` people, in the worst case (every release within
  9 people of its size, so each needs the algebra) and a realistic one (sizes 60 to 3,000);
* the attack of issue 11: with the lab's own secret, hash every national id and look for it in the lab
  folder. The earlier registry (one HMAC per person) gave back every member; the sketches give back none.

Target: a check against 1,000 releases in under 10 s (the guard runs once per request, before release).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from jdl_lib.privacy.differencing import check_differencing, record_request
from jdl_lib.privacy.lab import keyed_hash, lab_secret


def fill(lab: Path, releases: int, sizes: np.ndarray, national: int, rng: np.random.Generator) -> float:
    """Record ``releases`` random groups; return the seconds taken."""
    start = time.perf_counter()
    for i in range(releases):
        group = rng.choice(national, size=int(sizes[i]), replace=False)
        record_request(f"org-{i % 17}", f"r{i}", group.tolist(), directory=lab)
    return time.perf_counter() - start


def time_check(lab: Path, size: int, national: int, rng: np.random.Generator) -> float:
    group = rng.choice(national, size=size, replace=False).tolist()
    start = time.perf_counter()
    check_differencing("org-new", "new", group, directory=lab)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--releases", type=int, default=200)
    ap.add_argument("--size", type=int, default=800)
    ap.add_argument("--national", type=int, default=300_000)
    a = ap.parse_args()
    rng = np.random.default_rng(2013)
    with tempfile.TemporaryDirectory() as folder:
        worst, real = Path(folder) / "worst", Path(folder) / "real"
        t_fill = fill(worst, a.releases, a.size + rng.integers(-9, 10, a.releases), a.national, rng)
        t_worst = time_check(worst, a.size, a.national, rng)
        fill(real, a.releases, rng.integers(60, 3000, a.releases), a.national, rng)
        t_real = time_check(real, a.size, a.national, rng)
        print(
            f"recording {a.releases} groups of about {a.size}: {t_fill:.1f} s "
            f"({t_fill / a.releases:.3f} s each)"
        )
        print(f"check one group of {a.size} against {a.releases} releases:")
        print(
            f"  worst case (all sizes within 9): {t_worst:.2f} s; "
            f"per 1,000 releases {t_worst * 1000 / a.releases:.1f} s"
        )
        print(f"  sizes 60-3,000: {t_real:.2f} s; per 1,000 releases {t_real * 1000 / a.releases:.1f} s")
        print(
            f"  target < 10 s per 1,000 releases: ratio {t_worst * 1000 / a.releases / 10:.2f} (worst case)"
        )

        lab = Path(folder) / "attack"
        members = rng.choice(a.national, size=a.size, replace=False)
        record_request("org-a", "r1", members.tolist(), directory=lab)
        key = lab_secret(lab)
        stored = "".join(p.read_text(errors="replace") for p in lab.rglob("*") if p.is_file())
        start = time.perf_counter()
        recovered = sum(
            (h := keyed_hash(key, str(pid)))[:15] in stored or h in stored or str(int(h[:15], 16)) in stored
            for pid in range(a.national)
        )
        took = time.perf_counter() - start
        print(
            f"attack (hash all {a.national:,} national ids with the lab secret, search the lab folder, "
            f"{took:.1f} s): {recovered} of {a.size} members recovered "
            f"(the earlier registry: {a.size} of {a.size})"
        )


if __name__ == "__main__":
    main()
