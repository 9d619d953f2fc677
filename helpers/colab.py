"""Make a notebook work in Google Colab; do nothing anywhere else.

The first code cell of every notebook is ``COLAB_CELL`` (a test checks it).
In Colab that cell clones the workbook, puts it on ``sys.path`` and calls
``setup_colab``, which:

- installs the workbook itself with ``pip install --no-deps -e`` (so that
  pyproject's loose ``torch>=2.0`` is never resolved) and only the packages
  Colab lacks, never upgrading one it has: never torch, torchvision or
  torchaudio (Colab's CUDA builds stay), nor ipywidgets (Colab's front end
  expects the 7.x it ships);
- enables Colab's custom widget manager so that ipywidgets render;
- downloads the data sets with torchvision into ``/content/data`` and points
  ``WORKBOOK_DATA`` there.

It runs once per runtime (``WORKBOOK_COLAB_READY`` marks it done). Outside
Colab (``google.colab`` not loaded) the cell is a no-op.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

# The clone URL; COLAB_CELL spells the same default (it runs before helpers can be imported).
DEFAULT_REPO_URL = "https://github.com/workbook-course/workbook"
REPO_URL = os.environ.get("WORKBOOK_REPO", DEFAULT_REPO_URL)
READY_VARIABLE = "WORKBOOK_COLAB_READY"
COLAB_ROOT = Path("/content/workbook")
COLAB_DATA = Path("/content/data")

# (import name, pip requirement) the notebooks and tests need; installed only
# when the module is missing (never upgraded). hypothesis and nbval are not in
# Colab; the others are, and are listed for runtimes that lack them.
# torch and torchvision are deliberately absent: Colab's own builds are used.
NEEDED = [
    ("numpy", "numpy"),
    ("matplotlib", "matplotlib"),
    ("ipywidgets", "ipywidgets"),
    ("tqdm", "tqdm"),
    ("hypothesis", "hypothesis"),
    ("nbval", "nbval"),
]
# Never installed, upgraded or pinned by setup_colab, whatever NEEDED says.
NEVER_INSTALL = ("torch", "torchvision", "torchaudio")

COLAB_CELL = '''\
# Google Colab set-up: fetches and installs the workbook in Colab, does nothing elsewhere.
import os, subprocess, sys
if "google.colab" in sys.modules and not os.environ.get("WORKBOOK_COLAB_READY"):
    repo = os.environ.get("WORKBOOK_REPO", "https://github.com/workbook-course/workbook")
    if not os.path.isdir("/content/workbook"):
        subprocess.run(["git", "clone", "--depth", "1", repo, "/content/workbook"], check=True)
    sys.path.insert(0, "/content/workbook")
    from helpers.colab import setup_colab
    setup_colab()'''


def in_colab() -> bool:
    """True inside Google Colab."""
    # Colab imports google.colab before any user code runs.
    return "google.colab" in sys.modules


def missing_requirements() -> list[str]:
    """The pip requirements from ``NEEDED`` whose module cannot be imported here."""
    return [req for module, req in NEEDED if importlib.util.find_spec(module) is None]


def _requirement_name(requirement: str) -> str:
    """``"torch>=2.0"`` -> ``"torch"`` (the distribution name, lower case)."""
    return re.split(r"[\s\[<>=!~;@]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def install_commands(repo: Path = COLAB_ROOT) -> list[list[str]]:
    """The pip commands ``setup_colab`` runs: the workbook without dependencies, then what is missing.

    Never contains torch, torchvision or torchaudio, never ``--upgrade``.
    """
    commands = [[sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-e", str(repo)]]
    missing = [r for r in missing_requirements() if _requirement_name(r) not in NEVER_INSTALL]
    if missing:
        commands.append([sys.executable, "-m", "pip", "install", "-q", *missing])
    return commands


def download_data(root: Path = COLAB_DATA, names=("mnist", "fashion_mnist", "cifar10")) -> Path:
    """Download the data sets with torchvision into ``root`` and set ``WORKBOOK_DATA``."""
    from helpers.data import load_dataset

    os.environ["WORKBOOK_DATA"] = str(root)
    for name in names:
        load_dataset(name, "test", root=root)  # downloads when missing
    return root


def enable_widgets() -> bool:
    """Turn on Colab's custom widget manager (ipywidgets views); False where there is none."""
    try:
        from google.colab import output  # type: ignore[import-not-found]

        output.enable_custom_widget_manager()
    except (ImportError, AttributeError):
        return False
    return True


def setup_colab(repo: Path = COLAB_ROOT, data_root: Path = COLAB_DATA, run=None, download: bool = True) -> list[list[str]]:
    """Prepare a Colab runtime (see the module docstring). Returns the commands it ran.

    Does nothing outside Colab, or when this runtime is set up already.
    ``run`` is ``subprocess.run`` unless a test passes a recorder.
    """
    if not in_colab() or os.environ.get(READY_VARIABLE):
        return []
    run = run or subprocess.run
    commands = install_commands(repo)
    for cmd in commands:
        # Belt and braces: nothing may replace Colab's torch builds.
        if any(_requirement_name(arg) in NEVER_INSTALL for arg in cmd[cmd.index("install") + 1:]):
            raise RuntimeError(f"refusing to run {cmd}: it would replace Colab's torch/torchvision")
        run(cmd, check=True)
    if str(repo) not in sys.path:
        sys.path.insert(0, str(repo))
    widgets = enable_widgets()
    if download:
        download_data(data_root)
    os.environ[READY_VARIABLE] = "1"
    print(f"Colab ready: workbook at {repo}, data in {data_root}" + ("" if widgets else " (no widget manager found)") + ".")
    return commands
