"""One real-browser test of the workbench: JupyterLab on 127.0.0.1 with the project's server config, the
notebook opened in headless Debian Chromium driven by Playwright (never a downloaded browser), all cells
run, the caliper slider dragged, the love plot seen to change, a screenshot taken, and the notebook saved
without outputs.

Needs ``/usr/bin/chromium`` (the Makefile's test target installs Debian's ``chromium`` when missing).
Set ``JDL_SAVE_SCREENSHOT=1`` to refresh ``docs/img/workbench.png`` for the README.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from workbench_helpers import open_project

from jdl_lib.intake import read_upload
from jdl_lib.privacy import scan_outputs

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
]
TOKEN = "jdl-browser-test"
SCREENSHOT = REPO / "docs" / "img" / "workbench.png"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed (make test installs it)"),
]


@pytest.fixture(scope="module")
def workbench_project(tmp_path_factory):
    yield from open_project(tmp_path_factory)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(workbench_project, tmp_path_factory):
    """JupyterLab serving the project on 127.0.0.1 with jupyter_server_config.py; yields its URL."""
    root, params = workbench_project
    notebook = nbformat.read(REPO / "notebooks" / "workbench.ipynb", as_version=4)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = f"params = '../parameters/{params.name}'\npermutations = 0"
    (root / "notebooks").mkdir(exist_ok=True)
    nbformat.write(notebook, root / "notebooks" / "workbench.ipynb")
    home = tmp_path_factory.mktemp("jupyter-home")
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "OMP_NUM_THREADS": "1",
    }
    # no news pop-up over the notebook
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--config={REPO / 'jupyter_server_config.py'}",
        "--no-browser",
        f"--port={port}",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={TOKEN}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        *(["--allow-root"] if os.geteuid() == 0 else []),  # CI containers run as root
    ]
    log = open(home / "lab.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError((home / "lab.log").read_text()[-2000:]) from None
                time.sleep(0.5)
        yield url, root, params
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()


def _love_plot(page):
    return page.locator("img.jdl-love-plot")


def test_workbench_in_a_real_browser(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    url, root, params = lab
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        page = None
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            _drive(page, url, root, tmp_path)
        except Exception:
            if page is not None:
                page.screenshot(path=tmp_path / "failure.png")  # for whoever debugs a failure
            raise
        finally:
            browser.close()

    saved = root / "notebooks" / "workbench.ipynb"
    notebook = json.loads(saved.read_text())
    assert all(not c.get("outputs") for c in notebook["cells"] if c["cell_type"] == "code")
    assert "widgets" not in notebook["metadata"]
    checkpoints = list((root / "notebooks" / ".ipynb_checkpoints").glob("*.ipynb"))
    upload = read_upload(root / "wb-test" / "upload.csv").people
    assert scan_outputs([saved, *checkpoints], upload) == []
    assert (tmp_path / "workbench.png").stat().st_size < 400_000


def _drive(page, url: str, root: Path, tmp_path: Path) -> None:
    """Open the notebook, run all cells, drag the caliper, see the love plot change, screenshot, save."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(f"{url}/lab/tree/notebooks/workbench.ipynb?token={TOKEN}")
    page.locator(".jp-Notebook").first.wait_for(timeout=60_000)
    select_kernel = page.locator(".jp-Dialog").get_by_role("button", name="Select", exact=True)
    try:  # JupyterLab may ask which kernel to start although the notebook names python3
        select_kernel.click(timeout=15_000)
    except PlaywrightTimeout:
        pass
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(timeout=60_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()

    love = _love_plot(page)
    page.wait_for_function(
        "() => { const i = document.querySelector('img.jdl-love-plot'); return i && i.naturalWidth > 0; }",
        timeout=300_000,
    )
    love.scroll_into_view_if_needed()
    before_src = love.get_attribute("src")
    before_pixels = love.screenshot()

    handle = page.locator(".jdl-caliper .noUi-handle")
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] - 120, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    readout = page.locator(".jdl-caliper .widget-readout").inner_text()
    assert float(readout) < 0.2, "the caliper slider moved"

    page.wait_for_function(
        "(src) => { const i = document.querySelector('img.jdl-love-plot');"
        " return i && i.src !== src && i.naturalWidth > 0; }",
        arg=before_src,
        timeout=300_000,
    )
    love.scroll_into_view_if_needed()
    assert love.screenshot() != before_pixels, "the love plot changed on screen"

    page.keyboard.press("Control+b")  # hide the file browser for the screenshot
    page.locator(".jdl-panel").first.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    shot = page.screenshot()
    _save_screenshot(shot, tmp_path / "workbench.png")
    saved_at = (root / "notebooks" / "workbench.ipynb").stat().st_mtime
    page.keyboard.press("Control+s")
    for _ in range(60):
        if (root / "notebooks" / "workbench.ipynb").stat().st_mtime != saved_at:
            break
        time.sleep(0.5)


def _save_screenshot(png: bytes, path: Path) -> None:
    """Write the screenshot as a small palette PNG; refresh the README's copy when asked."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128)
    image.save(path, optimize=True)
    if os.environ.get("JDL_SAVE_SCREENSHOT"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SCREENSHOT)
