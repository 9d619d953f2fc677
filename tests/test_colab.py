"""The Colab set-up cell: what it would do in a simulated Colab, and that it does nothing elsewhere.

Nothing here touches the network or pip: ``subprocess.run`` is replaced by a
recorder, the data download by a fake, and ``google.colab`` by a module made
here (with ``output.enable_custom_widget_manager``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import types

import nbformat
import pytest

import helpers.colab as colab
import helpers.data
from helpers.paths import NOTEBOOKS_DIR

TORCH_FAMILY = re.compile(r"^(torch|torchvision|torchaudio)($|[\[<>=!~ ;@])", re.I)


class Recorder:
    """Stands in for ``subprocess.run``: records the commands, runs nothing."""

    def __init__(self):
        self.commands: list[list[str]] = []

    def __call__(self, cmd, *args, **kwargs):
        self.commands.append([str(c) for c in cmd])
        return subprocess.CompletedProcess(cmd, 0)

    def pip_commands(self) -> list[list[str]]:
        return [c for c in self.commands if "pip" in c]


@pytest.fixture
def clean_state(monkeypatch):
    """Undo whatever the cell changes: sys.path, the environment variables it sets."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in (colab.READY_VARIABLE, "WORKBOOK_DATA", "WORKBOOK_REPO"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def recorder(monkeypatch) -> Recorder:
    rec = Recorder()
    monkeypatch.setattr(subprocess, "run", rec)
    return rec


@pytest.fixture
def downloads(monkeypatch) -> list[tuple]:
    """Replace the loader the data download goes through; record (name, split, root)."""
    calls = []

    def fake_load_dataset(name, split, root=None, download=True):
        calls.append((name, split, str(root)))

    monkeypatch.setattr(helpers.data, "load_dataset", fake_load_dataset)
    return calls


@pytest.fixture
def fake_colab(monkeypatch, clean_state) -> types.SimpleNamespace:
    """A ``google.colab`` module in sys.modules, with an ``output`` that records the widget-manager call."""
    calls = types.SimpleNamespace(widget_manager=0)
    output = types.ModuleType("google.colab.output")

    def enable_custom_widget_manager():
        calls.widget_manager += 1

    output.enable_custom_widget_manager = enable_custom_widget_manager
    module = types.ModuleType("google.colab")
    module.output = output
    monkeypatch.setitem(sys.modules, "google.colab", module)
    monkeypatch.setitem(sys.modules, "google.colab.output", output)
    return calls


def _pretend_missing(monkeypatch, missing: set[str]) -> None:
    """Make ``helpers.colab`` believe these modules are not installed (as in a fresh Colab)."""
    real = importlib.util.find_spec
    monkeypatch.setattr(colab.importlib.util, "find_spec", lambda name, *a: None if name in missing else real(name, *a))


def run_cell() -> dict:
    """Execute COLAB_CELL as a notebook would (fresh globals)."""
    namespace: dict = {"__name__": "__main__"}
    exec(compile(colab.COLAB_CELL, "<COLAB_CELL>", "exec"), namespace)
    return namespace


# --------------------------------------------------------------------------- in a simulated Colab


def test_cell_in_colab_clones_installs_enables_widgets_downloads(fake_colab, recorder, downloads, monkeypatch):
    # A fresh Colab runtime: no hypothesis or nbval, and (to test the guard) no torch family either.
    _pretend_missing(monkeypatch, {"hypothesis", "nbval", "torch", "torchvision", "torchaudio"})
    monkeypatch.setattr(colab, "NEEDED", [*colab.NEEDED, ("torch", "torch>=2.0"), ("torchvision", "torchvision")])
    # The clone target does not exist here, so the cell clones (into the recorder).
    assert not os.path.isdir("/content/workbook")

    run_cell()

    clone, *pips = recorder.commands
    assert clone[:2] == ["git", "clone"] and clone[-2:] == [colab.DEFAULT_REPO_URL, "/content/workbook"]
    assert pips == recorder.pip_commands() and len(pips) == 2
    workbook, extras = pips
    assert "--no-deps" in workbook and workbook[-2:] == ["-e", "/content/workbook"], workbook
    assert extras[extras.index("install") + 1 :] == ["-q", "hypothesis", "nbval"], extras
    assert fake_colab.widget_manager == 1
    assert downloads == [(name, "test", "/content/data") for name in ("mnist", "fashion_mnist", "cifar10")]
    assert os.environ["WORKBOOK_DATA"] == "/content/data"
    assert os.environ[colab.READY_VARIABLE] == "1"
    assert sys.path[0] == "/content/workbook"


