"""The national store: contract checks on import, atomic swap, provenance, export round trip."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
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
    del raw["offences"]


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


def _malformed_pnc(raw):
    raw["people"].loc[3, "pnc_id"] = "12345/67A"


def _wrong_check_letter(raw):
    pnc = raw["people"].loc[3, "pnc_id"]
    raw["people"].loc[3, "pnc_id"] = pnc[:-1] + ("A" if pnc[-1] != "A" else "B")


def _malformed_prison_number(raw):
    people = raw["people"]
    people.loc[people.prison_number.notna().idxmax(), "prison_number"] = "AB12"


CORRUPTIONS: dict[str, tuple[Callable, tuple[str, ...]]] = {
    "missing table": (_drop_table, ("offences / file", "no offences.parquet or offences.csv")),
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
    "malformed pnc": (_malformed_pnc, ("people / pnc_id: 1 row", "YYYY/NNNNNNNL", "example person_id: 4")),
    "wrong check letter": (_wrong_check_letter, ("people / rule pnc_check_letter: 1 row", "person_id: 4")),
    "malformed prison number": (_malformed_prison_number, ("people / prison_number: 1 row", "A1234BC")),
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


def _as_a_data_owner_sends_it(raw: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The same extract written the way real owners write it (issue 16, item 7): mixed-case names with
    stray spaces, lower-case identifiers, two-digit PNC years without leading zeros, codes in lower case."""
    raw = _copy(raw)
    people, aliases = raw["people"], raw["aliases"]
    people["forename"] = people.forename.str.title().str.pad(8, side="right")
    people["surname"] = " " + people.surname.str.lower() + " "
    short = people.pnc_id.str[:4].astype(int).between(1931, 1999)
    people.loc[short, "pnc_id"] = (
        people.pnc_id[short].str[2:5] + people.pnc_id[short].str[5:].str.lstrip("0")
    ).str.lower()
    people.loc[~short, "pnc_id"] = " " + people.pnc_id[~short].str.lower()
    people["prison_number"] = people.prison_number.str.lower().str.replace(
        r"^(.)(....)", r"\1 \2 ", regex=True
    )
    people["region"] = people.region.str.upper()
    people["ethnicity"] = people.ethnicity.str.lower()
    aliases["forename"] = aliases.forename.str.lower()
    raw["offences"]["offence_group"] = raw["offences"].offence_group.str.upper()
    assert short.any() and (~short).any()
    return raw


def test_identifiers_are_normalised_on_import(raw_extract, national_store: Path, tmp_path: Path) -> None:
    """An extract in owners' spelling is stored in the documented forms: exactly the clean extract."""
    for fmt in ("parquet", "csv"):
        messy = write_extract(_as_a_data_owner_sends_it(raw_extract), tmp_path / fmt, fmt=fmt)
        prov = _import(messy, tmp_path / f"{fmt}.duckdb")
        with NationalStore.open(national_store) as clean:
            assert prov.content_hash == clean.provenance.content_hash
    with NationalStore.open(tmp_path / "csv.duckdb") as store:
        people = store.connection.execute("SELECT * FROM people ORDER BY person_id").df()
    expected = raw_extract["people"]
    for col in ("pnc_id", "prison_number", "forename", "surname", "region"):
        assert people[col].fillna("").tolist() == expected[col].fillna("").tolist()


def test_unknown_region_and_nationality_are_accepted(raw_extract, tmp_path: Path) -> None:
    raw = _copy(raw_extract)
    raw["people"].loc[:9, "region"] = "unknown"
    raw["people"]["uk_national"] = raw["people"].uk_national.astype(object)
    raw["people"].loc[:4, "uk_national"] = None
    _import(write_extract(raw, tmp_path / "ex", fmt="csv"), tmp_path / "s.duckdb")
    with NationalStore.open(tmp_path / "s.duckdb") as store:
        counts = store.connection.execute(
            "SELECT count(*) FILTER (WHERE region = 'Unknown'), count(*) FILTER (WHERE uk_national IS NULL) "
            "FROM people"
        ).fetchone()
    assert counts == (10, 5)


