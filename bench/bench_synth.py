"""Speed and memory of the synthetic national database: ``python bench/bench_synth.py [--people N]``.

Target (issue 3): 5 million people in under 5 minutes on 2 cores with peak memory under 8 GiB.
Prints people, rows per table, seconds per stage, peak RSS and the ratio of each to its target.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from jdl_lib.synth import build_synthetic_store

TARGET_SECONDS = 300.0
TARGET_RSS_GIB = 8.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=2013)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        t0 = time.perf_counter()
        result = build_synthetic_store(Path(tmp) / "national.duckdb", args.people, args.seed)
        seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # ru_maxrss is KiB on Linux
    print(f"people: {args.people:,}  seed: {args.seed}")
    for table, rows in result.row_counts.items():
        print(f"  {table:<22}{rows:>14,}")
    for stage, secs in result.seconds.items():
        print(f"  {stage:<22}{secs:>10.1f} s")
    print(f"total: {seconds:.1f} s (target {TARGET_SECONDS:.0f} s, ratio {seconds / TARGET_SECONDS:.2f})")
    print(f"CPU time: {cpu:.1f} s user+sys (wall time is inflated when other jobs share the 2 cores)")
    print(
        f"peak RSS: {peak_gib:.2f} GiB "
        f"(target {TARGET_RSS_GIB:.0f} GiB, ratio {peak_gib / TARGET_RSS_GIB:.2f})"
    )
    print(f"content hash: {result.content_hash[:16]}")


if __name__ == "__main__":
    main()
