"""The output scan of a published site, before it replaces the previous one.

Two checks, because the uploads behind most published reports have been deleted (as the lab promises):

* **identifier-shaped text**: a PNC ID whose check letter is right (``2001/0012345X``, any spacing) or a
  prison number (``A1234BC``) anywhere a reader could see it (page text, SVG text, PDF text, data files).
  An aggregate site has no reason to hold either, so any one refuses the site;
* **the uploads still held**: every name, date of birth, PNC ID and prison number of each upload passed in
  (e.g. requests kept open with ``jdl run --keep-upload``), through the release scanner
  (:func:`jdl_lib.privacy.scanner.scan_outputs`).

Every report copied into the site was already scanned against its own upload when it was released.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path

import pandas as pd

from jdl_lib.errors import DisclosureError
from jdl_lib.identifiers import is_valid_pnc
from jdl_lib.privacy.scanner import Finding, Identifiers, identifiers_from_upload, scan_outputs

_PNC = re.compile(r"(?<![\w/])(\d{2}|\d{4})\s*/\s*(\d{1,7})\s*([A-Za-z])(?![A-Za-z0-9])")
_PRISON = re.compile(r"(?<![A-Za-z0-9])[A-Z]\s?\d{4}\s?[A-Z]{2}(?![A-Za-z0-9])")
_HIDDEN = re.compile(r"<(script|style)\b.*?</\1>", re.S | re.I)
_TAG = re.compile(r"<[^>]*>")


def _visible_text(path: Path) -> str:
    """What a reader of ``path`` sees: page text for HTML, text of a PDF, the file for anything else."""
    suffix = path.suffix.casefold()
    if suffix == ".pdf":
        from pypdf import PdfReader

        try:
            return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
        except Exception as exc:  # noqa: BLE001 - an unreadable PDF must fail the scan, not pass it
            raise DisclosureError(
                f"site scan: {path.name} is not a readable PDF ({type(exc).__name__}), so it cannot be "
                "checked for personal data; re-run the request that produced it"
            ) from None
    raw = path.read_bytes().decode("utf-8", errors="replace")
    if suffix in (".html", ".htm"):
        return html.unescape(_TAG.sub(" ", _HIDDEN.sub(" ", raw)))
    if suffix == ".svg":
        return html.unescape(" ".join(re.findall(r"<text\b[^>]*>(.*?)</text>", raw, re.S)) + " " + raw)
    return raw


def identifier_shaped(text: str) -> Counter[str]:
    """Count PNC IDs (check letter verified) and prison numbers written in ``text``, by kind."""
    found: Counter[str] = Counter()
    found["pnc_id"] = sum(is_valid_pnc(f"{y}/{s}{c}") for y, s, c in _PNC.findall(text))
    found["prison_number"] = len(_PRISON.findall(text))
    return +found


def scan_site(site: str | Path, uploads: Iterable[pd.DataFrame] = ()) -> list[Finding]:
    """Scan every file of a built site for identifier-shaped text and for the people of ``uploads``.

    Parameters
    ----------
    site : path
        The site folder.
    uploads : iterable of DataFrame
        Uploads (template column names) whose people must not appear; may be empty.

    Returns
    -------
    list of Finding
        Each names the file and kind of identifier and how often it occurs, never the value.
    """
    site = Path(site)
    findings = []
    for path in sorted(p for p in site.rglob("*") if p.is_file()):
        counts = identifier_shaped(_visible_text(path))
        findings.extend(Finding(str(path), kind, n) for kind, n in counts.items())
    held = [identifiers_from_upload(u) for u in uploads]
    if held:
        # One pass over the site for every upload at once: the union of their identifiers.
        union = Identifiers(
            *(frozenset().union(*(getattr(i, f.name) for i in held)) for f in fields(Identifiers))
        )
        findings.extend(scan_outputs([site], union))
    return findings


def assert_site_clean(site: str | Path, uploads: Iterable[pd.DataFrame] = ()) -> None:
    """Raise :class:`~jdl_lib.errors.DisclosureError` if :func:`scan_site` finds anything."""
    findings = scan_site(site, uploads)
    if findings:
        listed = "; ".join(f"{Path(f.file).relative_to(site)}: {f.kind} x{f.occurrences}" for f in findings)
        raise DisclosureError(
            f"site scan found personal data or identifier-shaped text ({listed}); the site has not been "
            "published. Find the report or parameter file that carries it, correct it and run it again."
        )
