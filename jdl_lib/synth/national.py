"""The synthetic national database (``jdl synth``): raw tables with known reoffending probabilities.

``generate_national`` draws people, their sanction histories (:mod:`jdl_lib.synth.history`),
aliases, employment and benefit records and assessments, all following :mod:`jdl_lib.schema`.
``build_synthetic_store`` writes them as Parquet and loads them through the one store importer
(:func:`jdl_lib.store.import_national`), so a synthetic store is checked exactly like a real
extract. The true one-year proven reoffending probability of every disposal is kept *outside*
the store, in ``<store stem>.truth.parquet``, for tests and cohort generation only.

Everything is drawn from one ``numpy.random.Generator`` seeded by ``seed`` in a fixed order, so
the same seed and size give identical tables (and the same store content hash).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from jdl_lib import schema
from jdl_lib.synth import history
from jdl_lib.synth.identities import draw_aliases, pnc_ids, prison_numbers
from jdl_lib.synth.names import draw_names

logger = logging.getLogger(__name__)

COVERAGE_START = date(2000, 1, 1)
COVERAGE_END = date(2012, 12, 31)
#: Shares of schema.ETHNICITIES and schema.REGIONS among people on the synthetic index.
ETHNICITY_SHARES = (0.78, 0.08, 0.07, 0.04, 0.015, 0.015)
REGION_SHARES = (0.05, 0.14, 0.1, 0.08, 0.11, 0.09, 0.17, 0.13, 0.08, 0.05)
#: Name of the truth table column holding each disposal's one-year proven reoffending probability.
TRUTH_COLUMN = "p_reoffend_1y"


def truth_path(store_path: str | os.PathLike) -> Path:
    """Where the truth table of a synthetic store lives: ``<store stem>.truth.parquet`` beside it."""
    p = Path(store_path)
    return p.with_name(f"{p.stem}.truth.parquet")


@dataclass(frozen=True)
class SyntheticNational:
    """Raw tables (Arrow, in contract column order) and the truth table of one generated population."""

    people: int
    seed: int
    tables: dict[str, pa.Table]
    truth: pa.Table

    @property
    def row_counts(self) -> dict[str, int]:
        """Rows per raw table."""
        return {name: t.num_rows for name, t in self.tables.items()}


@dataclass(frozen=True)
class SyntheticStore:
    """What ``build_synthetic_store`` made: settings, paths, row counts, content hash and timings."""

    store_path: Path
    truth_path: Path
    people: int
    seed: int
    row_counts: dict[str, int]
    content_hash: str
    seconds: dict[str, float] = field(default_factory=dict)


def _dates(days: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(days.astype(np.int32), type=pa.date32(), mask=null)


def _strings(codes: np.ndarray, vocabulary: np.ndarray) -> pa.Array:
    return pa.DictionaryArray.from_arrays(
        pa.array(codes.astype(np.int32)), pa.array(vocabulary, type=pa.string())
    )


def _people(rng: np.random.Generator, pop: history.Population, n_disp: np.ndarray, ever_custody: np.ndarray):
    n = pop.dob.size
    female = pop.female
    ethnicity = rng.choice(len(schema.ETHNICITIES), n, p=ETHNICITY_SHARES)
    eth = np.asarray(schema.ETHNICITIES)[ethnicity]
    names = draw_names(rng, np.where(female, "F", "M"), eth)
    region = rng.choice(len(schema.REGIONS), n, p=REGION_SHARES)
    uk_national = rng.random(n) < np.where(ethnicity == 0, 0.95, 0.8)
    # PNC records are created at the first arrest, shortly before the first sanction.
    pnc_year = history.year_of(pop.first_offence - rng.integers(0, 400, n))
    serial = rng.choice(9_999_999, n, replace=False) + 1
    pnc = pa.array(pnc_ids(pnc_year, serial)).cast(pa.string())
    custody_people = np.flatnonzero(ever_custody)
    codes = rng.choice(26**3 * 10_000, custody_people.size, replace=False)
    prison = np.full(n, b"", dtype="S7")
    prison[custody_people] = prison_numbers(codes)
    people = pa.table(
        {
            "person_id": pa.array(np.arange(1, n + 1, dtype=np.int64)),
            "pnc_id": pnc,
            "prison_number": pa.array(prison, mask=~ever_custody).cast(pa.string()),
            "forename": _strings(names.forename_code, names.vocabulary),
            "surname": _strings(names.surname_code, names.vocabulary),
            "date_of_birth": _dates(pop.dob),
            "gender": _strings(female.astype(np.int32), np.array(["M", "F"], dtype=object)),
            "ethnicity": _strings(ethnicity, np.array(schema.ETHNICITIES, dtype=object)),
            "region": _strings(region, np.array(schema.REGIONS, dtype=object)),
            "uk_national": pa.array(uk_national),
        }
    )
    aliases = draw_aliases(
        rng,
        np.arange(1, n + 1, dtype=np.int64),
        names.vocabulary[names.forename_code],
        names.vocabulary[names.surname_code],
        pop.dob,
        n_disp,
        names.vocabulary[names.surname_code[rng.integers(0, n, 5_000)]],
    )
    return people, pa.Table.from_pandas(aliases, preserve_index=False)


def _employment(pop: history.Population, last_index_year: np.ndarray) -> pa.Table:
    """One row per person and year with any employment or benefit record, from 1998 (or two years
    before the first offence) to the year after the person's last index date (or 2012).

    Only the year before an index date is ever read, so later years are left out to keep the
    largest table small."""
    start = np.maximum(1998, history.year_of(pop.first_offence) - 2)
    stop = np.minimum(2012, last_index_year + 1)
    people, years, emp, ben = [], [], [], []
    for year in range(1998, 2013):
        e = history.bit_in_year(pop.employed_bits, np.full(1, year))
        b = history.bit_in_year(pop.benefit_bits, np.full(1, year))
        rows = np.flatnonzero((start <= year) & (year <= stop) & (e | b))
        people.append(rows)
        years.append(np.full(rows.size, year, dtype=np.int32))
        emp.append(e[rows])
        ben.append(b[rows])
    pid = np.concatenate(people)
    order = np.argsort(pid, kind="stable")
    return pa.table(
        {
            "record_id": pa.array(np.arange(1, pid.size + 1, dtype=np.int64)),
            "person_id": pa.array(pid[order] + 1),
            "year": pa.array(np.concatenate(years)[order]),
            "employed": pa.array(np.concatenate(emp)[order]),
            "on_benefit": pa.array(np.concatenate(ben)[order]),
        }
    )


def _histories(h: history.Histories) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    """Disposals, offences, assessments and truth, keyed in (person, date) order."""
    order = np.argsort(h.disposal_person, kind="stable")  # steps run in date order per person
    new_id = np.empty(order.size, dtype=np.int64)
    new_id[order] = np.arange(1, order.size + 1)
    is_custody = h.disposal_type[order] == history.CUSTODY
    length = h.sentence_length[order]
    disposal_id = pa.array(np.arange(1, order.size + 1, dtype=np.int64))
    disposals = pa.table(
        {
            "disposal_id": disposal_id,
            "person_id": pa.array(h.disposal_person[order] + 1),
            "disposal_date": _dates(h.disposal_date[order]),
            "disposal_type": _strings(h.disposal_type[order], np.array(schema.DISPOSAL_TYPES, dtype=object)),
            "sentence_length_days": pa.array(length.astype(np.int32), mask=length < 0),
            "release_date": _dates(h.release_date[order], ~is_custody),
        }
    )
    truth = pa.table({"disposal_id": disposal_id, TRUTH_COLUMN: pa.array(h.p_reoffend[order])})
    off_disp = new_id[h.offence_disposal]
    o_order = np.argsort(off_disp, kind="stable")
    offences = pa.table(
        {
            "offence_id": pa.array(np.arange(1, o_order.size + 1, dtype=np.int64)),
            "person_id": pa.array(h.disposal_person[h.offence_disposal[o_order]] + 1),
            "disposal_id": pa.array(off_disp[o_order]),
            "offence_date": _dates(h.offence_date[o_order]),
            "offence_group": _strings(
                h.offence_group[o_order], np.array(schema.OFFENCE_GROUPS, dtype=object)
            ),
            "is_breach": pa.array(h.offence_breach[o_order]),
        }
    )
    a_order = np.lexsort((h.assessment_date, h.assessment_person))
    needs = h.assessment_needs[a_order]
    assessments = pa.table(
        {
            "assessment_id": pa.array(np.arange(1, a_order.size + 1, dtype=np.int64)),
            "person_id": pa.array(h.assessment_person[a_order] + 1),
            "assessment_date": _dates(h.assessment_date[a_order]),
            **{
                col: pa.array(np.ascontiguousarray(needs[:, j]))
                for j, col in enumerate(("accommodation_need", "ete_need", "drug_need", "alcohol_need"))
            },
        }
    )
    return disposals, offences, assessments, truth


def generate_national(people: int, seed: int, *, progress: bool = False) -> SyntheticNational:
    """Generate the raw tables of a synthetic national database in memory.

    Parameters
    ----------
    people
        Number of people on the synthetic offender index.
    seed
        Seed of the one random stream; the same seed and size give identical tables.
    progress
        Show tqdm progress bars per stage.

    Returns
    -------
    SyntheticNational
        Arrow tables in contract column order, plus the truth table (disposal_id, p_reoffend_1y).
    """
    if people < 1:
        raise ValueError(f"people must be at least 1 (got {people}); pass --people N with N >= 1.")
    rng = np.random.default_rng(seed)
    stages = tqdm(total=4, desc="synth", unit="stage", disable=not progress)
    pop = history.draw_population(rng, people)
    stages.update()
    with tqdm(desc="disposals", unit="disposal", disable=not progress, leave=False) as bar:
        h = history.simulate(rng, pop, progress=bar)
    stages.update()
    n_disp = np.bincount(h.disposal_person, minlength=people)
    ever_custody = np.bincount(h.disposal_person[h.disposal_type == history.CUSTODY], minlength=people) > 0
    last_index_year = np.zeros(people, dtype=np.int64)
    index_date = np.where(h.disposal_type == history.CUSTODY, h.release_date, h.disposal_date)
    np.maximum.at(last_index_year, h.disposal_person, history.year_of(index_date))
    people_t, aliases_t = _people(rng, pop, n_disp, ever_custody)
    stages.update()
    disposals, offences, assessments, truth = _histories(h)
    tables = {
        "people": people_t,
        "aliases": aliases_t,
        "disposals": disposals,
        "offences": offences,
        "employment_benefits": _employment(pop, last_index_year),
        "assessments": assessments,
    }
    stages.update()
    stages.close()
    for t in schema.TABLES:
        tables[t.name] = tables[t.name].select(list(t.column_names))
    return SyntheticNational(people, seed, tables, truth)


def build_synthetic_store(
    store_path: str | os.PathLike, people: int, seed: int, *, progress: bool = False
) -> SyntheticStore:
    """Generate a synthetic national database and load it as a checked DuckDB store.

    The raw tables are written as Parquet into a temporary directory and imported with
    :func:`jdl_lib.store.import_national` (coverage 2000-01-01 to 2012-12-31), so the store passes
    the same contract checks as a real extract. The truth table is written beside the store as
    ``<store stem>.truth.parquet``; it is never part of the store.

    Parameters
    ----------
    store_path
        DuckDB file to create or replace (e.g. ``data/national.duckdb``).
    people, seed
        Population size and random seed (same values, same store content hash).
    progress
        Show tqdm progress bars per stage.
    """
    from jdl_lib.store import import_national

    store_path = Path(store_path)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    national = generate_national(people, seed, progress=progress)
    timings["generate"] = time.perf_counter() - t0
    store_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".synth-", dir=store_path.parent) as tmp:
        t0 = time.perf_counter()
        for name, table in national.tables.items():
            pq.write_table(table, Path(tmp) / f"{name}.parquet")
        timings["write_parquet"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        prov = import_national(
            tmp,
            store_path,
            source=f"synthetic: jdl synth people={people} seed={seed}",
            coverage_start=COVERAGE_START,
            coverage_end=COVERAGE_END,
        )
        timings["import"] = time.perf_counter() - t0
    truth = truth_path(store_path)
    pq.write_table(national.truth, truth)
    logger.info("synthetic store of %d people written to %s (truth in %s)", people, store_path, truth.name)
    return SyntheticStore(store_path, truth, people, seed, dict(prov.row_counts), prov.content_hash, timings)
