"""One request, end to end: parameter file → intake → linkage → index events → matching → balance →
outcomes → disclosure checks → results.json → report → output scan → release.

:func:`analyse` holds the statistics (a short list of stage calls, each a library function that returns a
frozen result); :func:`run_request` wraps it in the personal-data lifecycle: a private workspace deleted on
any exit, staged outputs released only when complete and scanned, the differencing registry and the audit
log. :func:`run_batch` runs every parameter file of a folder, isolating failures.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import platform
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from jdl_lib import __version__
from jdl_lib.attrition import Attrition, add_index_events, add_linkage, explain_shortfall, from_intake
from jdl_lib.balance.stats import BalanceResult, assess_balance
from jdl_lib.derived import candidate_pool, index_event_features
from jdl_lib.errors import DisclosureError, IntakeError, JdlError, JdlWarning
from jdl_lib.index_events import find_index_events
from jdl_lib.intake import MAX_DROPPED_SHARE, read_upload
from jdl_lib.linkage import LinkageSettings, link_cohort
from jdl_lib.linkage.result import LinkageResult
from jdl_lib.matching.design import informative_covariates
from jdl_lib.matching.registry import get_matcher, matcher_parameters
from jdl_lib.matching.result import MatchResult
from jdl_lib.outcomes import (
    Estimate,
    alternative_design_effects,
    estimate_effects,
    regression_adjusted_effect,
)
from jdl_lib.privacy import (
    AuditLogError,
    RunWorkspace,
    StagedOutputs,
    append_audit_record,
    assert_no_personal_data,
    check_differencing,
    check_minimum_group,
    code_version,
    forget_request,
    keyed_file_hash,
    record_request,
    suppression_note,
)
from jdl_lib.privacy.differencing import DEFAULT_MIN_DIFFERENCE, check_request_id, close_groups
from jdl_lib.privacy.lab import keyed_hash, lab_secret, open_lab
from jdl_lib.report import assemble
from jdl_lib.report.render import render_report
from jdl_lib.report.results import SCHEMA_VERSION, validate_results, write_results
from jdl_lib.spec import MatchingSpec, RequestSpec, load_spec, project_root
from jdl_lib.standard_errors import SE_METHODS, resolve_se_method
from jdl_lib.store import NationalStore
from jdl_lib.subgroups import (
    SubgroupAnalysis,
    add_subgroup_columns,
    analyse_subgroups,
    subgroup_column,
    subgroups_results,
)
from jdl_lib.synthesis.context import sector_context
from jdl_lib.template import PROGRAMME_COLUMNS
from jdl_lib.trajectories import offence_trajectory, trajectory_results

log = logging.getLogger(__name__)

#: Stages shown on the progress bar, in order.
STAGES = (
    "validate upload",
    "link to national records",
    "find index events",
    "match controls",
    "check balance",
    "estimate outcomes",
    "write report",
    "scan and release",
)
#: Two-sided significance level of every test (the JDL's p <= 0.05).
ALPHA = 0.05
#: Software whose versions the method annex states.
_SOFTWARE = ("numpy", "pandas", "scikit-learn", "statsmodels", "duckdb", "splink", "scipy")


@dataclass(frozen=True)
class Analysis:
    """The aggregates of one request and the person-level facts the privacy checks need (never written)."""

    results: dict[str, Any]
    analysed_person_ids: np.ndarray
    upload_people: pd.DataFrame
    counts: dict[str, int]
    intake_note: str = ""
    #: People of each published part of the report (subgroup levels), for the differencing guard.
    published_parts: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class RunOutcome:
    """How one request ended: released, refused (a rule said no) or failed (an error)."""

    request_id: str
    status: str
    message: str
    out_dir: Path | None
    seconds: float


def _software() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _SOFTWARE:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover - every one is a dependency
            continue
    return versions


def _run_id(spec: RequestSpec, upload_hash: str, store_hash: str) -> str:
    """A run id fixed by its inputs (spec file, upload, store, code), so reruns are recognisable."""
    spec_bytes = spec.source.read_bytes() if spec.source else repr(spec).encode()
    digest = hashlib.sha256(
        b"|".join([spec_bytes, upload_hash.encode(), store_hash.encode(), __version__.encode()])
    )
    return f"{spec.request_id}-{digest.hexdigest()[:12]}"


def _stage_progress(request_id: str, enabled: bool) -> tuple[Callable[[str], None], Callable[[], None]]:
    bar = tqdm(total=len(STAGES), desc=request_id, unit="stage", disable=not enabled, leave=True)

    def step(name: str) -> None:
        bar.set_postfix_str(name)
        bar.update(1)

    return step, bar.close


def matcher_arguments(matching: MatchingSpec, seed: int) -> dict[str, Any]:
    """The keyword arguments a request's matching settings give its matcher.

    Only the arguments the chosen method's constructor takes are passed (``ratio`` and ``replace`` mean
    nothing to a weighting design), so a method added to the registry needs no change here.
    """
    m = matching
    wanted = {
        "ratio": m.ratio,
        "replace": m.replace,
        "caliper": m.caliper,
        "std_caliper": m.std_caliper,
        "caliper_sd": m.caliper_sd,
        "exact": m.exact,
        "covariates": m.covariates,
        "random_state": seed,
    }
    accepted = matcher_parameters(m.method)
    return {k: v for k, v in wanted.items() if k in accepted}


def match_cohort(
    treated: pd.DataFrame,
    pool: pd.DataFrame,
    matching: MatchingSpec,
    seed: int,
    propensity: np.ndarray | None = None,
) -> tuple[pd.DataFrame, MatchResult]:
    """Match the cohort's index events to candidate controls as the request's matching settings say.

    Returns the frame given to the matcher (treated rows first, then the pool) and the match result.
    ``propensity`` (aligned with that frame) skips the model fit, for designs sharing one score.
    """
    frame = pd.concat([treated, pool], ignore_index=True)
    treat = np.r_[np.ones(len(treated), dtype=int), np.zeros(len(pool), dtype=int)]
    matcher = get_matcher(matching.method, **matcher_arguments(matching, seed))
    return frame, matcher.fit(frame, treat, propensity=propensity).result_


@dataclass(frozen=True)
class PreparedRequest:
    """A request's people up to matching: the upload read, linked, and given index events and a pool.

    Person-level throughout (it lives in memory and the run's private workspace, never on disk
    elsewhere); ``attrition`` runs from submission to the people with an eligible index event.
    """

    spec: RequestSpec
    upload_path: Path
    upload_people: pd.DataFrame
    linkage: LinkageResult
    attrition: Attrition
    treated: pd.DataFrame
    pool: pd.DataFrame
    intake_note: str = ""
    #: Index events (in the setting) of the review band's candidates, for the linkage-error check.
    review_treated: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass(frozen=True)
class Design:
    """One matching design applied to a prepared request: the matched sample, its attrition and balance."""

    matching: MatchingSpec
    frame: pd.DataFrame
    match: MatchResult
    attrition: Attrition
    balance: BalanceResult
    #: Requested covariates left out because they carry no information here, with the reason.
    unused_covariates: dict[str, str] = field(default_factory=dict)


def prepare_request(
    spec: RequestSpec,
    store: NationalStore,
    upload_path: Path,
    step: Callable[[str], None] = lambda _: None,
    *,
    max_dropped_share: float = MAX_DROPPED_SHARE,
) -> PreparedRequest:
    """Validate the upload, link it, find index events in the request's setting and build the pool.

    Stages follow the JDL method (``../shared/reference/jdl_methodology.md``). Linked and duplicate
    people, and the candidates of rows in the review band (possibly cohort members), are kept out of the
    candidate pool. Raises an ``IntakeError`` when validation drops more
    than ``max_dropped_share`` of the rows (see :func:`~jdl_lib.intake.read_upload`), and a
    ``DisclosureError`` when fewer people than the minimum group have an eligible index event.
    """
    prov = store.provenance
    intake = read_upload(
        upload_path,
        coverage_start=prov.coverage_start,
        coverage_end=prov.coverage_end,
        min_people=spec.disclosure.min_group,
        max_dropped_share=max_dropped_share,
    )
    intake_note = f"Intake kept {intake.n_valid} of {intake.n_submitted} rows. {intake.drop_summary()}"
    log.info("%s", intake_note)
    step(STAGES[0])

    linkage = link_cohort(intake.people, store, LinkageSettings(seed=spec.seed))
    step(STAGES[1])

    linked = linkage.links.merge(intake.people, on="upload_row", how="left")
    events = find_index_events(linked, store)
    attrition = add_index_events(add_linkage(from_intake(intake), linkage), events)
    in_setting = events.events[
        events.events["upload_row"].isin(linked.loc[linked["setting"] == spec.setting, "upload_row"])
    ]
    attrition = attrition.then(
        "setting",
        f"Index event in {spec.setting}",
        {"the intervention was in another setting": len(events.events) - len(in_setting)},
    )
    treated = with_programme_columns(
        index_event_features(store, disposal_ids=in_setting["disposal_id"].tolist()),
        in_setting,
        intake.people,
    )
    try:
        check_minimum_group(
            len(treated), spec.disclosure.min_group, stage="people with an eligible index event"
        )
    except DisclosureError as exc:  # say where the people went, not only that there are too few
        explanation = explain_shortfall(attrition, store.identifier_form_problems())
        raise DisclosureError(f"{exc}\n{explanation}") from None
    step(STAGES[2])

    review_treated = review_band_events(linkage, intake.people, store, spec.setting)
    excluded = [linkage.links["person_id"], linkage.duplicates["person_id"], linkage.review["person_id"]]
    pool = candidate_pool(
        store,
        spec.setting,
        treated["index_date"].min(),
        treated["index_date"].max(),
        exclude_person_ids=pd.concat(excluded).dropna().astype("int64").tolist(),
    )
    return PreparedRequest(
        spec, Path(upload_path), intake.people, linkage, attrition, treated, pool, intake_note, review_treated
    )


def review_band_events(
    linkage: LinkageResult, upload_people: pd.DataFrame, store: NationalStore, setting: str
) -> pd.DataFrame:
    """Eligible index events in ``setting`` of the review band, as if each row had linked to its candidate.

    Rows whose candidate is unknown (an exact tie) or already linked from another row are left out.
    """
    rows = linkage.review.dropna(subset=["person_id"]).astype({"person_id": "int64"})
    rows = rows[~rows["person_id"].isin(linkage.links["person_id"])].drop_duplicates("person_id")
    rows = rows[["upload_row", "person_id"]].merge(upload_people, on="upload_row")
    rows = rows[rows["setting"] == setting]
    if rows.empty:
        return index_event_features(store, disposal_ids=[])
    events = find_index_events(rows, store).events
    return index_event_features(store, disposal_ids=events["disposal_id"].tolist())


#: Match probability at or above which a link counts as high-confidence in the linkage-error check.
HIGH_CONFIDENCE = 0.99


def request_min_difference(spec: RequestSpec) -> int:
    """Smallest number of people by which two published groups of this request may differ (if not equal).

    Why: one rule for the differencing guard (which compares the report with every released one) and for
    the parts of the report itself (robustness variants), so nothing the guard would refuse is published.
    """
    return max(DEFAULT_MIN_DIFFERENCE, spec.disclosure.cell_threshold)


def analysed_treated_ids(match: MatchResult) -> np.ndarray:
    """National person ids of the treated people a match analyses (the group its result describes)."""
    matched = match.matched
    return matched.loc[matched["treat"] == 1, "person_id"].to_numpy()


#: How the differencing guard labels the linkage-error variants among a report's published parts.
LINKAGE_PART_LABELS = {
    "linkage_high_confidence": "Linkage check: high-confidence links only",
    "linkage_review_band": "Linkage check: review band included",
}


def linkage_error_checks(
    prepared: PreparedRequest,
    design: Design,
    *,
    published: dict[str, np.ndarray] | None = None,
    **se: Any,
) -> tuple[dict[str, Any], list[Estimate], dict[str, np.ndarray]]:
    """Re-run the headline rate with only high-confidence links, and with the review band included.

    Every link is a judgement; this shows whether those judgements could change the conclusion (issue
    16). The first variant keeps only treated people linked with probability of at least
    :data:`HIGH_CONFIDENCE` (deterministic links count as 1); the second adds the review band's people
    at their candidate (:func:`review_band_events`). Each variant is matched and estimated exactly as
    the headline design.

    Disclosure: a variant is a published group result, so it is shown only when its analysed treated
    group is the headline's or differs by at least :func:`request_min_difference` people from the
    headline group and from every other part of the report in ``published`` (label -> person ids, e.g.
    subgroup levels); otherwise the difference of the two results would reveal those people's
    reoffending. Nor is one shown that matches fewer than the minimum group. A withheld variant keeps
    its reason.

    Returns
    -------
    tuple
        The ``linkage_error`` section of results.json, the shown variants' rate estimates (methods
        ``linkage_high_confidence`` and ``linkage_review_band``) for the robustness table, and the shown
        variants' analysed person ids (labels of :data:`LINKAGE_PART_LABELS`) for the differencing guard.
    """
    spec, treated = prepared.spec, prepared.treated
    threshold = spec.disclosure.cell_threshold
    min_difference = request_min_difference(spec)
    compared = {"": analysed_treated_ids(design.match), **(published or {})}
    probability = prepared.linkage.links.set_index("person_id")["match_probability"]
    confident = probability.reindex(treated["person_id"]).fillna(0).to_numpy() >= HIGH_CONFIDENCE
    headline = estimate_effects(design.match, ["rate"], method=spec.comparison, alpha=ALPHA, **se)["rate"]
    variants = {
        "linkage_high_confidence": (treated[confident], int((~confident).sum())),
        "linkage_review_band": (
            pd.concat([treated, prepared.review_treated], ignore_index=True),
            len(prepared.review_treated),
        ),
    }
    checks, estimates, parts = [], [], {}
    for key, (cohort, changed) in variants.items():
        entry: dict[str, Any] = {"check": key, "people_changed": changed if changed >= threshold else None}
        entry |= {"estimate": None, "ci_low": None, "ci_high": None, "changes_conclusion": None}
        if changed == 0:
            entry |= {"people_changed": 0, "note": "no one changes, so the estimate is the headline one"}
            checks.append(entry)
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", JdlWarning)  # announced once, by the headline design
                fresh = Attrition.start(len(cohort), "People with an eligible index event")
                variant = design_request(replace(prepared, treated=cohort, attrition=fresh), design.matching)
        except DisclosureError:
            entry["note"] = "fewer people than the minimum group would be matched; not computed"
            checks.append(entry)
            continue
        ids = analysed_treated_ids(variant.match)
        close = close_groups(ids, compared, min_difference)
        if close:
            which = "the headline group" if "" in close else "another group in this report"
            entry["note"] = (
                f"its treatment group differs from {which} by fewer than {min_difference} people; "
                "not shown (disclosure control)"
            )
            checks.append(entry)
            continue
        rate = estimate_effects(variant.match, ["rate"], method=spec.comparison, alpha=ALPHA, **se)
        est = replace(rate["rate"], method=key)
        estimates.append(est)
        parts[LINKAGE_PART_LABELS[key]] = ids
        compared[LINKAGE_PART_LABELS[key]] = ids
        same = (est.significant, np.sign(est.difference)) == (
            headline.significant,
            np.sign(headline.difference),
        )
        entry |= {"estimate": float(est.difference), "ci_low": float(est.ci_low)}
        entry |= {"ci_high": float(est.ci_high), "changes_conclusion": not same}
        entry["note"] = f"{est.n_treated:,} people in the treatment group"
        checks.append(entry)
    return {"high_confidence_threshold": HIGH_CONFIDENCE, "checks": checks}, estimates, parts


def with_programme_columns(treated: pd.DataFrame, events: pd.DataFrame, people: pd.DataFrame) -> pd.DataFrame:
    """The treated index events with the upload's optional programme columns (completed, sessions...).

    They travel on treated rows only (controls have none) and define the organisation's own subgroups.
    """
    programme = (
        events[["disposal_id", "upload_row"]]
        .drop_duplicates("disposal_id")
        .merge(people[["upload_row", *PROGRAMME_COLUMNS]], on="upload_row", how="left")
        .drop(columns="upload_row")
    )
    return treated.merge(programme, on="disposal_id", how="left", validate="one_to_one")


def design_request(
    prepared: PreparedRequest,
    matching: MatchingSpec,
    propensity: np.ndarray | None = None,
    step: Callable[[str], None] = lambda _: None,
) -> Design:
    """Match a prepared request with ``matching`` and check balance (treated-SD convention).

    Covariates that carry no information here (not supplied in the extract, or one value for everyone)
    are left out of the model and the balance table, and recorded in ``unused_covariates`` for the annex.
    Raises a ``DisclosureError`` when fewer people than the minimum group are matched.
    """
    spec = prepared.spec
    covariates, unused = informative_covariates(prepared.treated, prepared.pool, matching.covariates)
    matching = replace(matching, covariates=covariates)
    frame, match = match_cohort(prepared.treated, prepared.pool, matching, spec.seed, propensity)
    attrition = prepared.attrition.then(
        "matched",
        "Matched to similar people",
        {
            "no candidate control in the same exact-matching group": match.n_dropped_no_stratum_control,
            "no similar person within the caliper": match.n_dropped_caliper,
        },
        count=match.n_treated_matched,
    )
    check_minimum_group(match.n_treated_matched, spec.disclosure.min_group, stage="matched treatment group")
    step(STAGES[3])
    balance = assess_balance(frame, match, matching.covariates, sd="treated")
    step(STAGES[4])
    return Design(matching, frame, match, attrition, balance, unused)


def design_sections(design: Design, threshold: int) -> dict[str, Any]:
    """The disclosure-safe aggregates of a design, as results.json holds them (no outcomes)."""
    profile, profile_hidden = assemble.profile_section(design.match, threshold)
    attrition_out, attrition_hidden = assemble.attrition_section(
        design.attrition, control_records=design.match.n_controls_used, threshold=threshold
    )
    return {
        "attrition": attrition_out,
        "profile": profile,
        "balance": assemble.balance_section(design.balance),
        "overlap": assemble.overlap_section(design.match, threshold),
        "suppressed": profile_hidden + attrition_hidden,
    }


def _index_years(match: MatchResult) -> dict[str, int]:
    """First and last year of the analysed people's index events (years only: the cohort's period)."""
    years = pd.to_datetime(match.matched.loc[match.matched["treat"] == 1, "index_date"]).dt.year
    return {"first": int(years.min()), "last": int(years.max())}


def published_subgroups(design: Design, subgroups: SubgroupAnalysis) -> dict[str, np.ndarray]:
    """The national person ids of every published subgroup level, labelled "variable: level".

    Why: a subgroup's result is a published group result, so the differencing guard compares it with
    every other report's groups as it does the whole group (levels split the analysed treated people).
    """
    treated = design.frame.loc[design.match.pairs["treated"].unique()]
    parts = {}
    for variable in subgroups.variables:
        levels = subgroup_column(treated, variable.variable).to_numpy()
        for level in variable.levels:
            if level.reported:
                ids = treated.loc[levels == level.level, "person_id"].to_numpy()
                parts[f"{variable.label}: {level.level}"] = ids
    return parts


def subgroup_analysis(prepared: PreparedRequest, design: Design) -> SubgroupAnalysis:
    """The request's pre-specified subgroups, each national one matched within itself (exact on it)."""
    spec = prepared.spec
    names = spec.subgroups
    treated = add_subgroup_columns(prepared.treated, names)
    pool = add_subgroup_columns(prepared.pool, names)

    # The main design's scores, aligned with the matching frame (rows the matcher excluded stay unused).
    score = design.match.scores["propensity"].reindex(design.frame.index).to_numpy()

    def rematch(column: str) -> tuple[pd.DataFrame, MatchResult]:
        within = replace(design.matching, exact=(*design.matching.exact, column))
        return match_cohort(treated, pool, within, spec.seed, score)

    return analyse_subgroups(
        names,
        design.frame,
        design.match,
        rematch,
        measure="rate",
        method=spec.comparison,
        alpha=ALPHA,
        min_group=spec.disclosure.min_group,
        min_difference=request_min_difference(spec),
        standard_errors=spec.standard_errors,
        random_state=spec.seed,
    )


