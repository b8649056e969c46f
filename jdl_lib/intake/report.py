"""The validation report a charity reads: a summary, then every problem by row, column and kind.

No cell values appear anywhere in it (they may be personal data); each line says where the problem
is, what kind it is and how to fix it.
"""

from __future__ import annotations

import pandas as pd

from jdl_lib.intake.validate import IntakeResult
from jdl_lib.template import UPLOAD_COLUMNS


def problems_frame(result: IntakeResult) -> pd.DataFrame:
    """Every problem as a table: row, column heading, kind, severity, message, fix (no values)."""
    frame = pd.DataFrame(
        [(p.row, p.column, p.kind, p.severity, p.message, p.fix) for p in result.problems],
        columns=["row", "column", "kind", "severity", "message", "fix"],
    )
    frame["column"] = frame["column"].map(lambda c: UPLOAD_COLUMNS.get(c, "(whole row)"))
    return frame


def format_report(result: IntakeResult, *, max_problems: int | None = 200) -> str:
    """Render the validation report as plain text (Markdown-friendly).

    Parameters
    ----------
    result
        A checked upload.
    max_problems
        Show at most this many problem lines (None for all); the rest are counted.
    """
    warnings = sum(p.severity == "warning" for p in result.problems)
    lines = [
        f"# Validation report: {result.source}",
        "",
        f"- File: {result.file_format.upper()}" + (f", {result.encoding}" if result.encoding else ""),
        f"- Rows submitted: {result.n_submitted}"
        + (f" (plus {result.n_blank_rows} blank row(s) ignored)" if result.n_blank_rows else ""),
        f"- Valid people kept: {result.n_valid}",
        f"- Rows dropped: {len(result.dropped)}",
        f"- Warnings (row kept): {warnings}",
    ]
    for column, order in result.date_orders.items():
        if order.order != "day_first" or order.contradicting:
            lines.append(
                f"- {UPLOAD_COLUMNS[column]}: read {order.order.replace('_', '-')} ({order.day_first} "
                f"day-first and {order.month_first} month-first dates that can be read only one way)"
            )
    if result.ignored_columns:
        lines.append(f"- Columns ignored (heading not recognised): {', '.join(result.ignored_columns)}")
    lines += ["", f"**{'Refused: ' + result.refusal if result.refusal else 'Accepted for analysis.'}**"]
    counts = result.drop_counts()
    if counts:
        lines += ["", "## Why rows were dropped", ""]
        lines += [f"- {n} row(s): {reason}" for reason, n in counts.items()]
    if result.problems:
        lines += [
            "",
            "## Problems by row",
            "",
            "| Row | Column | Kind | Severity | Problem | How to fix |",
            "|---|---|---|---|---|---|",
        ]
        shown = result.problems if max_problems is None else result.problems[:max_problems]
        for p in shown:
            column = UPLOAD_COLUMNS.get(p.column, "(whole row)")
            lines.append(f"| {p.row} | {column} | {p.kind} | {p.severity} | {p.message} | {p.fix} |")
        if len(shown) < len(result.problems):
            lines.append(
                f"\n... and {len(result.problems) - len(shown)} more problem(s); write the full "
                "report with --report FILE."
            )
    return "\n".join(lines) + "\n"


__all__ = ["format_report", "problems_frame"]
