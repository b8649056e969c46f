"""Probabilistic linkage with Splink (DuckDB backend): the only module that imports Splink.

The national side is every identity on the index: each person's main record and each alias, all
carrying the person's ``person_id``. The model (``docs/linkage.md`` gives the reasons):

* Blocking (a pair is scored only if one rule holds): same date of birth; date of birth with day and
  month swapped; same surname and year of birth; same forename key (nicknames folded) and surname;
  same surname and forename initial; forename and surname swapped. The national records meeting any
  rule are selected first by equi-joins in the store, so Splink only ever sees the candidates of this
  upload, whatever the store's size.
* Comparisons: forename (exact with term-frequency adjustment; nickname; forename and surname
  swapped, the swap's evidence carried here once rather than twice; Damerau-Levenshtein 1;
  Jaro-Winkler 0.9); surname (exact with term-frequency adjustment; one part of a double-barrelled
  name in common; Damerau-Levenshtein 1; Jaro-Winkler 0.9 and 0.8); date of birth (exact; day and
  month swapped; one character different; within a month; within a year); gender (exact; a blank
  gender is no evidence either way). Name frequencies come from the whole national index, so a SMITH
  match weighs less than a rare surname match.
* Training: u from random pairs of a random sample of national people. Each comparison's m is
  estimated from sources not selected on it (:data:`M_SOURCES`): expectation maximisation over upload
  rows and national main records blocked on date of birth (m of forename, surname, gender); pairs
  proven by a rare full name, or failing enough of them EM blocked on full name for names that few
  others carry (m of date of birth; with common names, namesakes swamp the true pairs); and pairs a
  PNC ID or prison number proved, averaged into every comparison. Levels never seen get a floor of
  half an observation. The prior is ``prior_in_store`` divided by the number of national people.
* Within-upload duplicates: the same model, as a Splink dedupe of the upload against itself.

Nothing is written to disk: Splink runs in a private in-memory DuckDB database. Every Splink or
DuckDB failure surfaces as a :class:`jdl_lib.errors.LinkageError`.
"""

from __future__ import annotations

import copy
import logging
import time

import duckdb
import pandas as pd

from jdl_lib.errors import LinkageError
from jdl_lib.linkage.deterministic import registered
from jdl_lib.linkage.nicknames import forename_keys, forename_roots
from jdl_lib.linkage.result import LinkageSettings

logger = logging.getLogger(__name__)

#: Columns of a record handed to Splink, on both sides.
_RECORD_COLUMNS = "unique_id, person_id, forename, surname, date_of_birth, gender"

#: National identities with a record id (P = main record, A = alias), names upper case and trimmed.
_NATIONAL_SQL = """
    SELECT 'P' || person_id AS unique_id, person_id, upper(trim(forename)) AS forename,
           upper(trim(surname)) AS surname, date_of_birth, upper(trim(gender)) AS gender
    FROM people
    UNION ALL
    SELECT 'A' || a.alias_id, a.person_id, upper(trim(a.forename)), upper(trim(a.surname)),
           a.date_of_birth, upper(trim(p.gender))
    FROM aliases a JOIN people p USING (person_id)
"""

#: Which comparisons each training source estimates m for: a session never estimates the comparison
#: it is blocked on, and the labels (identifier-proven pairs) inform all of them.
#: EM iterations of the retry when a session's full run is refused (a level's m driven to exactly 0).
EM_RETRY_ITERATIONS = 5
M_SOURCES = {
    "em_blocked_on_date_of_birth": ("forename", "surname", "gender"),
    "rare_name_labels": ("date_of_birth",),
    "em_blocked_on_names": ("date_of_birth",),
    "identifier_labels": ("forename", "surname", "date_of_birth", "gender"),
}
#: Fewest proven pairs worth counting m from (fewer are noise, not evidence).
MIN_LABELS = 30
#: A full name shared by fewer than this many other national identities, expected from the name
#: frequencies, proves a pair whatever the date of birth says (the chance of a stranger is about 1%).
RARE_NAME_EXPECTED_OTHERS = 0.01
#: EM for the date-of-birth m is run on pairs whose full name fewer than this many others carry.
NAMESAKES_FOR_EM = 1.0


