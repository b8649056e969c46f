"""Contract checks run by the importer, as DuckDB SQL over a staged extract.

Every check returns :class:`Violation` records instead of raising, so that the importer can
refuse a bad extract with one message listing every problem. Examples are primary keys only:
personal fields (names, dates of birth, PNC IDs, prison numbers) are never read into a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from jdl_lib import schema
from jdl_lib.identifiers import PNC_SHORT_YEAR_PIVOT

#: How many example keys a violation quotes.
N_EXAMPLES = 5

#: How each contract type is read from text, for the "how to fix" part of a type violation.
_TYPE_HINTS = {
    "BIGINT": "whole numbers",
    "INTEGER": "whole numbers",
    "DATE": "ISO dates (YYYY-MM-DD)",
    "BOOLEAN": "true/false",
    "VARCHAR": "text",
}


@dataclass(frozen=True)
class Violation:
    """One broken contract check: where, how many rows, example keys and how to fix it."""

    table: str
    check: str
    count: int
    problem: str
    fix: str
    examples: tuple[str, ...] = ()
    key: str = ""

    def __str__(self) -> str:
        rows = f"{self.count:,} row{'s' if self.count != 1 else ''}: " if self.count else ""
        text = f"{self.table} / {self.check}: {rows}{self.problem}"
        if self.examples:
            text += f" (example {self.key}: {', '.join(self.examples)})"
        return f"{text}. Fix: {self.fix}"


def q(name: str) -> str:
    """Quote a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def _strictly_bad(col: str, dtype: str) -> str:
    """SQL true when a non-null source value cannot be read exactly as ``dtype``."""
    c = q(col)
    cast = f"TRY_CAST({c} AS {dtype})"
    if dtype in ("BIGINT", "INTEGER"):
        # TRY_CAST rounds 1.5 to 2; a key or a count must be whole, so compare with the exact value.
        return f"({c} IS NOT NULL AND ({cast} IS NULL OR TRY_CAST({c} AS DOUBLE) <> {cast}))"
    if dtype == "DATE":
        # A timestamp with a time of day would be silently truncated; refuse it instead.
        return f"({c} IS NOT NULL AND ({cast} IS NULL OR TRY_CAST({c} AS TIMESTAMP) <> {cast}))"
    return f"({c} IS NOT NULL AND {cast} IS NULL)"


def _examples(values: list | None) -> tuple[str, ...]:
    return tuple(str(v) for v in (values or ())[:N_EXAMPLES])


def check_columns(con: duckdb.DuckDBPyConnection, t: schema.Table, view: str) -> list[Violation]:
    """Every contract column must be present in the source file (extra columns are ignored)."""
    present = {row[0] for row in con.execute(f"DESCRIBE {view}").fetchall()}
    return [
        Violation(
            t.name,
            col.name,
            0,
            f"column {col.name!r} is missing",
            f"add it ({col.dtype}: {col.description}) as described in docs/national_schema.md",
        )
        for col in t.columns
        if col.name not in present
    ]


def check_values(con: duckdb.DuckDBPyConnection, t: schema.Table, view: str) -> list[Violation]:
    """Types (exactly castable) and required values, in one scan of the source file."""
    pk = q(t.primary_key)
    parts = []
    for col in t.columns:
        bad = _strictly_bad(col.name, col.dtype)
        parts.append(f"count(*) FILTER (WHERE {bad}), min({pk}::VARCHAR, {N_EXAMPLES}) FILTER (WHERE {bad})")
        null = f"{q(col.name)} IS NULL"
        parts.append(
            f"count(*) FILTER (WHERE {null}), min({pk}::VARCHAR, {N_EXAMPLES}) FILTER (WHERE {null})"
        )
    row = con.execute(f"SELECT {', '.join(parts)} FROM {view}").fetchone()
    out = []
    for i, col in enumerate(t.columns):
        n_bad, ex_bad, n_null, ex_null = row[4 * i : 4 * i + 4]
        if n_bad:
            out.append(
                Violation(
                    t.name,
                    col.name,
                    n_bad,
                    f"values cannot be read as {col.dtype}",
                    f"write {_TYPE_HINTS[col.dtype]} in this column",
                    _examples(ex_bad),
                    t.primary_key,
                )
            )
        if n_null and not col.nullable:
            out.append(
                Violation(
                    t.name,
                    col.name,
                    n_null,
                    "missing values in a required column",
                    "fill every row (the contract does not allow nulls here)",
                    _examples(ex_null),
                    t.primary_key,
                )
            )
    return out