@pytest.mark.parametrize("how", ["absent", "header only"])
def test_optional_tables_may_be_left_out(raw_extract, tmp_path: Path, how: str) -> None:
    """An owner without aliases, employment or assessment data sends no file (or an empty one)."""
    optional = [t for t in schema.TABLES if t.optional]
    assert {t.name for t in optional} == {"aliases", "employment_benefits", "assessments"}
    raw = {k: v for k, v in raw_extract.items() if k not in {t.name for t in optional}}
    extract = write_extract(raw, tmp_path / "ex")
    if how == "header only":
        for t in optional:
            (extract / f"{t.name}.csv").write_text(",".join(t.column_names) + "\n", encoding="utf-8")
    prov = _import(extract, tmp_path / "s.duckdb")
    assert all(prov.row_counts[t.name] == 0 for t in optional)
    with NationalStore.open(tmp_path / "s.duckdb") as store:
        assert store.connection.execute("SELECT count(*) FROM people").fetchone()[0] == len(raw["people"])


def _upload(people: pd.DataFrame, path: Path) -> Path:
    """A Data Upload Template CSV for these national people, filled in as a charity would."""
    rows = people.reset_index(drop=True)
    with_ids = rows.index % 2 == 0  # half give their PNC ID and prison number
    pd.DataFrame(
        {
            "Forename": rows.forename,
            "Surname": rows.surname,
            "Date of birth": rows.date_of_birth.dt.strftime("%d/%m/%Y"),
            "Gender": rows.gender,
            "PNC ID": rows.pnc_id.where(with_ids, ""),
            "Prison number": rows.prison_number.where(with_ids, ""),
            "Intervention start date": "01/03/2010",
            "Intervention end date": "",
            "Custody or community": "custody",
        }
    ).to_csv(path, index=False)
    return path


def test_an_extract_in_owners_spelling_still_links(raw_extract, tmp_path: Path) -> None:
    """Issue 16 item 7: with lower-case names, spaced and short identifiers in the national extract,
    people submitted in the template's spelling link as they do against the clean extract."""
    from jdl_lib.intake import read_upload
    from jdl_lib.linkage import LinkageSettings, link_cohort

    _import(write_extract(_as_a_data_owner_sends_it(raw_extract), tmp_path / "ex"), tmp_path / "s.duckdb")
    people = raw_extract["people"].drop_duplicates(["forename", "surname", "date_of_birth"], keep=False)
    intake = read_upload(
        _upload(people.iloc[:80], tmp_path / "upload.csv"),
        coverage_start=COVERAGE_START,
        coverage_end=COVERAGE_END,
    )
    assert len(intake.people) == 80
    with NationalStore.open(tmp_path / "s.duckdb") as store:
        result = link_cohort(intake.people, store, LinkageSettings(u_sample_records=400))
    linked = result.links.merge(intake.people[["upload_row"]], on="upload_row")
    assert len(linked) == 80, result.counts
    truth = people.iloc[:80].reset_index(drop=True).person_id.to_numpy()
    assert (linked.sort_values("upload_row").person_id.to_numpy() == truth).all()
    assert result.counts.get("pnc", 0) >= 40 and result.counts.get("exact", 0) >= 30


def test_identifier_form_problems_names_an_old_store(national_store: Path, tmp_path: Path) -> None:
    """A store imported before identifiers were normalised is recognised (columns named, no values)."""
    with NationalStore.open(national_store) as store:
        assert store.identifier_form_problems() == []
    old = tmp_path / "old.duckdb"
    old.write_bytes(national_store.read_bytes())
    con = duckdb.connect(str(old))
    con.execute("UPDATE people SET surname = lower(surname) || ' ', pnc_id = lower(pnc_id)")
    con.close()
    with NationalStore.open(old) as store:
        assert store.identifier_form_problems() == ["people.pnc_id", "people.surname"]