def analyse_design(prepared: PreparedRequest, design: Design, store_provenance: Any) -> Analysis:
    """Estimate the outcomes of a design and assemble the request's results (aggregates only).

    Besides the headline measures: the offence trajectory over the years around the index date (the
    store is opened read-only again for it, so an analyst's workbench that closed it can call this), and
    the pre-specified subgroups, if any.
    """
    spec = prepared.spec
    m = design.matching
    match = design.match
    effects = estimate_effects(
        match,
        measures=[assemble.ESTIMATOR_MEASURES[o] for o in spec.outcomes],
        method=spec.comparison,
        alpha=ALPHA,
        standard_errors=spec.standard_errors,
        random_state=spec.seed,
    )
    se = {"standard_errors": spec.standard_errors, "random_state": spec.seed}
    rate = (
        effects["rate"]
        if "reoffended_1y" in spec.outcomes
        else estimate_effects(match, ["rate"], **se)["rate"]
    )
    parts: dict[str, np.ndarray] = {}
    extra: dict[str, Any] = {}
    if spec.subgroups:
        subgroups = subgroup_analysis(prepared, design)
        extra["subgroups"] = subgroups_results(subgroups, spec.disclosure.cell_threshold)
        parts = published_subgroups(design, subgroups)
    linkage_error, linkage_variants, linkage_parts = linkage_error_checks(
        prepared, design, published=parts, **se
    )
    parts |= linkage_parts
    robust = [
        regression_adjusted_effect(match, m.covariates, "rate", alpha=ALPHA, **se),
        *alternative_design_effects(design.frame, match, m.covariates, alpha=ALPHA, random_state=spec.seed),
        *linkage_variants,
    ]
    se_used = resolve_se_method(match, spec.standard_errors)
    with NationalStore.open(spec.store) as store:
        trajectory = offence_trajectory(
            store,
            match,
            method=spec.comparison,
            alpha=ALPHA,
            standard_errors=spec.standard_errors,
            random_state=spec.seed,
        )
    extra = {"trajectory": trajectory_results(trajectory), **extra}

    prov = store_provenance
    threshold = spec.disclosure.cell_threshold
    sections = design_sections(design, threshold)
    results = {
        "schema_version": SCHEMA_VERSION,
        "request": {
            "request_id": spec.request_id,
            "organisation": spec.organisation,
            "setting": spec.setting,
            "intervention": {
                "name": spec.intervention.name,
                "description": spec.intervention.description,
                "who": spec.intervention.who,
                "where": spec.intervention.where,
                "when": spec.intervention.when,
                "service_type": spec.intervention.service_type,
                "summary": spec.intervention.summary,
            },
        },
        "run": {
            "run_id": _run_id(
                spec, hashlib.sha256(prepared.upload_path.read_bytes()).hexdigest(), prov.content_hash
            ),
            "code_version": __version__,
            "software": _software(),
            "seed": spec.seed,
        },
        "store": {
            "source": prov.source,
            "imported_at": prov.imported_at.isoformat(timespec="seconds"),
            "content_hash": prov.content_hash,
            "coverage_end": prov.coverage_end.isoformat(),
            "version": prov.schema_version,
        },
        "settings": {
            "matching": {
                "method": m.method,
                "ratio": m.ratio,
                "caliper": m.caliper,
                "std_caliper": m.std_caliper,
                "caliper_sd": m.caliper_sd,
                "replace": m.replace,
                "exact": list(m.exact),
                "covariates": list(m.covariates),
                "covariates_not_used": [
                    {"covariate": c, "reason": why} for c, why in design.unused_covariates.items()
                ],
                "propensity_model": "logistic regression",
                "estimand": "ATT",
            },
            "outcomes": list(spec.outcomes),
            "comparison": spec.comparison,
            "standard_errors": {
                "requested": spec.standard_errors,
                "used": se_used,
                "description": SE_METHODS[se_used],
            },
            "alpha": ALPHA,
            "disclosure": {"min_group": spec.disclosure.min_group, "cell_threshold": threshold},
        },
        "attrition": sections["attrition"],
        "profile": sections["profile"],
        "balance": sections["balance"],
        "overlap": sections["overlap"],
        "index_years": _index_years(match),
        **extra,
        "outcomes": assemble.outcome_rows(effects, spec.outcomes),
        "reporting": assemble.reporting_section(match, effects, spec.outcomes),
        "robustness": assemble.robustness_rows(robust),
        "linkage_error": linkage_error,
        "sensitivity": assemble.sensitivity_section(rate, match),
        "power": assemble.power_section(rate, ALPHA),
        "disclosure": {
            "suppressed": sections["suppressed"],
            "notes": [
                suppression_note(threshold),
                f"Every group analysed holds at least {spec.disclosure.min_group} people.",
            ],
        },
    }
    return Analysis(
        results=validate_results(assemble.withhold(results)),
        analysed_person_ids=analysed_treated_ids(match),
        upload_people=prepared.upload_people,
        counts={stage.key: stage.count for stage in design.attrition.stages},
        intake_note=prepared.intake_note,
        published_parts=parts,
    )


