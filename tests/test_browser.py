"""End-to-end test: every notebook in a real browser, the way a student uses it.

Starts JupyterLab on 127.0.0.1 (free port, random token, smoke mode), drives
Debian's chromium headless with Playwright for Python, and for every
``notebooks/*.ipynb``: opens it, runs all cells, waits for the kernel, then
checks that

- no cell has an error output or a traceback on stderr, and every code cell ran;
- the figures render: every cell whose committed (full-mode) copy shows PNG
  figures shows at least as many decoded ``<img>`` after the run;
- the widgets render (a ``.jupyter-widgets`` view for every widget output, and
  at least one when the notebook imports ipywidgets), never the text fallback;
- the widgets respond: in a cell with a button whose description starts with
  "Train", one hyperparameter is changed (a slider moved with the keyboard, else
  a dropdown) and the button pressed; in a cell with a slider and a plot inside
  a widget (``interact``), the slider is moved; either way an image must change.
  A slider with neither (a lone hyperparameter) must at least change its readout.

One screenshot per notebook is saved (path printed, see ``screenshot_dir``).

Run it with ``pytest -m browser tests/test_browser.py`` after
``apt-get install chromium`` (the default ``pytest`` run deselects it, see
pyproject's addopts); without chromium it skips, naming the package, except
under CI (``CI`` set), where it fails; it never downloads a browser (no
``playwright install``). Playwright's sync API is
used, so no asyncio plugin is needed. Environment: ``WORKBOOK_SCREENSHOTS``
(screenshot folder), ``WORKBOOK_CHROMIUM`` (another chromium binary),
``WORKBOOK_BROWSER_TIMEOUT`` (seconds per Run All, default 480).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from helpers.paths import NOTEBOOKS_DIR, REPO_ROOT, output_dir

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("WORKBOOK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))

SERVER_START_TIMEOUT = 90  # s, JupyterLab start-up on a busy 2-core machine
RUN_ALL_TIMEOUT = float(os.environ.get("WORKBOOK_BROWSER_TIMEOUT", 480))  # s per notebook, smoke mode (check cells start pytest)
RESPONSE_TIMEOUT = 120  # s for a slider move or a Train press to redraw (Train retrains)
VIEWPORT = {"width": 1280, "height": 1000}

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# Text JupyterLab shows instead of a widget when the widget manager is missing or broken.
WIDGET_FALLBACKS = ("Error displaying widget", "Loading widget...", "model not found")


# --------------------------------------------------------------------------- helpers


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(base: str, token: str, path: str, method: str = "GET"):
    request = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


def _write_lab_settings(settings_dir: Path) -> None:
    """JupyterLab user settings for a deterministic headless run."""
    settings = {
        # Attach every cell to the DOM: with the default windowing, cells out of the
        # viewport are not rendered and their outputs could not be checked.
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        # Never write the notebook back: the committed copies keep their full-mode outputs.
        "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
        # No news/update pop-up over the notebook, no requests to the internet.
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    }
    for name, value in settings.items():
        path = settings_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))


def _stop_process_group(proc: subprocess.Popen, timeout: float = 20) -> None:
    """Terminate the server (it shuts its kernels down), kill its process group if it hangs."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the group is the server's own session (start_new_session)
        proc.wait(timeout=10)


def _log_tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def _expected_from_file(path: Path) -> dict:
    """What the committed notebook promises: PNG figures per cell index, and whether it uses widgets."""
    nb = nbformat.read(path, as_version=4)
    images = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        count = sum(1 for out in cell.get("outputs", []) if "image/png" in out.get("data", {}))
        if count:
            images[index] = count
    uses_widgets = any(
        cell.cell_type == "code" and re.search(r"\bipywidgets\b|\binteract\b", cell.source) for cell in nb.cells
    )
    return {"n_cells": len(nb.cells), "images": images, "uses_widgets": uses_widgets}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def chromium(system_packages) -> Path:
    if not CHROMIUM.exists():
        # Skips with the reason on a user's machine, fails under CI (tests/conftest.py).
        system_packages(
            f"the browser test drives Debian's chromium, not found at {CHROMIUM} (Debian/Ubuntu: sudo apt-get install "
            "chromium; or set WORKBOOK_CHROMIUM to a chromium binary; never `playwright install`)")
    return CHROMIUM


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """``$WORKBOOK_SCREENSHOTS`` if set, else ``<output root>/browser-screenshots``.

    The output root is ``$WORKBOOK_OUTPUT``; the root conftest points it at a
    temporary folder for tests unless it is set. Every test prints the path.
    """
    if os.environ.get("WORKBOOK_SCREENSHOTS"):
        path = Path(os.environ["WORKBOOK_SCREENSHOTS"]).resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path
    return output_dir("browser-screenshots")


