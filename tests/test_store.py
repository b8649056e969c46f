"""The national store: contract checks on import, atomic swap, provenance, export round trip."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import COVERAGE_END, COVERAGE_START, write_extract
from typer.testing import CliRunner

from jdl_lib import schema
from jdl_lib.cli import app
from jdl_lib.errors import StoreError
from jdl_lib.schema_doc import DOC_PATH, render_national_schema
from jdl_lib.store import NationalStore, Provenance, export_national, import_national


def _import(extract: Path, store: Path, source: str = "test") -> Provenance:
    return import_national(
        extract, store, source=source, coverage_start=COVERAGE_START, coverage_end=COVERAGE_END
    )


def _copy(raw: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {k: v.copy() for k, v in raw.items()}


def test_import_records_provenance(national_store: Path, raw_extract: dict[str, pd.DataFrame]) -> None:
    with NationalStore.open(national_store) as store:
        prov = store.provenance
        assert store.path == national_store
        assert prov.row_counts == {name: len(frame) for name, frame in raw_extract.items()}
        assert (prov.coverage_start, prov.coverage_end) == (COVERAGE_START, COVERAGE_END)
        assert prov.schema_version == schema.SCHEMA_VERSION
        assert prov.source == "test fixture seed 7"
        assert len(prov.content_hash) == 64
        people = store.connection.execute("SELECT count(*) FROM people").fetchone()[0]
        assert people == len(raw_extract["people"])
        assert store.connection.execute("SELECT typeof(release_date) FROM disposals LIMIT 1").fetchone() == (
            "DATE",
        )
    text = prov.describe()
    assert prov.content_hash[:16] in text and "2012-12-31" in text


def test_content_hash_depends_only_on_contents(raw_extract: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    """Same data in another format, row order or label gives the same hash; one changed value does not."""
    first = _import(write_extract(raw_extract, tmp_path / "a"), tmp_path / "a.duckdb", source="one")
    shuffled = {k: v.sample(frac=1, random_state=1) for k, v in raw_extract.items()}
    second = _import(write_extract(shuffled, tmp_path / "b", fmt="csv"), tmp_path / "b.duckdb", source="two")
    assert first.content_hash == second.content_hash
    changed = _copy(raw_extract)
    changed["people"].loc[0, "region"] = (
        "Wales" if changed["people"].loc[0, "region"] != "Wales" else "London"
    )
    third = _import(write_extract(changed, tmp_path / "c"), tmp_path / "c.duckdb")
    assert third.content_hash != first.content_hash


def test_export_round_trip(national_store: Path, tmp_path: Path) -> None:
    paths = export_national(national_store, tmp_path / "out")
    assert sorted(p.name for p in paths) == sorted(f"{t.name}.parquet" for t in schema.TABLES)
    again = _import(tmp_path / "out", tmp_path / "again.duckdb")
    with NationalStore.open(national_store) as store:
        assert again.content_hash == store.provenance.content_hash


def _drop_table(raw):
    del raw["assessments"]


def _drop_column(raw):
    raw["offences"] = raw["offences"].drop(columns="offence_group")


def _bad_date(raw):
    d = raw["disposals"]
    raw["disposals"] = d.astype({"disposal_date": object})
    raw["disposals"].loc[3, "disposal_date"] = "31/02/2005"
    raw["disposals"]["disposal_date"] = raw["disposals"]["disposal_date"].astype(str)


def _fractional_length(raw):
    raw["disposals"]["sentence_length_days"] = raw["disposals"]["sentence_length_days"].astype("Float64")
    raw["disposals"].loc[raw["disposals"].sentence_length_days.notna().idxmax(), "sentence_length_days"] = (
        10.5
    )


def _null_required(raw):
    raw["people"].loc[5, "gender"] = None


def _bad_code(raw):
    raw["people"].loc[5, "gender"] = "male"


def _duplicate_key(raw):
    raw["disposals"] = pd.concat([raw["disposals"], raw["disposals"].iloc[[2]]], ignore_index=True)


def _duplicate_pnc(raw):
    raw["people"].loc[1, "pnc_id"] = raw["people"].loc[0, "pnc_id"]


def _orphan(raw):
    raw["offences"].loc[0, "disposal_id"] = 99_999_999


def _offence_after_disposal(raw):
    o, d = raw["offences"], raw["disposals"].set_index("disposal_id")
    o.loc[0, "offence_date"] = d.loc[o.loc[0, "disposal_id"], "disposal_date"] + pd.Timedelta(days=3)


def _release_before_sentence(raw):
    d = raw["disposals"]
    i = d.index[d.disposal_type == "custody"][0]
    d.loc[i, "release_date"] = d.loc[i, "disposal_date"] - pd.Timedelta(days=1)


def _disposal_without_offence(raw):
    o = raw["offences"]
    raw["offences"] = o[o.disposal_id != o.disposal_id.iloc[0]]


def _after_coverage(raw):
    d = raw["disposals"]
    d.loc[0, "disposal_date"] = pd.Timestamp("2013-03-01")


CORRUPTIONS: dict[str, tuple[Callable, tuple[str, ...]]] = {
    "missing table": (_drop_table, ("assessments / file", "no assessments.parquet or assessments.csv")),
    "missing column": (_drop_column, ("offences / offence_group", "column 'offence_group' is missing")),
    "wrong type": (_bad_date, ("disposals / disposal_date: 1 row", "cannot be read as DATE", "YYYY-MM-DD")),
    "fractional integer": (
        _fractional_length,
        ("disposals / sentence_length_days", "cannot be read as INTEGER"),
    ),
    "null": (_null_required, ("people / gender: 1 row", "missing values", "example person_id: 6")),
    "bad code": (_bad_code, ("people / gender: 1 row", "outside the allowed codes", "'male'", "M, F")),
    "duplicate key": (_duplicate_key, ("disposals / disposal_id: 2 rows", "share a primary key")),
    "duplicate unique": (_duplicate_pnc, ("people / pnc_id: 2 rows", "example person_id: 1, 2")),
    "orphan": (_orphan, ("offences / disposal_id: 1 row", "orphan keys", "disposals.disposal_id")),
    "offence after disposal": (_offence_after_disposal, ("offences / rule offence_before_proven: 1 row",)),
    "release before sentence": (
        _release_before_sentence,
        ("disposals / rule release_after_sentence: 1 row",),
    ),
    "disposal without offence": (_disposal_without_offence, ("never referenced by offences.disposal_id",)),
    "after coverage": (_after_coverage, ("dated after the coverage end 2012-12-31",)),
}


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_corrupted_extract_refused(kind: str, raw_extract, tmp_path: Path) -> None:
    corrupt, expected = CORRUPTIONS[kind]
    raw = _copy(raw_extract)
    corrupt(raw)
    extract = write_extract(raw, tmp_path / "bad", fmt="csv" if kind == "wrong type" else "parquet")
    with pytest.raises(StoreError) as info:
        _import(extract, tmp_path / "store.duckdb")
    message = str(info.value)
    for text in expected:
        assert text in message, f"{text!r} not in:\n{message}"
    assert "nothing was imported" in message
    people = raw_extract["people"]
    personal = [*people.pnc_id, *people.prison_number.dropna(), *people.surname.unique()]
    personal += [d.date().isoformat() for d in people.date_of_birth]
    assert not [p for p in personal if p in message]
    assert not list(tmp_path.glob("*.duckdb*")) and not list(tmp_path.glob(".store*"))


def test_every_violation_collected(raw_extract, tmp_path: Path) -> None:
    """One error lists every problem, including knock-on ones (the orphaned offence's disposal)."""
    raw = _copy(raw_extract)
    for corrupt in (_bad_code, _orphan, _release_before_sentence, _duplicate_key):
        corrupt(raw)
    with pytest.raises(StoreError, match="5 problems") as info:
        _import(write_extract(raw, tmp_path / "bad"), tmp_path / "store.duckdb")
    message = str(info.value)
    for kind in ("bad code", "orphan", "release before sentence", "disposal without offence"):
        assert CORRUPTIONS[kind][1][-1] in message
    assert "disposals / disposal_id: 2 rows: rows share a primary key (example disposal_id: 10005)" in message


def test_failed_import_leaves_old_store_intact(raw_extract, national_store: Path, tmp_path: Path) -> None:
    store = tmp_path / "national.duckdb"
    good = _import(write_extract(raw_extract, tmp_path / "good"), store, source="good")
    raw = _copy(raw_extract)
    _orphan(raw)
    with pytest.raises(StoreError):
        _import(write_extract(raw, tmp_path / "bad"), store, source="bad")
    with NationalStore.open(store) as handle:
        assert handle.provenance == good
        assert handle.connection.execute("SELECT count(*) FROM offences").fetchone()[0] == len(
            raw["offences"]
        )
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["national.duckdb"]


def test_open_missing_or_incomplete_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="jdl synth"):
        NationalStore.open(tmp_path / "nothing.duckdb")
    partial = tmp_path / "partial.duckdb"
    con = duckdb.connect(str(partial))
    con.execute("CREATE TABLE people (person_id BIGINT)")
    con.close()
    with pytest.raises(StoreError, match="incomplete .*people.*jdl import-national"):
        NationalStore.open(partial)
    (tmp_path / "junk.duckdb").write_text("not a database")
    with pytest.raises(StoreError, match="not a readable DuckDB store"):
        NationalStore.open(tmp_path / "junk.duckdb")


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        _import(tmp_path / "absent", tmp_path / "s.duckdb")
    with pytest.raises(StoreError, match="coverage_start is after coverage_end"):
        import_national(
            tmp_path,
            tmp_path / "s.duckdb",
            source="x",
            coverage_start=date(2013, 1, 1),
            coverage_end=COVERAGE_END,
        )


