"""Probabilistic linkage with Splink (DuckDB backend): the only module that imports Splink.

The national side is every identity on the index: each person's main record and each alias, all
carrying the person's ``person_id``. The model (``docs/linkage.md`` gives the reasons):

* Blocking (a pair is scored only if one rule holds): same date of birth and surname initial; same
  date of birth and forename-key initial; date of birth with day and month swapped and same surname
  initial; same surname and year of birth; same forename key (nicknames folded) and surname.
  The national records meeting any rule are selected first by equi-joins in the store, so Splink
  only ever sees the few thousand candidates of this upload, whatever the store's size.
* Comparisons: forename (exact, nickname, Damerau-Levenshtein 1, Jaro-Winkler 0.9), surname (exact,
  Damerau-Levenshtein 1, Jaro-Winkler 0.9 and 0.8), date of birth (exact, day/month swapped, one
  character different, within a month, within a year), gender (exact).
* Training on the national data: u probabilities from random pairs of a random sample of national
  people. m probabilities counted from the pairs the identifiers proved (rows linked by a trusted PNC
  ID or prison number, against the main record), combined (median, Splink's rule) with expectation
  maximisation over the upload and national main records blocked on date of birth and surname
  initial. Aliases are left out of training so that m describes data-entry noise; levels never seen
  get a floor of half an observation. The probability that two random records match is
  ``prior_in_store`` divided by the number of national people, because each submitted person is at
  most one of them.

Nothing is written to disk: Splink runs in a private in-memory DuckDB database.
"""

from __future__ import annotations

import logging
import time

import duckdb
import pandas as pd

from jdl_lib.linkage.deterministic import registered
from jdl_lib.linkage.nicknames import forename_keys, forename_roots
from jdl_lib.linkage.result import LinkageSettings

logger = logging.getLogger(__name__)

#: Columns of a record handed to Splink, on both sides.
_RECORD_COLUMNS = "unique_id, person_id, forename, surname, date_of_birth, gender"

#: National identities with a record id, before any filter.
_NATIONAL_SQL = """
    SELECT 'P' || person_id AS unique_id, person_id, forename, surname, date_of_birth, gender FROM people
    UNION ALL
    SELECT 'A' || a.alias_id, a.person_id, a.forename, a.surname, a.date_of_birth, p.gender
    FROM aliases a JOIN people p USING (person_id)
"""


def national_candidates(con: duckdb.DuckDBPyConnection, upload: pd.DataFrame) -> pd.DataFrame:
    """Return the national identities that meet at least one blocking rule with some upload row.

    Equi-joins only, so a 5-million-person store is scanned once per rule by hash joins; the result
    is exactly the national side Splink would block to, and small.
    """
    with registered(con, up=upload, keys=forename_keys()) as t:
        return con.execute(
            f"""
            WITH rec AS (
                SELECT n.*, coalesce(k.forename_key, n.forename) AS forename_key
                FROM ({_NATIONAL_SQL}) n LEFT JOIN {t["keys"]} k ON k.forename = n.forename
            ), up AS (SELECT * FROM {t["up"]})
            SELECT {_RECORD_COLUMNS} FROM rec SEMI JOIN up ON rec.date_of_birth = up.date_of_birth
            UNION
            SELECT {_RECORD_COLUMNS} FROM rec SEMI JOIN up ON rec.date_of_birth = up.dob_swapped
            UNION
            SELECT {_RECORD_COLUMNS} FROM rec SEMI JOIN up
              ON rec.surname = up.surname AND year(rec.date_of_birth) = year(up.date_of_birth)
            UNION
            SELECT {_RECORD_COLUMNS} FROM rec SEMI JOIN up
              ON rec.forename_key = up.forename_key AND rec.surname = up.surname
            """
        ).df()


def national_sample(con: duckdb.DuckDBPyConnection, n: int, seed: int) -> pd.DataFrame:
    """Return a seeded random sample of ``n`` national people (main records) for u estimation."""
    return con.execute(
        f"""
        SELECT 'P' || person_id AS unique_id, person_id, forename, surname, date_of_birth, gender
        FROM people USING SAMPLE reservoir({int(n)} ROWS) REPEATABLE ({int(seed)})
        """
    ).df()