def analyse(
    spec: RequestSpec,
    store: NationalStore,
    upload_path: Path,
    step: Callable[[str], None] = lambda _: None,
    *,
    max_dropped_share: float = MAX_DROPPED_SHARE,
) -> Analysis:
    """Run the statistics of one request and return only aggregates (plus what the privacy checks need).

    Three stage functions, shared with the analyst's workbench (:mod:`jdl_lib.workbench`) so exploring a
    request and running it are one code path: :func:`prepare_request` (validate, link, index events,
    candidate pool), :func:`design_request` (match, check balance) and :func:`analyse_design` (outcomes
    and the results contract). The minimum group rule is checked before any outcome is computed, and
    again after matching.
    """
    prepared = prepare_request(spec, store, upload_path, step, max_dropped_share=max_dropped_share)
    design = design_request(prepared, spec.matching, step=step)
    analysis = analyse_design(prepared, design, store.provenance)
    step(STAGES[5])
    return analysis


def default_outputs(spec_path: str | Path, root: str | Path | None = None) -> Path:
    """The outputs folder a request's report is released to when none is given: ``<project>/outputs``.

    The project is ``root`` if given, else the nearest folder holding ``pyproject.toml`` at or above the
    parameter file (:func:`~jdl_lib.spec.project_root`), whatever the working directory; its lab
    (``<outputs>/.lab``) holds the differencing registry and the audit log (``jdl audit-verify`` looks
    there by the same rule).
    """
    project = Path(root).resolve() if root is not None else project_root(Path(spec_path).resolve().parent)
    return project / "outputs"