@contextlib.contextmanager
def lab_at(root: Path):
    """A JupyterLab server on 127.0.0.1 (free port, token) rooted at ``root``, in smoke mode, its kernels importing ``root``'s helpers."""
    workdir = Path(tempfile.mkdtemp(prefix="workbook-browser-"))
    _write_lab_settings(workdir / "settings")
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    env["WORKBOOK_MODE"] = "smoke"
    # Kernels import helpers from this checkout, whatever is installed.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    env["JUPYTER_RUNTIME_DIR"] = str(workdir / "runtime")
    command = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={workdir / 'settings'}",
        f"--LabApp.workspaces_dir={workdir / 'workspaces'}",
        # Checkpoints go to the temporary folder, not to notebooks/.ipynb_checkpoints.
        f"--FileCheckpoints.checkpoint_dir={workdir / 'checkpoints'}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log_path = workdir / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with code {proc.returncode} at start-up:\n{_log_tail(log_path)}", pytrace=False)
            try:
                _api(base, token, "/api/status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer on {base} within {SERVER_START_TIMEOUT} s:\n{_log_tail(log_path)}", pytrace=False)
                time.sleep(0.5)
        yield {"base": base, "token": token, "log": log_path}
    finally:
        _stop_process_group(proc)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def lab_server():
    """JupyterLab rooted at the repository."""
    with lab_at(REPO_ROOT) as server:
        yield server


@pytest.fixture(scope="session")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# --------------------------------------------------------------------------- page helpers

# All JavaScript below runs in the page against `window.jupyterapp`
# (exposed with --LabApp.expose_app_in_browser) and the DOM.

JS_KERNEL_IDLE = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session && panel.sessionContext.session.kernel;
  // A queued or running cell shows "[*]:" as its prompt.
  return !!kernel && kernel.status === 'idle'
         && ![...document.querySelectorAll('.jp-Notebook .jp-InputPrompt')].some(p => p.textContent.includes('*'));
}"""

JS_RUN_ALL = """async (timeoutMs) => {
  const app = window.jupyterapp;
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('Run All timed out')), timeoutMs));
  return await Promise.race([app.commands.execute('notebook:run-all-cells'), timeout]);
}"""

# The live model's outputs (what the kernel sent), one entry per cell.
JS_CELL_OUTPUTS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.model.cells;
  const result = [];
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i).toJSON();
    result.push({type: cell.cell_type, count: cell.execution_count ?? null,
                 outputs: (cell.outputs || []).map(o => ({output_type: o.output_type, ename: o.ename || null,
                   evalue: o.evalue || null, traceback: o.traceback || null,
                   mimes: Object.keys(o.data || {})}))});
  }
  return result;
}"""

# Every image in the notebook's outputs as a short fingerprint of its src (a data: URL of
# the PNG), so that polling for a redraw does not ship megabytes of base64 each time.
JS_IMAGE_SRCS = """() => [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output img')].map(img => {
  const s = img.src;
  let h = 5381;
  for (let i = 0; i < s.length; i++) h = ((h * 33) ^ s.charCodeAt(i)) >>> 0;
  return s.length + ':' + h.toString(16);
})"""


def _wait_kernel_idle(page, timeout_s: float, settle_s: float = 1.0) -> None:
    """Wait until the kernel is idle and no cell is queued or running, for ``settle_s`` in a row."""
    deadline = time.monotonic() + timeout_s
    idle_since = None
    while time.monotonic() < deadline:
        if page.evaluate(JS_KERNEL_IDLE):
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= settle_s:
                return
        else:
            idle_since = None
        page.wait_for_timeout(200)
    raise AssertionError(f"kernel not idle after {timeout_s:.0f} s")


