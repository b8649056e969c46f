"""Saved notebooks carry no outputs: Jupyter's pre-save hook strips them (and widget state) on every save.

The workbench's displays are aggregates, but a notebook is where an analyst may also type
``intake.people.head()``; a saved output would then put names and dates of birth in a file that is easily
copied or committed. So every notebook saved by a Jupyter server started with the project's
``jupyter_server_config.py`` (``make lab`` does) is written without outputs, execution counts or widget
state; its checkpoints are copies of the saved file, so they are clean too.
"""

from __future__ import annotations

from typing import Any


def strip_outputs(notebook: dict[str, Any]) -> dict[str, Any]:
    """Remove every output, execution count and the stored widget state from a notebook (in place)."""
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell.get("metadata", {}).pop("execution", None)
    notebook.get("metadata", {}).pop("widgets", None)
    return notebook


def pre_save_hook(model: dict[str, Any], **kwargs: Any) -> None:
    """Jupyter ``FileContentsManager.pre_save_hook``: strip a notebook's outputs before it is written."""
    if model.get("type") == "notebook" and isinstance(model.get("content"), dict):
        strip_outputs(model["content"])
