"""The analyst's workbench (issue 12): a request opened once, aggregate views, the locked design, the
specification curve, settings handed to `jdl run`, and the ipywidgets panel driven without a browser.

Truth: the test cohort has a planted 15-point fall in reoffending, so every reasonable design finds a
fall and the permutation null band (no effect by construction) sits around zero; the saved settings must
give `jdl run` a results.json equal to what the workbench showed.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from workbench_helpers import REQUEST_ID, open_project

from jdl_lib.matching.nearest import NearestNeighborMatcher
from jdl_lib.matching.registry import MATCHERS
from jdl_lib.pipeline import run_request
from jdl_lib.privacy import read_audit_log, scan_outputs, verify_audit_log
from jdl_lib.privacy.differencing import registry_path
from jdl_lib.spec import MatchingSpec
from jdl_lib.workbench import Request, WorkbenchError, design_grid, effective_sample_size
from jdl_lib.workbench.app import WorkbenchApp, enabled_controls, settings_from_values, values_from_settings
from jdl_lib.workbench.figures import figure_png, mirror_histogram
from jdl_lib.workbench.views import HIDDEN, _group_summary, covariate_sets

PNG = b"\x89PNG\r\n\x1a\n"

# --- plain functions, no store --------------------------------------------------------------------


def test_effective_sample_size_is_kish():
    assert effective_sample_size(np.ones(40)) == pytest.approx(40)
    # one control carrying half the weight: (2)^2 / (1 + 10 * 0.01) = 3.636...
    assert effective_sample_size(np.r_[1.0, np.full(10, 0.1)]) == pytest.approx(4 / 1.1)


def test_group_summary_hides_small_groups_and_shares_that_reveal_small_counts():
    rng = np.random.default_rng(1)
    x = pd.DataFrame(
        {"female": np.r_[np.ones(3), np.zeros(47), np.ones(20), np.zeros(30)], "age": rng.normal(30, 5, 100)}
    )
    big = np.r_[np.ones(50, bool), np.zeros(50, bool)]
    table = _group_summary(x, {"a": big, "b": ~big}, threshold=5).set_index("characteristic")
    # 3 women among 50: the share would reveal a count under 5, so it is hidden with its difference
    assert np.isnan(table.loc["female", "a"]) and np.isnan(table.loc["female", "std_difference"])
    assert table.loc["female", "b"] == pytest.approx(0.4)
    assert table.loc["age", "a"] == pytest.approx(x["age"][:50].mean())
    tiny = np.r_[np.ones(4, bool), np.zeros(96, bool)]
    small = _group_summary(x, {"kept": ~tiny, "lost": tiny}, threshold=5).set_index("characteristic")
    assert small["lost"].isna().all() and small["std_difference"].isna().all()
    assert small.attrs["people"] == {"kept": 96, "lost": HIDDEN.format(threshold=5)}


def test_controls_round_trip_and_follow_the_method():
    spec = MatchingSpec(caliper=0.15, ratio=3, replace=False, exact=("gender",), caliper_sd="all")
    assert settings_from_values(spec, values_from_settings(spec)) == spec
    assert enabled_controls("nearest")["ratio"] and not enabled_controls("radius")["ratio"]


def test_covariate_sets_are_distinct_subsets_of_the_chosen_list():
    sets = covariate_sets(MatchingSpec().covariates)
    assert sets["chosen"] == MatchingSpec().covariates
    assert len(set(sets.values())) == len(sets) == 3
    assert all(set(cols) <= set(MatchingSpec().covariates) for cols in sets.values())


def test_design_grid_takes_every_registered_method(monkeypatch):
    class Copy(NearestNeighborMatcher):
        method = "nearest_copy"

    monkeypatch.setitem(MATCHERS, "nearest_copy", Copy)
    locked = MatchingSpec()
    grid = design_grid(locked)
    methods = {spec.method for _, spec in grid}
    assert methods == set(MATCHERS)
    assert sum(spec == locked for _, spec in grid) == 1
    # radius takes neither ratio nor replace, so they are not varied for it: 3 calipers x 3 covariate sets
    assert sum(spec.method == "radius" for _, spec in grid) == 9


def test_mirror_histogram_is_a_png_image():
    overlap = {
        "bin_edges": list(np.linspace(-4, 1, 11)),
        "treated": [0, 5, 9, 12, 20, 15, 8, 6, 0, 0],
        "control_before": [300, 250, 200, 120, 80, 40, 20, 8, 3, 1],
        "control_after": [0, 4.5, 9.1, 11.8, 19.0, 15.2, 8.4, 6.0, 0, 0],
    }
    png = figure_png(mirror_histogram(overlap))
    assert png.startswith(PNG) and len(png) > 5_000


# --- one request held open --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workbench_project(tmp_path_factory):
    yield from open_project(tmp_path_factory)


@pytest.fixture(scope="module")
def request_open(workbench_project):
    root, params = workbench_project
    with Request.open(params) as request:
        yield request


@pytest.mark.slow
def test_people_live_in_an_owner_only_workspace(workbench_project, request_open):
    root, params = workbench_project
    workspace = request_open._workspace.path
    assert workspace.is_dir() and workspace.parent == root / "workspaces"
    assert oct(workspace.stat().st_mode)[-3:] == "700"
    assert "person_id" not in repr(request_open) and REQUEST_ID in repr(request_open)


@pytest.mark.slow
def test_views_are_aggregates_and_follow_the_design(request_open):
    view = request_open.view()
    assert view.ok and view.verdict in ("good", "reasonable")
    assert view.sizes.treated_matched <= view.sizes.treated_offered
    assert view.sizes.controls_effective <= view.sizes.controls_used
    narrow = request_open.view(replace(request_open.matching, caliper=0.02))
    assert narrow.sizes.treated_matched < view.sizes.treated_matched
    lost = narrow.dropped.set_index("reason")["people"]
    assert (
        lost["no similar person within the caliper"]
        == view.sizes.treated_offered - narrow.sizes.treated_matched
    )
    pooled = request_open.view(sd="pooled")
    assert "pooled" in pooled.sd_convention and not np.allclose(
        pooled.balance.smd_before, view.balance.smd_before
    )
    compare = request_open.compare_dropped(replace(request_open.matching, caliper=0.02))
    assert set(compare) == {"linkage", "matching"}
    # the caliper drops the treated people least like anyone in the pool: higher risk scores
    matching = compare["matching"].set_index("characteristic")
    assert matching.loc["ogrs_score", "dropped"] > matching.loc["ogrs_score", "analysed"]


@pytest.mark.slow
def test_a_design_the_rules_refuse_is_shown_as_refused(request_open):
    refused = request_open.view(replace(request_open.matching, caliper=0.0001, std_caliper=False))
    assert not refused.ok and "DisclosureError" in refused.refused
    with pytest.raises(WorkbenchError, match="cannot be locked"):
        request_open.lock(refused.matching)


@pytest.mark.slow
def test_outcomes_wait_for_a_locked_design_and_every_look_is_logged(workbench_project, request_open):
    root, _ = workbench_project
    request_open.unlock()
    with pytest.raises(WorkbenchError, match="hidden until a design is locked"):
        request_open.outcomes()
    looks = request_open.outcome_looks
    request_open.lock()
    first = request_open.outcomes()
    again = request_open.outcomes()
    assert first == again and request_open.outcome_looks == looks + 2
    rate = next(o for o in first["outcomes"] if o["measure"] == "reoffended_1y")
    assert rate["significant"] and rate["difference"] < 0
    request_open.unlock()
    with pytest.raises(WorkbenchError):
        request_open.outcomes()
    records_all = read_audit_log(directory=root / "outputs" / ".lab")
    records = [r for r in records_all if r.get("request_id") == REQUEST_ID]
    events = [r["event"] for r in records]
    assert {"workbench_open", "design_lock", "outcome_look", "design_unlock"} <= set(events)
    lock = next(r for r in records if r["event"] == "design_lock")
    assert json.loads(lock["design"])["caliper"] == 0.2 and lock["balance_verdict"] in ("good", "reasonable")
    assert max(r.get("outcome_looks", 0) for r in records) == request_open.outcome_looks
    assert verify_audit_log(directory=root / "outputs" / ".lab") == len(records_all)
    assert scan_outputs([root / "outputs" / ".lab" / "audit.log"], request_open._prepared.upload_people) == []


@pytest.mark.slow
def test_exploring_releases_nothing_and_records_no_differencing(workbench_project, request_open):
    root, _ = workbench_project
    request_open.lock()
    request_open.outcomes()
    assert not (root / "outputs" / REQUEST_ID).exists()
    assert [p.name for p in (root / "outputs").iterdir()] == [".lab"]
    registry = registry_path(root / "outputs" / ".lab")
    assert not registry.exists() or REQUEST_ID not in registry.read_text()


@pytest.mark.slow
def test_specification_curve_marks_the_locked_design_and_a_null_band_around_zero(request_open):
    request_open.unlock()
    with pytest.raises(WorkbenchError, match="lock a design first"):
        request_open.specification_curve()
    locked = request_open.matching
    request_open.lock(locked)
    grid = [
        (name, spec) for name, spec in design_grid(locked, ["nearest"]) if spec.ratio == 5 and spec.replace
    ]
    looks = request_open.outcome_looks
    curve = request_open.specification_curve(grid, permutations=8, seed=3)
    assert request_open.outcome_looks == looks + 1
    d = curve.designs
    assert len(d) == len(grid) == 9 and d["locked"].sum() == 1
    assert (d["estimate"] < 0).all() and list(d["estimate"]) == sorted(d["estimate"])
    assert {"max_abs_smd", "ess_controls", "ci_low", "ci_high", "poorly_balanced"} <= set(d.columns)
    assert curve.permutations == 8 and len(curve.null_band) == len(d)
    # no effect under permutation: the band's middle sits near zero and the planted fall lies below it
    middle = curve.null_band["median"].iloc[len(d) // 2]
    assert abs(middle) < 0.05
    assert (d["estimate"].to_numpy() < curve.null_band["low"].to_numpy()).all()
    assert curve.median_p_value == pytest.approx(1 / 9)


@pytest.mark.slow
def test_the_panel_updates_live_and_unlocks_on_change(request_open):
    app = WorkbenchApp(request=request_open, permutations=0)
    assert all(bytes(image.value).startswith(PNG) for image in (app.love, app.overlap, app.chevron))
    assert "Matched" in app.summary.value and "verdict" in app.balance.value
    before = bytes(app.love.value)
    app.caliper.value = 0.03
    assert bytes(app.love.value) != before and app.settings().caliper == 0.03
    app.lock()
    assert "Locked design" in app.lock_status.value and "reoffended_1y" in app.outcomes.value
    app.ratio.value = 2
    assert request_open.locked is None and app.outcomes.value == "" and "unlocked" in app.lock_status.value
    app.method.value = "radius"
    assert app.ratio.disabled and app.replace.disabled
    app.method.value = "nearest"
    assert not app.ratio.disabled


@pytest.mark.slow
def test_saved_settings_give_jdl_run_the_results_the_workbench_showed(workbench_project, request_open):
    root, params = workbench_project
    design = replace(request_open.matching, caliper=0.1, ratio=3, exact=("gender",))
    with pytest.raises(WorkbenchError, match="lock a design"):
        request_open.unlock() or request_open.save_settings(root / "parameters" / "saved.yaml")
    request_open.lock(design)
    shown = request_open.outcomes()
    saved = request_open.save_settings(root / "parameters" / "saved.yaml")
    outcome = run_request(saved, outputs=root / "outputs", progress=False, keep_upload=True)
    assert outcome.status == "released", outcome.message
    written = json.loads((outcome.out_dir / "results.json").read_text())
    for key in (
        "settings",
        "attrition",
        "balance",
        "overlap",
        "outcomes",
        "robustness",
        "sensitivity",
        "power",
    ):
        assert written[key] == shown[key], key
    # reopened from the saved file (upload kept), the workbench's results are the run's, byte for byte
    with Request.open(saved) as reopened:
        reopened.lock()
        again = reopened.outcomes()
    assert json.dumps(again, indent=2, sort_keys=True) == (outcome.out_dir / "results.json").read_text()


@pytest.mark.slow
def test_a_design_jdl_run_does_not_take_is_not_saved(workbench_project, request_open, monkeypatch):
    class Copy(NearestNeighborMatcher):
        method = "nearest_copy"

    root, _ = workbench_project
    monkeypatch.setitem(MATCHERS, "nearest_copy", Copy)
    request_open.lock(replace(request_open.matching, method="nearest_copy"))
    target = root / "parameters" / "not-taken.yaml"
    with pytest.raises(WorkbenchError, match="does not accept this design"):
        request_open.save_settings(target)
    assert not target.exists() and not list(target.parent.glob(".*saving"))


@pytest.mark.slow
def test_a_released_request_is_refused_once_its_upload_is_deleted(workbench_project):
    root, _ = workbench_project
    saved = root / "parameters" / "saved.yaml"
    outcome = run_request(saved, outputs=root / "outputs", progress=False, replace=True)  # deletes the upload
    assert outcome.status == "released" and not (root / REQUEST_ID / "upload.csv").exists()
    with pytest.raises(WorkbenchError, match="released on .* upload deleted.*--keep-upload"):
        Request.open(saved)


@pytest.mark.slow
def test_closing_deletes_the_workspace_and_records_it(workbench_project, request_open):
    root, _ = workbench_project
    workspace = request_open._workspace.path
    request_open.close()
    assert request_open.closed and not workspace.exists()
    with pytest.raises(WorkbenchError, match="closed"):
        request_open.view()
    last = read_audit_log(directory=root / "outputs" / ".lab")[-1]
    assert last["event"] == "workbench_close" and last["workspace_deleted"] is True
