"""Does a real JupyterLab render the course's widgets in a real browser, as a student sees them?

Issue 12's acceptance, end to end: the project's JupyterLab (from the venv) serves a temporary
copy of ``notebooks/`` on 127.0.0.1 (a free port, token authentication); Debian's headless
Chromium, driven by Playwright as :mod:`voiplab.devices.browser` drives it (no downloaded
browser), opens a notebook, runs every cell above the ``cleanup`` cell **through the UI**
(JupyterLab's own "run all above" command, the notebook's kernel started by the server), and
the rendered widgets are looked for in the page's DOM: the call panel's buttons and status
(notebook 06), the ladder stepper's Next button and ladder image (notebook 04), the sipconfig
editor after Serve and Phone boots (07) and the link to the browser phone (08). The
``solution`` cells are filled from the key (a student's right work), so every check cell shows
a green mark. Screenshots go to ``tests/artifacts/``. Then the cleanup cell runs and the kernel
is shut down.

Run with an isolated lab (``VOIPLAB_CONFIG``, ``VOIPLAB_STATE_DIR``): the kernels inherit the
server's environment, so the notebooks use that lab.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import require
from test_notebooks import filled

from voiplab.devices.browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.notebook, pytest.mark.asterisk]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(__file__).parent / "artifacts"
#: seconds JupyterLab has to answer /api/status
SERVER_START_S = 60
#: seconds the cells above the cleanup cell may take (the headless limit is 90 s per notebook)
RUN_S = 150
#: what each notebook must render: (CSS selector, text it holds) pairs, all required
RENDERED: dict[str, list[tuple[str, str]]] = {
    "06_calling_the_alcatel": [
        (".jupyter-widgets button", "Call"), (".jupyter-widgets button", "Hang up"),
        (".jupyter-widgets button", "Answer"), (".jupyter-widgets button", "Alcatel calls"),
        (".jupyter-widgets button", "Register"), (".widget-html", "registered"), (".widget-html", "Call log"),
    ],
    "04_invite_flow": [
        (".jupyter-widgets button", "Next"), (".jupyter-widgets button", "Previous"),
        ("img.widget-image", ""),
    ],
    "07_provisioning": [
        (".jupyter-widgets textarea", ""), (".jupyter-widgets button", "Stop serving"),
        (".jupyter-widgets button", "Phone boots"), (".widget-html", "The server's log"),
        (".widget-html", "no problem in either file"),
    ],
    "08_webrtc": [
        (".widget-html a", "download ca.crt"), (".widget-html a", "the browser phone"),
        (".jupyter-widgets button", "Refresh"),
    ],
}
#: the widget each screenshot centres on (its first element)
FOCUS = {"06_calling_the_alcatel": (".jupyter-widgets button", "Hang up"),
         "04_invite_flow": ("img.widget-image", ""),
         "07_provisioning": (".jupyter-widgets textarea", ""),
         "08_webrtc": (".jupyter-widgets button", "Refresh")}


def _stepper_exists() -> bool:
    """Notebook 04 shows the ladder stepper once engineer 12-B's widget and cell exist."""
    nb = ROOT / "notebooks" / "04_invite_flow.ipynb"
    return (ROOT / "voiplab" / "widgets" / "ladder.py").exists() and "ladder_stepper" in nb.read_text()


