"""Execute the report notebook on a results.json and export it to HTML and PDF.

The only module that imports papermill, nbconvert and WeasyPrint. papermill runs ``notebooks/report.ipynb``
with the results path as its parameter (the notebook reads only aggregates), nbconvert exports the outputs
without code through the clean ``jdl`` template, and WeasyPrint prints that HTML to an A4 PDF. A failed
execution keeps the executed notebook for the analyst and exports nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import nbformat
import papermill
import weasyprint
from nbconvert import HTMLExporter

from jdl_lib.errors import JdlError
from jdl_lib.report.kernel import private_kernel
from jdl_lib.report.results import read_results

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"
NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "report.ipynb"


class ReportError(JdlError):
    """The report notebook failed to execute; the executed notebook is kept for the analyst."""


@dataclass(frozen=True)
class ReportPaths:
    """Where a rendered report went, and the inputs that made it."""

    results: Path
    notebook: Path
    html: Path
    pdf: Path
    template_notebook: Path
    kernel: str


def export_html(notebook: Path) -> str:
    """Export an executed notebook's outputs (no code, no prompts) with the jdl template and CSS."""
    exporter = HTMLExporter(
        extra_template_basedirs=[str(TEMPLATES)],
        template_name="jdl",
        exclude_input=True,
        exclude_input_prompt=True,
    )
    exporter.exclude_output_prompt = True
    css = (TEMPLATES / "jdl" / "report.css").read_text(encoding="utf-8")
    body, _ = exporter.from_notebook_node(
        nbformat.read(notebook, as_version=4),
        resources={"jdl_css": css, "metadata": {"name": "Justice Data Lab analysis"}},
    )
    return body


def render_report(
    results_path: str | Path,
    out_dir: str | Path,
    notebook: str | Path = NOTEBOOK,
    kernel: str = "python3",
    report_date: str = "",
) -> ReportPaths:
    """Run the report notebook on ``results_path`` and write report.ipynb, report.html and report.pdf.

    Parameters
    ----------
    results_path
        A results.json that passes :func:`~jdl_lib.report.results.validate_results`.
    out_dir
        Folder for the outputs (``outputs/<request-id>``).
    notebook, kernel
        The report notebook and the Jupyter kernel to execute it with.
    report_date
        The date printed under the title (kept out of results.json so that file is reproducible).

    Raises
    ------
    ReportError
        If the notebook fails; ``out_dir/report.ipynb`` then holds the failing run and no HTML/PDF is written.
    """
    results_path, out_dir = Path(results_path).resolve(), Path(out_dir).resolve()
    read_results(results_path)  # refuse a broken contract before starting a kernel
    out_dir.mkdir(parents=True, exist_ok=True)
    executed, html, pdf = out_dir / "report.ipynb", out_dir / "report.html", out_dir / "report.pdf"
    for stale in (html, pdf):
        stale.unlink(missing_ok=True)
    log.info("executing %s", notebook)
    try:
        with private_kernel() as manager_class:
            papermill.execute_notebook(
                str(notebook),
                str(executed),
                parameters={"results_path": str(results_path), "report_date": report_date},
                kernel_name=kernel,
                cwd=str(out_dir),
                progress_bar=False,
                kernel_manager_class=manager_class,
            )
    except papermill.PapermillExecutionError as exc:
        raise ReportError(
            f"report notebook failed in cell {exc.exec_count} ({exc.ename}); the executed notebook is kept "
            f"at {executed} for inspection, and no report was exported"
        ) from None
    log.info("exporting HTML and PDF to %s", out_dir)
    html.write_text(export_html(executed), encoding="utf-8")
    weasyprint.HTML(filename=str(html), base_url=str(out_dir)).write_pdf(str(pdf))
    return ReportPaths(results_path, executed, html, pdf, Path(notebook), kernel)
