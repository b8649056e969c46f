"""Released reports made by code for the synthesis and publishing tests: a planted one-year effect per report.

Each report is the example results dict (``jdl_lib.report.example``) with its request, size and headline
rate row replaced by a seeded draw: treated and matched-control reoffenders are binomial at the planted
rates, and the row's CI is the normal-approximation interval a real run reports. Folders are released
through :class:`~jdl_lib.privacy.workspace.StagedOutputs`, so they carry a real ``COMPLETE`` marker, with a
small HTML report and a real (matplotlib) PDF beside results.json.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from jdl_lib.privacy.workspace import StagedOutputs
from jdl_lib.report.example import example_results
from jdl_lib.report.results import write_results

_BASE = example_results("reduction")


def planted_results(
    request_id: str,
    service_type: str,
    effect: float,
    people: int,
    rng: np.random.Generator,
    control_rate: float = 0.42,
    organisation: str = "Example Trust",
) -> dict[str, Any]:
    """A valid results dict whose one-year reoffending difference is a draw around ``effect``."""
    r = copy.deepcopy(_BASE)
    n_c = 5 * people
    p1 = rng.binomial(people, control_rate + effect) / people
    p0 = rng.binomial(n_c, control_rate) / n_c
    se = np.sqrt(p1 * (1 - p1) / people + p0 * (1 - p0) / n_c)
    z = stats.norm.ppf(0.975)
    diff = p1 - p0
    pval = float(2 * stats.norm.sf(abs(diff) / se))
    r["request"] = {
        "request_id": request_id,
        "organisation": organisation,
        "setting": "custody",
        "intervention": {
            **r["request"]["intervention"],
            "name": f"the {request_id} programme",
            "service_type": service_type,
            "summary": f"A {service_type} service for people leaving prison.",
        },
    }
    scale = people / r["attrition"]["analysed"]
    stages = r["attrition"]["stages"]
    counts = [max(int(s["count"] * scale), people) for s in stages[:-1]] + [people]
    counts = list(np.maximum.accumulate(counts[::-1])[::-1])
    for i, s in enumerate(stages):
        s["count"] = int(counts[i])
        s["lost"] = 0 if i == 0 else int(counts[i - 1] - counts[i])
        s["reasons"] = [] if i == 0 else [{"reason": "not analysed", "count": s["lost"]}]
    r["attrition"].update(submitted=int(counts[0]), analysed=people, control_records=n_c)
    row = next(o for o in r["outcomes"] if o["measure"] == "reoffended_1y")
    row.update(
        n_treated=people,
        n_control=n_c,
        treated_value=float(p1),
        control_value=float(p0),
        difference=float(diff),
        ci_low=float(diff - z * se),
        ci_high=float(diff + z * se),
        p_value=pval,
        significant=pval <= 0.05,
    )
    r["power"]["n_treated"] = people
    r["index_years"] = {"first": 2006, "last": 2010}
    return r


def release(outputs: Path, results: dict[str, Any], pdf: bool = True) -> Path:
    """Release a results dict as a report folder (results.json, report.html, report.pdf, COMPLETE)."""
    request_id = results["request"]["request_id"]
    with StagedOutputs(request_id, outputs) as staged:
        write_results(results, staged.path / "results.json")
        (staged.path / "report.html").write_text(
            f"<html><body><h1>Report {request_id}</h1></body></html>", encoding="utf-8"
        )
        if pdf:
            fig = Figure(figsize=(2, 2))
            fig.text(0.1, 0.5, f"Report {request_id}")
            fig.savefig(staged.path / "report.pdf", format="pdf")
        return staged.release().path


def sector(
    outputs: Path, plan: dict[str, tuple[int, float]], seed: int = 11, people: tuple[int, int] = (80, 600)
) -> list[Path]:
    """Release reports by plan {service type: (how many, planted effect)}; sizes drawn in ``people``."""
    rng = np.random.default_rng(seed)
    folders = []
    for service_type, (count, effect) in plan.items():
        for i in range(count):
            size = int(rng.integers(*people))
            rid = f"{service_type.replace(' ', '-')}-{i + 1}"
            org = f"{service_type.title()} Trust {i + 1}"
            folders.append(
                release(outputs, planted_results(rid, service_type, effect, size, rng, organisation=org))
            )
    return folders
