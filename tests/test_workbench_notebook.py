"""notebooks/workbench.ipynb executed headless (nbclient), and the promise that saved notebooks carry no
outputs: the Jupyter pre-save hook configured by jupyter_server_config.py strips them from the file and
its checkpoints, which are then scanned for the upload's identifiers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from jupyter_server.services.contents.filemanager import FileContentsManager
from nbclient import NotebookClient
from traitlets.config.loader import PyFileConfigLoader
from workbench_helpers import open_project

from jdl_lib.intake import read_upload
from jdl_lib.privacy import scan_outputs
from jdl_lib.workbench.notebook_privacy import pre_save_hook, strip_outputs

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "workbench.ipynb"
HOOK = "jdl_lib.workbench.notebook_privacy.pre_save_hook"


@pytest.fixture(scope="module")
def workbench_project(tmp_path_factory):
    yield from open_project(tmp_path_factory)


def with_parameters(notebook: nbformat.NotebookNode, params: str, permutations: int = 0) -> None:
    """Set the notebook's parameters cell, as papermill would."""
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = f"params = {params!r}\npermutations = {permutations}"


def test_the_committed_notebook_has_no_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")
    assert "widgets" not in notebook.metadata


def test_the_project_jupyter_config_strips_outputs_on_save_and_listens_locally():
    config = PyFileConfigLoader("jupyter_server_config.py", path=str(REPO)).load_config()
    assert config.FileContentsManager.pre_save_hook == HOOK
    assert config.ServerApp.ip == "127.0.0.1"


@pytest.mark.slow
def test_workbench_notebook_runs_headless_shows_images_and_saves_nothing_personal(
    workbench_project, tmp_path, monkeypatch
):
    root, params = workbench_project
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    with_parameters(notebook, str(params))
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.store_widget_state = True
    client.execute()

    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert views, "the workbench cell displays the widget panel"
    assert not any("<Figure size" in str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    images = [
        m
        for m in state.values()
        if m["model_name"] == "ImageModel"
        and any(b["path"] == ["value"] and b["data"] for b in m.get("buffers", []))
    ]
    assert len(images) >= 3, "love plot, overlap and attrition chevron are PNG images"
    status = [m["state"]["value"] for m in state.values() if m["model_name"] == "HTMLModel"]
    assert any("is open" in s for s in status)

    # the executed notebook (outputs and widget state) holds aggregates only
    executed = tmp_path / "executed.ipynb"
    nbformat.write(notebook, executed)
    upload = read_upload(root / "wb-test" / "upload.csv").people
    assert scan_outputs([executed], upload) == []

    # saved through Jupyter's contents manager with the project's hook: no outputs in file or checkpoint
    manager = FileContentsManager(root_dir=str(tmp_path), pre_save_hook=HOOK)
    model = {"type": "notebook", "format": "json", "content": json.loads(executed.read_text())}
    manager.save(model, "saved.ipynb")
    manager.create_checkpoint("saved.ipynb")
    checkpoints = list((tmp_path / ".ipynb_checkpoints").glob("saved*.ipynb"))
    assert checkpoints
    for path in [tmp_path / "saved.ipynb", *checkpoints]:
        saved = json.loads(path.read_text())
        assert all(not c.get("outputs") for c in saved["cells"] if c["cell_type"] == "code")
        assert "widgets" not in saved["metadata"]
    assert scan_outputs([tmp_path / "saved.ipynb", *checkpoints], upload) == []


def test_strip_outputs_removes_outputs_counts_and_widget_state():
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "outputs": [{"output_type": "stream", "text": "JOHN SMITH"}],
                "execution_count": 3,
                "metadata": {"execution": {"x": 1}},
                "source": "",
            },
            {"cell_type": "markdown", "metadata": {}, "source": "text"},
        ],
        "metadata": {"widgets": {"state": {}}},
    }
    model = {"type": "notebook", "content": notebook}
    pre_save_hook(model, path="x.ipynb")
    code = notebook["cells"][0]
    assert code["outputs"] == [] and code["execution_count"] is None and "execution" not in code["metadata"]
    assert "widgets" not in notebook["metadata"]
    assert strip_outputs({"cells": []}) == {"cells": []}
