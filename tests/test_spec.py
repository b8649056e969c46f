"""Request parameter files: defaults, every kind of invalid file, path safety, hostile YAML."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jdl_lib.errors import SpecError
from jdl_lib.spec import DEFAULT_COVARIATES, OUTCOMES, MatchingSpec, RequestSpec, load_spec

MINIMAL = {
    "request_id": "req-1",
    "organisation": "Example Trust",
    "organisation_id": "example-trust",
    "intervention": {"name": "mentoring", "description": "weekly mentoring after release"},
    "upload": "upload.csv",
    "setting": "custody",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with an upload, a store and a parameters/ folder."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    (tmp_path / "parameters").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "national.duckdb").write_bytes(b"")
    (tmp_path / "parameters" / "upload.csv").write_text("forename\n")
    return tmp_path


def write(project: Path, content: dict | str | bytes, name: str = "req.yaml") -> Path:
    path = project / "parameters" / name
    if isinstance(content, dict):
        path.write_text(yaml.safe_dump(content))
    elif isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    return path


def problems(path: Path) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return str(info.value)


def test_minimal_file_gets_documented_defaults(project: Path) -> None:
    spec = load_spec(write(project, MINIMAL))
    assert isinstance(spec, RequestSpec)
    assert spec.upload == (project / "parameters" / "upload.csv").resolve()
    assert spec.store == (project / "data" / "national.duckdb").resolve()
    assert spec.matching == MatchingSpec()
    assert (spec.matching.method, spec.matching.ratio, spec.matching.caliper, spec.matching.replace) == (
        "nearest",
        5,
        0.2,
        True,
    )
    assert spec.matching.exact == ("gender", "index_year")
    assert spec.matching.covariates == DEFAULT_COVARIATES
    assert spec.outcomes == OUTCOMES
    assert spec.comparison == "cluster_robust"
    assert (spec.standard_errors, spec.matching.caliper_sd) == ("auto", "pooled")
    assert (spec.disclosure.min_group, spec.disclosure.cell_threshold) == (60, 5)
    with pytest.raises(AttributeError):
        spec.seed = 1  # frozen


def test_demo_parameters_are_valid(tmp_path: Path) -> None:
    demo = Path(__file__).parents[1] / "parameters" / "demo.yaml"
    (tmp_path / "parameters").mkdir()
    (tmp_path / "outputs" / "demo-cohort").mkdir(parents=True)
    (tmp_path / "data").mkdir()
    (tmp_path / "outputs" / "demo-cohort" / "upload.csv").write_text("x\n")
    (tmp_path / "data" / "national.duckdb").write_bytes(b"")
    copy = tmp_path / "parameters" / "demo.yaml"
    copy.write_text(demo.read_text())
    spec = load_spec(copy, root=tmp_path)
    assert spec.request_id == "demo" and spec.setting == "custody"
    assert spec.intervention.name.startswith("the Bridgeway")


def test_unknown_keys_suggest_the_nearest_valid_key(project: Path) -> None:
    text = problems(write(project, {**MINIMAL, "organisaton": "x", "matching": {"calipr": 0.1}}))
    assert "organisaton: unknown key; did you mean 'organisation'?" in text
    assert "matching.calipr: unknown key; did you mean 'caliper'?" in text
    assert "req.yaml" in text


def test_standard_errors_and_caliper_sd_are_settable(project: Path) -> None:
    spec = load_spec(write(project, {**MINIMAL, "standard_errors": "hc3", "matching": {"caliper_sd": "all"}}))
    assert (spec.standard_errors, spec.matching.caliper_sd) == ("hc3", "all")
    text = problems(
        write(project, {**MINIMAL, "standard_errors": "two-way", "matching": {"caliper_sd": "x"}})
    )
    assert "standard_errors: not a known value; did you mean 'two_way'?" in text
    assert "matching.caliper_sd: not a known value" in text


def test_every_problem_is_collected_into_one_error(project: Path) -> None:
    bad = {
        **MINIMAL,
        "setting": "custdy",
        "seed": "twelve",
        "matching": {"ratio": 0, "replace": "yes", "covariates": ["age_at_index", "shoe_size"], "exact": []},
        "outcomes": [],
        "disclosure": {"min_group": True},
    }
    bad.pop("organisation")
    text = problems(write(project, bad))
    for fragment in (
        "organisation: required key is missing",
        "setting: not a known value; did you mean 'custody'?",
        "seed: expected a whole number, got str",
        "matching.ratio: must be between 1 and 10",
        "matching.replace: expected true or false, got str",
        "matching.covariates[1]: not a known value",
        "outcomes: list must not be empty",
        "disclosure.min_group: expected a whole number, got bool",
    ):
        assert fragment in text
    assert "8 problem(s)" in text


def test_missing_upload_says_how_to_fix(project: Path) -> None:
    text = problems(write(project, {**MINIMAL, "upload": "nope.csv"}))
    assert "upload: file" in text and "does not exist" in text


@pytest.mark.parametrize("target", ["../../outside.csv", "/etc/passwd", "~/x.csv"])
def test_paths_may_not_leave_the_project(project: Path, target: str) -> None:
    assert "upload: path leaves the project folder" in problems(write(project, {**MINIMAL, "upload": target}))


def test_directory_is_not_a_file(project: Path) -> None:
    assert "is not a file" in problems(write(project, {**MINIMAL, "store": "../data"}))


def test_repeated_names_and_bad_request_id(project: Path) -> None:
    text = problems(write(project, {**MINIMAL, "request_id": "../Bad Id", "outcomes": ["reoffended_1y"] * 2}))
    assert "request_id: use 1-64 lower-case" in text and "outcomes: names must not repeat" in text


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe\x00binary",
        b"request_id: [unclosed",
        "[" * 5000 + "]" * 5000,
        "- just\n- a list\n",
        "",
        "x: !!python/object/apply:os.system ['true']\n",
        "a: &a [1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n",
        "request_id: 12\norganisation: {name: [1, 2]}\nintervention: 3\nupload: [a]\nsetting: null\n",
        "? [a, b]\n: 1\n",
    ],
)
def test_hostile_yaml_is_a_spec_error_not_a_traceback(project: Path, content: str | bytes) -> None:
    path = write(project, content)
    with pytest.raises(SpecError):
        load_spec(path)


def test_huge_file_is_refused_before_parsing(project: Path) -> None:
    assert "too large" in problems(write(project, "a: " + "x" * 100_000))


def test_messages_never_echo_values(project: Path) -> None:
    secret = "JOHN SMITH 1980-01-01"
    text = problems(write(project, {**MINIMAL, "setting": secret, secret: 1, "seed": secret}))
    assert secret not in text


def test_minimum_group_cannot_be_lowered_below_60(project: Path) -> None:
    text = problems(write(project, {**MINIMAL, "disclosure": {"min_group": 10}}))
    assert "disclosure.min_group" in text and "60" in text
    assert (
        load_spec(write(project, {**MINIMAL, "disclosure": {"min_group": 100}})).disclosure.min_group == 100
    )


_yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    extra=st.dictionaries(
        st.sampled_from([*MINIMAL, "matching", "disclosure", "outcomes", "x"]), _yaml_values
    ),
    raw=st.binary(max_size=200),
)
def test_random_parameter_files_give_a_spec_or_a_clear_error(project: Path, extra: dict, raw: bytes) -> None:
    """Property: any mapping or bytes either loads or raises SpecError, never another kind of error."""
    for content in ({**MINIMAL, **extra}, raw):
        try:
            load_spec(write(project, content))
        except SpecError as err:
            assert str(err)


def test_service_type_and_public_summary_are_validated(project: Path) -> None:
    good = {**MINIMAL, "intervention": {**MINIMAL["intervention"], "service_type": "substance misuse"}}
    good["intervention"]["summary"] = "Weekly mentoring for a year after release."
    spec = load_spec(write(project, good))
    assert spec.intervention.service_type == "substance misuse"
    assert spec.intervention.summary.startswith("Weekly")
    assert load_spec(write(project, MINIMAL)).intervention.service_type == "other"
    bad = {**MINIMAL, "intervention": {**MINIMAL["intervention"], "service_type": "mentorin"}}
    bad["intervention"]["summary"] = "x" * 301
    found = problems(write(project, bad))
    assert "intervention.service_type: not a known value; did you mean 'mentoring'?" in found
    assert "intervention.summary: longer than 300 characters" in found


def test_a_store_on_another_volume_needs_a_configured_data_root(
    project: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16 item 9: a national store outside the project (absolute path or symlink) is accepted when
    the lab lists its folder in JDL_DATA_ROOTS, and refused otherwise."""
    volume = tmp_path_factory.mktemp("volume")
    (volume / "national.duckdb").write_bytes(b"")
    (project / "data" / "national.duckdb").unlink()
    (project / "data" / "national.duckdb").symlink_to(volume / "national.duckdb")
    absolute = {**MINIMAL, "store": str(volume / "national.duckdb")}
    monkeypatch.delenv("JDL_DATA_ROOTS", raising=False)
    assert "store: path leaves the project folder" in problems(write(project, absolute))
    assert "JDL_DATA_ROOTS" in problems(write(project, MINIMAL))  # the default store is the symlink
    monkeypatch.setenv("JDL_DATA_ROOTS", f"{tmp_path_factory.getbasetemp() / 'elsewhere'}:{volume}")
    assert load_spec(write(project, absolute)).store == (volume / "national.duckdb").resolve()
    assert load_spec(write(project, MINIMAL)).store == (volume / "national.duckdb").resolve()
    assert "upload: path leaves the project folder" in problems(
        write(project, {**MINIMAL, "upload": "/etc/passwd"})
    )


def test_subgroups_named_twice_unknown_or_odd_are_refused_before_any_run(project: Path) -> None:
    """Hostile parameter file: a subgroup named twice, an unknown one, or not a list of names."""
    assert "subgroups: names must not repeat" in problems(
        write(project, {**MINIMAL, "subgroups": ["site"] * 2})
    )
    text = problems(write(project, {**MINIMAL, "subgroups": ["gender", "ethnicity"]}))
    assert "subgroups[1]" in text and "ethnicity" not in text.split("subgroups[1]")[0]
    for odd in ("site", [["site"]], [None], {"site": 1}):
        assert "subgroups" in problems(write(project, {**MINIMAL, "subgroups": odd}))
    spec = load_spec(write(project, {**MINIMAL, "subgroups": ["site", "completed", "gender"]}))
    assert spec.subgroups == ("site", "completed", "gender")