#: Every run of white space, including the no-break spaces spreadsheets write (RE2 syntax).
_SPACES = r"[\s\pZ]+"

#: Full-match pattern (RE2) and the written form of each identifier form after normalisation.
FORM_PATTERNS = {
    "pnc": (
        r"\d{4}/\d{7}[A-Z]",
        "YYYY/NNNNNNNL, e.g. 2001/0012345Z (98/12345Z and lower case are rewritten)",
    ),
    "prison_number": (r"[A-Z]\d{4}[A-Z]{2}", "one letter, four digits, two letters, e.g. A1234BC"),
}


def _normalised(col: schema.Column) -> str | None:
    """SQL rewriting a source column into its documented form, or None when it is read as it is.

    Names: upper case, runs of spaces made one, trimmed (as the upload side does). PNC IDs: spaces
    removed, upper case, a two-digit year widened with :data:`PNC_SHORT_YEAR_PIVOT` (as
    :func:`jdl_lib.identifiers.normalise_pnc`), the serial zero-padded to seven digits; values in no
    PNC form are kept, to be refused by :func:`check_forms`. Prison numbers: spaces removed, upper
    case. Codes: matched to the contract's spelling ignoring case and surrounding spaces. Blank text
    becomes null, so a blank required value is reported as missing.
    """
    text = f"{q(col.name)}::VARCHAR"
    if col.form == "name":
        return f"nullif(upper(trim(regexp_replace({text}, '{_SPACES}', ' ', 'g'))), '')"
    if col.form in ("pnc", "prison_number"):
        packed = f"nullif(upper(regexp_replace({text}, '{_SPACES}', '', 'g')), '')"
        if col.form == "prison_number":
            return packed
        p = rf"regexp_extract({packed}, '^(\d{{2}}|\d{{4}})/(\d{{1,7}})([A-Z])$', ['y', 's', 'l'])"
        y = f"TRY_CAST(({p}).y AS INTEGER)"
        widened = (
            f"CASE WHEN length(({p}).y) = 4 THEN {y} WHEN {y} <= {PNC_SHORT_YEAR_PIVOT} "
            f"THEN 2000 + {y} ELSE 1900 + {y} END"
        )
        canonical = f"lpad(({widened})::VARCHAR, 4, '0') || '/' || lpad(({p}).s, 7, '0') || ({p}).l"
        rewritten = f"CASE WHEN ({p}).y = '' THEN {packed} ELSE {canonical} END"
        # most values are already canonical: one match instead of the rewrite (import time at 5M people)
        already = f"regexp_full_match({text}, '{FORM_PATTERNS['pnc'][0]}')"
        return f"CASE WHEN {already} THEN {text} ELSE {rewritten} END"
    if col.codes is not None:
        cases = " ".join(f"WHEN '{c.lower()}' THEN '{c}'" for c in col.codes)
        exact = ", ".join(f"'{c}'" for c in col.codes)
        matched = f"coalesce(CASE lower(trim({text})) {cases} END, {text})"
        return f"CASE WHEN {text} IN ({exact}) THEN {text} ELSE {matched} END"
    return None


def normalised_column(col: schema.Column) -> str:
    """SQL of ``col`` rewritten into its documented form (the column itself when it has none)."""
    return _normalised(col) or q(col.name)


def normalised_select(t: schema.Table, view: str) -> str:
    """SELECT over a source view with identifiers and codes rewritten into their documented forms."""
    replaced = [(c.name, _normalised(c)) for c in t.columns]
    replaced = [f"{sql} AS {q(name)}" for name, sql in replaced if sql is not None]
    return f"SELECT * REPLACE ({', '.join(replaced)}) FROM {view}" if replaced else f"SELECT * FROM {view}"


