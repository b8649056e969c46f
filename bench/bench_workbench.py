"""The analyst's workbench at national scale: how long opening a request, redrawing a design, locking it and
the specification curve take, with the ratio to target.

A custody cohort is drawn from the synthetic store (built once, shared with ``bench_request.py``) and
opened with :class:`jdl_lib.workbench.Request`; the panel (:class:`jdl_lib.workbench.app.WorkbenchApp`) is
driven without a browser, as the analyst would: a caliper change (a new design, every figure redrawn), a
change back (cached), lock and outcomes, then the specification curve with its permutation band.

Targets on 2 cores (issue 12): opening no slower than the same stages of ``jdl run``; a control change
redrawn in under 5 s; the specification curve with 10 permutations in under 5 minutes.

    .venv/bin/python bench/bench_workbench.py --people 300000 --n 800
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import date
from pathlib import Path

TARGET_REDRAW = 5.0
TARGET_CURVE = 300.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=300_000)
    ap.add_argument("--n", type=int, default=800, help="people in the uploaded cohort")
    ap.add_argument("--permutations", type=int, default=10)
    ap.add_argument("--work", type=Path, default=Path("data/bench_request"), help="stores and uploads")
    a = ap.parse_args()

    from bench_request import write_request

    from jdl_lib.synth import build_synthetic_store, make_cohort, write_cohort
    from jdl_lib.workbench import Request, design_grid
    from jdl_lib.workbench.app import WorkbenchApp

    a.work.mkdir(parents=True, exist_ok=True)
    root = a.work.resolve()
    os.environ.setdefault("JDL_WORKSPACE_ROOT", str(root / "workspaces"))
    store = root / f"national_{a.people}.duckdb"
    if not store.exists():
        build_synthetic_store(store, a.people, 2013, progress=False)
    cohort = make_cohort(
        store, a.n, "custody", date(2005, 1, 1), date(2010, 12, 31), effect_rate=-0.05, seed=11
    )
    write_cohort(cohort, root / "workbench-cohort")
    params = write_request(
        root, "workbench-bench", "custody", store, root / "workbench-cohort" / "upload.csv"
    )

    rows = []

    def timed(label: str, fn):
        t0 = time.perf_counter()
        out = fn()
        rows.append((label, time.perf_counter() - t0))
        print(f"{label:<62} {rows[-1][1]:8.1f} s", flush=True)
        return out

    request = timed(
        "open request (intake, linkage, index events, pool)",
        lambda: Request.open(params, outputs=root / "outputs"),
    )
    app = timed("panel built, first design drawn", lambda: WorkbenchApp(request=request, permutations=0))
    timed("caliper 0.2 -> 0.1: new design, all figures redrawn", lambda: setattr(app.caliper, "value", 0.1))
    timed("caliper back to 0.2: cached design, figures redrawn", lambda: setattr(app.caliper, "value", 0.2))
    timed("lock design and show outcomes", app.lock)
    grid = design_grid(request.locked)
    curve = timed(
        f"specification curve: {len(grid)} designs, {a.permutations} permutations",
        lambda: request.specification_curve(grid, permutations=a.permutations),
    )
    request.close()

    estimated = int(curve.designs["estimate"].notna().sum())
    print(f"\nWorkbench on a {a.people:,}-person store, custody cohort of {a.n:,}; {estimated} designs")
    redraw = rows[2][1]
    curve_s = rows[-1][1]
    print(
        f"\nredraw after a control change: {redraw:.1f} s "
        f"(target {TARGET_REDRAW:.0f} s, ratio {redraw / TARGET_REDRAW:.2f})"
    )
    print(
        f"specification curve: {curve_s:.0f} s "
        f"(target {TARGET_CURVE:.0f} s, ratio {curve_s / TARGET_CURVE:.2f})"
    )


if __name__ == "__main__":
    main()