def _splink_table(con: duckdb.DuckDBPyConnection, name: str, records: pd.DataFrame) -> None:
    """Create table ``name`` in Splink's private database with the derived comparison columns."""
    with registered(con, rec=records, keys=forename_keys(), roots=forename_roots()) as t:
        con.execute(
            f"""
            CREATE TABLE {name} AS
            WITH r AS (SELECT * REPLACE (date_of_birth::DATE AS date_of_birth) FROM {t["rec"]})
            SELECT r.unique_id::VARCHAR AS unique_id, r.person_id::BIGINT AS person_id,
                   r.forename, r.surname, r.date_of_birth, r.gender,
                   strftime(r.date_of_birth, '%Y%m%d') AS dob_text,
                   year(r.date_of_birth) AS dob_year,
                   CASE WHEN day(r.date_of_birth) <= 12 AND day(r.date_of_birth) <> month(r.date_of_birth)
                        THEN make_date(year(r.date_of_birth), day(r.date_of_birth), month(r.date_of_birth))
                   END AS dob_swapped,
                   coalesce(k.forename_key, r.forename) AS forename_key,
                   left(r.surname, 1) AS surname_initial,
                   left(coalesce(k.forename_key, r.forename), 1) AS forename_initial,
                   list_distinct(list_concat([r.forename], coalesce(x.roots, []))) AS forename_roots
            FROM r
            LEFT JOIN {t["keys"]} k ON k.forename = r.forename
            LEFT JOIN (SELECT forename, list(root) AS roots FROM {t["roots"]} GROUP BY forename) x
              ON x.forename = r.forename
            """
        )


