#!/usr/bin/env python3
"""Test the workbook at the corners of the versions it promises (README, "Versions"; pyproject.toml's bounds).

    scripts/test_versions.py                    # every corner: build its environment, unit tests + every notebook
    scripts/test_versions.py newest --unit      # one corner, the unit tests only, slow ones aside
    scripts/test_versions.py newest --finished-copy  # the student copy, every exercise written: its whole unit
                                                     # suite and every notebook, in the corner (what CI runs)
    scripts/test_versions.py --list             # the corners and their versions

Each corner gets a virtual environment of its own, ``.venv-<corner>`` in the repository (built once,
rebuilt when this table or requirements.txt changes), made with the corner's Python: its pins first,
then the rest of requirements.txt (the test tools), then this repository with its declared bounds,
which must admit the corner (pip refuses otherwise). Then pytest runs the unit tests, the slow ones
included, and every notebook in smoke mode (nbval compares the outputs, as ``scripts/test.sh`` does);
``--unit`` runs what ``scripts/test.sh tests`` runs (no notebooks, no slow tests). It prints a table
of pass counts per corner and exits non-zero when any corner fails.

Needs only the standard library, so any ``python3`` runs it. The corner's Python is found as
``python3.X`` on PATH or under pyenv's versions; set ``WORKBOOK_PYTHON_3_X`` (e.g.
``WORKBOOK_PYTHON_3_10=/opt/py310/bin/python3``) to name one.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Corner:
    name: str
    python: str  # "3.10"
    pins: tuple[str, ...]  # exact versions of the packages pyproject.toml bounds
    about: str


# pyproject.toml's lower bounds are the "oldest" corner's pins (tests/test_versions.py checks that they agree).
CORNERS = (
    Corner("oldest", "3.10",
           ("numpy==1.24.0", "matplotlib==3.7.0", "pillow==9.1.0", "torch==2.5.0", "torchvision==0.20.0",
            "tqdm==4.60.0", "filelock==3.12.0", "threadpoolctl==3.1.0", "ipywidgets==7.7.0"),
           "the oldest versions pyproject.toml's bounds allow, on the oldest Python it allows"),
    Corner("colab", "3.12",
           ("numpy==2.0.2", "matplotlib==3.10.0", "torch==2.9.1", "torchvision==0.24.1", "ipywidgets==7.7.1"),
           "like Google Colab's runtime: its own torch, NumPy 2.0 and ipywidgets 7"),
    Corner("newest", "3.13",
           ("numpy==2.5.5", "matplotlib==3.11.2", "torch==2.14.1", "torchvision==0.29.1", "ipywidgets==8.1.9"),
           "the newest torch and torchvision that install together, on the newest Python"),
)
BY_NAME = {c.name: c for c in CORNERS}
CORNER_DISK_GB = 7   # free disk a corner's first build needs (as scripts/setup.sh's first set-up)


def _package(requirement: str) -> str:
    return re.split(r"[=<>!~\[ ;]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def find_python(version: str) -> str:
    """An interpreter of Python ``version`` ("3.10"); ``SystemExit`` with one line when there is none."""
    variable = "WORKBOOK_PYTHON_" + version.replace(".", "_")
    candidates = [os.environ.get(variable, ""), shutil.which(f"python{version}") or ""]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted((str(p) for p in pyenv_root.glob(f"versions/{version}.*/bin/python{version}")), reverse=True)
    for candidate in filter(None, candidates):
        try:
            found = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                   capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            continue
        if found == version:
            return candidate
    sys.exit(f"test_versions.py: no Python {version} found (python{version} on PATH, pyenv's versions); "
             f"install it, or set {variable}=/path/to/python{version}")


def requirements_for(corner: Corner) -> list[str]:
    """The corner's pins, then every other line of requirements.txt (the test tools keep their pins)."""
    pinned = {_package(p) for p in corner.pins}
    rest = []
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and _package(line) not in pinned:
            rest.append(line)
    return [*corner.pins, *rest]