def check_forms(con: duckdb.DuckDBPyConnection, t: schema.Table) -> list[Violation]:
    """Identifier columns hold only their documented form once normalised (values are never quoted)."""
    out = []
    pk = q(t.primary_key)
    for col in t.columns:
        if col.form not in FORM_PATTERNS:
            continue
        pattern, written = FORM_PATTERNS[col.form]
        n, ex = _count_examples(
            con,
            f"SELECT count(*), min({pk}::VARCHAR, {N_EXAMPLES}) FROM {q(t.name)} "
            f"WHERE NOT regexp_full_match({q(col.name)}, '{pattern}')",
        )
        if n:
            out.append(
                Violation(
                    t.name,
                    col.name,
                    n,
                    f"values that are not a {col.form.replace('_', ' ')} in any accepted form",
                    f"write {written}" + (", or leave it empty" if col.nullable else ""),
                    _examples(ex),
                    t.primary_key,
                )
            )
    return out


#: Names of the registered offence-code lookup and of the column saying a row's code was in it.
OFFENCE_LOOKUP, CODE_FOUND = "__jdl_offence_lookup", "__jdl_code_found"


def check_offence_codes(con: duckdb.DuckDBPyConnection, view: str) -> list[Violation]:
    """Offence codes the shipped lookup lacks, on rows the file gives no offence_group either."""
    n, ex = _count_examples(
        con,
        f"SELECT count(*), min(offence_id::VARCHAR, {N_EXAMPLES}) FROM {view} "
        f"WHERE offence_code IS NOT NULL AND NOT {CODE_FOUND} AND offence_group IS NULL",
    )
    if not n:
        return []
    return [
        Violation(
            "offences",
            "offence_code",
            n,
            "codes not in the shipped Home Office lookup (jdl_lib/data/offence_groups.csv)",
            "give these rows an offence_group column value (summary offences are not in the lookup: "
            "summary_motoring or summary_non_motoring), or correct the code",
            _examples(ex),
            "offence_id",
        )
    ]


def typed_select(t: schema.Table, view: str) -> str:
    """SELECT that reads the source view into contract types (unreadable values become null)."""
    cols = ", ".join(f"TRY_CAST({q(c.name)} AS {c.dtype}) AS {q(c.name)}" for c in t.columns)
    return f"SELECT {cols} FROM {view}"