def rare_name_pairs(
    upload: pd.DataFrame, candidates: pd.DataFrame, tf: dict[str, pd.DataFrame], n_identities: int
) -> pd.DataFrame:
    """Pairs proven by a rare full name: ``upload_row, person_id`` (main records only).

    Forename and surname equal, and the name so rare that fewer than
    :data:`RARE_NAME_EXPECTED_OTHERS` other identities are expected to carry it; each upload row and
    each person in at most one such pair. These pairs say how often a date of birth is recorded
    differently for one person, without using the date of birth to choose them (data-entry errors do
    not depend on how rare a name is), so they train the date-of-birth m when no identifier did.
    """
    main = candidates[candidates["unique_id"].str.startswith("P")]
    pairs = upload[["upload_row", "forename", "surname"]].merge(
        main[["person_id", "forename", "surname"]], on=["forename", "surname"]
    )
    for column, table in tf.items():
        pairs = pairs.merge(table, on=column, how="left")
    expected = n_identities * pairs["tf_forename"].fillna(0) * pairs["tf_surname"].fillna(0)
    pairs = pairs[expected < RARE_NAME_EXPECTED_OTHERS]
    pairs = pairs[~pairs["upload_row"].duplicated(keep=False) & ~pairs["person_id"].duplicated(keep=False)]
    return pairs[["upload_row", "person_id"]].reset_index(drop=True)


def national_candidates(con: duckdb.DuckDBPyConnection, upload: pd.DataFrame) -> pd.DataFrame:
    """Return the national identities that meet at least one blocking rule with some upload row.

    Equi-joins only, so a 5-million-person store is scanned once per rule by hash joins; the result
    is exactly the national side Splink blocks to, and small.
    """
    with registered(con, up=upload, keys=forename_keys()) as t:
        return con.execute(
            f"""
            WITH rec AS (
                SELECT n.*, coalesce(k.forename_key, n.forename) AS forename_key
                FROM ({_NATIONAL_SQL}) n LEFT JOIN {t["keys"]} k ON k.forename = n.forename
            ), up AS (SELECT *, left(forename_key, 1) AS initial FROM {t["up"]})
            SELECT {_RECORD_COLUMNS} FROM rec SEMI JOIN up ON rec.date_of_birth = up.date_of_birth
            UNION
            SELECT {_RECORD_COLUMNS} FROM rec SEMI JOIN up ON rec.date_of_birth = up.dob_swapped
            UNION
            SELECT {_RECORD_COLUMNS} FROM rec SEMI JOIN up
              ON rec.surname = up.surname AND year(rec.date_of_birth) = year(up.date_of_birth)
            UNION
            SELECT {_RECORD_COLUMNS} FROM rec SEMI JOIN up
              ON rec.surname = up.surname AND left(rec.forename_key, 1) = up.initial
            UNION
            SELECT {_RECORD_COLUMNS} FROM rec SEMI JOIN up
              ON rec.forename = up.surname AND rec.surname = up.forename
            """
        ).df()


def national_sample(con: duckdb.DuckDBPyConnection, n: int, seed: int) -> pd.DataFrame:
    """Return a seeded random sample of ``n`` national people (main records) for u estimation."""
    return con.execute(
        f"""
        SELECT 'P' || person_id AS unique_id, person_id, upper(trim(forename)) AS forename,
               upper(trim(surname)) AS surname, date_of_birth, upper(trim(gender)) AS gender
        FROM people USING SAMPLE reservoir({int(n)} ROWS) REPEATABLE ({int(seed)})
        """
    ).df()


def name_frequencies(
    con: duckdb.DuckDBPyConnection, names: dict[str, pd.Series]
) -> tuple[dict[str, pd.DataFrame], int]:
    """Return each name's share of all national identities, and the number of identities.

    Parameters
    ----------
    con
        Connection to the national store.
    names
        ``forename`` and ``surname``: the names whose frequencies are wanted (upload and candidates).

    Returns
    -------
    tables, n_identities
        For each column a frame ``<column>, tf_<column>`` (Splink's term-frequency lookup form), and
        the count of main records and aliases. Splink would otherwise count frequencies among the
        candidates it is given, which are selected for resembling the upload and so overstate the
        upload's own names. One scan of the store counts both columns.
    """
    counts = con.execute(
        """
        WITH ids AS (
            SELECT upper(trim(forename)) AS forename, upper(trim(surname)) AS surname FROM people
            UNION ALL
            SELECT upper(trim(forename)), upper(trim(surname)) FROM aliases
        )
        SELECT grouping(forename) = 1 AS is_surname, coalesce(forename, surname) AS name, count(*) AS n
        FROM ids GROUP BY GROUPING SETS ((forename), (surname))
        """
    ).df()
    n_identities = int(counts.loc[~counts["is_surname"], "n"].sum())
    tables = {}
    for column, wanted in names.items():
        part = counts[counts["is_surname"] == (column == "surname")]
        part = part[part["name"].isin(set(pd.Series(wanted, dtype="string").dropna()))]
        tables[column] = pd.DataFrame(
            {column: part["name"].to_numpy(), f"tf_{column}": part["n"].to_numpy() / max(n_identities, 1)}
        )
    return tables, n_identities


