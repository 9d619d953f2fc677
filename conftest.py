"""Test-suite set-up (root conftest, so it covers tests/ and notebooks/).

- Every test and every notebook (nbval) runs in smoke mode. The environment is set at import time,
  before nbval starts any kernel, so the kernels inherit it.
- The exercise markers (``pytest -m linear``) are registered from the exercise table,
  ``helpers.course.exercises.EXERCISES``, their one source.
- ``pytest -m <exercise>`` (or ``-m "a or b"``) collects only the test files that carry one of those
  markers, not every notebook and test module, so that checking one exercise takes seconds.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

os.environ["WORKBOOK_MODE"] = "smoke"
# Figures and checkpoints written during tests must not land in the user's outputs/: they go to a
# temporary folder, removed when the run ends (pytest_unconfigure), so that no run leaves files behind.
_OWN_OUTPUT = None
if "WORKBOOK_OUTPUT" not in os.environ:
    import tempfile

    _OWN_OUTPUT = os.environ["WORKBOOK_OUTPUT"] = tempfile.mkdtemp(prefix="workbook-test-outputs-")


def _exercises():
    try:
        from helpers.course.exercises import EXERCISES
    except ImportError:   # a trimmed-down copy of the repository, as some tests build: no exercises to register
        return ()
    return EXERCISES


def pytest_configure(config) -> None:
    for number, exercise in enumerate(_exercises(), start=1):
        functions = ", ".join(f.split(":")[1] for f in exercise.functions)
        config.addinivalue_line("markers", f"{exercise.name}: exercise {number} ({exercise.notebook}): {functions}")


def pytest_unconfigure(config) -> None:
    # Only the folder this run made: one named by the user (or by a run that started this one) stays.
    if _OWN_OUTPUT and os.environ.get("WORKBOOK_OUTPUT") == _OWN_OUTPUT:
        import shutil

        shutil.rmtree(_OWN_OUTPUT, ignore_errors=True)


def selected_exercises(config) -> list[str]:
    """The exercises ``-m`` names when it names nothing but exercises (``linear``, ``linear or relu``); else []."""
    expression = (config.getoption("markexpr", "") or "").strip()
    names = [part.strip() for part in re.split(r"\s+or\s+", expression)] if expression else []
    known = {e.name for e in _exercises()}
    return names if names and all(name in known for name in names) else []


def pytest_ignore_collect(collection_path: Path, config):
    # Only when collecting the default paths or folders: a file named on the command line is always collected.
    names = selected_exercises(config)
    if not names or str(collection_path) in {str(Path(a).resolve()) for a in config.args}:
        return None
    if collection_path.suffix == ".ipynb":
        return True
    if collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        text = collection_path.read_text(encoding="utf-8", errors="replace")
        return None if any(re.search(rf"\bmark\.{name}\b", text) for name in names) else True
    return None
