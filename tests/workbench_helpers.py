"""A small project for the workbench tests: the shared synthetic store, one cohort, one parameter file."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import yaml
from synth_helpers import small_store

from jdl_lib.synth.cohort import make_cohort, write_cohort

#: Planted fall in the one-year reoffending rate of the workbench's test cohort.
PLANTED_EFFECT = -0.15
REQUEST_ID = "wb-test"


def make_project(root: Path, request_id: str = REQUEST_ID) -> Path:
    """Copy the small synthetic store into ``root``, draw a 300-person custody cohort, return its params."""
    (root / "pyproject.toml").write_text("[project]\nname = 'lab'\n")
    store = small_store()
    shutil.copy(store, root / "national.duckdb")
    shutil.copy(store.with_name(f"{store.stem}.truth.parquet"), root / "national.truth.parquet")
    cohort = make_cohort(
        root / "national.duckdb",
        300,
        "custody",
        date(2004, 1, 1),
        date(2010, 12, 31),
        selection="higher_risk",
        effect_rate=PLANTED_EFFECT,
        seed=5,
    )
    write_cohort(cohort, root / request_id)
    spec = {
        "request_id": request_id,
        "organisation": "Workbench test trust",
        "organisation_id": "workbench-test-trust",
        "intervention": {"name": "the test mentoring service", "description": "Mentoring on release."},
        "upload": f"../{request_id}/upload.csv",
        "setting": "custody",
        "store": "../national.duckdb",
        "seed": 11,
    }
    params = root / "parameters" / f"{request_id}.yaml"
    params.parent.mkdir(exist_ok=True)
    params.write_text(yaml.safe_dump(spec, sort_keys=False))
    return params


def open_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """Body of a module fixture: a project (its lab will be ``outputs/.lab``) and its own workspace folder."""
    root = tmp_path_factory.mktemp("workbench")
    mp = pytest.MonkeyPatch()
    mp.setenv("JDL_WORKSPACE_ROOT", str(root / "workspaces"))
    params = make_project(root)
    yield root, params
    mp.undo()