#: 04 and 06 are issue 12's acceptance; 07 and 08 show the sipconfig editor and the browser phone's link
NOTEBOOKS = ["06_calling_the_alcatel", *(["04_invite_flow"] if _stepper_exists() else []), "07_provisioning",
             "08_webrtc"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Lab:
    """The running JupyterLab: its base URL, token and notebook directory."""

    url: str
    token: str
    notebook_dir: Path


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own local server
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except OSError:
        return 0


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory: pytest.TempPathFactory, pbx: object) -> Iterator[Lab]:
    """The project's JupyterLab on 127.0.0.1:<free port>, serving a filled copy of the notebooks."""
    require(os.access(CHROMIUM, os.X_OK), "Chromium", "apt-get install chromium")
    base = tmp_path_factory.mktemp("jupyterlab")
    notebooks = base / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "provisioning", "my-*"))
    for stem in NOTEBOOKS:
        nbformat.write(filled(ROOT / "notebooks" / f"{stem}.ipynb"), notebooks / f"{stem}.ipynb")
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    # JupyterLab's own state (runtime files, settings, workspaces) in the temporary directory
    env.update(JUPYTER_RUNTIME_DIR=str(base / "runtime"), JUPYTER_CONFIG_DIR=str(base / "config"),
               JUPYTERLAB_SETTINGS_DIR=str(base / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"))
    log = open(base / "jupyterlab.log", "wb")  # noqa: SIM115 - handed to the child, closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--port-retries=0", f"--IdentityProvider.token={token}", f"--notebook-dir={notebooks}",
         "--LabApp.expose_app_in_browser=True", "--ServerApp.allow_root=True",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while _get(f"{url}/api/status?token={token}") != 200:
            assert proc.poll() is None, (base / "jupyterlab.log").read_text()[-3000:]
            assert time.monotonic() < deadline, f"JupyterLab did not answer within {SERVER_START_S} s"
            time.sleep(0.3)
        yield Lab(url, token, notebooks)
    finally:
        # the server shuts its kernels down (their phones hang up and unregister) before exiting
        request = urllib.request.Request(f"{url}/api/shutdown?token={token}", method="POST")
        try:
            urllib.request.urlopen(request, timeout=10)  # noqa: S310 - our own local server
        except OSError:
            proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, under Playwright (never a downloaded browser)."""
    try:
        # playwright: heavy optional dependency of the browser tests
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "playwright", "pip install playwright (no 'playwright install': Debian's chromium is used)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS))
        yield browser
        browser.close()


#: JavaScript: the notebook panel open on ``path`` (a workspace may hold others)
_PANEL = "[...window.jupyterapp.shell.widgets('main')].find(w => w.context && w.context.path === path)"
#: JavaScript: the state of the notebook's run (code cells above the last, executed or not, errors)
_PROGRESS = f"""(path) => {{
  const panel = {_PANEL};
  if (!panel || !panel.content || !panel.sessionContext) return null;
  const cells = panel.content.widgets;
  const above = cells.slice(0, cells.length - 1).filter(c => c.model.type === 'code');
  const errors = [];
  const stderr = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]';
  for (const c of cells) {{
    for (const node of c.node.querySelectorAll(stderr)) {{
      if (/Error|Traceback/.test(node.textContent)) errors.push(node.textContent.slice(0, 800));
    }}
  }}
  return {{total: above.length, done: above.filter(c => c.model.executionCount !== null).length,
          kernel: panel.sessionContext.session && panel.sessionContext.session.kernel
                  ? panel.sessionContext.session.kernel.status : 'none',
          errors}};
}}"""


def _open(page: Any, lab: Lab, stem: str) -> str:
    """Open the notebook in a workspace of its own (reset: no tab of another notebook); wait for its kernel."""
    path = f"{stem}.ipynb"
    page.goto(f"{lab.url}/lab/workspaces/voiplab-{stem}/tree/{path}?reset&token={lab.token}", timeout=60_000)
    page.wait_for_function(
        f"""(path) => {{ if (!window.jupyterapp) return false; const panel = {_PANEL};
                        const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
                        if (kernel && kernel.status === 'idle') {{ window.jupyterapp.shell.activateById(panel.id);
                                                                   return true; }}
                        return false; }}""", arg=path, timeout=60_000, polling=200)
    return path


def _run(page: Any, path: str, command: str) -> None:
    """Make the last (cleanup) cell active and run a notebook command on the notebook of ``path``."""
    page.evaluate(f"""async (path) => {{
      const panel = {_PANEL};
      window.jupyterapp.shell.activateById(panel.id);
      panel.content.activeCellIndex = panel.content.widgets.length - 1;
      await window.jupyterapp.commands.execute('{command}');
    }}""", path)


def _run_above_cleanup(page: Any, path: str) -> dict[str, Any]:
    """Run every cell above the cleanup cell with JupyterLab's own command; wait; return the progress."""
    _run(page, path, "notebook:run-all-above")
    deadline = time.monotonic() + RUN_S
    while True:
        progress: dict[str, Any] = page.evaluate(_PROGRESS, path)
        assert not progress["errors"], f"{path}: a cell failed in JupyterLab:\n" + "\n".join(progress["errors"])
        if progress["done"] == progress["total"] and progress["kernel"] == "idle":
            return progress
        assert time.monotonic() < deadline, f"{path}: {progress['done']} of {progress['total']} cells ran in {RUN_S} s"
        time.sleep(0.5)


def _run_cleanup(page: Any, path: str) -> None:
    _run(page, path, "notebook:run-cell")
    page.wait_for_function(
        f"""(path) => {{ const panel = {_PANEL}; const cells = panel.content.widgets;
                        return cells[cells.length - 1].model.executionCount !== null
                               && panel.sessionContext.session.kernel.status === 'idle'; }}""",
        arg=path, timeout=30_000, polling=200)


def _dismiss_news(page: Any) -> None:
    """Answer JupyterLab's "notified about official Jupyter news?" toast (it hides the panel's corner)."""
    no = page.locator(".jp-toast-button", has_text="No")
    if no.count():
        no.first.click()


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_jupyterlab_renders_the_widgets(jupyterlab: Lab, chromium: Any, stem: str) -> None:
    """Opened in JupyterLab and run through its UI: are the notebook's widgets in the DOM, every check green?"""
    ARTIFACTS.mkdir(exist_ok=True)
    context = chromium.new_context(viewport={"width": 1500, "height": 1800})
    page = context.new_page()
    try:
        path = _open(page, jupyterlab, stem)
        _run_above_cleanup(page, path)
        _dismiss_news(page)
        for selector, text in RENDERED[stem]:
            found = page.locator(selector, has_text=text) if text else page.locator(selector)
            found.first.wait_for(state="attached", timeout=20_000)
            assert found.count() > 0, f"{stem}: no {selector!r} holding {text!r} in the page"
        if stem == "08_webrtc":  # the links survive JupyterLab's rendering: the CA as data, the page with its token
            ca = page.locator(".widget-html a", has_text="download ca.crt").first.get_attribute("href") or ""
            phone = page.locator(".widget-html a", has_text="the browser phone").first.get_attribute("href") or ""
            assert ca.startswith("data:application/x-x509-ca-cert;base64,") and "account=guillaume&token=" in phone
        # the check cells' results, as rendered (CheckResult._repr_html_): green marks only
        marks = page.locator(".jp-OutputArea-output", has_text="✔").count()
        assert marks >= 2 and page.locator(".jp-OutputArea-output", has_text="✘").count() == 0
        selector, text = FOCUS[stem]
        focus = page.locator(selector, has_text=text).first if text else page.locator(selector).first
        widget = focus.locator("xpath=ancestor::div[contains(@class, 'jp-OutputArea-output')][1]")
        # the notebook scrolls in its own container and renders the cells in view: bring the widget's top there
        widget.evaluate("el => el.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(1000)
        page.screenshot(path=str(ARTIFACTS / f"jupyterlab_{stem}.png"))
        widget.screenshot(path=str(ARTIFACTS / f"jupyterlab_{stem}_widget.png"))
        _run_cleanup(page, path)
    finally:
        try:
            page.evaluate(f"async (path) => {{ const panel = window.jupyterapp && {_PANEL}; "
                          "if (panel) await panel.sessionContext.shutdown(); }", f"{stem}.ipynb")
        finally:
            context.close()
    print(json.dumps({"notebook": stem, "screenshot": str(ARTIFACTS / f"jupyterlab_{stem}.png")}))