def _key(corner: Corner) -> str:
    text = repr(corner) + (REPO / "requirements.txt").read_text() + (REPO / "pyproject.toml").read_text()
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build(corner: Corner, log: Path) -> Path:
    """``.venv-<corner>`` with the corner's versions (built once per table and requirements); its Python."""
    venv = REPO / f".venv-{corner.name}"
    python = venv / "bin" / "python"
    stamp = venv / f".installed-{_key(corner)}"
    if stamp.is_file():
        return python
    if venv.exists():
        shutil.rmtree(venv)
    base = find_python(corner.python)
    # Each corner's environment takes about 6 GB (PyTorch's CUDA libraries); pip stops half-way on a full disk.
    free_gb = shutil.disk_usage(REPO).free // 2**30
    if free_gb < CORNER_DISK_GB:
        sys.exit(f"test_versions.py: {corner.name}: {venv.name} needs about {CORNER_DISK_GB} GB of free disk and "
                 f"{free_gb} GB are free: free some space (another corner's .venv-<corner> can go) and run again")
    print(f"== {corner.name}: building {venv.name} with Python {corner.python} ({log.name} has pip's output)", flush=True)
    requirements = venv / "requirements-corner.txt"
    steps = [
        [base, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "--progress-bar", "off", "--upgrade", "pip"],
        [str(python), "-m", "pip", "install", "--progress-bar", "off", "-r", str(requirements)],
        # The workbook with its own bounds: pip refuses when they do not admit the corner's versions.
        [str(python), "-m", "pip", "install", "--progress-bar", "off", "-e", str(REPO)],
        [str(python), "-m", "pip", "check"],
    ]
    with log.open("w") as out:
        for i, step in enumerate(steps):
            if i == 1:
                requirements.write_text("\n".join(requirements_for(corner)) + "\n")
            out.write(f"$ {' '.join(step)}\n")
            out.flush()
            if subprocess.run(step, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                text = log.read_text(errors="replace")
                if "No space left on device" in text:
                    sys.exit(f"test_versions.py: {corner.name}: the disk is full "
                             f"({shutil.disk_usage(REPO).free // 2**30} GB free; {venv.name} needs about "
                             f"{CORNER_DISK_GB} GB): free some space and run again (whole log: {log})")
                tail = text.strip().splitlines()[-3:]
                sys.exit(f"test_versions.py: {corner.name}: `{' '.join(step[1:5])} ...` failed: "
                         f"{' / '.join(tail)} (whole log: {log})")
    stamp.touch()
    return python


def versions(python: Path) -> str:
    code = ("import sys, numpy, torch, torchvision, matplotlib, ipywidgets; "
            "print('Python %d.%d.%d' % sys.version_info[:3], 'torch', torch.__version__.split('+')[0], "
            "'torchvision', torchvision.__version__.split('+')[0], 'numpy', numpy.__version__, "
            "'matplotlib', matplotlib.__version__, 'ipywidgets', ipywidgets.__version__)")
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.strip()


def run_tests(corner: Corner, python: Path, unit_only: bool, extra: list[str], log: Path,
              finished_copy: bool = False) -> tuple[bool, str]:
    """pytest in the corner's environment; (passed, pytest's summary line). ``finished_copy``: the test that
    writes the student copy, puts every solution back and runs the copy's whole unit suite and every notebook
    (tests/test_student_copy.py), with the corner's Python."""
    paths = ["tests"] if unit_only else ["tests", "notebooks"]
    if finished_copy:
        paths, extra = ["tests/test_student_copy.py"], ["-m", "student_copy", "-k", "finished_copy", *extra]
    elif not unit_only and "-m" not in extra:   # a whole corner includes the slow tests, --unit not
        extra = ["-m", "not browser and not student_copy", *extra]
    env = dict(os.environ, VIRTUAL_ENV=str(python.parent.parent),
               PATH=f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    command = [str(python), "-m", "pytest", *paths, "-q", *extra]
    print(f"== {corner.name}: {' '.join(['pytest', *command[3:]])} (output: {log.name})", flush=True)
    with log.open("w") as out:
        result = subprocess.run(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    summary = next((line.strip("= ") for line in reversed(lines) if re.search(r"\d+ (passed|failed|error)", line)),
                   lines[-1] if lines else "no output")
    return result.returncode == 0, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corners", nargs="*", metavar="CORNER", help=f"which corners (default: all): {', '.join(BY_NAME)}")
    parser.add_argument("--unit", action="store_true", help="the unit tests only (tests/), not the notebooks")
    parser.add_argument("--finished-copy", action="store_true",
                        help="the student copy with every exercise written: its whole unit suite and every notebook "
                             "in smoke mode, run with the corner's Python (what CI runs)")
    parser.add_argument("--list", action="store_true", help="print the corners and their versions, build nothing")
    parser.add_argument("--logs", default="outputs/versions", help="where the logs go (default: %(default)s)")
    args, extra = parser.parse_known_args(argv)
    unknown = [c for c in args.corners if c not in BY_NAME]
    if unknown:
        parser.error(f"no corner called {', '.join(unknown)}; the corners are: {', '.join(BY_NAME)}")
    chosen = [BY_NAME[c] for c in args.corners] or list(CORNERS)
    if args.list:
        for corner in chosen:
            print(f"{corner.name:7s} Python {corner.python}  {' '.join(corner.pins)}\n        {corner.about}")
        return 0
    logs = (REPO / args.logs) if not Path(args.logs).is_absolute() else Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    rows = []
    for corner in chosen:
        start = time.monotonic()
        python = build(corner, logs / f"{corner.name}-install.log")
        built = time.monotonic()
        ok, summary = run_tests(corner, python, args.unit, extra, logs / f"{corner.name}-pytest.log",
                                 args.finished_copy)
        rows.append((corner.name, versions(python), summary, ok, built - start, time.monotonic() - built))
        print(f"== {corner.name}: {'pass' if ok else 'FAIL'}: {summary}", flush=True)
    print("\n| corner | versions | result | set-up | tests |\n| --- | --- | --- | --- | --- |")
    for name, version, summary, ok, setup_s, test_s in rows:
        print(f"| {name} | {version} | {summary}{'' if ok else ' (FAIL)'} | {setup_s:.0f} s | {test_s:.0f} s |")
    return 0 if all(row[3] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
