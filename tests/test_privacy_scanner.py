"""Output scanner: every identifier of the upload is found in every output format, and never echoed."""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pandas as pd
import pytest

from jdl_lib.errors import DisclosureError
from jdl_lib.identifiers import pnc_check_letter
from jdl_lib.privacy.scanner import assert_no_personal_data, identifiers_from_upload, scan_outputs

FORENAMES = ["Ada", "Mary Ann", "Tomasz", "Aoife", "Kwame", "Siobhan", "Ravi", "Grace"]
SURNAMES = ["Lovelace", "Smith-Jones", "Nowak", "O'Brien", "Mensah", "Kelly", "Patel", "Okafor"]


@pytest.fixture(scope="module")
def upload() -> pd.DataFrame:
    rng = np.random.default_rng(85)
    n = 40
    years = rng.integers(1960, 2000, n)
    serials = rng.integers(1, 9_999_999, n)
    dobs = pd.to_datetime("1960-01-01") + pd.to_timedelta(rng.integers(0, 14_000, n), unit="D")
    return pd.DataFrame(
        {
            "forename": rng.choice(FORENAMES, n),
            "surname": rng.choice(SURNAMES, n),
            "date_of_birth": dobs,
            "pnc_id": [f"{y}/{s:07d}{pnc_check_letter(y, s)}" for y, s in zip(years, serials, strict=True)],
            "prison_number": [
                f"{chr(65 + i % 26)}{1000 + i * 37}{chr(66 + i % 20)}{chr(67 + i % 20)}" for i in range(n)
            ],
        }
    )


CLEAN = """<html><body><h1>Re-offending after the Hope programme</h1>
<p>Report date 12 March 2024. 142 of 203 people were analysed; the one-year rate was 31% against 38%.</p>
<p>Ann Leeds and Jonas Kellyson contributed. Index dates from 2015-01-01 to 2016-12-31.</p>
<p>Reference 2019/0001234Z, form A1000XY.</p></body></html>"""


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def _kinds(findings):
    return {f.kind for f in findings}


def test_clean_aggregate_outputs_pass(tmp_path, upload):
    _write(tmp_path, "report.html", CLEAN)
    _write(tmp_path, "results.json", json.dumps({"treatment_n": 142, "rate": 0.31, "window": "2015-01-01"}))
    assert scan_outputs([tmp_path], upload) == []
    assert_no_personal_data([tmp_path], upload)


@pytest.mark.parametrize(
    "template",
    [
        "{f} {s}",
        "{F}   {S}",
        "{f}\n\t{s}",
        "{s} {f}",
        "{S}, {F}",
        "<td>{f}</td><td>{s}</td>",
        "{f}&nbsp;{s}",
    ],
)
def test_names_are_found_in_any_case_order_and_spacing(tmp_path, upload, template):
    f, s = upload.loc[3, "forename"], upload.loc[3, "surname"]
    _write(tmp_path, "report.html", CLEAN + template.format(f=f, s=s, F=f.upper(), S=s.lower()))
    assert _kinds(scan_outputs([tmp_path], upload)) == {"name"}


def test_a_name_inside_longer_words_is_not_a_match(tmp_path):
    people = pd.DataFrame({"forename": ["Ann"], "surname": ["Lee"]})
    _write(tmp_path, "a.log", "Joann Leeds; Ann Leeson; Lee Annabel")
    assert scan_outputs([tmp_path], people) == []


@pytest.mark.parametrize(
    "fmt",
    [
        "{d:%Y-%m-%d}",
        "{d:%d/%m/%Y}",
        "{d.day}/{d.month}/{d:%y}",
        "{d.day} {d:%B %Y}",
        "{d.day}th {d:%b %Y}",
        "{d:%B} {d.day}, {d:%Y}",
        "{d:%d.%m.%Y}",
        "{d:%d-%m-%Y}",
        "{d:%Y/%m/%d}",
    ],
)
def test_dates_of_birth_are_found_in_common_formats(tmp_path, upload, fmt):
    d = upload.loc[5, "date_of_birth"]
    _write(tmp_path, "run.log", "INFO row written " + fmt.format(d=d) + " done")
    assert _kinds(scan_outputs([tmp_path], upload)) == {"date_of_birth"}