def _splink_table(con: duckdb.DuckDBPyConnection, name: str, records: pd.DataFrame) -> None:
    """Create table ``name`` in Splink's private database with the derived comparison columns."""
    with registered(con, rec=records, keys=forename_keys(), roots=forename_roots()) as t:
        con.execute(
            f"""
            CREATE TABLE {name} AS
            WITH r AS (SELECT * REPLACE (date_of_birth::DATE AS date_of_birth) FROM {t["rec"]})
            SELECT r.unique_id::VARCHAR AS unique_id, r.person_id::BIGINT AS person_id,
                   r.forename::VARCHAR AS forename, r.surname::VARCHAR AS surname, r.date_of_birth,
                   nullif(r.gender::VARCHAR, '') AS gender,
                   strftime(r.date_of_birth, '%Y%m%d') AS dob_text,
                   year(r.date_of_birth) AS dob_year,
                   CASE WHEN day(r.date_of_birth) <= 12 AND day(r.date_of_birth) <> month(r.date_of_birth)
                        THEN make_date(year(r.date_of_birth), day(r.date_of_birth), month(r.date_of_birth))
                   END AS dob_swapped,
                   coalesce(k.forename_key, r.forename) AS forename_key,
                   left(coalesce(k.forename_key, r.forename), 1) AS forename_initial,
                   list_distinct(list_concat([r.forename], coalesce(x.roots, []))) AS forename_roots,
                   string_split(r.surname, '-') AS surname_parts
            FROM r
            LEFT JOIN {t["keys"]} k ON k.forename = r.forename
            LEFT JOIN (SELECT forename, list(root) AS roots FROM {t["roots"]} GROUP BY forename) x
              ON x.forename = r.forename
            """
        )