def _wait_images_changed(page, before: list[str], timeout_s: float) -> list[str]:
    """Poll until the kernel is idle and the notebook's images differ from ``before`` (and exist)."""
    deadline = time.monotonic() + timeout_s
    after = before
    while time.monotonic() < deadline:
        after = page.evaluate(JS_IMAGE_SRCS)
        if after and after != before and page.evaluate(JS_KERNEL_IDLE):
            # Let a redraw in progress finish, then read the final state.
            _wait_kernel_idle(page, timeout_s=max(5.0, deadline - time.monotonic()))
            return page.evaluate(JS_IMAGE_SRCS)
        page.wait_for_timeout(250)
    return after


def _move_slider(page, slider) -> tuple[str, str]:
    """Move an ipywidgets slider one step with the keyboard (as a student can); return (readout before, after)."""
    handle = slider.locator(".noUi-handle").first
    readout = slider.locator(".widget-readout").first
    before = readout.inner_text() if readout.count() else ""
    at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
    handle.focus()
    handle.press("ArrowLeft" if at_max else "ArrowRight")
    page.wait_for_timeout(300)
    after = readout.inner_text() if readout.count() else ""
    return before, after


def _change_dropdown(select) -> tuple[str, str]:
    """Select the next option of a dropdown (wrapping round); return (value before, after)."""
    options = select.locator("option").all_inner_texts()
    before = select.evaluate("s => s.options[s.selectedIndex] ? s.options[s.selectedIndex].text : ''")
    if len(options) < 2:
        return before, before
    target = options[(options.index(before) + 1) % len(options)] if before in options else options[0]
    select.select_option(label=target)
    return before, target


def _shutdown_kernels(lab_server, notebook_path: str) -> None:
    """Shut down the notebook's kernel through the REST API, so notebooks do not pile up kernels."""
    base, token = lab_server["base"], lab_server["token"]
    try:
        for session in _api(base, token, "/api/sessions") or []:
            if session.get("path", "").endswith(notebook_path):
                _api(base, token, f"/api/sessions/{session['id']}", method="DELETE")
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        pass


# --------------------------------------------------------------------------- the test


