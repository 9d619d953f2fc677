"""Where things live (the repository root, shipped assets, the output folder) and how files are written and read.

Everything a notebook writes (figures, checkpoints, deliverable PNGs) goes to
``output_dir()``, which is ``<repo>/outputs`` unless ``WORKBOOK_OUTPUT`` says
otherwise. That folder is git-ignored: nothing a student makes is committed
or overwritten by an update of the workbook.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from helpers.settings import path_setting

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"
SUBSET_DATA_DIR = ASSETS_DIR / "data"
MODELS_DIR = ASSETS_DIR / "models"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


def output_dir(*parts: str) -> Path:
    """Return (and create) ``<output root>/<parts...>``.

    The output root is ``$WORKBOOK_OUTPUT`` if set, else ``<repo>/outputs``.
    """
    root = path_setting("WORKBOOK_OUTPUT") or REPO_ROOT / "outputs"
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def display_path(path: str | os.PathLike) -> str:
    """``path`` as printed for the reader: without the machine's folders in it.

    Relative to the repository when inside it (``outputs/models/x.pt``), else
    relative to ``$WORKBOOK_OUTPUT`` or ``$WORKBOOK_DATA`` when under one
    (``$WORKBOOK_OUTPUT/models/x.pt``), else ``~/...`` under the home folder;
    any other path is returned as it is.
    """
    path = Path(path).expanduser().absolute()
    bases = [("", REPO_ROOT)]
    for variable in ("WORKBOOK_OUTPUT", "WORKBOOK_DATA"):
        if (base := path_setting(variable)) is not None:
            bases.append((f"${variable}", base.absolute()))
    bases.append(("~", Path.home()))
    for label, base in bases:
        if path == base:
            return label or "."
        if path.is_relative_to(base):
            rest = path.relative_to(base).as_posix()
            return f"{label}/{rest}" if label else rest
    return str(path)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Write ``path`` atomically: yield a binary file to write into, renamed into place when the block ends.

    The file is a temporary one beside ``path`` (``.NAME.*.tmp``). When the
    block ends without an error it is flushed to disk, given the usual
    permissions and renamed to ``path`` in one step; on an error (a crash, a
    full disk, Ctrl-C) it is removed and ``path`` is left as it was: the old
    file or none, never a truncated one. Every atomic write in the workbook
    goes through it::

        with atomic_writer(out) as f, zipfile.ZipFile(f, "w") as archive:
            ...
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); give it the usual permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, hold_folder: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (``atomic_writer``): the old file or the new one, never half of it.

    ``hold_folder``: hold the folder's ``output_lock`` while writing (what a
    notebook's save into an output folder does: refused while another process
    writes there).
    """
    path = Path(path)
    if hold_folder:
        with output_lock(path.parent):
            return atomic_write_bytes(path, data)
    with atomic_writer(path) as f:
        f.write(data)
    return path


def json_bytes(value, indent: int | None = 1) -> bytes:
    """``value`` as the bytes of a JSON file: ``indent`` spaces per level (``None``: one line), a final newline."""
    return (json.dumps(value, indent=indent) + "\n").encode()


def atomic_write_json(path: str | os.PathLike, value, indent: int | None = 1) -> Path:
    """Write ``value`` as a JSON file (``json_bytes``) atomically; returns ``path``."""
    return atomic_write_bytes(path, json_bytes(value, indent))


def figure_bytes(fig, fmt: str = "png", **savefig_kwargs) -> bytes:
    """A matplotlib figure as the bytes of a ``fmt`` file (100 dpi, tight bounding box unless given)."""
    buf = io.BytesIO()
    savefig_kwargs.setdefault("dpi", 100)
    savefig_kwargs.setdefault("bbox_inches", "tight")
    fig.savefig(buf, format=fmt, **savefig_kwargs)
    return buf.getvalue()


def atomic_save_figure(fig, path: str | os.PathLike, **savefig_kwargs) -> Path:
    """Save a matplotlib figure atomically (PNG unless the suffix says otherwise)."""
    path = Path(path)
    return atomic_write_bytes(path, figure_bytes(fig, path.suffix.lstrip(".") or "png", **savefig_kwargs),
                              hold_folder=True)


def error_line(err: BaseException, limit: int = 200) -> str:
    """The first line of ``err``'s message (its type's name when it has none): what a one-line refusal quotes."""
    lines = str(err).strip().splitlines()
    return (lines[0] if lines else type(err).__name__)[:limit]


class NotebookError(ValueError):
    """A file given as a notebook that is missing, a folder, empty, not JSON or not a valid notebook.

    ``str(err)`` is one line, ``<path>: <reason>``; ``err.reason`` is the reason alone.
    """

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def read_notebook(path: str | os.PathLike):
    """The notebook at ``path`` (``nbformat``, version 4), checked against the notebook format.

    Raises ``NotebookError`` with one line naming the file and what is wrong with it
    instead of a traceback from deep inside nbformat or JSON.
    """
    import nbformat  # deferred: nbformat takes about a second to import, and every module imports this one

    path = Path(path)
    if not path.exists():
        raise NotebookError(path, "no such notebook")
    if not path.is_file():
        raise NotebookError(path, "a folder, not a notebook (.ipynb file)")
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # OSError, UnicodeDecodeError, JSON, nbformat and jsonschema errors
        raise NotebookError(path, f"not a readable notebook ({error_line(err)}); save it again from Jupyter, or "
                                  "restore a good copy of it") from None
    return nb


