"""The ``jdl`` command line. Each sub-command is a thin wrapper over one library call.

Library modules are imported inside the commands so that ``jdl --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    name="jdl",
    help="Justice Data Lab workbench: synthetic store, intake, linkage, matching, reports.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """Justice Data Lab workbench. Run ``jdl COMMAND --help`` for each command."""


@app.command()
def version() -> None:
    """Print the jdl version."""
    from jdl_lib import __version__

    typer.echo(__version__)


@app.command("import-national")
def import_national_cmd(
    source_dir: str = typer.Argument(..., help="Folder with <table>.parquet or <table>.csv per raw table."),
    store: str = typer.Option(..., "--store", help="DuckDB store file to create or replace."),
    source: str = typer.Option("", "--source", help="Label recorded in provenance (default: the folder)."),
    coverage_start: str = typer.Option("2000-01-01", "--coverage-start", help="First analysable index date."),
    coverage_end: str = typer.Option("2012-12-31", "--coverage-end", help="Last date the extract covers."),
) -> None:
    """Check a national extract against the store contract and load it (all or nothing)."""
    from datetime import date

    from jdl_lib.errors import JdlError
    from jdl_lib.store import import_national

    try:
        start, end = date.fromisoformat(coverage_start), date.fromisoformat(coverage_end)
    except ValueError:
        typer.echo("--coverage-start and --coverage-end must be ISO dates (YYYY-MM-DD).", err=True)
        raise typer.Exit(2) from None
    try:
        prov = import_national(
            source_dir, store, source=source or source_dir, coverage_start=start, coverage_end=end
        )
    except JdlError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(prov.describe())


@app.command("export-national")
def export_national_cmd(
    out_dir: str = typer.Argument(..., help="Folder to write <table>.parquet files into."),
    store: str = typer.Option(..., "--store", help="DuckDB store file to export."),
) -> None:
    """Write every raw table of a store as Parquet (importable again with import-national)."""
    from jdl_lib.errors import JdlError
    from jdl_lib.store import export_national

    try:
        paths = export_national(store, out_dir)
    except JdlError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Wrote {len(paths)} tables to {out_dir}")


@app.command("store-info")
def store_info_cmd(store: str = typer.Option(..., "--store", help="DuckDB store file.")) -> None:
    """Show where a national store's data came from (provenance; no personal data)."""
    from jdl_lib.errors import JdlError
    from jdl_lib.store import NationalStore

    try:
        with NationalStore.open(store) as handle:
            typer.echo(handle.provenance.describe())
    except JdlError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


@app.command("scan-outputs")
def scan_outputs_cmd(
    paths: Annotated[list[str], typer.Argument(help="Output files or folders to scan.")],
    upload: str = typer.Option(..., "--upload", help="The upload whose people must not appear."),
) -> None:
    """Check outputs for any name, date of birth, PNC ID or prison number in the upload (exit 1 if found)."""
    from jdl_lib.errors import JdlError
    from jdl_lib.intake.reader import read_cells
    from jdl_lib.intake.validate import MAX_ROWS
    from jdl_lib.privacy.scanner import assert_no_personal_data

    try:
        assert_no_personal_data(paths, read_cells(upload, max_rows=MAX_ROWS).cells)
    except JdlError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo("No personal data from the upload found.")


@app.command("audit-verify")
def audit_verify_cmd(
    log: str = typer.Option(None, "--log", help="Audit log (default <lab dir>/audit.log)."),
    lab: str = typer.Option(
        None,
        "--lab",
        help="Lab folder holding the secret (<outputs>/.lab). Default: the lab jdl run uses, in outputs/ of "
        "the project holding --params, else of the project holding the working directory.",
    ),
    params: str = typer.Option(
        None, "--params", help="A parameter file of the lab's requests: verify the lab its runs use."
    ),
    outputs: str = typer.Option(None, "--outputs", help="The outputs folder its runs released to."),
) -> None:
    """Check that the audit log's hash chain is intact (exit 1 naming the first altered line)."""
    from pathlib import Path

    from jdl_lib.errors import JdlError
    from jdl_lib.pipeline import default_outputs
    from jdl_lib.privacy.audit import verify_audit_log
    from jdl_lib.privacy.lab import LAB_FOLDER
    from jdl_lib.spec import project_root

    if lab is None:  # the same rule as jdl run, so the log checked is the one runs append to
        if outputs is None:
            outputs = default_outputs(params) if params else project_root(Path.cwd()) / "outputs"
        lab = str(Path(outputs) / LAB_FOLDER)
    try:
        n = verify_audit_log(log, directory=lab)
    except JdlError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Audit log intact: {n} record(s) in {Path(lab).resolve()}.")