def _count_examples(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[int, list | None]:
    """Run ``sql`` that yields (count, example list)."""
    return con.execute(sql).fetchone()


def check_codes(con: duckdb.DuckDBPyConnection, t: schema.Table) -> list[Violation]:
    """Coded columns hold only the contract's codes (the offending codes are quoted: not personal)."""
    out = []
    pk = q(t.primary_key)
    for col in t.columns:
        if col.codes is None:
            continue
        allowed = ", ".join("'" + c.replace("'", "''") + "'" for c in col.codes)
        bad = f"{q(col.name)} NOT IN ({allowed})"
        n, ex, found = con.execute(
            f"SELECT count(*), min({pk}::VARCHAR, {N_EXAMPLES}), "
            f"list(DISTINCT {q(col.name)} ORDER BY {q(col.name)})[1:{N_EXAMPLES}] "
            f"FROM {q(t.name)} WHERE {bad}"
        ).fetchone()
        if n:
            shown = "" if col.personal else f" (found {', '.join(map(repr, found))})"
            out.append(
                Violation(
                    t.name,
                    col.name,
                    n,
                    f"values outside the allowed codes{shown}",
                    f"recode to one of: {', '.join(col.codes)}",
                    _examples(ex),
                    t.primary_key,
                )
            )
    return out


def check_unique(con: duckdb.DuckDBPyConnection, t: schema.Table) -> list[Violation]:
    """Primary keys and unique columns hold no repeated non-null value."""
    out = []
    pk = q(t.primary_key)
    for col in t.columns:
        if not (col.unique or col.name == t.primary_key):
            continue
        c = q(col.name)
        is_pk = col.name == t.primary_key
        dups = (
            f"SELECT {c} AS k, count(*) AS n FROM {q(t.name)} WHERE {c} IS NOT NULL GROUP BY {c} HAVING n > 1"
        )
        if is_pk:  # the repeated keys themselves are the examples
            sql = f"SELECT coalesce(sum(n), 0), min(k::VARCHAR, {N_EXAMPLES}) FROM ({dups})"
        else:  # never quote the (possibly personal) value: quote the rows' primary keys
            sql = (
                f"SELECT count(*), min({pk}::VARCHAR, {N_EXAMPLES}) FROM {q(t.name)} "
                f"WHERE {c} IN (SELECT k FROM ({dups}))"
            )
        n, ex = _count_examples(con, sql)
        if n:
            out.append(
                Violation(
                    t.name,
                    col.name,
                    n,
                    "rows share a primary key" if is_pk else "rows share a value that must be unique",
                    "remove duplicate rows or give each row its own key"
                    if is_pk
                    else f"each {col.name} must belong to one {t.primary_key} only",
                    _examples(ex),
                    t.primary_key,
                )
            )
    return out


def check_foreign_keys(con: duckdb.DuckDBPyConnection, t: schema.Table, loaded: set[str]) -> list[Violation]:
    """Every non-null foreign key matches a row of the referenced table, and every row a ``required_in``
    table must reference is referenced (checked only when the other table loaded)."""
    checks = [
        (
            fk,
            f"WHERE s.{q(fk.column)} IS NOT NULL",
            f"orphan keys: no matching {fk.ref_table}.{fk.ref_column}",
            f"include the referenced {fk.ref_table} rows or drop these rows",
        )
        for fk in t.foreign_keys
    ] + [
        (
            fk,
            "",
            f"rows never referenced by {fk.ref_table}.{fk.ref_column}",
            f"every {t.name} row needs at least one {fk.ref_table} row (or drop it)",
        )
        for fk in t.required_in
    ]
    out = []
    pk = q(t.primary_key)
    for fk, where, problem, fix in checks:
        if fk.ref_table not in loaded:
            continue
        n, ex = _count_examples(
            con,
            f"SELECT count(*), min(s.{pk}::VARCHAR, {N_EXAMPLES}) FROM {q(t.name)} s "
            f"ANTI JOIN {q(fk.ref_table)} r ON s.{q(fk.column)} = r.{q(fk.ref_column)} {where}",
        )
        if n:
            out.append(Violation(t.name, fk.column, n, problem, fix, _examples(ex), t.primary_key))
    return out


def check_rules(con: duckdb.DuckDBPyConnection, t: schema.Table, loaded: set[str]) -> list[Violation]:
    """Every row-level :class:`schema.Rule` holds (rows where it is false, not null, violate it)."""
    out = []
    pk = q(t.primary_key)
    for rule in t.rules:
        source = q(t.name)
        if rule.join is not None:
            if rule.join.ref_table not in loaded:
                continue
            # The referenced row is exposed as a struct column ``r``, so ``r.x`` reads its field
            # and unqualified names stay unambiguous (they can only mean the table's own columns).
            j = rule.join
            source = (
                f"{q(t.name)} JOIN (SELECT r, r.{q(j.ref_column)} AS __ref_key FROM {q(j.ref_table)} r) "
                f"__ref ON {q(j.column)} = __ref.__ref_key"
            )
        n, ex = _count_examples(
            con,
            f"SELECT count(*), min({pk}::VARCHAR, {N_EXAMPLES}) FROM {source} WHERE NOT ({rule.sql})",
        )
        if n:
            out.append(
                Violation(
                    t.name,
                    f"rule {rule.name}",
                    n,
                    f"rule broken: {rule.description}",
                    "correct or drop these rows in the extract",
                    _examples(ex),
                    t.primary_key,
                )
            )
    return out


#: Event dates that must fall on or before the end of the extract's coverage.
COVERAGE_DATES = (("disposals", "disposal_date"), ("offences", "offence_date"))


def check_coverage(con: duckdb.DuckDBPyConnection, t: schema.Table, coverage_end: date) -> list[Violation]:
    """Sanction and offence dates lie on or before ``coverage_end`` (histories may predate the start)."""
    out = []
    for table_name, col in COVERAGE_DATES:
        if table_name != t.name:
            continue
        n, ex = _count_examples(
            con,
            f"SELECT count(*), min({q(t.primary_key)}::VARCHAR, {N_EXAMPLES}) FROM {q(t.name)} "
            f"WHERE {q(col)} > DATE '{coverage_end.isoformat()}'",
        )
        if n:
            out.append(
                Violation(
                    t.name,
                    col,
                    n,
                    f"dated after the coverage end {coverage_end.isoformat()}",
                    "pass the extract's true --coverage-end or drop records after it",
                    _examples(ex),
                    t.primary_key,
                )
            )
    return out