def run_request(
    spec_path: str | Path,
    *,
    outputs: str | Path | None = None,
    keep_upload: bool = False,
    progress: bool = True,
    root: str | Path | None = None,
    replace: bool = False,
    max_dropped_share: float = MAX_DROPPED_SHARE,
) -> RunOutcome:
    """Run one request from its parameter file and release its report to ``outputs/<request-id>/``.

    The person-level work happens in memory and in a private workspace (DuckDB spills there) that is
    deleted when the run ends, however it ends. Outputs are built in a staging folder, scanned for every
    identifier in the upload, and released (renamed into place with a COMPLETE marker) only if clean.
    The lab folder of ``outputs`` (``<outputs>/.lab``, whatever the working directory) holds the
    differencing registry, which every release is checked against and recorded in, and the append-only
    audit log, which records every run, refused ones included. A request already released is run again
    only with ``replace=True`` (``jdl run --replace``), still under the differencing guard.
    The submitted file is deleted once the report is released, as the lab promises charities
    (``keep_upload=True`` keeps it while an analyst is still working on a request); a refused or failed run
    keeps it so the request can be re-run. ``root`` is the folder every path in the parameter file must
    stay inside (default: the project holding the file); ``outputs`` defaults to its ``outputs/`` folder,
    so a run started from another working directory releases into, and is guarded by, the same lab.
    ``max_dropped_share`` is the largest share of upload rows validation may drop before the request is
    refused (raise it only once the losses are understood).

    Raises
    ------
    SpecError
        When the parameter file cannot be read or checked (nothing has run; nothing is audited).
    """
    started, clock = datetime.now(UTC), time.perf_counter()
    spec = load_spec(spec_path, root)
    if outputs is None:
        outputs = default_outputs(spec.source, root)
    try:
        lab = open_lab(outputs)
    except JdlError as exc:  # no lab to audit to: starting one here would reset the guard
        return RunOutcome(spec.request_id, "refused", f"{type(exc).__name__}: {exc}", None, 0.0)
    key = lab_secret(lab)
    step, close = _stage_progress(spec.request_id, progress)
    audit: dict[str, Any] = {
        "request_id": spec.request_id,
        "organisation": keyed_hash(key, "org:" + spec.organisation_id),
        "spec_hash": hashlib.sha256(Path(spec_path).read_bytes()).hexdigest(),
        "code_version": code_version(),
        "started": started.isoformat(timespec="seconds"),
        "released": False,
        "replaced": False,
    }
    guard: dict[str, Any] = {
        "directory": lab,
        "min_difference": request_min_difference(spec),
        "replace": replace,
    }
    analysis: Analysis | None = None
    status, message, out_dir = "failed", "", None
    try:
        earlier = check_request_id(spec.organisation_id, spec.request_id, directory=lab, replace=replace)
        audit["replaced"] = earlier > 0
        audit["upload_hash"] = keyed_file_hash(key, spec.upload)
        with NationalStore.open(spec.store) as store, RunWorkspace(spec.request_id) as workspace:
            audit["data_version"] = store.provenance.content_hash
            audit["swept"] = len(workspace.swept)
            store.connection.execute(f"SET temp_directory = '{workspace.path}'")
            analysis = analyse(spec, store, Path(spec.upload), step, max_dropped_share=max_dropped_share)
            ids = analysis.analysed_person_ids
            guard["parts"] = analysis.published_parts
            check_differencing(spec.organisation_id, spec.request_id, ids, **guard)
            with StagedOutputs(spec.request_id, outputs) as staged:
                context = sector_context(analysis.results, outputs)
                results = {**analysis.results, **({"sector_context": context} if context else {})}
                results_path = write_results(results, staged.path / "results.json")
                render_report(results_path, staged.path, report_date=date.today().strftime("%d %B %Y"))
                step(STAGES[6])
                assert_no_personal_data([staged.path], analysis.upload_people)
                # Checked again and recorded in one locked step, so parallel runs cannot pass each other.
                record_request(spec.organisation_id, spec.request_id, ids, **guard)
                try:
                    released = staged.release()
                except BaseException:
                    forget_request(spec.organisation_id, spec.request_id, directory=lab)
                    raise
            step(STAGES[7])
        audit["workspace_deleted"] = not workspace.path.exists()
        audit["deleted_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        audit["counts"] = analysis.counts
        audit["released"] = True
        if not keep_upload:
            Path(spec.upload).unlink(missing_ok=True)
        status, out_dir = "released", released.path
        message = f"report released to {released.path}. {analysis.intake_note}"
    except JdlError as exc:
        status = "refused" if isinstance(exc, DisclosureError | IntakeError) else "failed"
        message = f"{type(exc).__name__}: {exc}"
        audit["status"] = status
        audit["error"] = message[:500]
    except KeyboardInterrupt:
        audit["status"] = "interrupted"
        raise
    finally:
        close()
        audit.setdefault("status", "succeeded" if status == "released" else "failed")
        audit["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        _audit_run(audit, lab, analysis.upload_people if analysis is not None else None)
    return RunOutcome(spec.request_id, status, message, out_dir, time.perf_counter() - clock)


def _audit_run(audit: dict[str, Any], lab: Path, upload_people: pd.DataFrame | None) -> None:
    """Append the run's audit record; if its error message is refused by the log's filter, withhold the text.

    Why: a refusal must always reach the audit log, and the reason must still reach the user, even when a
    message happens to look like a date or an identifier to the log's personal-data filter.
    """
    try:
        append_audit_record("run", audit, directory=lab, upload_people=upload_people)
    except AuditLogError:
        if "error" not in audit:
            raise
        kind = str(audit["error"]).split(":", 1)[0]
        audit["error"] = f"{kind}: message withheld from the audit log by its personal-data filter"
        append_audit_record("run", audit, directory=lab, upload_people=upload_people)


def _batch_one(
    path: Path,
    outputs: str | Path | None,
    progress: bool,
    root: str | Path | None,
    max_dropped_share: float,
) -> tuple[RunOutcome, Path | None]:
    """Run one request of a batch, turning any failure into its outcome; return it and the upload used."""
    clock, upload = time.perf_counter(), None
    try:
        upload = Path(load_spec(path, root).upload).resolve()
        outcome = run_request(
            path,
            outputs=outputs,
            keep_upload=True,
            progress=progress,
            root=root,
            max_dropped_share=max_dropped_share,
        )
    except JdlError as exc:  # e.g. an invalid parameter file
        outcome = RunOutcome(path.stem, "failed", f"{type(exc).__name__}: {exc}", None, 0.0)
    except Exception as exc:  # a bug must not stop the other requests, nor print personal data
        log.debug("request %s failed", path.stem, exc_info=True)
        outcome = RunOutcome(
            path.stem,
            "failed",
            f"unexpected {type(exc).__name__} (a fault in jdl, not in the request; the audit log "
            "records the run, and `jdl run` on this file alone reproduces it)",
            None,
            time.perf_counter() - clock,
        )
    return outcome, upload


def run_batch(
    folder: str | Path,
    *,
    outputs: str | Path | None = None,
    keep_upload: bool = False,
    progress: bool = True,
    root: str | Path | None = None,
    max_dropped_share: float = MAX_DROPPED_SHARE,
    workers: int = 1,
) -> list[RunOutcome]:
    """Run every ``*.yaml`` request in ``folder`` and return every request's outcome, whatever fails.

    A request that fails (an invalid parameter file, a refusal, or an unexpected error in the code) is
    reported and the batch goes on; Ctrl-C stops it and the requests not yet run are reported as such.
    Uploads are deleted only after the whole batch, and only an upload whose every request was released:
    two requests may share one upload (e.g. custody and community analyses of one cohort), and a refused
    or failed request keeps its upload so it can be re-run. ``keep_upload=True`` keeps them all.

    ``workers > 1`` runs that many requests at once, each in a process of its own (a request's report
    rendering waits on its kernel and PDF engine, so two overlap well on two cores). The differencing
    registry and the audit log are updated under file locks, so parallel requests guard each other as
    sequential ones do. Outcomes are listed in file order either way.
    """
    paths = sorted(Path(folder).glob("*.y*ml"))
    results: dict[Path, tuple[RunOutcome, Path | None]] = {}
    args = (outputs, progress and workers == 1, root, max_dropped_share)
    running: list[Path] = []  # the requests under way when Ctrl-C came
    try:
        if workers > 1:
            # Fresh interpreters, not forks: DuckDB and the report kernel hold threads and sockets.
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                futures = {pool.submit(_batch_one, path, *args): path for path in paths}
                try:
                    for future in as_completed(futures):
                        results[futures[future]] = future.result()
                except KeyboardInterrupt:
                    running = [futures[f] for f in futures if f.running()]
                    for future in futures:
                        future.cancel()
                    raise
        else:
            for path in paths:
                running = [path]
                results[path] = _batch_one(path, *args)
    except KeyboardInterrupt:
        pass
    interrupted = len(results) < len(paths)
    outcomes: list[RunOutcome] = []
    uploads: dict[Path, list[str]] = {}  # each upload's statuses: deleted only if all "released"
    for path in paths:
        if path in results:
            outcome, upload = results[path]
            if upload is not None:
                uploads.setdefault(upload, []).append(outcome.status)
        elif path in running:
            outcome = RunOutcome(path.stem, "interrupted", "stopped by Ctrl-C", None, 0.0)
        else:
            outcome = RunOutcome(path.stem, "not run", "the batch was interrupted (Ctrl-C)", None, 0.0)
        outcomes.append(outcome)
    # After Ctrl-C every upload is kept: a request not run may still need one.
    if not keep_upload and not interrupted:
        for upload, statuses in uploads.items():
            if all(status == "released" for status in statuses):
                upload.unlink(missing_ok=True)
    return outcomes