@app.command("synth")
def synth_cmd(
    people: int = typer.Option(300_000, "--people", help="Number of people on the synthetic offender index."),
    seed: int = typer.Option(2013, "--seed", help="Random seed (same seed and size: identical store)."),
    store: str = typer.Option(
        "data/national.duckdb", "--store", help="DuckDB store file to create or replace."
    ),
    parquet: str = typer.Option(
        "", "--parquet", help="Also export the raw tables as Parquet into this folder."
    ),
) -> None:
    """Build the synthetic national database (truth table written beside the store)."""
    from jdl_lib.errors import JdlError
    from jdl_lib.synth import build_synthetic_store

    try:
        result = build_synthetic_store(store, people, seed, progress=True)
        if parquet:
            from jdl_lib.store import export_national

            export_national(store, parquet)
    except (JdlError, ValueError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    counts = ", ".join(f"{n:,} {t}" for t, n in result.row_counts.items())
    typer.echo(f"Synthetic store {store}: {counts}; content hash {result.content_hash[:16]}.")


@app.command("synth-cohort")
def synth_cohort_cmd(
    store: str = typer.Option(
        "data/national.duckdb", "--store", help="Synthetic store built by `jdl synth`."
    ),
    n: int = typer.Option(1000, "--n", help="Number of people in the organisation's cohort."),
    setting: str = typer.Option("custody", "--setting", help="custody or community."),
    index_from: str = typer.Option("2008-01-01", "--from", help="First index date sampled (YYYY-MM-DD)."),
    index_to: str = typer.Option("2010-12-31", "--to", help="Last index date sampled (YYYY-MM-DD)."),
    effect: float = typer.Option(-0.05, "--effect", help="Planted change in the one-year reoffending rate."),
    selection: str = typer.Option("higher_risk", "--selection", help="higher_risk, lower_risk or random."),
    strength: float = typer.Option(1.0, "--strength", help="How strongly selection leans on risk."),
    seed: int = typer.Option(7, "--seed", help="Random seed of the cohort."),
    noise: str = typer.Option(
        "default", "--noise", help="Noise profile: default, none-id, messy or messy-none-id."
    ),
    out: str = typer.Option("outputs/cohort_demo", "--out", help="Folder for upload, answer key and truth."),
    upload_format: str = typer.Option("csv", "--format", help="Upload file type: csv or xlsx."),
) -> None:
    """Draw a charity cohort with a planted effect: one upload file, answer key and truth.json."""
    from datetime import date

    from jdl_lib.errors import JdlError
    from jdl_lib.synth import NoiseConfig, make_cohort, write_cohort

    try:
        start, end = date.fromisoformat(index_from), date.fromisoformat(index_to)
    except ValueError:
        typer.echo("--from and --to must be ISO dates (YYYY-MM-DD).", err=True)
        raise typer.Exit(2) from None
    try:
        cohort = make_cohort(
            store,
            n,
            setting,
            start,
            end,
            selection=selection,
            selection_strength=strength,
            effect_rate=effect,
            noise=NoiseConfig.profile(noise),
            seed=seed,
        )
        paths = write_cohort(cohort, out, formats=(upload_format,))
    except (JdlError, ValueError, FileNotFoundError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Wrote {len(cohort.upload)} upload rows and the answer key to {paths['truth'].parent}")


@app.command("power")
def power_cmd(
    people: int = typer.Option(..., "--people", help="People expected in the treatment group."),
    baseline: float = typer.Option(..., "--baseline", help="Expected rate without the service (0-1)."),
    alpha: float = typer.Option(0.05, "--alpha", help="Two-sided significance level."),
    power: float = typer.Option(0.8, "--power", help="Power."),
) -> None:
    """Smallest fall in the one-year reoffending rate a cohort of this size could show."""
    from jdl_lib.power import minimum_detectable_difference

    mdd = minimum_detectable_difference(people, baseline, alpha=alpha, power=power)
    typer.echo(f"minimum detectable difference: {100 * mdd:.1f} percentage points")


@app.command("check-spec")
def check_spec_cmd(
    params: str = typer.Argument(..., help="Parameter file, e.g. parameters/demo.yaml."),
) -> None:
    """Check a request parameter file and list every problem at once."""
    from jdl_lib.errors import SpecError
    from jdl_lib.spec import load_spec

    try:
        spec = load_spec(params)
    except SpecError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{spec.request_id}: valid ({spec.setting}, {len(spec.outcomes)} outcomes, seed {spec.seed})")


@app.command("report")
def report_cmd(
    results: str = typer.Argument(..., help="A results.json written by a run."),
    out: str = typer.Option(..., "--out", help="Folder for report.ipynb, report.html and report.pdf."),
    upload: str = typer.Option(
        None, "--upload", help="The request's upload: the new report is scanned for its people (required)."
    ),
) -> None:
    """Re-render a report from a results.json; released only after the same output scan as `jdl run`."""
    import shutil
    import tempfile
    from pathlib import Path

    from jdl_lib.errors import JdlError
    from jdl_lib.intake.reader import read_cells
    from jdl_lib.intake.validate import MAX_ROWS
    from jdl_lib.privacy.scanner import assert_no_personal_data
    from jdl_lib.report.render import render_report

    if not upload:
        typer.echo(
            "Refused: a re-rendered report is released only after the output scan, which needs the request's "
            "upload: pass --upload FILE. If the upload was deleted after release, the report released then "
            "(outputs/<request-id>/) is the one to use.",
            err=True,
        )
        raise typer.Exit(2)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        people = read_cells(upload, max_rows=MAX_ROWS).cells
        with tempfile.TemporaryDirectory(prefix=".report-staging-", dir=target.parent) as staging:
            paths = render_report(results, staging)
            assert_no_personal_data([staging], people)
            target.mkdir(exist_ok=True)
            for made in (paths.notebook, paths.html, paths.pdf):
                shutil.move(made, target / made.name)
    except JdlError as exc:
        typer.echo(f"Refused: {exc}", err=True)
        raise typer.Exit(1) from None
    except Exception as exc:  # never a traceback for the user; nothing was released
        typer.echo(f"Failed: unexpected {type(exc).__name__}; no report was written.", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Wrote {target / paths.html.name} and {target / paths.pdf.name}")


@app.command()
def validate(
    upload: str = typer.Argument(..., help="The charity's Data Upload Template (CSV or XLSX)."),
    report: str | None = typer.Option(None, "--report", help="Write the full report (.csv: problem table)."),
    min_people: int = typer.Option(60, help="Fewest valid people accepted (the MoJ minimum is 60)."),
) -> None:
    """Check an upload: summary and problems by row and column (never values); exit 1 if refused."""
    import logging
    from pathlib import Path

    from jdl_lib.errors import JdlError
    from jdl_lib.intake import check_upload, format_report, problems_frame

    logging.getLogger("jdl_lib").setLevel(logging.ERROR)
    try:
        result = check_upload(upload, min_people=min_people)
        text = format_report(result, max_problems=50)
        if report:
            target = Path(report)
            if target.suffix.lower() == ".csv":
                problems_frame(result).to_csv(target, index=False)
            else:
                target.write_text(format_report(result, max_problems=None), encoding="utf-8")
    except JdlError as err:
        typer.echo(f"Refused: {err}", err=True)
        raise typer.Exit(1) from None
    except Exception as err:  # never show a traceback to a charity; the type says enough to report it
        typer.echo(f"Refused: {Path(upload).name} could not be checked ({type(err).__name__}).", err=True)
        raise typer.Exit(1) from None
    typer.echo(text)
    raise typer.Exit(0 if result.analysable else 1)


_ACCEPT_DROPPED_HELP = (
    "Analyse an upload even when validation drops more than 10% of its rows (only once the losses are "
    "understood: they change who is analysed)."
)


@app.command("run")
def run_cmd(
    params: str = typer.Argument(..., help="The request's parameter file (parameters/<request-id>.yaml)."),
    outputs: str = typer.Option(
        None, help="Folder that receives <request-id>/ (default: outputs/ of the project holding the file)."
    ),
    keep_upload: bool = typer.Option(
        False, "--keep-upload", help="Keep the submitted file after release (default: it is deleted)."
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Replace this request's released report (audited; the guard still applies)."
    ),
    accept_dropped_rows: bool = typer.Option(False, "--accept-dropped-rows", help=_ACCEPT_DROPPED_HELP),
) -> None:
    """Run one request end to end and release its report (HTML, PDF, results.json)."""
    from jdl_lib.errors import JdlError
    from jdl_lib.intake import MAX_DROPPED_SHARE
    from jdl_lib.pipeline import run_request

    try:
        outcome = run_request(
            params,
            outputs=outputs,
            keep_upload=keep_upload,
            replace=replace,
            max_dropped_share=1.0 if accept_dropped_rows else MAX_DROPPED_SHARE,
        )
    except JdlError as exc:  # the parameter file could not be used: nothing ran
        typer.echo(f"Not run: {exc}", err=True)
        raise typer.Exit(2) from None
    except Exception as exc:  # never a traceback for the user; the audit log records the run
        typer.echo(f"Failed: unexpected {type(exc).__name__} (a fault in jdl; please report it).", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{outcome.request_id}: {outcome.status} in {outcome.seconds:.0f} s. {outcome.message}")
    if outcome.out_dir is not None:
        typer.echo(f"Report: {outcome.out_dir / 'report.html'} and {outcome.out_dir / 'report.pdf'}")
    raise typer.Exit(0 if outcome.status == "released" else 1)


@app.command("publish")
def publish_cmd(
    out_dir: str = typer.Argument(
        ..., help="Folder of the static site (replaced if it holds an earlier one)."
    ),
    outputs: str = typer.Option("outputs", help="Folder of released reports to publish."),
    tau2: str = typer.Option("REML", "--tau2", help="Between-report variance estimator: REML or DL."),
    hartung_knapp: bool = typer.Option(
        True, "--hartung-knapp/--wald", help="Hartung-Knapp (default) or Wald intervals for pooled effects."
    ),
    scan_upload: Annotated[
        list[str] | None,
        typer.Option("--scan-upload", help="An upload still held whose people the site scan looks for."),
    ] = None,
) -> None:
    """Build the published site: every released report, the synthesis by service type, a power page."""
    from jdl_lib.errors import JdlError
    from jdl_lib.intake.reader import read_cells
    from jdl_lib.intake.validate import MAX_ROWS
    from jdl_lib.publish import build_site

    try:
        uploads = [read_cells(u, max_rows=MAX_ROWS).cells for u in scan_upload or []]
        site = build_site(
            out_dir, outputs, tau2_method=tau2.upper(), hartung_knapp=hartung_knapp, uploads=uploads
        )
    except JdlError as exc:
        typer.echo(f"{type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None
    pooled = ", ".join(site.pooled_types) or "none yet"
    typer.echo(
        f"Published {site.n_reports} report(s) to {site.path / 'index.html'}; pooled by type: {pooled}"
    )


@app.command("batch")
def batch_cmd(
    folder: str = typer.Argument(
        "parameters", help="Folder of parameter files; every *.yaml is one request."
    ),
    outputs: str = typer.Option(
        None, help="Folder that receives <request-id>/ (default: outputs/ of the project holding the file)."
    ),
    keep_upload: bool = typer.Option(
        False,
        "--keep-upload",
        help="Keep every upload (default: deleted once all its requests are released).",
    ),
    accept_dropped_rows: bool = typer.Option(False, "--accept-dropped-rows", help=_ACCEPT_DROPPED_HELP),
    workers: int = typer.Option(
        1, "--workers", min=1, max=16, help="Requests run at once, each in its own process (2 suits 2 cores)."
    ),
) -> None:
    """Run every request in a folder; one failure never stops the others. Prints every request's outcome."""
    from jdl_lib.intake import MAX_DROPPED_SHARE
    from jdl_lib.pipeline import run_batch

    outcomes = run_batch(
        folder,
        outputs=outputs,
        keep_upload=keep_upload,
        max_dropped_share=1.0 if accept_dropped_rows else MAX_DROPPED_SHARE,
        workers=workers,
    )
    if not outcomes:
        typer.echo(f"No parameter files (*.yaml) in {folder}.", err=True)
        raise typer.Exit(1)
    typer.echo(f"{'request':<24} {'status':<11} {'seconds':>7}  message")
    for o in outcomes:
        typer.echo(f"{o.request_id:<24} {o.status:<11} {o.seconds:>7.0f}  {o.message}")
    counts = {s: sum(o.status == s for o in outcomes) for s in dict.fromkeys(o.status for o in outcomes)}
    typer.echo(", ".join(f"{n} {s}" for s, n in counts.items()))
    if any(o.status == "interrupted" for o in outcomes):
        raise typer.Exit(130)
    raise typer.Exit(0 if all(o.status == "released" for o in outcomes) else 1)
