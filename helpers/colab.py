"""Make a notebook work in Google Colab; do nothing anywhere else.

The first code cell of every notebook is ``COLAB_CELL`` (a test checks it).
In Colab that cell clones the workbook, puts it on ``sys.path`` and calls
``setup_colab``, which:

- installs the workbook itself with ``pip install --no-deps -e`` and only the
  packages Colab lacks, never torch or torchvision (Colab's CUDA build stays);
- downloads the data sets with torchvision into ``/content/data`` and points
  ``WORKBOOK_DATA`` there;
- enables Colab's custom widget manager so that ipywidgets render.

Outside Colab (``google.colab`` not importable) the cell is a no-op.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

REPO_URL = os.environ.get("WORKBOOK_REPO", "https://github.com/workbook-course/workbook")
COLAB_ROOT = Path("/content/workbook")
COLAB_DATA = Path("/content/data")

# (import name, pip requirement) the notebooks need beyond what Colab ships.
# torch and torchvision are deliberately absent: Colab's own builds are used.
NEEDED = [
    ("numpy", "numpy"),
    ("matplotlib", "matplotlib"),
    ("ipywidgets", "ipywidgets"),
    ("tqdm", "tqdm"),
    ("hypothesis", "hypothesis"),
    ("nbval", "nbval"),
]
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


def install_commands(repo: Path = COLAB_ROOT) -> list[list[str]]:
    """The pip commands ``setup_colab`` runs: the workbook without dependencies, then what is missing.

    Never contains torch, torchvision or torchaudio.
    """
    commands = [[sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-e", str(repo)]]
    missing = [r for r in missing_requirements() if r not in NEVER_INSTALL]
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


def setup_colab(repo: Path = COLAB_ROOT, data_root: Path = COLAB_DATA, run=subprocess.run, download: bool = True) -> list[list[str]]:
    """Prepare a Colab runtime (see the module docstring). Returns the commands it ran.

    ``run`` is ``subprocess.run`` unless a test passes a recorder.
    """
    commands = install_commands(repo)
    for cmd in commands:
        run(cmd, check=True)
    if str(repo) not in sys.path:
        sys.path.insert(0, str(repo))
    if download:
        download_data(data_root)
    try:
        from google.colab import output  # type: ignore[import-not-found]

        output.enable_custom_widget_manager()
    except (ImportError, AttributeError):
        pass
    os.environ["WORKBOOK_COLAB_READY"] = "1"
    print(f"Colab ready: workbook at {repo}, data in {data_root}.")
    return commands