def test_cli_import_info_export(raw_extract, tmp_path: Path) -> None:
    runner = CliRunner()
    extract = write_extract(raw_extract, tmp_path / "ex")
    store = str(tmp_path / "s.duckdb")
    ok = runner.invoke(app, ["import-national", str(extract), "--store", store, "--source", "cli test"])
    assert ok.exit_code == 0, ok.output
    info = runner.invoke(app, ["store-info", "--store", store])
    assert info.exit_code == 0 and "cli test" in info.output and "400 people" in info.output
    out = runner.invoke(app, ["export-national", "--store", store, str(tmp_path / "out")])
    assert out.exit_code == 0 and (tmp_path / "out" / "people.parquet").is_file()
    (extract / "people.parquet").unlink()
    bad = runner.invoke(app, ["import-national", str(extract), "--store", store])
    assert bad.exit_code == 1 and "no people.parquet" in bad.output and "Traceback" not in bad.output
    assert runner.invoke(app, ["store-info", "--store", str(tmp_path / "no.duckdb")]).exit_code == 1


def test_data_dictionary_is_generated() -> None:
    """docs/national_schema.md equals the rendering of schema.py + derived.py (regenerate with
    ``python -m jdl_lib.schema_doc``)."""
    assert DOC_PATH.read_text(encoding="utf-8") == render_national_schema()
    text = DOC_PATH.read_text(encoding="utf-8")
    for t in schema.TABLES:
        assert f"### `{t.name}`" in text
        for rule in t.rules:
            assert rule.name in text


