"""The workbook's command-line tools run as from a shell: ``helpers.train`` in this process, ``helpers.predict``
in a fresh interpreter, with the repository importable."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from helpers.paths import REPO_ROOT


def repo_env() -> dict:
    """This process's environment with the repository first on ``PYTHONPATH``, for the interpreters tests start."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def train_main(*args: str, out: Path) -> int:
    """``python -m helpers.train ARGS --out OUT --no-progress``, called in this process; returns its exit code."""
    from helpers.train import main

    return main(list(args) + ["--out", str(out), "--no-progress"])


def run_predict(*args: str) -> subprocess.CompletedProcess:
    """``python -m helpers.predict ARGS`` in a fresh interpreter, its output captured."""
    return subprocess.run([sys.executable, "-m", "helpers.predict", *args], env=repo_env(), capture_output=True,
                          text=True, timeout=300)


def _last_line(path: Path) -> str:
    return path.read_text().strip().splitlines()[-1]


def logged_test_accuracy(log: Path) -> float:
    """The test accuracy a training log ends with (``test accuracy: 0.1234``); fails if it ends otherwise."""
    match = re.fullmatch(r"test accuracy: (\d\.\d{4})", _last_line(log))
    assert match, f"{log} does not end with the test accuracy: {_last_line(log)!r}"
    return float(match.group(1))
