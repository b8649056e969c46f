"""Build the published site: an index of every released report, the synthesis by service type, a power page.

The site is plain HTML (Jinja2 templates, autoescaped: every word of an intervention comes from a parameter
file) with a client-side filter on the index and a client-side power calculator (``static/power.js``, the
formula of :mod:`jdl_lib.power`). It is built in a staging folder beside ``OUT_DIR``, scanned, and only
then swapped into place, so a refused or failed build leaves the previous site untouched.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import matplotlib
import pandas as pd

from jdl_lib import __version__
from jdl_lib.errors import SynthesisError
from jdl_lib.publish.scan import assert_site_clean
from jdl_lib.report.text import verdict
from jdl_lib.spec import SERVICE_TYPES
from jdl_lib.synthesis.by_type import TypeSynthesis, risk_ratio, synthesise_by_type
from jdl_lib.synthesis.effects import MEASURE, effects_table
from jdl_lib.synthesis.forest import forest_plot
from jdl_lib.synthesis.meta import MIN_REPORTS, MetaAnalysis
from jdl_lib.synthesis.published import PublishedReport, published_reports

log = logging.getLogger(__name__)

#: File that marks a folder as a site built by ``jdl publish`` (so rebuilding may replace it).
SITE_MARKER = ".jdl-site"
_HERE = Path(__file__).parent
_VERDICTS = {
    "reduction": "significant reduction",
    "increase": "significant increase",
    "inconclusive": "inconclusive",
}


@dataclass(frozen=True)
class SiteBuild:
    """A built site: where it is, how many reports it indexes and which service types were pooled."""

    path: Path
    n_reports: int
    pooled_types: tuple[str, ...]
    files: tuple[str, ...]


def _points(value: float) -> str:
    return f"{value * 100:+.1f}".replace("-", "−")


def _effect_text(results: dict[str, Any]) -> str:
    row = next((o for o in results["outcomes"] if o["measure"] == MEASURE), None)
    if row is None or not row["reported"]:
        return "not stated" + (f" ({row['reason']})" if row and row["reason"] else "")
    return f"{_points(row['difference'])} points ({_points(row['ci_low'])} to {_points(row['ci_high'])})"


def _summary(intervention: dict[str, Any]) -> str:
    if intervention.get("summary"):
        return intervention["summary"]
    first = re.split(r"(?<=[.!?])\s", intervention["description"].strip(), maxsplit=1)[0]
    return first if len(first) <= 300 else first[:299] + "…"


def _years(results: dict[str, Any]) -> str:
    years = results.get("index_years")
    if years:
        first, last = years["first"], years["last"]
        return str(first) if first == last else f"{first}–{last}"
    return results["request"]["intervention"]["when"] or "—"


def index_row(report: PublishedReport) -> dict[str, Any]:
    """One row of the index: what a reader searching the published reports needs to see."""
    r = report.results
    iv = r["request"]["intervention"]
    kind = verdict(r) if any(o["measure"] == MEASURE for o in r["outcomes"]) else "inconclusive"
    labels = {"report.html": "HTML", "report.pdf": "PDF"}
    return {
        "request_id": report.request_id,
        "organisation": r["request"]["organisation"],
        "intervention": iv["name"],
        "summary": _summary(iv),
        "service_type": iv.get("service_type", "other"),
        "setting": r["request"]["setting"],
        "years": _years(r),
        "people": r["attrition"]["analysed"],
        "effect": _effect_text(r),
        "verdict": kind,
        "verdict_text": _VERDICTS[kind],
        "links": [{"href": f"reports/{report.request_id}/{f}", "label": labels[f]} for f in report.files],
    }


def _slug(service_type: str) -> str:
    return service_type.replace(" ", "-")


def _interval(m: MetaAnalysis, low: str, high: str) -> str:
    return f"{_points(getattr(m, low))} to {_points(getattr(m, high))} points"


def _save(fig: matplotlib.figure.Figure, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg")
    return path.parent.name + "/" + path.name


def type_page(s: TypeSynthesis, site: Path) -> dict[str, Any]:
    """The synthesis of one service type as the page shows it; draws its forest plots into ``site``."""
    page: dict[str, Any] = {
        "service_type": s.service_type,
        "slug": _slug(s.service_type),
        "k": s.k,
        "pooled": s.pooled,
        "reports": s.reports.to_dict("records"),
    }
    if not s.pooled:
        return page
    rd, rr = s.risk_difference, s.log_risk_ratio
    page["rd"] = (
        f"{_points(rd.estimate)} points (95% CI {_interval(rd, 'ci_low', 'ci_high')}; p = {rd.p_value:.3g})"
    )
    page["rd_pi"] = _interval(rd, "pi_low", "pi_high")
    if rr is not None:
        ratio = risk_ratio(rr)
        page["rr"] = (
            f"{ratio['estimate']:.2f} (95% CI {ratio['ci_low']:.2f} to {ratio['ci_high']:.2f}; "
            f"prediction interval {ratio['pi_low']:.2f} to {ratio['pi_high']:.2f}; {rr.k} reports)"
        )
    else:
        page["rr"] = "not pooled (a rate of 0 or 100% leaves too few reports)"
    page["heterogeneity"] = (
        f"τ² = {rd.tau2 * 1e4:.1f} points² (95% CI {rd.tau2_ci_low * 1e4:.1f} to "
        f"{rd.tau2_ci_high * 1e4:.1f}); "
        f"I² = {rd.i2 * 100:.0f}% (τ²-based; Q-based {rd.i2_q * 100:.0f}%); "
        f"Q = {rd.q:.2f} on {rd.q_df} df, p = {rd.q_p_value:.3g}"
    )
    reg = s.size_regression
    page["regression"] = (
        f"{_points(reg.slope)} points per 100 more people analysed (95% CI {_points(reg.slope_ci_low)} to "
        f"{_points(reg.slope_ci_high)}; p = {reg.slope_p_value:.3g}; residual τ² = {reg.tau2 * 1e4:.1f})"
        if reg is not None
        else "not estimated (fewer than five reports, or sizes too alike: largest under 1.5 × smallest)"
    )
    title = f"{s.service_type.capitalize()}: {s.k} reports"
    page["forest_rd"] = _save(
        forest_plot(s.reports, rd, "rd", title), site / "synthesis" / f"{page['slug']}-rd.svg"
    )
    finite = s.reports.dropna(subset=["log_rr", "log_rr_var"])
    page["forest_rr"] = _save(
        forest_plot(finite, rr, "log_rr", title), site / "synthesis" / f"{page['slug']}-rr.svg"
    )
    return page


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=jinja2.select_autoescape(("html", "j2")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def _write_pages(
    site: Path, reports: list[PublishedReport], types: list[dict[str, Any]], method: str
) -> None:
    env = _environment()
    common = {
        "built": datetime.now(UTC).strftime("%d %B %Y"),
        "version": __version__,
        "n_reports": len(reports),
    }
    rows = [index_row(r) for r in reports]
    present = [t for t in SERVICE_TYPES if any(row["service_type"] == t for row in rows)]
    pages = {
        "index.html": env.get_template("index.html.j2").render(
            title="Reports", rows=rows, service_types=present, **common
        ),
        "synthesis.html": env.get_template("synthesis.html.j2").render(
            title="What works", types=types, method=method, min_reports=MIN_REPORTS, **common
        ),
        "power.html": env.get_template("power.html.j2").render(title="How many people?", **common),
    }
    for name, text in pages.items():
        (site / name).write_text(text, encoding="utf-8")


def _method(tau2_method: str, hartung_knapp: bool) -> str:
    how = "REML" if tau2_method == "REML" else "DerSimonian–Laird"
    ci = (
        "Hartung–Knapp confidence intervals (t, k−1 df)"
        if hartung_knapp
        else "Wald (normal) confidence intervals"
    )
    return f"τ² by {how}, {ci}"


def _replace(staging: Path, out: Path) -> None:
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    if out.exists():
        if not (out / SITE_MARKER).is_file():
            raise SynthesisError(
                f"{out} exists and is not a site built by `jdl publish`; choose an empty or new folder"
            )
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.rename(out, old)
        os.rename(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, out)


def build_site(
    out_dir: str | os.PathLike[str],
    outputs: str | os.PathLike[str] = "outputs",
    tau2_method: str = "REML",
    hartung_knapp: bool = True,
    uploads: Iterable[pd.DataFrame] = (),
) -> SiteBuild:
    """Build the published site from every released report under ``outputs``.

    Why: the JDL publishes every report so that the sector can learn what works; a searchable index and a
    synthesis by service type make the published reports usable together, and the power page helps an
    organisation decide whether to send data at all.

    Parameters
    ----------
    out_dir : path
        Folder of the site; replaced if it holds an earlier site, refused if it holds anything else.
    outputs : path
        Folder of released reports (only complete, released folders are read; only their results.json,
        report.html and report.pdf).
    tau2_method, hartung_knapp
        The meta-analysis settings (:func:`jdl_lib.synthesis.meta.meta_analyse`).
    uploads : iterable of DataFrame
        Uploads still held whose people the site scan must also look for.

    Returns
    -------
    SiteBuild

    Raises
    ------
    SynthesisError
        No released report to publish, or ``out_dir`` holds something that is not a site.
    DisclosureError
        The site scan found identifier-shaped text or a person from ``uploads``; nothing is published.
    """
    out = Path(out_dir).resolve()
    reports = published_reports(outputs)
    if not reports:
        raise SynthesisError(f"no released report under {outputs}; run requests with `jdl run` first")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    try:
        (staging / SITE_MARKER).write_text("built by jdl publish\n", encoding="utf-8")
        shutil.copytree(_HERE / "static", staging / "static")
        for report in reports:
            target = staging / "reports" / report.request_id
            target.mkdir(parents=True)
            for name in report.files:
                shutil.copy2(report.folder / name, target / name)
        effects = effects_table(reports)
        (staging / "data").mkdir()
        effects.to_csv(staging / "data" / "effects.csv", index=False)
        syntheses = synthesise_by_type(effects, tau2_method, hartung_knapp) if len(effects) else []
        with matplotlib.rc_context({"svg.fonttype": "none"}):
            types = [type_page(s, staging) for s in syntheses]
        _write_pages(staging, reports, types, _method(tau2_method, hartung_knapp))
        assert_site_clean(staging, uploads)
        files = tuple(sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()))
        _replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    pooled = tuple(s.service_type for s in syntheses if s.pooled)
    log.info("published %d report(s) to %s; pooled %d service type(s)", len(reports), out, len(pooled))
    return SiteBuild(out, len(reports), pooled, files)
