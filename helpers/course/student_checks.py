"""pytest plugin of the workbook you work in: "write this function", not a traceback.

The root ``conftest.py`` registers this plugin. When a test (a unit test in
``tests/`` or a notebook cell run by nbval) fails because it reached a
function still to be written, ``NotImplementedError("YOUR CODE HERE:
Linear.forward (helpers/numpy_nn.py)")``, the failure is reported as one line
naming the function and the file to write, instead of a traceback through
test helpers. Later cells of the same notebook that fail are reported as
waiting for that code. A failure caused by a trained-weights file that is not
part of this copy (listed in ``.student_version.json``) becomes a skip that
says so. Any other failure is reported as usual: once the code is written,
pytest's full report follows.

Where no function is left to write, the plugin changes nothing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from helpers.stubs import stub_line

# The list of what this copy leaves out (kept here so that the plugin imports nothing of the workbook but the
# stub's one line, helpers.stubs, which imports nothing itself).
MANIFEST = ".student_version.json"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# First stub met per notebook: later failing cells of that notebook depend on it.
_notebook_stub: dict[str, str] = {}


def _texts(exc: BaseException | None):
    """Messages of ``exc`` and the exceptions chained to it (nbval's kernel traceback included)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield str(exc)
        inner = getattr(exc, "inner_traceback", None)  # nbval.plugin.NbCellError
        if inner:
            yield _ANSI.sub("", str(inner))
        exc = exc.__cause__ or exc.__context__


def stub_message(exc: BaseException | None) -> str | None:
    """One-line instruction if ``exc`` comes from a function still to be written, else None."""
    for text in _texts(exc):
        if line := stub_line(text):
            return line
    return None


def _withheld(root: Path) -> list[str]:
    try:
        return json.loads((root / MANIFEST).read_text())["withheld"]
    except (OSError, ValueError, KeyError):
        return []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if not report.failed or call.excinfo is None:
        return report
    exc = call.excinfo.value
    notebook = str(item.path) if str(item.path).endswith(".ipynb") else None
    if message := stub_message(exc):
        report.longrepr = message
        if notebook:
            _notebook_stub.setdefault(notebook, f"{item.name}: {message}")
    elif notebook and notebook in _notebook_stub:
        report.longrepr = f"needs the code an earlier cell is waiting for ({_notebook_stub[notebook]})"
    else:
        texts = [t for t in _texts(exc) if "No such file" in t or "FileNotFoundError" in t
                 or isinstance(exc, FileNotFoundError)]
        for name in _withheld(Path(item.config.rootpath)):
            if any(name in text for text in texts):
                report.outcome = "skipped"
                report.longrepr = (str(item.path), 0, f"Skipped: {name} is not part of your copy of the workbook "
                                                       "(trained weights are not handed out)")
                break
    return report
