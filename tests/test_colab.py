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

import helpers.course.colab as colab
import helpers.data
from helpers.paths import NOTEBOOKS_DIR, REPO_ROOT

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
    """Make ``helpers.course.colab`` believe these modules are not installed (as in a fresh Colab)."""
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
        f"the first code cell of {notebook.name} must be exactly helpers.course.colab.COLAB_CELL "
        "(regenerate the notebook from its generator script)"
    )


# --------------------------------------------------------------------------- Google Drive, a failed clone, the URL


class FakeGit(Recorder):
    """A recorder whose ``git clone`` makes the target folder (a workbook with one helper), or fails."""

    def __init__(self, fail: str = ""):
        super().__init__()
        self.fail = fail

    def __call__(self, cmd, *args, **kwargs):
        super().__call__(cmd, *args, **kwargs)
        if cmd[:2] == ["git", "clone"]:
            if self.fail:
                return subprocess.CompletedProcess(cmd, 128, stdout="", stderr=f"Cloning into '{cmd[-1]}'...\n{self.fail}\n")
            helper = os.path.join(cmd[-1], "helpers", "numpy_nn.py")
            os.makedirs(os.path.dirname(helper))
            with open(helper, "w") as f:
                f.write("# YOUR CODE HERE\n")
        return subprocess.CompletedProcess(cmd, 0, stdout="", stderr="")


@pytest.fixture
def drive(fake_colab, monkeypatch, tmp_path):
    """``google.colab.drive`` whose ``mount`` records the mount point; the workbook's Drive folder is under tmp_path."""
    module = types.ModuleType("google.colab.drive")
    module.mounts = []
    module.mount = lambda mountpoint, **kwargs: module.mounts.append(mountpoint)
    monkeypatch.setitem(sys.modules, "google.colab.drive", module)
    sys.modules["google.colab"].drive = module
    home = tmp_path / "drive" / "MyDrive" / "workbook"
    monkeypatch.setenv("WORKBOOK_COLAB_HOME", str(home))
    return types.SimpleNamespace(module=module, home=home)


def _new_runtime(monkeypatch):
    """What a recycled runtime forgets: the environment the cell set, sys.path (the Drive folder stays)."""
    monkeypatch.delenv(colab.READY_VARIABLE, raising=False)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if "workbook" not in p])


def test_the_workbook_lives_in_drive_and_survives_a_recycled_runtime(drive, downloads, monkeypatch, capsys):
    git = FakeGit()
    monkeypatch.setattr(subprocess, "run", git)
    run_cell()
    assert drive.module.mounts == ["/content/drive"]
    clones = [c for c in git.commands if c[:2] == ["git", "clone"]]
    assert clones == [["git", "clone", "--depth", "1", colab.DEFAULT_REPO_URL, str(drive.home)]]
    assert git.pip_commands()[0][-2:] == ["-e", str(drive.home)] and sys.path[0] == str(drive.home)
    assert "kept in your Google Drive" in capsys.readouterr().out

    helper = drive.home / "helpers" / "numpy_nn.py"
    helper.write_text("def forward(x):\n    return x  # the student's code\n")
    _new_runtime(monkeypatch)
    git.commands.clear()
    run_cell()
    assert not [c for c in git.commands if c[:2] == ["git", "clone"]], "the Drive copy is reused, not cloned again"
    assert git.pip_commands()[0][-2:] == ["-e", str(drive.home)], "the new runtime installs the Drive copy"
    assert "the student's code" in helper.read_text()
    assert drive.module.mounts == ["/content/drive"] * 2


def test_without_drive_the_cell_says_where_work_is_lost(drive, downloads, monkeypatch, capsys):
    def refuse(mountpoint, **kwargs):
        raise ValueError("mount failed: the user declined")

    drive.module.mount = refuse
    git = FakeGit()
    monkeypatch.setattr(subprocess, "run", git)
    monkeypatch.setattr(os.path, "isdir", lambda p: p == "/content/workbook")  # a clone made earlier in this runtime
    run_cell()
    out = capsys.readouterr().out
    assert "Google Drive not mounted (mount failed: the user declined)" in out
    assert "/content/workbook" in out and "LOST when the runtime is recycled" in out
    assert git.pip_commands()[0][-2:] == ["-e", "/content/workbook"]


def test_a_failed_clone_says_what_to_set(drive, downloads, monkeypatch):
    git = FakeGit(fail=f"fatal: repository '{colab.DEFAULT_REPO_URL}/' not found")
    monkeypatch.setattr(subprocess, "run", git)
    with pytest.raises(SystemExit) as stop:
        run_cell()
    message = str(stop.value)
    assert "\n" not in message and f"Could not clone {colab.DEFAULT_REPO_URL} (fatal: " in message
    assert "not found" in message and "os.environ['WORKBOOK_REPO']" in message
    assert git.pip_commands() == [] and colab.READY_VARIABLE not in os.environ


def test_set_url_writes_the_one_place_and_every_first_cell(tmp_path):
    import shutil

    root = tmp_path / "repo"
    (root / "helpers" / "course").mkdir(parents=True)
    shutil.copy(colab.__file__, root / "helpers" / "course" / "colab.py")
    shutil.copytree(NOTEBOOKS_DIR, root / "notebooks")
    url = "https://gitlab.example.org/course/workbook-2027"
    result = subprocess.run([sys.executable, "-m", "helpers.course.colab", "set-url", url, "--root", str(root)],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    notebooks = sorted((root / "notebooks").glob("*.ipynb"))
    assert f"{len(notebooks) + 1} file(s) changed" in result.stdout
    assert f'\nDEFAULT_REPO_URL = "{url}"\n' in (root / "helpers" / "course" / "colab.py").read_text()
    for path in notebooks:
        first = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert first.source == colab.colab_cell(url), path.name
    bad = subprocess.run([sys.executable, "-m", "helpers.course.colab", "set-url", 'x" ; rm -rf /', "--root", str(root)],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "not a repository URL" in bad.stderr
