"""Rendering: the example results become an executed notebook, a code-free HTML and an A4 PDF that carry
the headline numbers; a failing notebook is kept and nothing is exported."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from pypdf import PdfReader

from jdl_lib.report import text
from jdl_lib.report.example import example_results
from jdl_lib.report.render import ReportError, render_report
from jdl_lib.report.results import write_results

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, object]:
    out = tmp_path_factory.mktemp("report")
    results = example_results("reduction")
    return results, render_report(write_results(results, out / "results.json"), out)


def test_html_and_pdf_carry_the_headline(rendered: tuple[dict, object]) -> None:
    results, paths = rendered
    html = paths.html.read_text(encoding="utf-8")
    pdf = " ".join(page.extract_text() for page in PdfReader(paths.pdf).pages)
    pdf = re.sub(r"\s+", " ", pdf)
    rate = text.measure(results, "reoffended_1y")
    for needle in (
        f"the {rate['n_treated']} people",
        text.pct(rate["treated_value"]),
        text.pct(rate["control_value"]),
    ):
        assert needle in html and needle in pdf
    assert text.headline(results) in html
    assert "What you can say" in pdf and "Annex A" in pdf and "Annex B" in pdf


def main_report_pages(pdf: Path) -> int:
    """Pages before the sub-analyses and annexes (each starts on a new page): the main report."""
    pages = [re.sub(r"\s+", " ", page.extract_text()) for page in PdfReader(pdf).pages]
    after = ("Who benefits, and over time", "Annex A. Balance of every characteristic")
    return next(i for i, page in enumerate(pages) if any(a in page for a in after))


def test_main_report_fits_five_a4_pages(rendered: tuple[dict, object]) -> None:
    """Issue 11 item 14: summary, can/cannot say, who was analysed, match quality, results and method fit
    in five A4 pages, as the JDL's reports do; the full balance table and love plot are in the annex."""
    paths = rendered[1]
    reader = PdfReader(paths.pdf)
    assert {(round(float(p.mediabox.width)), round(float(p.mediabox.height))) for p in reader.pages} == {
        (595, 842)
    }
    main = main_report_pages(paths.pdf)
    assert main <= 5
    text_main = " ".join(reader.pages[i].extract_text() for i in range(main))
    for heading in (
        "1. Summary",
        "2. What you can and cannot say",
        "3. The intervention",
        "5. How good the match",
        "6. Results for all measures",
        "7. Method",
    ):
        assert heading in text_main
    html = paths.html.read_text(encoding="utf-8")
    assert "Annex A. Balance of every characteristic" in html  # the HTML carries the annex too


def test_html_has_no_code_or_prompts(rendered: tuple[dict, object]) -> None:
    html = rendered[1].html.read_text(encoding="utf-8")
    for code in ("read_results", "display(", "import ", "In&nbsp;[", "jp-InputArea", "results_path"):
        assert code not in html
    # attrition (HTML only), love (main), outcome bars, differences, full love plot and overlap (annex)
    assert html.count("<svg") == 6
    # the attrition chart repeats its table: not in the PDF
    assert html.count('class="chart screen-only"') == 1
    assert "Traceback" not in html


def test_executed_notebook_holds_only_aggregates(rendered: tuple[dict, object]) -> None:
    paths = rendered[1]
    nb = nbformat.read(paths.notebook, as_version=4)
    params = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "results_path" in params[0].source
    sources = "\n".join(c.source for c in nb.cells)
    assert "upload" not in sources and "duckdb" not in sources  # reads results.json and nothing else


def test_failed_notebook_is_kept_and_nothing_exported(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('results_path = ""'), nbformat.v4.new_code_cell("1 / 0")]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, broken)
    out = tmp_path / "out"
    with pytest.raises(ReportError, match="ZeroDivisionError"):
        render_report(write_results(example_results(), out / "results.json"), out, notebook=broken)
    assert (out / "report.ipynb").exists()
    assert not (out / "report.html").exists() and not (out / "report.pdf").exists()
