"""The README's front door, tried as a new user tries it: nothing activated, the commands as written.

``scripts/setup.sh`` on a machine without a suitable Python or without the package index, the
scripts that find the workbook's Python themselves (``scripts/python``, the ``run_<model>.sh``,
``collect_submission.sh``) and one exercise's check from a shell.
The two commands themselves, ``scripts/test.sh`` and ``scripts/lab.sh`` on a fresh clone, are
what ``.ci/run`` runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.paths import REPO_ROOT

SCRIPTS = REPO_ROOT / "scripts"
# What the shell scripts call besides bash's builtins.
TOOLS = ("bash", "env", "dirname", "basename", "cat", "sha256sum", "cut", "grep", "tr", "mkdir", "rm", "sleep",
         "touch", "head", "tail", "mktemp", "df")


def _bare_shell(tmp_path: Path, **programs: str) -> dict[str, str]:
    """The environment of a new user's shell: nothing activated, no Python with the workbook's packages on PATH.

    PATH holds only the tools the scripts use, plus ``programs`` (name: shell script text).
    """
    bin_dir = tmp_path / "bare-bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in TOOLS:
        if tool not in programs and (found := shutil.which(tool)) and not (bin_dir / tool).is_symlink():
            (bin_dir / tool).symlink_to(found)
    for name, text in programs.items():
        # A new file, never a write through a link to the machine's own program of that name.
        (bin_dir / name).unlink(missing_ok=True)
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "PYTHON", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = str(bin_dir)
    return env


def _checkout(tmp_path: Path, *paths: str) -> Path:
    """A new folder holding copies of ``paths`` of the repository (what setup.sh reads), as a clone has them."""
    root = tmp_path / "clone"
    for path in paths:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / path, target)
    return root


def _run(command: list[str], env: dict, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


# --------------------------------------------------------------------------- scripts/setup.sh


@pytest.mark.parametrize("python, says", [
    (None, "(python3: Python 3.9.18)"),                  # only an old python3 on PATH
    ("/nowhere/python3.12", "(/nowhere/python3.12: not found)"),   # PYTHON names nothing
])
def test_setup_names_the_python_it_needs(tmp_path, python, says):
    root = _checkout(tmp_path, "scripts/setup.sh", "requirements.txt", "pyproject.toml")
    old_python = '#!/bin/sh\nif [ "$1" = --version ]; then echo "Python 3.9.18"; exit 0; fi\nexit 1\n'
    env = _bare_shell(tmp_path, python3=old_python)
    if python:
        env["PYTHON"] = python
    result = _run([str(root / "scripts" / "setup.sh")], env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("setup.sh: needs Python 3.10 to 3.13 ") and says in lines[0], lines[0]
    assert "PYTHON=/path/to/python3.x" in lines[0]
    assert not (root / ".venv").exists()


def _pip_without_index(env: dict, index: str) -> dict:
    # pip reads no configuration file (this machine's may add local wheels) and retries once, quickly.
    return dict(env, PYTHON=sys.executable, PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=index, PIP_FIND_LINKS="",
                PIP_RETRIES="1", PIP_TIMEOUT="2", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")


def test_setup_says_when_the_package_index_cannot_be_reached(tmp_path):
    root = _checkout(tmp_path, "scripts/setup.sh", "requirements.txt", "pyproject.toml")
    env = _pip_without_index(_bare_shell(tmp_path), "http://127.0.0.1:9/simple")   # nothing listens on port 9
    for _ in range(2):   # nothing was recorded as installed: the second run tries again and says the same
        result = _run([str(root / "scripts" / "setup.sh")], env)
        assert result.returncode == 1
        # pip's own words name the host from urllib3 2 on (pips before it say only "connection refused").
        assert re.fullmatch(
            r"setup\.sh: could not install the packages of requirements\.txt: the package index( \(127\.0\.0\.1\))? "
            r"was not reachable \(check the network or proxy, then run again; pip's log: \.venv/setup\.log\)",
            result.stderr.strip()), result.stderr
    assert (root / ".venv" / "setup.log").is_file() and not list((root / ".venv").glob(".installed-*"))


def test_setup_cpu_names_the_cpu_index_it_could_not_reach_even_when_pip_falls_back_on_another(tmp_path):
    # The CPU-only index behind a firewall while another index serves torch: pip falls back on it and then
    # fails on something else (there: CUDA packages it cannot find); the line names the index that was not
    # reached, not what pip met after it.
    root = _checkout(tmp_path, "scripts/setup.sh", "requirements.txt", "pyproject.toml")
    script = (root / "scripts" / "setup.sh").read_text()
    assert "CPU_INDEX=https://download.pytorch.org/whl/cpu" in script
    (root / "scripts" / "setup.sh").write_text(   # a host name that never resolves (RFC 2606), in its place
        script.replace("CPU_INDEX=https://download.pytorch.org/whl/cpu", "CPU_INDEX=https://cpu-wheels.invalid/whl/cpu"))
    other_index = tmp_path / "other-index"
    (other_index / "torch").mkdir(parents=True)
    env = _pip_without_index(_bare_shell(tmp_path), other_index.as_uri())
    env["PIP_EXTRA_INDEX_URL"] = other_index.as_uri()
    result = _run([str(root / "scripts" / "setup.sh"), "--cpu"], env)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("setup.sh: could not install torch=="), result.stderr
    assert "the package index (cpu-wheels.invalid) was not reachable" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _venv_of_stand_ins(root: Path) -> Path:
    """A ``.venv`` whose Python imports everything and whose pip only writes down how it was called."""
    python = root / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\nif [ "$1 $2" = "-m pip" ]; then echo "pip $*" >>"$(dirname "$0")/../pip-calls"; fi\n'
                      'case "$*" in *"import helpers, torch"*) echo "torch 2.0+cpu numpy 2.0" ;; esac\nexit 0\n')
    python.chmod(0o755)
    return root / ".venv"


@pytest.mark.parametrize("requirements_changed", [False, True])
def test_a_cpu_only_set_up_stays_cpu_only_when_lab_and_test_set_up_again(tmp_path, requirements_changed):
    # The README: `scripts/setup.sh --cpu` first, then scripts/lab.sh and scripts/test.sh, which run set-up without
    # --cpu. A set-up done with --cpu is kept; when requirements.txt changed, the new pins come from the CPU-only
    # index again, never PyTorch's default build with its GPU libraries.
    root = _checkout(tmp_path, "scripts/setup.sh", "requirements.txt", "pyproject.toml")
    venv = _venv_of_stand_ins(root)
    key = subprocess.run("cat requirements.txt pyproject.toml | sha256sum | cut -c1-16", shell=True, cwd=root,
                         capture_output=True, text=True, check=True).stdout.strip()
    (venv / f".installed-{'0123456789abcdef' if requirements_changed else key}-cpu").touch()
    result = _run([str(root / "scripts" / "setup.sh")], _bare_shell(tmp_path))
    assert result.returncode == 0 and "== workbook ready in .venv" in result.stdout, result.stdout + result.stderr
    calls = (venv / "pip-calls").read_text() if (venv / "pip-calls").exists() else ""
    if requirements_changed:
        assert "--index-url https://download.pytorch.org/whl/cpu" in calls and "about 2 GB" in result.stdout, calls
    else:
        assert calls == "", calls
    assert [p.name for p in venv.glob(".installed-*")] == [f".installed-{key}-cpu"]


def test_setup_names_a_requirement_that_cannot_be_installed(tmp_path):
    root = _checkout(tmp_path, "scripts/setup.sh", "requirements.txt", "pyproject.toml")
    empty_index = tmp_path / "empty-index"
    empty_index.mkdir()
    env = _pip_without_index(_bare_shell(tmp_path), empty_index.as_uri())
    result = _run([str(root / "scripts" / "setup.sh")], env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    first_pin = next(line for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
                     if line and not line.startswith("#"))
    assert lines[0].startswith("setup.sh: could not install ") and "pip's log: .venv/setup.log" in lines[0]
    assert "pip" in lines[0] or first_pin in lines[0], lines[0]


def _df_reporting(free_gb: float) -> str:
    """A ``df`` that reports ``free_gb`` free on every file system, in the POSIX form setup.sh reads."""
    return ("#!/bin/sh\necho 'Filesystem 1024-blocks Used Available Capacity Mounted on'\n"
            f"echo '/dev/disk 999999999 1 {int(free_gb * 1024 * 1024)} 1% /'\n")


@pytest.mark.parametrize("option, free_gb, need_gb", [("", 2.5, 7), ("--cpu", 1.5, 3)])
def test_setup_says_when_the_disk_has_too_little_room(tmp_path, option, free_gb, need_gb):
    root = _checkout(tmp_path, "scripts/setup.sh", "requirements.txt", "pyproject.toml")
    env = dict(_bare_shell(tmp_path, df=_df_reporting(free_gb)), PYTHON=sys.executable)
    result = _run([str(root / "scripts" / "setup.sh"), *filter(None, [option])], env)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"setup.sh: the first set-up needs about {need_gb} GB of free disk for .venv (PyTorch and its libraries) "
        f"and {int(free_gb)} GB are free: free some space and run scripts/setup.sh again"), result.stderr
    assert not (root / ".venv").exists(), "nothing is made on a disk without room"
    assert "999999999" not in Path(shutil.which("df")).read_text(errors="replace"), "the machine's df was replaced"


def test_setup_says_when_the_disk_fills_during_the_install(tmp_path):
    """A disk that filled up while pip was installing (pip's own words: "No space left on device")."""
    root = _checkout(tmp_path, "scripts/setup.sh", "requirements.txt", "pyproject.toml")
    # pip as the disk fills: a python whose "-m pip install" fails the way pip does; the rest is the real one.
    fake_python = (f"#!/bin/sh\nif [ \"$1 $2 $3\" = '-m pip install' ]; then\n"
                   "  echo 'ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device'\n"
                   f"  exit 1\nfi\nexec {sys.executable} \"$@\"\n")
    env = dict(_bare_shell(tmp_path, df=_df_reporting(40)), PYTHON=sys.executable)
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / ".venv" / "bin" / "python").write_text(fake_python)
    (root / ".venv" / "bin" / "python").chmod(0o755)
    result = _run([str(root / "scripts" / "setup.sh")], env)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "setup.sh: could not install pip: the disk is full (40 GB free; the first set-up needs about 7 GB): "
        "free some space, delete .venv (rm -rf .venv) and run scripts/setup.sh again"), result.stderr


