"""Request parameter files: read ``parameters/<request-id>.yaml`` once, check it all, return a RequestSpec.

No raw dict travels past this module. Every problem in a file is collected and raised as one
:class:`~jdl_lib.errors.SpecError` naming the file and the key path (``matching.caliper``), so an analyst
fixes a parameter file in one pass. Messages quote keys and types, never values, so nothing from a hostile or
mistaken file (which could hold personal data) is echoed back.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jdl_lib.errors import SpecError
from jdl_lib.matching.design import DEFAULT_COVARIATES
from jdl_lib.privacy.differencing import MAX_MIN_DIFFERENCE
from jdl_lib.privacy.disclosure import DEFAULT_THRESHOLD, MINIMUM_GROUP
from jdl_lib.standard_errors import SE_METHODS
from jdl_lib.subgroups import VARIABLES as SUBGROUP_VARIABLES
from jdl_lib.template import SETTINGS

#: Largest parameter file read, in bytes; a request file is a few hundred bytes.
MAX_SPEC_BYTES = 64_000
#: The four one-year proven reoffending measures (columns of the derived index-event frame).
OUTCOMES = ("reoffended_1y", "reoffences_1y", "days_to_first_reoffence", "first_reoffence_custody")
#: Matching methods known to the matching registry.
MATCHING_METHODS = ("nearest",)
#: Ways to test the treated-control difference: cluster-robust regression on the matched sample, or the
#: MoJ-style two-sample t-test.
COMPARISON_METHODS = ("cluster_robust", "moj_ttest")
#: Standard errors of the regression (jdl_lib.standard_errors); "auto": MatchIt's guidance for the design.
STANDARD_ERRORS = tuple(SE_METHODS)
#: SD a standardised caliper multiplies: pooled treated/control SD (Austin 2011) or all units (MatchIt).
CALIPER_SD = ("pooled", "all")
#: Covariates of the derived index-event frame that a propensity model may use: the JDL's matching
#: variables (demographics, criminal history, risk score, employment and benefits, assessed needs, the index
#: disposal and year), defined once in :mod:`jdl_lib.matching.design`.
COVARIATES = DEFAULT_COVARIATES
#: Variables that can be matched exactly (categorical columns, plus the matcher's two-year index band).
EXACT_VARIABLES = (
    "gender",
    "ethnicity",
    "region",
    "uk_national",
    "disposal_type",
    "index_offence_group",
    "index_year",
    "index_year_band",
)
DEFAULT_EXACT = ("gender", "index_year")
#: Controlled vocabulary of service types, so published reports of the same kind of service can be pooled
#: (``jdl publish``, the synthesis by service type, the sector context in each report).
SERVICE_TYPES = (
    "education",
    "employment",
    "mentoring",
    "housing",
    "family",
    "substance misuse",
    "faith",
    "arts",
    "other",
)
#: Subgroups a request may pre-specify (jdl_lib.subgroups): national characteristics, and the optional
#: columns of the upload (completed, delivery method, site, sessions attended).
SUBGROUPS = tuple(SUBGROUP_VARIABLES)
#: Longest public summary: one or two sentences shown in the published index.
MAX_SUMMARY = 300
#: Largest cell threshold a request may set: the differencing guard must refuse groups closer than this.
MAX_CELL_THRESHOLD = MAX_MIN_DIFFERENCE
_REQUEST_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Intervention:
    """What the organisation delivered: what it is, who it serves, where and when (free text).

    ``service_type`` (one of :data:`SERVICE_TYPES`) groups published reports for the synthesis by type;
    ``summary`` is the short public description shown in the published index (empty: the index shows the
    first sentence of ``description``).
    """

    name: str
    description: str
    who: str = ""
    where: str = ""
    when: str = ""
    service_type: str = "other"
    summary: str = ""


@dataclass(frozen=True)
class MatchingSpec:
    """Propensity-score matching settings, with MatchIt's argument names.

    Defaults: nearest-neighbour matching of 5 controls per treated person, with replacement, within a caliper
    of 0.2 standard deviations of the logit of the propensity score (Austin 2011), exact on gender and index
    year (chosen by the truth bench over the two-year band: docs/methods.md, "Exact strata"). Replacement is
    the default because the national pool is large but the best matches for a high-risk treated group are
    few; sampling them with replacement keeps bias low and its variance cost is handled by weights and
    two-way clustered standard errors. Five controls rather than one, like the JDL's "much larger" weighted
    comparison group: with one control each, chance alone leaves several binary characteristics of a group
    of a few hundred above the 0.1 balance threshold, and the control mean is noisier (measured in
    docs/benchmarks.md).
    """

    method: str = "nearest"
    ratio: int = 5
    caliper: float = 0.2
    std_caliper: bool = True
    caliper_sd: str = "pooled"
    replace: bool = True
    exact: tuple[str, ...] = DEFAULT_EXACT
    covariates: tuple[str, ...] = DEFAULT_COVARIATES


@dataclass(frozen=True)
class DisclosureSpec:
    """Disclosure control: least number of people analysed, and the smallest count shown in a table cell."""

    min_group: int = 60
    cell_threshold: int = 5


@dataclass(frozen=True)
class RequestSpec:
    """One checked request: who asked, about what, which people, and how to analyse them."""

    request_id: str
    organisation: str
    organisation_id: str
    intervention: Intervention
    upload: Path
    setting: str
    store: Path
    matching: MatchingSpec = field(default_factory=MatchingSpec)
    outcomes: tuple[str, ...] = OUTCOMES
    comparison: str = "cluster_robust"
    standard_errors: str = "auto"
    seed: int = 2013
    disclosure: DisclosureSpec = field(default_factory=DisclosureSpec)
    subgroups: tuple[str, ...] = ()
    source: Path | None = None


def _closest(key: str, valid: tuple[str, ...]) -> str:
    near = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    return f"did you mean '{near[0]}'?" if near else f"valid keys: {', '.join(valid)}"


def _safe_key(key: object) -> str:
    """A key as it may appear in a message: short identifiers only, never arbitrary content."""
    text = str(key)
    return text if re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", text) else "<unprintable key>"


class _Checker:
    """Collects problems while reading one mapping level; keys are named by their dotted path."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def mapping(self, value: object, path: str, keys: tuple[str, ...], required: tuple[str, ...]) -> dict:
        if not isinstance(value, Mapping):
            self.problems.append(
                f"{path or 'the file'}: expected a mapping of keys, got {type(value).__name__}"
            )
            return {}
        for key in value:
            if not isinstance(key, str) or key not in keys:
                where = f"{path}.{_safe_key(key)}" if path else _safe_key(key)
                self.problems.append(f"{where}: unknown key; {_closest(str(key), keys)}")
        for key in required:
            if key not in value:
                self.problems.append(f"{path + '.' if path else ''}{key}: required key is missing")
        return {k: v for k, v in value.items() if isinstance(k, str) and k in keys}

    def typed(self, value: object, path: str, kind: type | tuple[type, ...], what: str) -> Any:
        # bool is an int in Python; a YAML `true` must not pass as a number.
        ok = isinstance(value, kind) and not (isinstance(value, bool) and bool not in _as_tuple(kind))
        if not ok:
            self.problems.append(f"{path}: expected {what}, got {type(value).__name__}")
            return None
        return value

    def text(self, value: object, path: str, max_len: int = 4000) -> str | None:
        value = self.typed(value, path, str, "text")
        if value is not None and not value.strip():
            self.problems.append(f"{path}: must not be empty")
            return None
        if value is not None and len(value) > max_len:
            self.problems.append(f"{path}: longer than {max_len} characters; shorten it")
            return None
        return value

    def choice(self, value: object, path: str, valid: tuple[str, ...]) -> str | None:
        value = self.typed(value, path, str, f"one of {', '.join(valid)}")
        if value is not None and value not in valid:
            self.problems.append(
                f"{path}: not a known value; {_closest(value, valid).replace('keys', 'values')}"
            )
            return None
        return value

    def names(
        self, value: object, path: str, valid: tuple[str, ...], allow_empty: bool
    ) -> tuple[str, ...] | None:
        items = self.typed(value, path, list, "a list of names")
        if items is None:
            return None
        if not items and not allow_empty:
            self.problems.append(f"{path}: list must not be empty")
            return None
        good = [self.choice(v, f"{path}[{i}]", valid) for i, v in enumerate(items)]
        if None in good:
            return None
        if len(set(good)) != len(good):
            self.problems.append(f"{path}: names must not repeat")
            return None
        return tuple(good)

    def number(self, value: object, path: str, kind: type, low: float, high: float | None = None) -> Any:
        kinds = (int, float) if kind is float else (int,)
        value = self.typed(value, path, kinds, "a whole number" if kind is int else "a number")
        if value is None:
            return None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            self.problems.append(f"{path}: must be {bound}")
            return None
        return kind(value)


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def project_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` holding ``pyproject.toml``, else ``start`` itself.

    Paths in a parameter file must stay inside this folder, so a request cannot read arbitrary files.
    """
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return start


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key repeated in one mapping (PyYAML keeps the last silently).

    A repeated key is almost always an edit that left the old value behind; which one was meant is
    unknowable, so the file is refused naming both lines.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[tuple[str, str], yaml.Mark] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key '{_safe_key(key_node.value)}' repeats the key on line {seen[key].line + 1}; "
                    "keep one of them",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> object:
    """Read a parameter file safely; anything unreadable (or a repeated key) becomes one SpecError."""
    if not path.is_file():
        raise SpecError(f"{path}: parameter file not found; pass the path of a .yaml file in parameters/")
    size = path.stat().st_size
    if size > MAX_SPEC_BYTES:
        raise SpecError(f"{path}: {size} bytes is too large for a parameter file (limit {MAX_SPEC_BYTES})")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8 YAML") from None
    if "\x00" in text:
        raise SpecError(f"{path}: contains NUL bytes; this is not a text parameter file")
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"{path}: invalid YAML{where} ({exc.problem}); fix the syntax") from None
    except (yaml.YAMLError, RecursionError, MemoryError):
        raise SpecError(
            f"{path}: invalid or too deeply nested YAML; use the layout of parameters/demo.yaml"
        ) from None


#: Environment variable naming folders outside the project where data may live, separated by
#: ``os.pathsep`` (e.g. ``/mnt/data`` for a multi-GB national store on another volume). It is set by the
#: lab, never by a parameter file, so a request still cannot read arbitrary files.
DATA_ROOTS_ENV = "JDL_DATA_ROOTS"


def data_roots() -> tuple[Path, ...]:
    """The folders outside the project that the lab has configured for data (:data:`DATA_ROOTS_ENV`)."""
    raw = os.environ.get(DATA_ROOTS_ENV, "")
    return tuple(Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip())


def _path(
    check: _Checker, value: object, key: str, base: Path, root: Path, must_exist: bool, fix: str
) -> Path | None:
    """Resolve a path relative to the parameter file; refuse non-files and escapes from ``root`` and the
    configured data roots (symlinks are followed, so a link to another volume needs its folder listed)."""
    text = check.text(value, key, max_len=1000)
    if text is None:
        return None
    resolved = (base / Path(text).expanduser()).resolve()
    if not any(resolved.is_relative_to(folder) for folder in (root, *data_roots())):
        check.problems.append(
            f"{key}: path leaves the project folder {root}; keep files inside it, or list the folder "
            f"holding them in {DATA_ROOTS_ENV} (e.g. a national store on another volume)"
        )
        return None
    if resolved.exists() and not resolved.is_file():
        check.problems.append(f"{key}: {resolved} is not a file")
        return None
    if must_exist and not resolved.exists():
        check.problems.append(f"{key}: file {resolved} does not exist; {fix}")
        return None
    return resolved


_TOP = (
    "request_id",
    "organisation",
    "organisation_id",
    "intervention",
    "upload",
    "setting",
    "store",
    "matching",
    "outcomes",
    "comparison",
    "standard_errors",
    "seed",
    "disclosure",
    "subgroups",
)
_MATCHING = ("method", "ratio", "caliper", "std_caliper", "caliper_sd", "replace", "exact", "covariates")


def _read_matching(check: _Checker, raw: object) -> MatchingSpec | None:
    m = check.mapping(raw, "matching", _MATCHING, ())
    default = MatchingSpec()
    rules: dict[str, Callable[[object, str], Any]] = {
        "method": lambda v, p: check.choice(v, p, MATCHING_METHODS),
        "ratio": lambda v, p: check.number(v, p, int, 1, 10),
        "caliper": lambda v, p: check.number(v, p, float, 0.0001, 5),
        "std_caliper": lambda v, p: check.typed(v, p, bool, "true or false"),
        "caliper_sd": lambda v, p: check.choice(v, p, CALIPER_SD),
        "replace": lambda v, p: check.typed(v, p, bool, "true or false"),
        "exact": lambda v, p: check.names(v, p, EXACT_VARIABLES, allow_empty=True),
        "covariates": lambda v, p: check.names(v, p, COVARIATES, allow_empty=False),
    }
    values = {k: rules[k](m[k], f"matching.{k}") for k in m}
    if any(v is None for v in values.values()):
        return None
    return MatchingSpec(**{k: values.get(k, getattr(default, k)) for k in _MATCHING})


def load_spec(path: str | Path, root: str | Path | None = None) -> RequestSpec:
    """Read and check a request parameter file.

    Parameters
    ----------
    path
        The YAML file, e.g. ``parameters/demo.yaml``.
    root
        Folder that every path in the file must stay inside; default: the project folder above the file
        (the nearest one holding ``pyproject.toml``), else the file's own folder.

    Returns
    -------
    RequestSpec
        Paths resolved (relative paths are relative to the parameter file), defaults filled in.

    Raises
    ------
    SpecError
        Listing every problem found, each with its key path and how to fix it.
    """
    path = Path(path).resolve()
    raw = _read_yaml(path)
    base = path.parent
    root_dir = Path(root).resolve() if root is not None else project_root(base)
    check = _Checker()
    top = check.mapping(
        raw, "", _TOP, ("request_id", "organisation", "organisation_id", "intervention", "upload", "setting")
    )

    request_id = check.text(top["request_id"], "request_id") if "request_id" in top else None
    if request_id is not None and not _REQUEST_ID.match(request_id):
        check.problems.append(
            "request_id: use 1-64 lower-case letters, digits, '-' or '_' (it names the output folder)"
        )
        request_id = None
    organisation = check.text(top["organisation"], "organisation", 200) if "organisation" in top else None
    # The name is free text for the report; the lab's registry knows the organisation by a stable id.
    organisation_id = (
        check.text(top["organisation_id"], "organisation_id", 64) if "organisation_id" in top else None
    )
    if organisation_id is not None and not _REQUEST_ID.match(organisation_id):
        check.problems.append(
            "organisation_id: use the organisation's stable id from the lab's list (1-64 lower-case letters, "
            "digits, '-' or '_'), the same for every request it sends"
        )
        organisation_id = None

    intervention = None
    if "intervention" in top:
        iv = check.mapping(
            top["intervention"],
            "intervention",
            ("name", "description", "who", "where", "when", "service_type", "summary"),
            ("name", "description"),
        )
        rules: dict[str, Callable[[object, str], Any]] = {
            "service_type": lambda v, p: check.choice(v, p, SERVICE_TYPES),
            "summary": lambda v, p: check.text(v, p, MAX_SUMMARY),
        }
        texts = {k: rules.get(k, check.text)(v, f"intervention.{k}") for k, v in iv.items()}
        if {"name", "description"} <= texts.keys() and None not in texts.values():
            intervention = Intervention(**texts)

    upload = (
        _path(
            check,
            top["upload"],
            "upload",
            base,
            root_dir,
            True,
            "fix the path, or create the upload (for the demo: `jdl synth-cohort`). An upload is deleted "
            "once its report is released: a released request's report is in outputs/<request-id>/, and "
            "`jdl run --keep-upload` keeps the upload for another run",
        )
        if "upload" in top
        else None
    )
    store = _path(
        check,
        top.get("store", str(root_dir / "data" / "national.duckdb")),
        "store",
        base,
        root_dir,
        True,
        "build it with `jdl synth` or fix the path",
    )
    setting = check.choice(top["setting"], "setting", SETTINGS) if "setting" in top else None
    matching = _read_matching(check, top["matching"]) if "matching" in top else MatchingSpec()
    outcomes = check.names(top["outcomes"], "outcomes", OUTCOMES, False) if "outcomes" in top else OUTCOMES
    comparison = (
        check.choice(top["comparison"], "comparison", COMPARISON_METHODS)
        if "comparison" in top
        else "cluster_robust"
    )
    standard_errors = (
        check.choice(top["standard_errors"], "standard_errors", STANDARD_ERRORS)
        if "standard_errors" in top
        else "auto"
    )
    seed = check.number(top["seed"], "seed", int, 0, 2**32 - 1) if "seed" in top else 2013
    # Pre-specified subgroups (jdl_lib.subgroups): named before any outcome is seen, never added after.
    subgroups = check.names(top["subgroups"], "subgroups", SUBGROUPS, True) if "subgroups" in top else ()

    disclosure = DisclosureSpec()
    if "disclosure" in top:
        d = check.mapping(top["disclosure"], "disclosure", ("min_group", "cell_threshold"), ())
        # Both rules can be raised, never lowered: at least the JDL's 60 people, and counts below 5 hidden.
        # The cell threshold stops at the largest difference the differencing guard can check.
        bounds = {
            "min_group": (MINIMUM_GROUP, 100_000),
            "cell_threshold": (DEFAULT_THRESHOLD, MAX_CELL_THRESHOLD),
        }
        dv = {k: check.number(v, f"disclosure.{k}", int, *bounds[k]) for k, v in d.items()}
        disclosure = DisclosureSpec(**dv) if None not in dv.values() else None

    if check.problems:
        listing = "\n".join(f"  - {p}" for p in check.problems)
        raise SpecError(f"{path}: {len(check.problems)} problem(s) in the parameter file:\n{listing}")
    return RequestSpec(
        request_id=request_id,
        organisation=organisation,
        organisation_id=organisation_id,
        intervention=intervention,
        upload=upload,
        setting=setting,
        store=store,
        matching=matching,
        outcomes=outcomes,
        comparison=comparison,
        standard_errors=standard_errors,
        seed=seed,
        disclosure=disclosure,
        subgroups=subgroups,
        source=path,
    )
