"""The national store: one DuckDB file holding the raw tables of :mod:`jdl_lib.schema`.

This is the only module that creates, opens or writes the store. ``import_national`` loads any
extract that follows the contract (the synthetic generator writes through it too, so synthetic
and real stores are interchangeable), ``NationalStore.open`` gives later stages a read-only
handle, and ``export_national`` writes the raw tables back out as Parquet.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType

import duckdb

from jdl_lib import __version__, schema
from jdl_lib import store_checks as checks
from jdl_lib.errors import StoreError
from jdl_lib.offence_codes import normalised_code_sql, offence_group_lookup
from jdl_lib.store_checks import Violation, q

logger = logging.getLogger(__name__)

#: Name of the one-row table recording where the store's data came from.
METADATA_TABLE = "store_metadata"
#: DuckDB memory limit while importing (it spills to a temporary folder beside the store beyond this).
IMPORT_MEMORY_LIMIT = os.environ.get("JDL_IMPORT_MEMORY", "4GB")

_HOW_TO_BUILD = "build one with `jdl synth --store PATH` or `jdl import-national SOURCE_DIR --store PATH`"


@dataclass(frozen=True)
class Provenance:
    """Where a store's data came from; every report states it.

    ``content_hash`` depends only on the table contents (not on row order, import time or
    source label), so two stores built from the same data, or the same seed, compare equal.
    """

    source: str
    imported_at: datetime
    coverage_start: date
    coverage_end: date
    schema_version: str
    jdl_version: str
    row_counts: dict[str, int] = field(default_factory=dict)
    content_hash: str = ""

    def describe(self) -> str:
        """One sentence for reports and ``jdl store-info`` (no personal data)."""
        counts = ", ".join(f"{n:,} {t}" for t, n in self.row_counts.items())
        return (
            f"National store from {self.source!r}, imported {self.imported_at:%Y-%m-%d %H:%M} UTC "
            f"(jdl {self.jdl_version}, schema v{self.schema_version}); coverage "
            f"{self.coverage_start.isoformat()} to {self.coverage_end.isoformat()}; {counts}; "
            f"content hash {self.content_hash[:16]}."
        )


def _locate(source_dir: Path, t: schema.Table) -> tuple[Path | None, str]:
    """Find ``<table>.parquet`` (preferred) or ``<table>.csv`` and the DuckDB reader for it."""
    for suffix, reader in (
        (".parquet", "read_parquet('{}')"),
        (".csv", "read_csv('{}', header = true, all_varchar = true)"),
    ):
        path = source_dir / f"{t.name}{suffix}"
        if path.is_file():
            return path, reader.format(str(path).replace("'", "''"))
    return None, ""


def _stage_table(con: duckdb.DuckDBPyConnection, t: schema.Table, path: Path, reader: str) -> list[Violation]:
    """Check one table's file (columns, types, required values) and load it typed.

    Identifiers and codes are first rewritten into their documented forms (upper case, trimmed,
    canonical PNC ID: :func:`store_checks.normalised_select`), so every later check and the stored
    table see the form the upload side compares with. The typed table is created only when every
    contract column is present; the caller knows it loaded when ``con`` has the table afterwards.
    """
    raw, view, norm = q(f"raw_{t.name}"), q(f"src_{t.name}"), q(f"norm_{t.name}")
    try:
        con.execute(f"CREATE TEMP VIEW {raw} AS SELECT * FROM {reader}")
        coded = _offence_groups_from_codes(con, t, raw)
        con.execute(f"CREATE TEMP VIEW {view} AS {coded or f'SELECT * FROM {raw}'}")
        problems = checks.check_columns(con, t, view)
        if problems:
            return problems
        if coded:
            problems += checks.check_offence_codes(con, view)
        extra = {r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()} - set(t.column_names)
        if extra:
            logger.info("%s: ignoring %d column(s) outside the contract", t.name, len(extra))
        con.execute(f"CREATE TEMP VIEW {norm} AS {checks.normalised_select(t, view)}")
        problems += checks.check_values(con, t, norm)
        con.execute(f"CREATE TABLE {q(t.name)} AS {checks.typed_select(t, norm)}")
        return problems
    except duckdb.Error as exc:
        # DuckDB's message may quote a line of the file (personal data): name the error class only.
        return [
            Violation(
                t.name,
                "file",
                0,
                f"{path.name} could not be read ({type(exc).__name__})",
                "write valid Parquet, or CSV with a header row",
            )
        ]
    finally:
        for name in (norm, view, raw):
            con.execute(f"DROP VIEW IF EXISTS {name}")


def _offence_groups_from_codes(con: duckdb.DuckDBPyConnection, t: schema.Table, raw: str) -> str | None:
    """SELECT giving an offences file with an ``offence_code`` column its ``offence_group`` from the
    shipped Home Office lookup (:mod:`jdl_lib.offence_codes`); a group given in the file wins, so an
    owner fills it only for codes the lookup lacks (summary offences). None for other files."""
    columns = {r[0] for r in con.execute(f"DESCRIBE {raw}").fetchall()}
    if t.name != schema.OFFENCES.name or "offence_code" not in columns:
        return None
    con.register(checks.OFFENCE_LOOKUP, offence_group_lookup()[["offence_code", "offence_group"]])
    given = "offence_group" in columns
    group = (
        "coalesce(nullif(trim(s.offence_group::VARCHAR), ''), l.offence_group)"
        if given
        else "l.offence_group"
    )
    return (
        f"SELECT s.* {'EXCLUDE (offence_group)' if given else ''}, {group} AS offence_group, "
        f"l.offence_group IS NOT NULL AS {checks.CODE_FOUND} FROM {raw} s "
        f"LEFT JOIN {checks.OFFENCE_LOOKUP} l ON l.offence_code = {normalised_code_sql('s.offence_code')}"
    )


def _stage(con: duckdb.DuckDBPyConnection, source_dir: Path) -> tuple[set[str], list[Violation]]:
    """Stage every table's file; return the tables that loaded and the problems found so far.

    An optional table whose file is absent is created empty (the owner holds none of it).
    """
    problems: list[Violation] = []
    for t in schema.TABLES:
        path, reader = _locate(source_dir, t)
        if path is None and t.optional:
            logger.info("%s: no file in the extract; stored empty (its variables are not available)", t.name)
            cols = ", ".join(f"{q(c.name)} {c.dtype}" for c in t.columns)
            con.execute(f"CREATE TABLE {q(t.name)} ({cols})")
            continue
        if path is None:
            problems.append(
                Violation(
                    t.name,
                    "file",
                    0,
                    f"no {t.name}.parquet or {t.name}.csv in the source directory",
                    "export this table under that name (see docs/national_schema.md)",
                )
            )
            continue
        problems += _stage_table(con, t, path, reader)
    loaded = {
        r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()
    }
    return loaded, problems


def _validate(con: duckdb.DuckDBPyConnection, loaded: set[str], coverage_end: date) -> list[Violation]:
    """Codes, keys, references, rules and coverage of the loaded tables."""
    problems: list[Violation] = []
    for t in schema.TABLES:
        if t.name not in loaded:
            continue
        problems += checks.check_codes(con, t)
        problems += checks.check_forms(con, t)
        problems += checks.check_unique(con, t)
        problems += checks.check_foreign_keys(con, t, loaded)
        problems += checks.check_rules(con, t, loaded)
        problems += checks.check_coverage(con, t, coverage_end)
    return problems


def _content_hash(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, int], str]:
    """Row counts and an order-independent hash of every raw table's contents.

    Each row's values are hashed with DuckDB's ``hash()`` and XOR-combined, so the row order of
    the extract does not matter (primary keys are unique, so equal rows cannot cancel out); the
    per-table digests are then combined with SHA-256. ``hash()`` is 25 times faster than MD5 over
    row text but is only guaranteed stable within one DuckDB release: compare hashes of stores
    built with the same DuckDB version (pinned by the environment).
    """
    counts: dict[str, int] = {}
    digest = hashlib.sha256()
    for t in schema.TABLES:
        cols = ", ".join(q(c) for c in t.column_names)
        n, x = con.execute(f"SELECT count(*), coalesce(bit_xor(hash({cols})), 0) FROM {q(t.name)}").fetchone()
        counts[t.name] = int(n)
        digest.update(f"{t.name}:{n}:{x};".encode())
    return counts, digest.hexdigest()


def _write_metadata(con: duckdb.DuckDBPyConnection, prov: Provenance) -> None:
    con.execute(
        f"CREATE TABLE {METADATA_TABLE} (source VARCHAR, imported_at TIMESTAMP, coverage_start DATE, "
        "coverage_end DATE, schema_version VARCHAR, jdl_version VARCHAR, row_counts VARCHAR, "
        "content_hash VARCHAR)"
    )
    con.execute(
        f"INSERT INTO {METADATA_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            prov.source,
            prov.imported_at.replace(tzinfo=None),
            prov.coverage_start,
            prov.coverage_end,
            prov.schema_version,
            prov.jdl_version,
            json.dumps(prov.row_counts),
            prov.content_hash,
        ],
    )


def _remove(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)


def import_national(
    source_dir: str | os.PathLike,
    store_path: str | os.PathLike,
    *,
    source: str,
    coverage_start: date,
    coverage_end: date,
) -> Provenance:
    """Load a national extract that follows :mod:`jdl_lib.schema` into a DuckDB store.

    Reads ``<table>.parquet`` or ``<table>.csv`` for every raw table and checks, in DuckDB SQL,
    columns, exact types, required values, codes, primary and unique keys, foreign keys, each
    disposal proving an offence, every :class:`schema.Rule` and that events end by
    ``coverage_end``. Every violation is collected into one :class:`StoreError` (table, column or
    rule, count, example primary keys; never personal fields) so a bad extract is refused whole.

    The store is built in a temporary file beside ``store_path`` and renamed over it only when
    all checks pass, so an existing store is never left half-replaced (issue 4).

    Parameters
    ----------
    source_dir
        Directory holding one file per raw table.
    store_path
        DuckDB file to create or replace.
    source
        Free-text label of the extract (e.g. ``"synthetic seed 2013"``), recorded in provenance.
    coverage_start, coverage_end
        Window in which index events are analysed. Histories may start before ``coverage_start``;
        no disposal or offence may be dated after ``coverage_end``, which also fixes whether a
        person's 18-month follow-up is complete.

    Returns
    -------
    Provenance
        What was recorded in the new store's ``store_metadata`` table.
    """
    source_dir, store_path = Path(source_dir), Path(store_path)
    if not source_dir.is_dir():
        raise StoreError(
            f"Source directory {source_dir} does not exist; pass the folder holding the extract."
        )
    if coverage_start > coverage_end:
        raise StoreError("coverage_start is after coverage_end; give a start on or before the end.")
    store_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = store_path.with_name(f".{store_path.name}.building-{uuid.uuid4().hex[:8]}")
    try:
        con = duckdb.connect(str(tmp))
        # DuckDB 2.0 pushes TRY_CAST into the CSV reader, which then raises on the first bad value
        # (quoting the whole line) instead of returning null; keep casts out of the reader.
        con.execute("SET disabled_optimizers = 'type_pushdown'")
        # DuckDB takes 80% of the machine by default; a bounded import spills to disk instead (the 5M
        # synthetic build peaked at 12 GiB deriving the candidate events without this).
        con.execute(f"SET memory_limit = '{IMPORT_MEMORY_LIMIT}'")
        con.execute("SET preserve_insertion_order = false")
        try:
            logger.info("importing national extract from %s", source_dir)
            loaded, problems = _stage(con, source_dir)
            problems += _validate(con, loaded, coverage_end)
            if problems:
                lines = "\n".join(f"  - {p}" for p in problems)
                raise StoreError(
                    f"The national extract in {source_dir} breaks the store contract "
                    f"({len(problems)} problem{'s' if len(problems) != 1 else ''}); nothing was imported "
                    f"and any existing store at {store_path} is unchanged:\n{lines}"
                )
            counts, digest = _content_hash(con)
            prov = Provenance(
                source=source,
                imported_at=datetime.now(UTC).replace(microsecond=0),
                coverage_start=coverage_start,
                coverage_end=coverage_end,
                schema_version=schema.SCHEMA_VERSION,
                jdl_version=__version__,
                row_counts=counts,
                content_hash=digest,
            )
            _write_metadata(con, prov)
            from jdl_lib.derived import materialise_candidate_events  # derived reads stores: import late

            n_events = materialise_candidate_events(con, coverage_end)
            logger.info("derived the features of %d candidate index events", n_events)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, store_path)
        logger.info("national store written to %s", store_path)
        return prov
    finally:
        _remove(tmp)


class NationalStore:
    """A read-only handle on a national store; use as a context manager.

    Later stages read the raw tables through :attr:`connection` (or through
    :mod:`jdl_lib.derived`), never by opening the file themselves.
    """

    def __init__(self, path: Path, connection: duckdb.DuckDBPyConnection, provenance: Provenance) -> None:
        self.path = path
        self.connection = connection
        self.provenance = provenance

    @classmethod
    def open(cls, path: str | os.PathLike) -> NationalStore:
        """Open ``path`` read-only and check it is a complete store of this schema version."""
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"No national store at {path}; {_HOW_TO_BUILD}.")
        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.Error as exc:
            raise StoreError(
                f"{path} is not a readable DuckDB store ({type(exc).__name__}); {_HOW_TO_BUILD}."
            ) from None
        try:
            prov = _read_provenance(con, path)
        except BaseException:
            con.close()
            raise
        return cls(path, con, prov)

    def identifier_form_problems(self) -> list[str]:
        """Identifier columns holding values not in their documented form (``table.column``, no values).

        A store imported by this version is always in form (the importer normalises); one imported by an
        earlier version may hold lower-case names or short PNC IDs, against which nothing links. Used to
        name that cause when a request loses most of its people at linkage.
        """
        found = []
        for t in schema.TABLES:
            checks_sql = [
                f"count(*) FILTER (WHERE {q(c.name)} IS DISTINCT FROM {checks.normalised_column(c)})"
                for c in t.columns
                if c.form is not None
            ]
            if not checks_sql:
                continue
            counts = self.connection.execute(f"SELECT {', '.join(checks_sql)} FROM {q(t.name)}").fetchall()[0]
            named = [c.name for c in t.columns if c.form is not None]
            found += [f"{t.name}.{name}" for name, n in zip(named, counts, strict=True) if n]
        return found

    def close(self) -> None:
        """Release the DuckDB connection."""
        self.connection.close()

    def __enter__(self) -> NationalStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _read_provenance(con: duckdb.DuckDBPyConnection, path: Path) -> Provenance:
    """Check the store holds every contract table and column, then read its metadata."""
    present: dict[str, set[str]] = {}
    for tname, cname in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main'"
    ).fetchall():
        present.setdefault(tname, set()).add(cname)
    missing = [t.name for t in schema.TABLES if not set(t.column_names) <= present.get(t.name, set())]
    if METADATA_TABLE not in present:
        missing.append(METADATA_TABLE)
    if missing:
        raise StoreError(
            f"The national store {path} is incomplete (missing or outdated: {', '.join(missing)}); "
            f"rebuild it: {_HOW_TO_BUILD}."
        )
    # fetchall, not fetchone: DuckDB 2 keeps a partly fetched result open on the connection,
    # which would block later register() calls by the stages sharing it.
    rows = con.execute(
        "SELECT source, imported_at, coverage_start, coverage_end, schema_version, jdl_version, "
        f"row_counts, content_hash FROM {METADATA_TABLE}"
    ).fetchall()
    row = rows[0] if rows else None
    if row is None or row[4] != schema.SCHEMA_VERSION:
        found = "none" if row is None else row[4]
        raise StoreError(
            f"The national store {path} has schema version {found}, this jdl expects "
            f"{schema.SCHEMA_VERSION}; rebuild it: {_HOW_TO_BUILD}."
        )
    return Provenance(
        source=row[0],
        imported_at=row[1].replace(tzinfo=UTC),
        coverage_start=row[2],
        coverage_end=row[3],
        schema_version=row[4],
        jdl_version=row[5],
        row_counts=json.loads(row[6]),
        content_hash=row[7],
    )


def export_national(store_path: str | os.PathLike, out_dir: str | os.PathLike) -> tuple[Path, ...]:
    """Write every raw table of a store to ``out_dir/<table>.parquet`` (the Parquet export).

    The files follow the contract, so ``import_national(out_dir, ...)`` rebuilds an equivalent
    store (same content hash); this is how extracts are exchanged and how the round trip is tested.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with NationalStore.open(store_path) as store:
        for t in schema.TABLES:
            path = out / f"{t.name}.parquet"
            cols = ", ".join(q(c) for c in t.column_names)
            target = str(path).replace("'", "''")
            store.connection.execute(
                f"COPY (SELECT {cols} FROM {q(t.name)} ORDER BY {q(t.primary_key)}) "
                f"TO '{target}' (FORMAT parquet)"
            )
            paths.append(path)
    logger.info("exported %d tables to %s", len(paths), out)
    return tuple(paths)