def _settings(link_type: str, prior: float) -> object:
    """Build the Splink settings: comparisons and prediction blocking rules (see module docstring)."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on
    from splink.blocking_rule_library import CustomRule

    forename = cl.CustomComparison(
        output_column_name="forename",
        comparison_levels=[
            cll.NullLevel("forename"),
            cll.ExactMatchLevel("forename"),
            cll.ArrayIntersectLevel("forename_roots", 1).configure(label_for_charts="Nickname of each other"),
            cll.DamerauLevenshteinLevel("forename", 1),
            cll.JaroWinklerLevel("forename", 0.9),
            cll.ElseLevel(),
        ],
    )
    surname = cl.CustomComparison(
        output_column_name="surname",
        comparison_levels=[
            cll.NullLevel("surname"),
            cll.ExactMatchLevel("surname"),
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
    gender = cl.ExactMatch("gender")
    return SettingsCreator(
        link_type=link_type,
        comparisons=[forename, surname, dob, gender],
        blocking_rules_to_generate_predictions=[
            block_on("date_of_birth", "surname_initial"),
            block_on("date_of_birth", "forename_initial"),
            CustomRule("l.dob_swapped = r.date_of_birth AND l.surname_initial = r.surname_initial"),
            block_on("surname", "dob_year"),
            block_on("forename_key", "surname"),
        ],
        probability_two_random_records_match=prior,
        additional_columns_to_retain=["person_id"],
        retain_matching_columns=False,
        max_iterations=25,
    )


def _floor_m(model: dict, n_observed: int) -> dict:
    """Give every level an m probability of at least half an observation in ``n_observed``.

    A level never seen among the training matches (a gender recorded differently, say) would
    otherwise keep Splink's default m or an m near zero, which would veto any pair showing it.
    """
    floor = 0.5 / max(n_observed, 1)
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if not level.get("is_null_level"):
                level["m_probability"] = max(level.get("m_probability") or 0.0, floor)
    return model


def _label_pairs(labels: pd.DataFrame) -> pd.DataFrame:
    """Identifier-verified links as Splink pairwise labels (upload row to the person's main record)."""
    return pd.DataFrame(
        {
            "source_dataset_l": "a_upload",
            "unique_id_l": "U" + labels["upload_row"].astype(str),
            "source_dataset_r": "b_national",
            "unique_id_r": "P" + labels["person_id"].astype(str),
        }
    )


def score_pairs(
    con: duckdb.DuckDBPyConnection,
    upload: pd.DataFrame,
    labels: pd.DataFrame,
    n_national: int,
    settings: LinkageSettings,
) -> tuple[pd.DataFrame, dict, dict[str, float]]:
    """Train the model on this upload and the national data, and score every blocked pair.

    Parameters
    ----------
    con
        Connection to the national store.
    upload
        All prepared upload rows (:func:`jdl_lib.linkage.deterministic.prepare_upload`); all of them
        feed the m estimates, whatever the deterministic passes found.
    labels
        ``upload_row, person_id`` of links made by a PNC ID or prison number that agreed with the
        submitted name and date of birth: known true pairs, from which m probabilities are counted.
    n_national
        Number of national people, for the prior match probability.
    settings
        Linkage settings (sample sizes, seed, prior share in store).

    Returns
    -------
    pairs, model, seconds
        ``pairs``: upload_row, person_id, match_weight, match_probability for every scored pair
        (an alias and a main record of one person may both appear). ``model``: the trained Splink
        settings as a dict (parameters only, no records). ``seconds``: wall-clock time per stage.
    """
    from splink import DuckDBAPI, Linker, block_on

    clock = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(stage: str) -> None:
        nonlocal clock
        seconds[stage] = time.perf_counter() - clock
        clock = time.perf_counter()

    candidates = national_candidates(con, upload)
    lap("candidates")
    sample = national_sample(con, settings.u_sample_records, settings.seed)
    up = upload.assign(unique_id="U" + upload["upload_row"].astype(str), person_id=pd.NA)
    logger.info("probabilistic linkage: %d upload rows, %d national candidates", len(up), len(candidates))

    private = duckdb.connect(":memory:")
    try:
        _splink_table(
            private,
            "a_upload",
            up[["unique_id", "person_id", "forename", "surname", "date_of_birth", "gender"]],
        )
        _splink_table(private, "b_national", candidates)
        _splink_table(private, "u_sample", sample)
        lap("sample_and_prepare")
        db_api = DuckDBAPI(private)
        prior = settings.prior_in_store / max(n_national, 1)

        u_linker = Linker(
            db_api.register("u_sample", dataset_display_name="u_sample_people"),
            _settings("dedupe_only", prior),
            log_level=logging.ERROR,
        )
        u_linker.training.estimate_u_using_random_sampling(max_pairs=settings.u_max_pairs, seed=settings.seed)
        model = u_linker.misc.save_model_to_json()
        lap("train_u")
        model["link_type"] = "link_only"

        # m: EM on the upload against main records only, so that the m probabilities describe how a
        # submitted identity differs from the recorded one (aliases would blur them); then score
        # against main records and aliases alike.
        private.execute("CREATE VIEW b_main AS SELECT * FROM b_national WHERE unique_id LIKE 'P%'")
        trainer = Linker(
            [
                db_api.register("a_upload", dataset_display_name="a_upload", table_name="a_upload_train"),
                db_api.register("b_main", dataset_display_name="b_national", table_name="b_main_train"),
            ],
            model,
            log_level=logging.ERROR,
        )
        if len(labels):
            private.register("identifier_labels", _label_pairs(labels))
            trainer.training.estimate_m_from_pairwise_labels("identifier_labels")
        trainer.training.estimate_parameters_using_expectation_maximisation(
            block_on("date_of_birth", "surname_initial")
        )
        model = _floor_m(trainer.misc.save_model_to_json(), len(labels) + len(up))
        lap("train_m")
        linker = Linker(
            [
                db_api.register("a_upload", dataset_display_name="a_upload"),
                db_api.register("b_national", dataset_display_name="b_national"),
            ],
            model,
            log_level=logging.ERROR,
        )
        scored = linker.inference.predict(threshold_match_probability=1e-4).as_pandas_dataframe()
        lap("predict")
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
    return pairs, model, seconds


def resolve(pairs: pd.DataFrame, settings: LinkageSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Choose at most one person per upload row: a clear winner above the threshold, else review.

    Each person's best-scoring identity (main record or alias) stands for them. A row links when its
    best person reaches ``threshold`` and beats the second-best person by ``min_weight_margin`` in
    match weight. A row that does not link but whose best person reaches ``review_floor`` goes to
    review: ``ambiguous`` if the margin failed, ``low_confidence`` otherwise.

    Returns
    -------
    links, review
        ``links``: upload_row, person_id, match_probability. ``review``: upload_row, reason.
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
    review = reason[plausible].rename("reason").reset_index()
    return links, review
