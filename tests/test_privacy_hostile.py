"""Cross-cutting hostile-input properties: the upload reader never crashes and never echoes identifiers.

Random bytes, and template files whose cells hold formulas, control characters, very long strings and
text in mixed encodings, must end in either an accepted upload or an ``IntakeError``; and no message the
lab shows (errors, problems, fixes) may contain a name, date of birth, PNC ID or prison number from the
upload, checked with the output scanner.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from intake_helpers import as_template, clean_cohort

from jdl_lib.errors import IntakeError
from jdl_lib.intake.validate import IntakeResult, read_upload
from jdl_lib.privacy.scanner import identifiers_from_upload, scan_text
from jdl_lib.template import UPLOAD_COLUMNS

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ADVERSARIAL = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            '=HYPERLINK("http://evil.example","x")',
            "+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0",
            "-2+3",
            "\x00\x01\x1b[31m\r\n",
            "‮evil",
            "../../etc/passwd",
            "A" * 5000,
            "Ã©Ã¨",
            "ZOË",
            "31/02/1985",
            "1985-13-45",
            "2099/9999999Z",
        ]
    ),
)


def _read(path: Path) -> tuple[IntakeResult | None, list[str]]:
    """Read an upload; return the result (or None) and every message shown to the user."""
    try:
        result = read_upload(path, min_people=1)
    except IntakeError as err:
        return None, [str(err)]
    return result, [t for p in result.problems for t in (p.message, p.fix)]


@SETTINGS
@given(
    st.binary(max_size=3000), st.sampled_from([b"", b"PK\x03\x04", b"\xef\xbb\xbf", b"Forename,Surname\n"])
)
def test_random_bytes_end_in_a_result_or_an_intake_error(content, prefix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload.csv"
        path.write_bytes(prefix + content)
        result, messages = _read(path)
        assert result is not None or messages[0]


@SETTINGS
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.sampled_from(list(UPLOAD_COLUMNS)), ADVERSARIAL),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
    st.booleans(),
)
def test_adversarial_cells_never_crash_or_leak_identifiers(edits, encoding, as_xlsx):
    cohort = clean_cohort(n=6, seed=3).astype(object)
    for row, column, value in edits:
        cohort.loc[row, column] = value
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("upload.xlsx" if as_xlsx else "upload.csv")
        table = as_template(cohort)
        if as_xlsx:
            clean = table.map(lambda v: "".join(c for c in str(v) if c >= " ") if isinstance(v, str) else v)
            clean.to_excel(path, index=False)
        else:
            path.write_bytes(table.to_csv(index=False).encode(encoding, errors="replace"))
        result, messages = _read(path)
    ids = identifiers_from_upload(clean_cohort(n=6, seed=3))
    for message in messages:
        assert not scan_text(message, ids), "a message shown to the user contains an identifier"
    if result is not None:
        assert isinstance(result.people, pd.DataFrame)