def test_pnc_ids_are_found_in_canonical_and_short_forms(tmp_path, upload):
    pnc = upload.loc[7, "pnc_id"]
    year, rest = pnc.split("/")
    short = f"{year[2:]}/{int(rest[:7])}{rest[7].lower()}"
    for text in (pnc, short, f"{year} / {rest}"):
        _write(tmp_path, "run.log", f"linked {text} ok")
        assert _kinds(scan_outputs([tmp_path], upload)) == {"pnc_id"}, text


def test_prison_numbers_are_found_in_any_case_and_spacing(tmp_path, upload):
    number = upload.loc[2, "prison_number"]
    for text in (number, number.lower(), f"{number[0]} {number[1:5]} {number[5:]}"):
        _write(tmp_path, "results.json", json.dumps({"note": text}))
        assert _kinds(scan_outputs([tmp_path], upload)) == {"prison_number"}, text


def test_notebook_outputs_are_scanned(tmp_path, upload):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("linked.head()")
    row = upload.iloc[[0]]
    cell.outputs = [nbformat.v4.new_output("execute_result", {"text/html": row.to_html()}, execution_count=1)]
    nb.cells = [nbformat.v4.new_markdown_cell("# Results"), cell]
    nbformat.write(nb, tmp_path / "executed.ipynb")
    assert _kinds(scan_outputs([tmp_path / "executed.ipynb"], upload)) == {
        "name",
        "date_of_birth",
        "pnc_id",
        "prison_number",
    }


@pytest.mark.slow
def test_pdf_text_is_scanned(tmp_path, upload):
    from weasyprint import HTML

    f, s = upload.loc[1, "forename"], upload.loc[1, "surname"]
    HTML(string=CLEAN + f"<p>Case study: {f} {s}</p>").write_pdf(tmp_path / "report.pdf")
    HTML(string=CLEAN).write_pdf(tmp_path / "clean.pdf")
    findings = scan_outputs([tmp_path], upload)
    assert [(f.file.endswith("report.pdf"), f.kind) for f in findings] == [(True, "name")]


def test_unreadable_pdf_fails_the_release(tmp_path, upload):
    _write(tmp_path, "report.pdf", "not a pdf")
    with pytest.raises(DisclosureError, match="not a readable PDF"):
        scan_outputs([tmp_path], upload)


def test_missing_output_fails_the_scan(tmp_path, upload):
    with pytest.raises(DisclosureError, match="does not exist"):
        scan_outputs([tmp_path / "nope.html"], upload)


def test_findings_and_error_never_contain_the_values(tmp_path, upload):
    person = upload.iloc[4]
    dob = f"{person.date_of_birth:%d/%m/%Y}"
    leak = f"{person.forename} {person.surname} {dob} {person.pnc_id} {person.prison_number}"
    _write(tmp_path, "report.html", CLEAN + leak)
    findings = scan_outputs([tmp_path], upload)
    assert _kinds(findings) == {"name", "date_of_birth", "pnc_id", "prison_number"}
    with pytest.raises(DisclosureError) as err:
        assert_no_personal_data([tmp_path], upload)
    for text in (repr(findings), str(err.value)):
        for value in (
            person.forename,
            person.surname,
            person.pnc_id,
            person.prison_number,
            f"{person.date_of_birth:%d/%m/%Y}",
            f"{person.date_of_birth:%Y-%m-%d}",
        ):
            assert value not in text
    assert "report.html" in str(err.value)


def test_identifiers_accept_string_dates_and_skip_bad_values():
    ids = identifiers_from_upload(
        pd.DataFrame(
            {
                "forename": ["Ada", None],
                "surname": ["Lovelace", "X"],
                "date_of_birth": ["1985-03-01", "not a date"],
                "pnc_id": ["rubbish", None],
            }
        )
    )
    assert ids.dates_of_birth == {(1985, 3, 1)} and ids.pnc_ids == frozenset()
    assert ("ada", "lovelace") in ids.names and ("lovelace", "ada") in ids.names
