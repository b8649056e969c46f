"""The privacy commands: `jdl scan-outputs` and `jdl audit-verify` exit 1 on a problem, echoing no data."""

from __future__ import annotations

from intake_helpers import clean_cohort, write_csv
from typer.testing import CliRunner

from jdl_lib.cli import app
from jdl_lib.privacy.audit import append_audit_record


def test_scan_outputs_command(tmp_path):
    cohort = clean_cohort(n=5)
    write_csv(cohort, tmp_path / "upload.csv")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "clean.html").write_text("<p>142 people</p>")
    runner = CliRunner()
    args = ["scan-outputs", str(tmp_path / "out"), "--upload", str(tmp_path / "upload.csv")]
    ok = runner.invoke(app, args)
    assert ok.exit_code == 0, ok.output
    (tmp_path / "out" / "leak.html").write_text(f"<p>{cohort.forename[0]} {cohort.surname[0]}</p>")
    bad = runner.invoke(
        app, ["scan-outputs", str(tmp_path / "out"), "--upload", str(tmp_path / "upload.csv")]
    )
    assert bad.exit_code == 1 and "leak.html: name" in bad.output
    assert cohort.surname[0] not in bad.output


def test_audit_verify_command(tmp_path):
    lab = tmp_path / "lab"
    for n in (1, 2):
        append_audit_record("sweep", {"swept": n}, directory=lab)
    runner = CliRunner()
    assert "2 record(s)" in runner.invoke(app, ["audit-verify", "--lab", str(lab)]).output
    log = lab / "audit.log"
    log.write_text(log.read_text().replace('"swept": 2', '"swept": 3'))
    result = runner.invoke(app, ["audit-verify", "--lab", str(lab)])
    assert result.exit_code == 1 and "line 2" in result.output


def test_audit_verify_finds_the_lab_jdl_run_uses_from_any_directory(tmp_path, monkeypatch):
    """The default lab is <outputs>/.lab of the project holding the parameter file, as for `jdl run`.

    Before, the default was outputs/.lab of the working directory: run from elsewhere it started a new,
    empty lab there and reported its empty log as intact, whatever had happened to the real one.
    """
    project = tmp_path / "project"
    (project / "parameters").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'lab'\n")
    params = project / "parameters" / "r1.yaml"
    params.write_text("request_id: r1\n")
    lab = project / "outputs" / ".lab"
    for n in (1, 2, 3):
        append_audit_record("sweep", {"swept": n}, directory=lab)
    runner = CliRunner()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = runner.invoke(app, ["audit-verify", "--params", str(params)])
    assert result.exit_code == 0 and "3 record(s)" in result.output, result.output
    # From a folder inside the project, with no option: the project's lab.
    monkeypatch.chdir(project / "parameters")
    result = runner.invoke(app, ["audit-verify"])
    assert result.exit_code == 0 and "3 record(s)" in result.output, result.output
    # No lab where it looks: refused, naming the folder, and no new lab is started there.
    monkeypatch.chdir(elsewhere)
    result = runner.invoke(app, ["audit-verify"])
    assert result.exit_code == 1 and "holds no lab secret" in result.output, result.output
    assert not (elsewhere / "outputs").exists()
    result = runner.invoke(app, ["audit-verify", "--lab", str(tmp_path / "nolab")])
    assert result.exit_code == 1 and not (tmp_path / "nolab").exists()