def test_a_request_that_links_nobody_says_where_and_why(national_store: Path, tmp_path: Path) -> None:
    """Issue 16 item 7: a refusal for too few people shows the attrition and names the likely cause."""
    from conftest import make_raw_extract

    from jdl_lib.errors import DisclosureError
    from jdl_lib.pipeline import prepare_request
    from jdl_lib.spec import load_spec

    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'lab'\n")
    strangers = make_raw_extract(n_people=200, seed=99)["people"]  # nobody on this national index
    strangers = strangers.drop_duplicates(["forename", "surname", "date_of_birth"]).iloc[:80]
    _upload(strangers, tmp_path / "upload.csv")
    (tmp_path / "national.duckdb").write_bytes(national_store.read_bytes())
    spec = {
        "request_id": "strangers",
        "organisation": "Test",
        "organisation_id": "test",
        "intervention": {"name": "mentoring", "description": "Mentoring."},
        "upload": "upload.csv",
        "setting": "custody",
        "store": "national.duckdb",
    }
    (tmp_path / "strangers.yaml").write_text(yaml.safe_dump(spec))
    with NationalStore.open(tmp_path / "national.duckdb") as store, pytest.raises(DisclosureError) as info:
        prepare_request(load_spec(tmp_path / "strangers.yaml", tmp_path), store, tmp_path / "upload.csv")
    message = str(info.value)
    assert "fewer than the minimum" in message and "Where the people were lost:" in message
    assert "Found in national records: " in message and "not found in the national records" in message
    assert "Likely cause: most people were not found in the national records" in message
    assert not any(name in message for name in strangers.surname.unique())


def test_offence_code_lookup_covers_the_notifiable_groups() -> None:
    from jdl_lib.offence_codes import offence_group_lookup

    lookup = offence_group_lookup()
    assert lookup.offence_code.is_unique and set(lookup.offence_group) <= set(schema.OFFENCE_GROUPS)
    assert set(schema.OFFENCE_GROUPS) - set(lookup.offence_group) == {
        "summary_motoring",
        "summary_non_motoring",
    }
    groups = lookup.set_index("offence_code").offence_group
    assert groups["28E"] == "theft" and groups["105A"] == "violence_against_the_person"
    assert groups["92D"] == "drug" and groups["34B"] == "robbery" and groups["19C"] == "sexual"


def test_offence_codes_are_mapped_to_groups_on_import(
    raw_extract, national_store: Path, tmp_path: Path
) -> None:
    """Issue 16 item 9: an owner sends Home Office offence codes; the importer maps them with the shipped
    lookup (a group given in the file wins, for summary offences) and refuses codes it cannot map."""
    from jdl_lib.offence_codes import offence_group_lookup

    lookup = offence_group_lookup()
    one_code = lookup.drop_duplicates("offence_group").set_index("offence_group").offence_code
    raw = _copy(raw_extract)
    offences = raw["offences"]
    summary = offences.offence_group.str.startswith("summary")
    offences["offence_code"] = offences.offence_group.map(one_code).str.lower().radd(" 0")  # " 028e" style
    offences["offence_group"] = offences.offence_group.where(summary, None)
    prov = _import(write_extract(raw, tmp_path / "ex", fmt="csv"), tmp_path / "s.duckdb")
    with NationalStore.open(national_store) as clean:
        assert prov.content_hash == clean.provenance.content_hash
    offences.loc[offences.index[:3], "offence_code"] = "XYZ"
    offences.loc[offences.index[:3], "offence_group"] = None
    with pytest.raises(StoreError) as info:
        _import(write_extract(raw, tmp_path / "bad", fmt="csv"), tmp_path / "bad.duckdb")
    assert "offences / offence_code: 3 rows: codes not in the shipped Home Office lookup" in str(info.value)
