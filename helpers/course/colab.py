"""Make a notebook work in Google Colab; do nothing anywhere else.

The first code cell of every notebook is ``COLAB_CELL`` (a test checks it).
In Colab that cell mounts the student's Google Drive and keeps the workbook
there, in ``MyDrive/workbook`` (``$WORKBOOK_COLAB_HOME`` to choose another
folder): the first run clones it, later runs (a new runtime, another
notebook) reuse that folder, so the student's code and everything the
notebooks write (``outputs/``) survive a recycled runtime. When Drive is not
mounted (the student declined), it clones into ``/content/workbook`` and says
plainly that changes there are lost with the runtime. Then it puts the
workbook on ``sys.path`` and calls ``setup_colab``, which:

- installs the workbook itself with ``pip install --no-deps -e`` (so that
  pyproject's loose ``torch>=2.0`` is never resolved) and only the packages
  Colab lacks, never upgrading one it has: never torch, torchvision or
  torchaudio (Colab's CUDA builds stay), nor ipywidgets (Colab's front end
  expects the 7.x it ships);
- enables Colab's custom widget manager so that ipywidgets render;
- downloads the data sets with torchvision into ``/content/data`` (not in
  Drive: downloaded again in each new runtime) and points ``WORKBOOK_DATA`` there.

It runs once per runtime (``WORKBOOK_COLAB_READY`` marks it done). Outside
Colab (``google.colab`` not loaded) the cell is a no-op.

The repository the cell clones is ``DEFAULT_REPO_URL`` below, the one place it
is set: ``python -m helpers.course.colab set-url URL`` writes a new one there and into
the first cell of every notebook. ``$WORKBOOK_REPO`` (set before the cell)
overrides it for a fork.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

from helpers.paths import REPO_ROOT, atomic_write_bytes, read_notebook
from helpers.settings import SETTINGS, setting

# The clone URL, set once here (``python -m helpers.course.colab set-url URL`` keeps the notebooks' first cells in step).
DEFAULT_REPO_URL = "https://github.com/workbook-course/workbook"
REPO_URL = setting("WORKBOOK_REPO") or DEFAULT_REPO_URL
READY_VARIABLE = "WORKBOOK_COLAB_READY"
DRIVE_HOME = Path(SETTINGS["WORKBOOK_COLAB_HOME"].default)  # kept across runtimes
COLAB_ROOT = Path("/content/workbook")  # without Drive: lost with the runtime
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

_CELL_TEMPLATE = '''\
# Google Colab set-up: keeps the workbook in your Google Drive and installs it; does nothing outside Colab.
import os, subprocess, sys
if "google.colab" in sys.modules and not os.environ.get("WORKBOOK_COLAB_READY"):
    repo = os.environ.get("WORKBOOK_REPO", "{url}")
    home = os.environ.get("WORKBOOK_COLAB_HOME", "/content/drive/MyDrive/workbook")
    try:
        from google.colab import drive
        drive.mount("/content/drive")
    except Exception as err:  # declined or unavailable: work in the runtime, and say so
        home = "/content/workbook"
        print(f"Google Drive not mounted ({{err}}): the workbook is in {{home}}, and your changes are LOST when the runtime is recycled.")
    if not os.path.isdir(home):
        clone = subprocess.run(["git", "clone", "--depth", "1", repo, home], capture_output=True, text=True)
        if clone.returncode:
            why = ((clone.stderr or "").strip().splitlines() or [f"git exit status {{clone.returncode}}"])[-1]
            raise SystemExit(f"Could not clone {{repo}} ({{why}}): set os.environ['WORKBOOK_REPO'] to your "
                             f"course's workbook repository (ask your instructor) and re-run this cell.")
    sys.path.insert(0, home)
    from helpers.course.colab import setup_colab
    setup_colab(home)'''


def colab_cell(url: str = DEFAULT_REPO_URL) -> str:
    """The first code cell of every notebook, cloning ``url``."""
    if not re.fullmatch(r"[^\s\"'{}\\]+", url):
        raise ValueError(f"not a repository URL: {url!r}")
    return _CELL_TEMPLATE.format(url=url)


COLAB_CELL = colab_cell()


def with_repo_url(nb, url: str) -> int:
    """Point the set-up cell of notebook ``nb`` (nbformat 4, changed in place) at ``url``; returns how many cells changed.

    A first code cell that is a set-up cell for any URL (``COLAB_CELL`` with
    another address) becomes ``colab_cell(url)``.
    """
    before, after = _CELL_TEMPLATE.format(url="\0").split("\0")
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            old_url = source[len(before):len(source) - len(after)]
            if source.startswith(before) and source.endswith(after) and '"' not in old_url and source != colab_cell(url):
                cell["source"] = colab_cell(url)
                return 1
            return 0
    return 0


def with_default_repo_url(module_text: str, url: str) -> str:
    """The text of ``helpers/course/colab.py`` with ``DEFAULT_REPO_URL`` set to ``url`` (ValueError when it has no such line)."""
    colab_cell(url)  # refuses what is not a URL
    line = re.compile(r'^DEFAULT_REPO_URL = "[^"]*"$', re.M)
    if not line.search(module_text):
        raise ValueError(f'no line DEFAULT_REPO_URL = "..." to set to {url}')
    return line.sub(f'DEFAULT_REPO_URL = "{url}"', module_text, count=1)


def set_repo_url(root: Path, url: str) -> list[str]:
    """Write ``url`` as ``DEFAULT_REPO_URL`` in ``root/helpers/course/colab.py`` and into every notebook's set-up cell.

    Returns the files changed (relative to ``root``).
    """
    import nbformat  # deferred: nbformat takes about a second to import, and only set-url writes notebooks

    changed = []
    module = root / "helpers" / "course" / "colab.py"
    if not module.is_file():
        raise ValueError(f"{root} is not a copy of the workbook (it has no helpers/course/colab.py); give --root "
                         "the repository's folder.")
    notebooks = {path: read_notebook(path) for path in sorted((root / "notebooks").glob("*.ipynb"))}
    text = module.read_text(encoding="utf-8")
    new = with_default_repo_url(text, url)
    if new != text:
        atomic_write_bytes(module, new.encode("utf-8"))
        changed.append("helpers/course/colab.py")
    for path, nb in notebooks.items():   # every notebook read before any file is changed
        if with_repo_url(nb, url):
            atomic_write_bytes(path, (nbformat.writes(nb) + "\n").encode("utf-8"))
            changed.append(path.relative_to(root).as_posix())
    return changed


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
    # here, not at the top: helpers.data needs NumPy, which setup_colab may have to install before this runs
    from helpers.data import load_dataset

    os.environ["WORKBOOK_DATA"] = str(root)
    for name in names:
        load_dataset(name, "test", root=root)  # downloads when missing
    return root


def enable_widgets() -> bool:
    """Turn on Colab's custom widget manager (ipywidgets views); False where there is none."""
    try:  # here, not at the top: google.colab exists only inside Colab
        from google.colab import output  # type: ignore[import-not-found]

        output.enable_custom_widget_manager()
    except (ImportError, AttributeError):
        return False
    return True