class OutputClash(ValueError):
    """An output path that is one of the inputs, or is already in use by another run."""


def refuse_overwriting_inputs(out: str | os.PathLike, inputs, what: str = "--out") -> None:
    """Raise ``OutputClash`` when ``out`` is (or links to) one of ``inputs``: an output never replaces an input."""
    out = Path(out)
    for source in inputs:
        source = Path(source)
        same = out.resolve() == source.resolve()
        if not same and out.exists() and source.exists():
            same = os.path.samefile(out, source)
        if same:
            raise OutputClash(f"{what} {out} is the input {source}; writing there would replace it. "
                              "Give another output path.")


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the ``.NAME.*.tmp`` files ``atomic_writer`` leaves when a process is killed mid-write.

    Call it only while no other process writes into ``folder`` (see ``output_lock``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.glob(".*.tmp") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def writable_folder_problem(folder: str | os.PathLike) -> str | None:
    """Why nothing can be written into ``folder`` (or the folder it would be made in), or ``None``.

    A file where the folder (or one above it) should be, or the nearest existing folder not writable: what
    a command line refuses before doing any work, rather than failing at its end.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        return f"{folder} is a file; give a folder."
    existing = next(p for p in (folder, *folder.parents) if p.exists() or p == Path(p.anchor or "."))
    if existing.exists() and not existing.is_dir():
        return f"{folder} lies under {existing}, which is a file; give another folder."
    if existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable; give a folder you can write to."
    return None


LOCK_NAME = ".workbook.lock"
HOLDER_NAME = ".workbook.lock.holder"   # who holds the lock, for the message a second writer gets
_held: dict[str, int] = {}               # folders this process holds, and how deeply (the lock is reentrant)
_held_guard = threading.Lock()


def describe_this_process() -> str:
    """How a second writer is told who holds a folder: the command line, or "a notebook (Jupyter kernel)"."""
    argv = list(getattr(sys, "orig_argv", sys.argv))
    if any("ipykernel" in part for part in argv[:3]):
        return "a notebook (Jupyter kernel)"
    command = shlex.join(["python", *argv[1:]])
    return command if len(command) <= 160 else command[:157] + "..."


@contextlib.contextmanager
def output_lock(folder: str | os.PathLike, holder: str | None = None):
    """Hold an exclusive lock on the output folder ``folder`` (a lock file inside it) while the block runs.

    Every writer of an output folder takes it: ``python -m helpers.train``,
    ``helpers.predict`` and ``helpers.numpy_nn``, the training loop (its
    checkpoint folder), the runs of notebooks 02, 06 and 07 and every file
    saved with a record (``helpers.provenance``). ``with
    output_lock(out): ...`` raises ``OutputClash`` at once when another
    process holds it, or a folder above it (a run's ``--out`` covers its
    ``models/`` and ``checkpoints/``), naming that process (``holder``,
    default its command line: ``describe_this_process``), so two writers never
    share a folder silently. Within one process the lock is reentrant (a run
    that holds ``out`` saves its files into ``out``). The operating system
    releases the lock when its process ends, even by ``kill -9``.
    """
    # deferred: filelock adds ~40 ms to importing this module, which every command line (even --help) imports
    from filelock import FileLock, Timeout

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputClash(f"{folder} is a file, not a folder; give a folder to write into.")
    folder.mkdir(parents=True, exist_ok=True)
    key = str(folder.resolve())
    with _held_guard:
        if key in _held:
            _held[key] += 1
            lock = None
        else:
            if above := _held_above(folder):   # a run's --out covers what is below it: models/, checkpoints/
                raise OutputClash(f"{folder} is inside {above}, which is in use by another run: "
                                  f"{_holder_of(above)}; wait for it to finish, or give another output folder.")
            lock = FileLock(str(folder / LOCK_NAME), timeout=0)
            try:
                lock.acquire()
            except Timeout:
                raise OutputClash(f"{folder} is in use by another run: {_holder_of(folder)}; wait for it to "
                                  "finish, or give another output folder.") from None
            _held[key] = 1
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            try:
                atomic_write_bytes(folder / HOLDER_NAME,
                                   f"{holder or describe_this_process()} (process {os.getpid()}, since {stamp})".encode())
            except OSError:
                pass   # the lock itself holds; only the name of its holder is missing
    try:
        yield folder
    finally:
        with _held_guard:
            _held[key] -= 1
            if lock is not None:
                del _held[key]
                (folder / HOLDER_NAME).unlink(missing_ok=True)
                lock.release()


def _held_above(folder: Path) -> Path | None:
    """The nearest folder above ``folder`` whose lock another process holds, or ``None``."""
    # deferred: filelock adds ~40 ms to importing this module, which every command line (even --help) imports
    from filelock import FileLock, Timeout

    for parent in folder.resolve().parents:
        if str(parent) in _held or not (parent / LOCK_NAME).is_file():
            continue
        probe = FileLock(str(parent / LOCK_NAME), timeout=0)
        try:
            probe.acquire()
        except Timeout:
            return parent
        except OSError:   # a lock file this user cannot open: not a folder it could write in either
            continue
        probe.release()
    return None


def _holder_of(folder: Path) -> str:
    try:
        return (folder / HOLDER_NAME).read_text(errors="replace").strip() or "a process that did not say which"
    except OSError:
        return f"a process that holds {folder / LOCK_NAME}"