def _comparisons() -> list:
    """The four comparisons (see module docstring)."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    forename = cl.CustomComparison(
        output_column_name="forename",
        comparison_levels=[
            cll.NullLevel("forename"),
            cll.ExactMatchLevel("forename", term_frequency_adjustments=True),
            cll.ArrayIntersectLevel("forename_roots", 1).configure(label_for_charts="Nickname of each other"),
            cll.CustomLevel(
                "jaro_winkler_similarity(forename_l, surname_r) >= 0.9 "
                "AND jaro_winkler_similarity(surname_l, forename_r) >= 0.9",
                label_for_charts="Forename and surname swapped",
            ),
            cll.DamerauLevenshteinLevel("forename", 1),
            cll.JaroWinklerLevel("forename", 0.9),
            cll.ElseLevel(),
        ],
    )
    surname = cl.CustomComparison(
        output_column_name="surname",
        comparison_levels=[
            cll.NullLevel("surname"),
            cll.ExactMatchLevel("surname", term_frequency_adjustments=True),
            cll.CustomLevel(
                "len(list_intersect(surname_parts_l, surname_parts_r)) > 0",
                label_for_charts="One part of a double-barrelled surname",
            ),
            cll.DamerauLevenshteinLevel("surname", 1),
            cll.JaroWinklerLevel("surname", 0.9),
            cll.JaroWinklerLevel("surname", 0.8),
            cll.ElseLevel(),
        ],
    )
    dob = cl.CustomComparison(
        output_column_name="date_of_birth",
        comparison_levels=[
            cll.NullLevel("date_of_birth"),
            cll.ExactMatchLevel("date_of_birth"),
            cll.CustomLevel("dob_swapped_l = date_of_birth_r", label_for_charts="Day and month swapped"),
            cll.DamerauLevenshteinLevel("dob_text", 1),
            cll.AbsoluteDateDifferenceLevel(
                "date_of_birth", input_is_string=False, threshold=31, metric="day"
            ),
            cll.AbsoluteDateDifferenceLevel(
                "date_of_birth", input_is_string=False, threshold=366, metric="day"
            ),
            cll.ElseLevel(),
        ],
    )
    return [forename, surname, dob, cl.ExactMatch("gender")]


def _blocking_rules() -> list:
    """Prediction blocking rules (see module docstring); symmetric, so they serve dedupe too."""
    from splink import block_on
    from splink.blocking_rule_library import CustomRule

    return [
        block_on("date_of_birth"),
        CustomRule("l.dob_swapped = r.date_of_birth"),
        block_on("surname", "dob_year"),
        block_on("forename_key", "surname"),
        block_on("surname", "forename_initial"),
        CustomRule("l.forename = r.surname AND l.surname = r.forename"),
    ]


def _settings(link_type: str, prior: float) -> object:
    """Build the Splink settings: comparisons, prediction blocking rules, prior."""
    from splink import SettingsCreator

    return SettingsCreator(
        link_type=link_type,
        comparisons=_comparisons(),
        blocking_rules_to_generate_predictions=_blocking_rules(),
        probability_two_random_records_match=prior,
        additional_columns_to_retain=["person_id"],
        retain_matching_columns=False,
        max_iterations=25,
    )


def _levels(model: dict, comparison: str) -> list[dict]:
    """The non-null levels of one comparison in a Splink model dict."""
    found = [c for c in model["comparisons"] if c["output_column_name"] == comparison]
    return [lv for lv in found[0]["comparison_levels"] if not lv.get("is_null_level")]


def compose_m(base: dict, estimates: dict[str, dict], n_observed: int) -> tuple[dict, dict[str, list[str]]]:
    """Set each comparison's m to the mean over the sources that may estimate it (:data:`M_SOURCES`).

    Parameters
    ----------
    base
        The model with u trained (its m values are replaced).
    estimates
        Source name to the model dict that source trained.
    n_observed
        Rows the m estimates rest on, for the floor: every level gets m of at least half an
        observation, so that one unseen kind of difference cannot veto a pair on its own.

    Returns
    -------
    model, used
        The model, and for each comparison the sources its m came from (for the method annex).
    """
    model = copy.deepcopy(base)
    floor = 0.5 / max(n_observed, 1)
    used: dict[str, list[str]] = {}
    for comparison in ("forename", "surname", "date_of_birth", "gender"):
        sources = [s for s, trained in estimates.items() if comparison in M_SOURCES[s]]
        used[comparison] = sources
        target = _levels(model, comparison)
        if not sources:
            logger.warning("no training source estimated m for %s; Splink's defaults are used", comparison)
        for i, level in enumerate(target):
            if sources:
                values = [_levels(estimates[s], comparison)[i].get("m_probability") or 0.0 for s in sources]
                level["m_probability"] = sum(values) / len(values)
            level["m_probability"] = max(level.get("m_probability") or 0.0, floor)
        total = sum(lv["m_probability"] for lv in target)
        for level in target:
            level["m_probability"] /= total
    return model, used


def _floor_u(model: dict, n_pairs: float) -> dict:
    """Give every level a u of at least half a pair in ``n_pairs`` (a level no random pair showed)."""
    floor = 0.5 / max(n_pairs, 1)
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if not level.get("is_null_level"):
                level["u_probability"] = max(level.get("u_probability") or 0.0, floor)
    return model


def _label_pairs(labels: pd.DataFrame) -> pd.DataFrame:
    """Identifier-verified links as Splink pairwise labels (upload row to the person's main record)."""
    labels = labels.astype({"upload_row": "int64", "person_id": "int64"})
    return pd.DataFrame(
        {
            "source_dataset_l": "a_upload",
            "unique_id_l": "U" + labels["upload_row"].astype(str),
            "source_dataset_r": "b_national",
            "unique_id_r": "P" + labels["person_id"].astype(str),
        }
    )


def _add_namesakes(
    private: duckdb.DuckDBPyConnection, upload: pd.DataFrame, tf: dict[str, pd.DataFrame], n_identities: int
) -> None:
    """Add ``namesakes`` to every Splink table: national identities expected to carry the full name.

    Filled for upload rows from the national name frequencies; null on the national side.
    """
    rows = upload[["upload_row", "forename", "surname"]]
    for column, table in tf.items():
        rows = rows.merge(table, on=column, how="left")
    frame = pd.DataFrame(
        {
            "unique_id": "U" + rows["upload_row"].astype(str),
            "namesakes": n_identities * rows["tf_forename"] * rows["tf_surname"],
        }
    )
    for table in ("a_upload", "b_national", "u_sample"):
        private.execute(f"ALTER TABLE {table} ADD COLUMN namesakes DOUBLE")
    with registered(private, names=frame) as t:
        private.execute(
            f"UPDATE a_upload SET namesakes = n.namesakes FROM {t['names']} n "
            "WHERE n.unique_id = a_upload.unique_id"
        )


class _Session:
    """Splink linkers over one private database, each with the national name frequencies registered.

    Each linker gets its own database API object and uniquely named inputs, so that no cached
    intermediate table of one training session is reused by another.
    """

    def __init__(self, private: duckdb.DuckDBPyConnection, tf: dict[str, pd.DataFrame]) -> None:
        self.private = private
        for column, table in tf.items():
            with registered(private, tf=table) as t:
                private.execute(f"CREATE TABLE tf_{column} AS SELECT * FROM {t['tf']}")
        self.tf_columns = tuple(tf)
        self._n = 0

    def linker(self, tables: list[tuple[str, str]], settings: object):
        """A Linker over ``(table, display name)`` pairs, with the name frequency tables registered."""
        from splink import DuckDBAPI, Linker

        self._n += 1
        db_api = DuckDBAPI(self.private)
        inputs = [
            db_api.register(table, dataset_display_name=display, table_name=f"in_{self._n}_{i}")
            for i, (table, display) in enumerate(tables)
        ]
        linker = Linker(inputs, settings, log_level=logging.ERROR)
        for column in self.tf_columns:
            lookup = db_api.register(f"tf_{column}", table_name=f"tf_{column}_{self._n}")
            linker.table_management.register_term_frequency_lookup(lookup, column)
        return linker


def score_pairs(
    con: duckdb.DuckDBPyConnection,
    upload: pd.DataFrame,
    labels: pd.DataFrame,
    n_national: int,
    settings: LinkageSettings,
) -> tuple[pd.DataFrame, pd.DataFrame, dict, dict[str, float]]:
    """Train the model on this upload and the national data; score every blocked pair and upload pair.

    Parameters
    ----------
    con
        Connection to the national store.
    upload
        All prepared upload rows (:func:`jdl_lib.linkage.deterministic.prepare_upload`); all of them
        feed the m estimates, whatever the deterministic passes found.
    labels
        ``upload_row, person_id`` of links made by a PNC ID or prison number that agreed with the
        submitted name and date of birth: known true pairs, from which m probabilities are counted
        (when there are at least :data:`MIN_LABELS`).
    n_national
        Number of national people, for the prior match probability.
    settings
        Linkage settings (sample sizes, seed, prior share in store, threshold for duplicates).

    Returns
    -------
    pairs, upload_pairs, model, seconds
        ``pairs``: upload_row, person_id, match_weight, match_probability for every scored pair
        (an alias and a main record of one person may both appear). ``upload_pairs``: upload_row_l,
        upload_row_r, match_probability for pairs of upload rows scoring at least ``threshold`` (the
        same person submitted twice). ``model``: the trained Splink settings as a dict (parameters
        only, no records) with ``jdl_training`` saying where each m came from. ``seconds``: wall-clock
        time per stage.

    Raises
    ------
    LinkageError
        If Splink or DuckDB fails; the message names the stage.
    """
    from splink.internals.exceptions import SplinkException

    clock = _Clock()
    try:
        return _score_pairs(con, upload, labels, n_national, settings, clock)
    except (SplinkException, duckdb.Error, ValueError, KeyError, TypeError) as exc:
        raise LinkageError(
            f"probabilistic linkage failed at the stage '{clock.stage}' ({type(exc).__name__}); the "
            "national store's people and aliases tables must hold forename, surname, date_of_birth and "
            "gender as docs/national_schema.md describes: re-import the extract with `jdl import-national`, "
            "and report the problem if it persists"
        ) from exc


class _Clock:
    """Wall-clock seconds per stage, and the stage under way (named in an error)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.stage = "candidates"
        self._t = time.perf_counter()

    def lap(self, done: str, next_stage: str) -> None:
        now = time.perf_counter()
        self.seconds[done] = now - self._t
        self._t, self.stage = now, next_stage


def _train_m(
    session: _Session, base: dict, labels: pd.DataFrame, rare: pd.DataFrame, n_rows: int, max_pairs: float
) -> tuple[dict, dict[str, list[str]], list[str]]:
    """Run the m training sources (see :data:`M_SOURCES`) and compose their estimates.

    A source that Splink cannot train (EM finding no matches in its blocks, say) is skipped with a
    warning and named in the model's ``jdl_training``; the others still inform the model.
    """
    from splink import block_on
    from splink.blocking_rule_library import CustomRule
    from splink.internals.exceptions import SplinkException

    tables = [("a_upload", "a_upload"), ("b_main", "b_national")]
    estimates: dict[str, dict] = {}
    failed: list[str] = []
    sessions = {
        "em_blocked_on_date_of_birth": block_on("date_of_birth"),
        # names that few others carry, so that namesakes do not swamp the true pairs in the block
        "em_blocked_on_names": CustomRule(
            "l.forename_key = r.forename_key AND l.surname = r.surname "
            f"AND coalesce(l.namesakes, r.namesakes) < {NAMESAKES_FOR_EM}"
        ),
    }
    for name, rule in sessions.items():
        trained = None
        # Splink 5 refuses an EM step that drives a level's m to exactly 0 (a ValueError from its
        # probability check), which happens on small cohorts whose blocks hold no pair of some kind; the
        # early iterations have converged on everything that matters, so retry with fewer of them.
        for iterations in (None, EM_RETRY_ITERATIONS):
            settings = copy.deepcopy(base)
            if iterations is not None:
                settings["max_iterations"] = iterations
            trainer = session.linker(tables, settings)
            try:
                trainer.training.estimate_parameters_using_expectation_maximisation(
                    rule, estimate_without_term_frequencies=True, max_pairs=max_pairs
                )
            except (SplinkException, ValueError) as exc:
                logger.warning("m training source %s: EM stopped (%s)", name, type(exc).__name__)
                continue
            trained = trainer.misc.save_model_to_json()
            break
        if trained is None:
            logger.warning("m training source %s failed; it is left out", name)
            failed.append(name)
            continue
        estimates[name] = trained
    for name, pairs in (("identifier_labels", labels), ("rare_name_labels", rare)):
        if len(pairs) >= MIN_LABELS:
            session.private.register(name, _label_pairs(pairs))
            trainer = session.linker(tables, copy.deepcopy(base))
            trainer.training.estimate_m_from_pairwise_labels(name)
            estimates[name] = trainer.misc.save_model_to_json()
    if "rare_name_labels" in estimates:
        # counted pairs beat EM here: blocked on names, EM confuses namesakes with data-entry error
        estimates.pop("em_blocked_on_names", None)
    model, used = compose_m(base, estimates, n_rows + len(labels))
    return model, used, failed


def _score_pairs(
    con: duckdb.DuckDBPyConnection,
    upload: pd.DataFrame,
    labels: pd.DataFrame,
    n_national: int,
    settings: LinkageSettings,
    clock: _Clock,
) -> tuple[pd.DataFrame, pd.DataFrame, dict, dict[str, float]]:
    """:func:`score_pairs` without the error translation."""
    candidates = national_candidates(con, upload)
    clock.lap("candidates", "sample_and_prepare")
    sample = national_sample(con, settings.u_sample_records, settings.seed)
    names = {c: pd.concat([candidates[c], upload[c], sample[c]]) for c in ("forename", "surname")}
    tf, n_identities = name_frequencies(con, names)
    up = upload.assign(unique_id="U" + upload["upload_row"].astype(str), person_id=pd.NA)
    logger.info("probabilistic linkage: %d upload rows, %d national candidates", len(up), len(candidates))

    private = duckdb.connect(":memory:")
    try:
        _splink_table(private, "a_upload", up[["unique_id", "person_id", *_RECORD_COLUMNS.split(", ")[2:]]])
        _splink_table(private, "b_national", candidates)
        _splink_table(private, "u_sample", sample)
        _add_namesakes(private, upload, tf, n_identities)
        private.execute("CREATE VIEW b_main AS SELECT * FROM b_national WHERE unique_id LIKE 'P%'")
        session = _Session(private, tf)
        clock.lap("sample_and_prepare", "train_u")
        prior = settings.prior_in_store / max(n_national, 1)

        u_linker = session.linker([("u_sample", "u_sample_people")], _settings("dedupe_only", prior))
        u_linker.training.estimate_u_using_random_sampling(max_pairs=settings.u_max_pairs, seed=settings.seed)
        base = _floor_u(u_linker.misc.save_model_to_json(), settings.u_max_pairs)
        base["link_type"] = "link_only"
        clock.lap("train_u", "train_m")

        # m: upload rows against main records only, so that m describes how a submitted identity
        # differs from the recorded one (aliases would blur it); scoring then uses aliases too.
        rare = rare_name_pairs(upload, candidates, tf, n_identities)
        model, used, failed = _train_m(session, base, labels, rare, len(up), settings.em_max_pairs)
        clock.lap("train_m", "predict")
        linker = session.linker([("a_upload", "a_upload"), ("b_national", "b_national")], model)
        scored = linker.inference.predict(threshold_match_probability=1e-4).as_pandas_dataframe()
        clock.lap("predict", "deduplicate")

        dedupe_model = copy.deepcopy(model) | {
            "link_type": "dedupe_only",
            # about one row in a hundred repeats someone: prior per pair of upload rows
            "probability_two_random_records_match": min(0.5, 1.0 / max(len(up), 2)),
        }
        deduper = session.linker([("a_upload", "a_upload")], dedupe_model)
        twins = deduper.inference.predict(
            threshold_match_probability=settings.threshold
        ).as_pandas_dataframe()
        clock.lap("deduplicate", "resolve")
    finally:
        private.close()

    upload_left = scored["source_dataset_l"] == "a_upload"
    up_id = scored["unique_id_l"].where(upload_left, scored["unique_id_r"])
    person = scored["person_id_r"].where(upload_left, scored["person_id_l"])
    pairs = pd.DataFrame(
        {
            "upload_row": up_id.str[1:].astype("int64"),
            "person_id": person.astype("int64"),
            "match_weight": scored["match_weight"].astype(float),
            "match_probability": scored["match_probability"].astype(float),
        }
    )
    upload_pairs = pd.DataFrame(
        {
            "upload_row_l": twins["unique_id_l"].str[1:].astype("int64"),
            "upload_row_r": twins["unique_id_r"].str[1:].astype("int64"),
            "match_probability": twins["match_probability"].astype(float),
        }
    )
    model["jdl_training"] = {
        "m_sources": used,
        "failed_sources": failed,
        "identifier_labels": len(labels),
        "rare_name_labels": len(rare),
        "term_frequencies": "national identities (main records and aliases)",
    }
    return pairs, upload_pairs, model, clock.seconds


def resolve(pairs: pd.DataFrame, settings: LinkageSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Choose at most one person per upload row: a clear winner above the threshold, else review.

    Each person's best-scoring identity (main record or alias) stands for them. A row links when its
    best person reaches ``threshold`` and beats the second-best person by ``min_weight_margin`` in
    match weight. A row that does not link but whose best person reaches ``review_floor`` goes to
    review: ``ambiguous`` if the margin failed, ``low_confidence`` otherwise.

    Returns
    -------
    links, review
        ``links``: upload_row, person_id, match_probability. ``review``: upload_row, reason, and the best
        candidate's person_id and match_probability (for the linkage-error check of the result).
    """
    best = (
        pairs.sort_values("match_weight", ascending=False)
        .drop_duplicates(["upload_row", "person_id"])
        .assign(rank=lambda d: d.groupby("upload_row").cumcount())
    )
    top = best[best["rank"] == 0].set_index("upload_row")
    second = best[best["rank"] == 1].set_index("upload_row")["match_weight"]
    margin = top["match_weight"] - second.reindex(top.index).fillna(-float("inf"))
    strong = top["match_probability"] >= settings.threshold
    clear = margin >= settings.min_weight_margin
    links = top.loc[strong & clear, ["person_id", "match_probability"]].reset_index()
    plausible = (top["match_probability"] >= settings.review_floor) & ~(strong & clear)
    reason = pd.Series("low_confidence", index=top.index).where(~(strong & ~clear), "ambiguous")
    review = top.loc[plausible, ["person_id", "match_probability"]].assign(reason=reason[plausible])
    return links, review.reset_index()