def setup_colab(repo: Path = DRIVE_HOME, data_root: Path = COLAB_DATA, run=None, download: bool = True) -> list[list[str]]:
    """Prepare a Colab runtime (see the module docstring) for the workbook at ``repo``. Returns the commands it ran.

    Does nothing outside Colab, or when this runtime is set up already.
    ``run`` is ``subprocess.run`` unless a test passes a recorder.
    """
    if not in_colab() or setting(READY_VARIABLE):
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
    kept = "LOST when the runtime is recycled" if Path(repo) == COLAB_ROOT else "kept in your Google Drive"
    print(f"Colab ready: workbook at {repo} ({kept}), data in {data_root}" + ("" if widgets else " (no widget manager found)") + ".")
    return commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.course.colab", description="The Colab set-up cell's repository URL.")
    sub = parser.add_subparsers(dest="command", required=True)
    seturl = sub.add_parser("set-url", help="write URL into helpers/course/colab.py and every notebook's first cell")
    seturl.add_argument("url")
    seturl.add_argument("--root", type=Path, default=REPO_ROOT, help="repository (default: this one)")
    args = parser.parse_args(argv)
    try:
        changed = set_repo_url(args.root, args.url)
    except ValueError as err:   # not a URL, not the workbook, a notebook that cannot be read
        print(f"colab: {err}", file=sys.stderr)
        return 2
    except OSError as err:   # a read-only file or a full disk
        print(f"colab: cannot write {err.filename}: {err.strerror or err}", file=sys.stderr)
        return 1
    print(f"Colab cell clones {args.url}: {len(changed)} file(s) changed" + "".join(f"\n  {c}" for c in changed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