def test_cell_never_installs_or_pins_torch(fake_colab, recorder, downloads, monkeypatch):
    # Even with every module missing and torch listed as needed, no command names the torch family,
    # upgrades anything, or installs the pinned requirements.txt (which pins torch).
    _pretend_missing(monkeypatch, {name for name, _ in colab.NEEDED} | {"torch", "torchvision", "torchaudio"})
    monkeypatch.setattr(colab, "NEEDED", [*colab.NEEDED, ("torch", "torch==2.14.1"), ("torchaudio", "torchaudio")])
    run_cell()
    pips = recorder.pip_commands()
    assert pips, "expected pip commands in a fresh Colab"
    for cmd in pips:
        args = cmd[cmd.index("install") + 1 :]
        assert not [a for a in args if TORCH_FAMILY.match(a)], f"installs the torch family: {cmd}"
        assert not {"-U", "--upgrade", "--force-reinstall", "-r", "--requirement"} & set(args), cmd
        assert not any("requirements" in a for a in args), cmd
    # The workbook itself is installed without its dependencies (pyproject lists torch>=2.0).
    assert any("--no-deps" in cmd and "-e" in cmd for cmd in pips)
    # What Colab already has is left alone: nothing is installed that is importable.
    installed = {a for cmd in pips for a in cmd[cmd.index("install") + 1 :] if not a.startswith("-") and "/" not in a}
    assert installed == {req for name, req in colab.NEEDED if not TORCH_FAMILY.match(req)}


def test_cell_installs_nothing_colab_has(fake_colab, recorder, downloads, monkeypatch):
    _pretend_missing(monkeypatch, set())  # everything in NEEDED importable, as in this venv
    monkeypatch.setattr(colab, "NEEDED", [(name, req) for name, req in colab.NEEDED if importlib.util.find_spec(name)])
    run_cell()
    assert len(recorder.pip_commands()) == 1, recorder.commands  # only the workbook itself, --no-deps


def test_setup_refuses_a_torch_command(fake_colab, recorder, downloads, monkeypatch):
    # If install_commands ever produced a torch install, setup_colab stops before running it.
    monkeypatch.setattr(colab, "install_commands", lambda repo: [[sys.executable, "-m", "pip", "install", "torch==2.0"]])
    with pytest.raises(RuntimeError, match="torch"):
        colab.setup_colab(download=False)
    assert recorder.commands == []


def test_cell_runs_once_per_runtime(fake_colab, recorder, downloads, monkeypatch):
    real_isdir = os.path.isdir
    monkeypatch.setattr(os.path, "isdir", lambda p: p == "/content/workbook" or real_isdir(p))  # cloned before
    run_cell()
    first = list(recorder.commands)
    assert first and all(c[:2] != ["git", "clone"] for c in first), "an existing clone is reused"
    run_cell()
    assert recorder.commands == first, "a second run of the cell must not install again"
    assert len(downloads) == 3 and fake_colab.widget_manager == 1


def test_widget_manager_missing_is_tolerated(clean_state, recorder, downloads, monkeypatch):
    # An older google.colab without enable_custom_widget_manager: set-up still completes.
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setitem(sys.modules, "google.colab.output", types.ModuleType("google.colab.output"))
    sys.modules["google.colab"].output = sys.modules["google.colab.output"]
    assert colab.setup_colab(download=False)
    assert os.environ[colab.READY_VARIABLE] == "1"


# --------------------------------------------------------------------------- anywhere else


def test_cell_is_a_noop_outside_colab(clean_state, recorder, downloads, monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    path_before, env_before = list(sys.path), dict(os.environ)
    namespace = run_cell()
    assert recorder.commands == [] and downloads == []
    assert sys.path == path_before and dict(os.environ) == env_before
    assert "setup_colab" not in namespace
    assert colab.setup_colab() == [] and recorder.commands == []


def test_default_repo_url_is_the_cells():
    assert f'"{colab.DEFAULT_REPO_URL}"' in colab.COLAB_CELL


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS_DIR.glob("*.ipynb")), ids=lambda p: p.stem)
def test_first_code_cell_is_colab_cell(notebook):
    nb = nbformat.read(notebook, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells, f"{notebook.name} has no code cell"
    assert code_cells[0].source == colab.COLAB_CELL, (
        f"the first code cell of {notebook.name} must be exactly helpers.colab.COLAB_CELL "
        "(regenerate the notebook from its generator script)"
    )