def test_unreadable_file_reported_without_its_content(raw_extract, tmp_path: Path) -> None:
    extract = write_extract(raw_extract, tmp_path / "ex")
    (extract / "people.parquet").unlink()
    (extract / "people.csv").write_text('person_id,surname\n1,"SECRETNAME\n2,"OTHER', encoding="utf-8")
    (extract / "aliases.parquet").write_bytes(b"PAR1 not really parquet")
    with pytest.raises(StoreError) as info:
        _import(extract, tmp_path / "s.duckdb")
    message = str(info.value)
    assert "aliases / file" in message and "aliases.parquet could not be read" in message
    assert "people / " in message and "SECRETNAME" not in message


def test_extra_columns_are_ignored(raw_extract, tmp_path: Path) -> None:
    raw = _copy(raw_extract)
    raw["people"]["nickname"] = "X"
    prov = _import(write_extract(raw, tmp_path / "ex"), tmp_path / "s.duckdb")
    with NationalStore.open(tmp_path / "s.duckdb") as store:
        cols = [r[0] for r in store.connection.execute("DESCRIBE people").fetchall()]
    assert cols == list(schema.PEOPLE.column_names) and prov.row_counts["people"] == len(raw["people"])


def test_open_store_connection_is_ready_for_register(national_store: Path) -> None:
    """Later stages register frames on the shared connection straight after opening it."""
    with NationalStore.open(national_store) as store:
        store.connection.register("ids", pd.DataFrame({"person_id": [1, 2]}))
        n = store.connection.execute("SELECT count(*) FROM people SEMI JOIN ids USING (person_id)").fetchall()
    assert n == [(2,)]