def test_notebooks_found():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOKS_DIR}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_in_browser(notebook: Path, browser, lab_server, screenshot_dir, capsys):
    expected = _expected_from_file(notebook)
    committed = notebook.read_bytes()
    rel = notebook.relative_to(REPO_ROOT).as_posix()
    # One workspace per notebook (reset), so tabs of earlier notebooks are not restored.
    url = f"{lab_server['base']}/lab/workspaces/{notebook.stem}/tree/{rel}?reset&token={lab_server['token']}"
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    console_errors = []
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))
    started = time.monotonic()
    try:
        page.goto(url, wait_until="domcontentloaded", timeout=60_000)
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.content"
            f" && window.jupyterapp.shell.currentWidget.content.widgets.length === {expected['n_cells']}",
            timeout=60_000,
        )
        _wait_kernel_idle(page, timeout_s=120)  # the kernel starts with the page
        # More room for the notebook: close the file browser.
        page.evaluate("() => { if (!window.jupyterapp.shell.leftCollapsed) window.jupyterapp.shell.collapseLeft(); }")

        # ---- Run All
        ok = page.evaluate(JS_RUN_ALL, RUN_ALL_TIMEOUT * 1000)
        _wait_kernel_idle(page, timeout_s=RUN_ALL_TIMEOUT)
        run_s = time.monotonic() - started

        cells = page.evaluate(JS_CELL_OUTPUTS)
        dom_cells = page.locator(".jp-Notebook .jp-Cell")
        assert dom_cells.count() == len(cells), f"{rel}: {dom_cells.count()} cells in the page, {len(cells)} in the model"

        # ---- no errors
        errors = [
            f"cell {i}: {o['ename']}: {o['evalue']}"
            for i, c in enumerate(cells)
            for o in c["outputs"]
            if o["output_type"] == "error"
        ]
        tracebacks = page.locator('.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]', has_text="Traceback")
        errors += [f"stderr traceback: {t[:500]}" for t in tracebacks.all_inner_texts()]
        assert not errors, f"{rel}: error output after Run All:\n" + "\n".join(errors)
        assert ok is not False, f"{rel}: Run All reported a failure"
        not_run = [i for i, c in enumerate(cells) if c["type"] == "code" and c["count"] is None]
        assert not not_run, f"{rel}: code cells {not_run} did not run (Run All stopped early?)"

        # ---- figures render: as many decoded images as the committed copy shows, cell by cell
        for index, count in expected["images"].items():
            imgs = dom_cells.nth(index).locator(".jp-OutputArea-output img")
            decoded = imgs.evaluate_all("imgs => imgs.filter(i => i.complete && i.naturalWidth > 0).length")
            assert decoded >= count, f"{rel}: cell {index} shows {decoded} rendered figure(s), the committed notebook {count}"
        # Every PNG the kernel sent is rendered.
        for index, cell in enumerate(cells):
            n_png = sum("image/png" in o["mimes"] for o in cell["outputs"])
            if n_png:
                imgs = dom_cells.nth(index).locator(".jp-OutputArea-output img")
                decoded = imgs.evaluate_all("imgs => imgs.filter(i => i.complete && i.naturalWidth > 0).length")
                assert decoded >= n_png, f"{rel}: cell {index} sent {n_png} PNG(s) but {decoded} rendered"

        # ---- widgets render
        widget_cells = [i for i, c in enumerate(cells) if any(WIDGET_MIME in o["mimes"] for o in c["outputs"])]
        if expected["uses_widgets"]:
            assert widget_cells, f"{rel}: the notebook uses ipywidgets but no cell displayed a widget"
        for index in widget_cells:
            cell = dom_cells.nth(index)
            cell.locator(".jupyter-widgets").first.wait_for(state="visible", timeout=30_000)
            text = cell.locator(".jp-Cell-outputWrapper").inner_text()
            bad = [f for f in WIDGET_FALLBACKS if f in text]
            assert not bad, f"{rel}: cell {index} shows {bad} instead of its widget"
            assert not re.search(r"^\s*(interactive|VBox|HBox|IntSlider|FloatSlider)\(", text, re.M), (
                f"{rel}: cell {index} shows a widget's text representation, not the widget: {text[:200]!r}"
            )

        # ---- widgets respond
        interactions = []
        trained, redrawn = [], []  # cells whose Train button / slider redrew a plot
        for index in widget_cells:
            cell = dom_cells.nth(index)
            train = cell.locator("button.jupyter-button").filter(has_text=re.compile(r"^\s*Train"))
            sliders = cell.locator(".widget-slider")
            has_widget_plot = cell.locator(".widget-output img").count() > 0
            before = page.evaluate(JS_IMAGE_SRCS)
            if train.count():
                # Change one hyperparameter, then retrain: the plot must be redrawn.
                changed = None
                if sliders.count():
                    changed = ("slider",) + _move_slider(page, sliders.first)
                elif cell.locator(".widget-dropdown select").count():
                    changed = ("dropdown",) + _change_dropdown(cell.locator(".widget-dropdown select").first)
                if changed:
                    assert changed[1] != changed[2], f"{rel}: cell {index}: the {changed[0]} did not change ({changed[1]!r})"
                train.first.click()
                after = _wait_images_changed(page, before, RESPONSE_TIMEOUT)
                assert after and after != before, f"{rel}: cell {index}: pressing {train.first.inner_text()!r} did not change the plot"
                interactions.append(f"cell {index}: {changed[0] + ' ' + changed[1] + '->' + changed[2] + ', ' if changed else ''}Train -> plot changed")
                trained.append(index)
            elif sliders.count():
                value_before, value_after = _move_slider(page, sliders.first)
                assert value_before != value_after, f"{rel}: cell {index}: the slider did not move ({value_before!r})"
                if has_widget_plot:
                    after = _wait_images_changed(page, before, RESPONSE_TIMEOUT)
                    assert after != before, f"{rel}: cell {index}: moving the slider ({value_before} -> {value_after}) did not change the image"
                    interactions.append(f"cell {index}: slider {value_before}->{value_after} -> image changed")
                    redrawn.append(index)
                else:
                    interactions.append(f"cell {index}: slider {value_before}->{value_after} (no plot in its cell)")
        _wait_kernel_idle(page, timeout_s=RESPONSE_TIMEOUT)
        errors = [f"cell {i}: {o['ename']}: {o['evalue']}" for i, c in enumerate(page.evaluate(JS_CELL_OUTPUTS)) for o in c["outputs"] if o["output_type"] == "error"]
        errors += [t[:500] for t in tracebacks.all_inner_texts()]
        errors += [t[:500] for t in page.locator(".widget-output", has_text="Traceback").all_inner_texts()]
        assert not errors, f"{rel}: error output after using the widgets:\n" + "\n".join(errors)

        if expected["uses_widgets"]:
            assert trained or redrawn, (
                f"{rel}: uses ipywidgets but no widget could be exercised: expected a 'Train...' button or a slider "
                "redrawing a plot in its cell"
            )

        # ---- one screenshot shows the first Train cell, else the first interact plot, else the first figure.
        focus_cell = (trained + redrawn + sorted(expected["images"]) + [None])[0]
        if focus_cell is not None:
            dom_cells.nth(focus_cell).locator(".jp-Cell-outputWrapper").evaluate("el => el.scrollIntoView({block: 'center'})")
            page.wait_for_timeout(300)
        shot = screenshot_dir / f"{notebook.stem}.png"
        page.screenshot(path=str(shot))
        total_s = time.monotonic() - started
        with capsys.disabled():
            print(
                f"\n[browser] {rel}: Run All {run_s:.1f} s, total {total_s:.1f} s; "
                f"{sum(expected['images'].values())} committed figure(s), {len(widget_cells)} widget cell(s); "
                + ("; ".join(interactions) or "no widgets")
                + f"\n[browser] screenshot: {shot}"
                + (f"\n[browser] JavaScript errors in the page: {console_errors}" if console_errors else "")
            )
    except BaseException:
        # Keep what the page showed when it failed, next to the other screenshots.
        try:
            page.screenshot(path=str(screenshot_dir / f"{notebook.stem}-FAILED.png"))
        except Exception:
            pass
        raise
    finally:
        _shutdown_kernels(lab_server, rel)
        context.close()
        # The test must never write the notebook (autosave is off; this checks it).
        assert notebook.read_bytes() == committed, f"{rel} was modified during the browser test"


