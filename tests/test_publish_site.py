"""`jdl publish`: a static site built from released reports only, every link resolving, no personal data."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pytest
from synthesis_fixtures import planted_results, release, sector
from typer.testing import CliRunner

from jdl_lib.cli import app
from jdl_lib.errors import DisclosureError, SynthesisError
from jdl_lib.publish import build_site
from jdl_lib.publish.scan import assert_site_clean, identifier_shaped

#: People of an upload that must never appear in the site (template column names).
UPLOAD = pd.DataFrame(
    {
        "forename": ["Ann", "Tomasz"],
        "surname": ["Lee", "Kowalczyk"],
        "date_of_birth": ["1985-03-01", "1979-11-23"],
        "pnc_id": ["1985/0012345L", None],
        "prison_number": ["A1234BC", None],
    }
)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        for key in ("href", "src"):
            if a.get(key):
                self.links.append(a[key])


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("publish")
    outputs = root / "outputs"
    sector(outputs, {"mentoring": (6, -0.06), "employment": (3, 0.0), "arts": (1, -0.02)})
    rng = np.random.default_rng(4)
    silent = planted_results("too-few-reoffenders", "housing", -0.02, 70, rng)
    row = next(o for o in silent["outcomes"] if o["measure"] == "reoffended_1y")
    row.update(reported=False, significant=False, reason="fewer than 30 reoffenders in the treatment group")
    row.update(
        {k: None for k in ("treated_value", "control_value", "difference", "ci_low", "ci_high", "p_value")}
    )
    release(outputs, silent, pdf=False)
    (outputs / ".staging-99.unreleased").mkdir()
    (outputs / "half-written").mkdir()
    (outputs / "half-written" / "results.json").write_text("{}")
    build_site(root / "site", outputs, uploads=[UPLOAD])
    return root / "site", outputs


def test_every_released_report_is_indexed_and_nothing_else(built: tuple[Path, Path]) -> None:
    site, _ = built
    html = (site / "index.html").read_text(encoding="utf-8")
    ids = set(re.findall(r'<tr id="report-([^"]+)"', html))
    assert len(ids) == 11 and "too-few-reoffenders" in ids and "half-written" not in ids
    assert 'data-service-type="mentoring"' in html and "not stated (fewer than 30 reoffenders" in html
    assert "2006–2010" in html and "significant reduction" in html
    assert (site / "reports" / "mentoring-1" / "report.pdf").is_file()
    assert not (site / "reports" / "too-few-reoffenders" / "report.pdf").exists()
    assert not list(site.rglob("results.json"))  # aggregates are read, not republished


def test_every_link_and_image_resolves(built: tuple[Path, Path]) -> None:
    site, _ = built
    pages = sorted(site.glob("*.html"))
    assert {p.name for p in pages} == {"index.html", "synthesis.html", "power.html"}
    checked = 0
    for page in pages:
        for link in _parse(page).links:
            parts = urlsplit(link)
            assert not parts.scheme and not parts.netloc, f"{page.name} links outside the site: {link}"
            target = (page.parent / parts.path).resolve() if parts.path else page
            assert target.is_file(), f"{page.name}: {link} does not resolve"
            assert target.is_relative_to(site.resolve())
            if parts.fragment:
                assert parts.fragment in _parse(target).ids, (
                    f"{page.name}: no #{parts.fragment} in {target.name}"
                )
            checked += 1
    assert checked > 40


def test_synthesis_page_pools_types_with_enough_reports(built: tuple[Path, Path]) -> None:
    site, _ = built
    html = (site / "synthesis.html").read_text(encoding="utf-8")
    assert "Mentoring: 6 reports" in html and "Employment: 3 reports" in html
    assert (site / "synthesis" / "mentoring-rd.svg").is_file() and (
        site / "synthesis" / "employment-rr.svg"
    ).is_file()
    assert "Not pooled: fewer than 3 reports" in html  # arts: one report
    assert "τ²-based" in html and "per 100 more people analysed" in html
    effects = pd.read_csv(site / "data" / "effects.csv")
    assert len(effects) == 10  # the report that did not state its effect is indexed but not pooled


def test_site_holds_no_personal_data(built: tuple[Path, Path]) -> None:
    site, _ = built
    assert_site_clean(site, [UPLOAD])
    assert identifier_shaped("PNC 1985/0012345L, prison number A1234BC") == {"pnc_id": 1, "prison_number": 1}
    assert identifier_shaped("people released 2006–2010, 14/15 reports, run 2013") == {}


def test_a_report_carrying_personal_data_refuses_the_site_and_keeps_the_old_one(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    site, _ = built
    before = (site / "index.html").read_bytes()
    rng = np.random.default_rng(5)
    for leak, kind in [("Ann Lee", "name"), ("ref A1234BC", "prison_number"), ("1985/0012345L", "pnc_id")]:
        out = tmp_path / kind
        bad = planted_results("leaky", "arts", 0.0, 100, rng)
        bad["request"]["intervention"]["summary"] = f"Mentoring, as {leak} said."
        release(out, bad, pdf=False)
        with pytest.raises(DisclosureError, match=kind):
            build_site(site, out, uploads=[UPLOAD])
        assert (site / "index.html").read_bytes() == before
        assert not [p for p in site.parent.iterdir() if ".staging-" in p.name]


def test_rebuild_replaces_the_site_but_never_another_folder(built: tuple[Path, Path], tmp_path: Path) -> None:
    _, outputs = built
    first = build_site(tmp_path / "site", outputs, tau2_method="DL", hartung_knapp=False)
    assert first.pooled_types == ("mentoring", "employment")
    assert "DerSimonian–Laird" in (tmp_path / "site" / "synthesis.html").read_text(encoding="utf-8")
    build_site(tmp_path / "site", outputs)
    assert "REML" in (tmp_path / "site" / "synthesis.html").read_text(encoding="utf-8")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(SynthesisError, match="not a site built by"):
        build_site(tmp_path / "mine", outputs)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    with pytest.raises(SynthesisError, match="no released report"):
        build_site(tmp_path / "empty-site", tmp_path / "no-outputs")


def test_publish_command(built: tuple[Path, Path], tmp_path: Path) -> None:
    _, outputs = built
    upload = tmp_path / "upload.csv"
    UPLOAD.assign(gender=["F", "M"], intervention_start="2008-01-01", setting="custody").to_csv(
        upload, index=False
    )
    result = CliRunner().invoke(
        app, ["publish", str(tmp_path / "site"), "--outputs", str(outputs), "--scan-upload", str(upload)]
    )
    assert result.exit_code == 0, result.output
    assert (
        "Published 11 report(s)" in result.output and "pooled by type: mentoring, employment" in result.output
    )
    refused = CliRunner().invoke(app, ["publish", str(tmp_path / "x"), "--outputs", str(tmp_path / "none")])
    assert refused.exit_code == 1 and "no released report" in refused.output