def test_setup_refuses_an_option_it_does_not_know(tmp_path):
    result = _run([str(SCRIPTS / "setup.sh"), "--gpu"], _bare_shell(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == "setup.sh: unknown option '--gpu' (the only option is --cpu)"


def test_setup_says_when_its_environment_no_longer_runs(tmp_path):
    root = _checkout(tmp_path, "scripts/setup.sh", "requirements.txt", "pyproject.toml")
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / ".venv" / "bin" / "python").symlink_to(tmp_path / "a-python-that-was-removed")
    result = _run([str(root / "scripts" / "setup.sh")], _bare_shell(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "setup.sh: the virtual environment .venv does not run (its Python moved or was removed): "
        "delete it (rm -rf .venv) and run scripts/setup.sh again")
    assert (root / ".venv" / "bin" / "python").is_symlink(), "what the user had is left alone"


# --------------------------------------------------------------------------- scripts that find the workbook's Python


def _repo_with_fake_venv(tmp_path: Path) -> tuple[Path, Path]:
    """A clone whose ``.venv/bin/python`` is this interpreter (it notes each use in ``used``)."""
    root = tmp_path / "clone"
    shutil.copytree(SCRIPTS, root / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO_ROOT / "collect_submission.sh", root / "collect_submission.sh")
    (root / "helpers").symlink_to(REPO_ROOT / "helpers")
    used = tmp_path / "used"
    venv_python = root / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text(f'#!/bin/sh\necho "$*" >> "{used}"\nexec "{sys.executable}" "$@"\n')
    venv_python.chmod(0o755)
    return root, used


def test_run_scripts_use_the_workbooks_environment_without_activating_it(tmp_path):
    root, used = _repo_with_fake_venv(tmp_path)
    env = _bare_shell(tmp_path)
    result = _run([str(root / "scripts" / "run_softmax.sh"), "--epochs", "1", "--out", "run", "--no-progress"],
                  env, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "-m helpers.train --model softmax" in used.read_text()
    assert (tmp_path / "run" / "softmax.log").read_text().splitlines()[-1].startswith("test accuracy")


def test_collect_submission_uses_the_workbooks_environment_without_activating_it(tmp_path):
    root, used = _repo_with_fake_venv(tmp_path)
    env = dict(_bare_shell(tmp_path), WORKBOOK_OUTPUT=str(tmp_path / "nothing-trained"))
    result = _run([str(root / "collect_submission.sh"), "rpz", "--out", str(tmp_path / "hand-in.zip")], env)
    assert "-m helpers.course.submission rpz" in used.read_text()
    # It ran the workbook's check (which refuses: nothing was trained), not a Python without the packages.
    assert result.returncode != 0 and "No module named" not in result.stderr, result.stderr
    assert "model.pt: not found" in result.stderr


def test_without_an_environment_the_scripts_say_how_to_make_one(tmp_path):
    root = tmp_path / "clone"
    shutil.copytree(SCRIPTS, root / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO_ROOT / "collect_submission.sh", root / "collect_submission.sh")
    env = _bare_shell(tmp_path, python3="#!/bin/sh\nexit 1\n")   # a python3 without the packages
    for command in (["collect_submission.sh", "rpz"], ["scripts/run_convnet.sh"], ["scripts/python", "-c", "1"]):
        result = _run([str(root / command[0]), *command[1:]], env, cwd=root)
        assert result.returncode == 1, command
        assert result.stderr.strip() == ("scripts/python: no Python here has the workbook's packages: run "
                                         "scripts/setup.sh once (it makes .venv, which is then used without "
                                         "activating it)"), result.stderr


# --------------------------------------------------------------------------- one exercise from a shell


@pytest.mark.slow
def test_one_exercise_collects_only_its_tests():
    """``pytest -m affine`` (README: one exercise's tests) does not collect the notebooks or unrelated files."""
    result = subprocess.run([sys.executable, "-m", "pytest", "-m", "affine", "--collect-only", "-q"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:]
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    assert ids and all(i.startswith("tests/test_layers.py::") for i in ids), ids
    # Collected: the tests of test_layers.py and nothing else (the other exercises' tests in it are deselected).
    in_file = subprocess.run([sys.executable, "-m", "pytest", "-m", "", "--collect-only", "-q", "tests/test_layers.py"],
                             cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    total = re.search(r"(\d+) tests? collected", in_file.stdout).group(1)
    assert re.search(rf"\b{len(ids)}/{total} tests collected", result.stdout), (result.stdout[-300:], total)
    # A file named on the command line is still collected, as pytest always does.
    named = subprocess.run([sys.executable, "-m", "pytest", "-m", "affine", "--collect-only", "-q",
                            "tests/test_numpy_nn.py"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert "deselected" in named.stdout, named.stdout[-1000:]