# --------------------------------------------------------------------------- the student copy: edit a helper, re-run


JS_CELL_INDEX = """(needle) => {
  const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
  for (let i = 0; i < cells.length; i++) if (cells.get(i).sharedModel.getSource().includes(needle)) return i;
  return -1;
}"""

JS_RUN_CELL = """async (index) => {
  const panel = window.jupyterapp.shell.currentWidget;
  panel.content.activeCellIndex = index;
  await window.jupyterapp.commands.execute('notebook:run-cell');
}"""

JS_KERNEL_ID = """() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.id"""


def _cell_text(cells: list, index: int, page) -> str:
    return page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-Cell-outputWrapper").inner_text()


def test_student_edits_a_helper_in_jupyterlab_and_reruns_the_cell(tmp_path, browser, screenshot_dir, capsys):
    """In the student copy: a cell fails on an unwritten function; the student opens helpers/numpy_nn.py in
    JupyterLab's editor, writes it, saves, re-runs the cell and its check, and both pass in the same kernel."""
    from helpers.course import release
    from tests._solutions import restore

    student = tmp_path / "student"
    release.write_student_version(REPO_ROOT, student, keep_solution_url=True)
    # Everything written but ReLU (the exercise this student is on).
    from helpers.course.exercises import EXERCISES

    for exercise in EXERCISES:
        if exercise.name != "relu":
            for function in exercise.functions:
                restore(student, function)
    helper = student / "helpers" / "numpy_nn.py"
    unwritten = helper.read_text()
    # What the student writes: ReLU.forward and ReLU.backward, put back on a scratch copy to get the text.
    scratch = tmp_path / "scratch"
    (scratch / "helpers").mkdir(parents=True)
    (scratch / "helpers" / "numpy_nn.py").write_text(unwritten)
    for function in ("helpers/numpy_nn.py:ReLU.forward", "helpers/numpy_nn.py:ReLU.backward"):
        assert restore(scratch, function) == 1
    written = (scratch / "helpers" / "numpy_nn.py").read_text()
    assert written != unwritten

    rel = "notebooks/01_layers.ipynb"
    with lab_at(student) as lab:
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        try:
            page.goto(f"{lab['base']}/lab/workspaces/student/tree/{rel}?reset&token={lab['token']}",
                      wait_until="domcontentloaded", timeout=60_000)
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                                   " && window.jupyterapp.shell.currentWidget.content"
                                   " && window.jupyterapp.shell.currentWidget.content.widgets"
                                   " && window.jupyterapp.shell.currentWidget.content.widgets.length > 10",
                                   timeout=60_000)
            _wait_kernel_idle(page, timeout_s=120)
            notebook_id = page.evaluate("() => window.jupyterapp.shell.currentWidget.id")
            kernel = page.evaluate(JS_KERNEL_ID)
            relu_cell = page.evaluate(JS_CELL_INDEX, "relu_layer = ReLU()")
            check_cell = page.evaluate(JS_CELL_INDEX, 'exercises.check("relu")')
            assert 0 < relu_cell < check_cell, (relu_cell, check_cell)

            # Run All stops at the cell that calls the unwritten ReLU, with the one-line message.
            page.evaluate(JS_RUN_ALL, RUN_ALL_TIMEOUT * 1000)
            _wait_kernel_idle(page, timeout_s=RUN_ALL_TIMEOUT)
            errors = [o for o in page.evaluate(JS_CELL_OUTPUTS)[relu_cell]["outputs"] if o["output_type"] == "error"]
            assert errors and "YOUR CODE HERE: ReLU.forward (helpers/numpy_nn.py)" in errors[0]["evalue"], errors
            assert errors[0]["traceback"] == ["NotImplementedError: ReLU.forward in helpers/numpy_nn.py is not "
                                              "written yet: write the code at '# YOUR CODE HERE'."], errors

            # Open the helper in JupyterLab's editor, write the two methods, save with Ctrl+S.
            page.evaluate("async () => { await window.jupyterapp.commands.execute('docmanager:open', "
                          "{path: 'helpers/numpy_nn.py', factory: 'Editor'}); }")
            page.wait_for_function("() => { const w = window.jupyterapp.shell.currentWidget;"
                                   " return w && w.context && w.context.path === 'helpers/numpy_nn.py'"
                                   " && w.context.isReady; }", timeout=60_000)
            editor = page.locator(".jp-FileEditor .cm-content").last
            editor.wait_for(state="visible", timeout=30_000)
            page.evaluate("(text) => window.jupyterapp.shell.currentWidget.context.model.sharedModel.setSource(text)",
                          written)
            editor.click()
            page.keyboard.press("Control+s")
            deadline = time.monotonic() + 30
            while helper.read_text() != written and time.monotonic() < deadline:
                page.wait_for_timeout(250)
            assert helper.read_text() == written, "Ctrl+S in the editor did not save helpers/numpy_nn.py"

            # Back to the notebook: re-run the cell, then the exercise's check, in the same kernel.
            page.evaluate("(id) => window.jupyterapp.shell.activateById(id)", notebook_id)
            page.wait_for_function("(id) => window.jupyterapp.shell.currentWidget.id === id", arg=notebook_id)
            page.evaluate(JS_RUN_CELL, relu_cell)
            _wait_kernel_idle(page, timeout_s=120)
            page.evaluate(JS_RUN_CELL, check_cell)
            _wait_kernel_idle(page, timeout_s=RUN_ALL_TIMEOUT)
            cells = page.evaluate(JS_CELL_OUTPUTS)
            assert not [o for o in cells[relu_cell]["outputs"] if o["output_type"] == "error"], cells[relu_cell]
            assert "Backward pass of your ReLU layer" in _cell_text(cells, relu_cell, page)
            assert _cell_text(cells, check_cell, page).strip() == "relu: pass"
            assert page.evaluate(JS_KERNEL_ID) == kernel, "the kernel was restarted"
            shot = screenshot_dir / "student-edit-helper.png"
            page.locator(".jp-Notebook .jp-Cell").nth(check_cell).evaluate("el => el.scrollIntoView({block: 'center'})")
            page.screenshot(path=str(shot))
            with capsys.disabled():
                print(f"\n[browser] student copy: ReLU written in the editor, cell and check pass; screenshot: {shot}")
        except BaseException:
            try:
                page.screenshot(path=str(screenshot_dir / "student-edit-helper-FAILED.png"))
            except Exception:
                pass
            raise
        finally:
            context.close()
