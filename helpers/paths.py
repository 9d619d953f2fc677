"""Where things live: the repository root, shipped assets and the output folder.

Everything a notebook writes (figures, checkpoints, deliverable PNGs) goes to
``output_dir()``, which is ``<repo>/outputs`` unless ``WORKBOOK_OUTPUT`` says
otherwise. That folder is git-ignored: nothing a student makes is committed
or overwritten by an update of the workbook.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"
SUBSET_DATA_DIR = ASSETS_DIR / "data"
MODELS_DIR = ASSETS_DIR / "models"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


def output_dir(*parts: str) -> Path:
    """Return (and create) ``<output root>/<parts...>``.

    The output root is ``$WORKBOOK_OUTPUT`` if set, else ``<repo>/outputs``.
    """
    root = Path(os.environ.get("WORKBOOK_OUTPUT") or REPO_ROOT / "outputs")
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
        if os.environ.get(variable):
            bases.append((f"${variable}", Path(os.environ[variable]).expanduser().absolute()))
    bases.append(("~", Path.home()))
    for label, base in bases:
        if path == base:
            return label or "."
        if path.is_relative_to(base):
            rest = path.relative_to(base).as_posix()
            return f"{label}/{rest}" if label else rest
    return str(path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: a temporary file, then a rename.

    A crash or Ctrl-C half-way leaves the old file (or no file), never a
    truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
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
    return path


def figure_bytes(fig, fmt: str = "png", **savefig_kwargs) -> bytes:
    """A matplotlib figure as the bytes of a ``fmt`` file (100 dpi, tight bounding box unless given)."""
    import io

    buf = io.BytesIO()
    savefig_kwargs.setdefault("dpi", 100)
    savefig_kwargs.setdefault("bbox_inches", "tight")
    fig.savefig(buf, format=fmt, **savefig_kwargs)
    return buf.getvalue()


def atomic_save_figure(fig, path: str | os.PathLike, **savefig_kwargs) -> Path:
    """Save a matplotlib figure atomically (PNG unless the suffix says otherwise)."""
    path = Path(path)
    return atomic_write_bytes(path, figure_bytes(fig, path.suffix.lstrip(".") or "png", **savefig_kwargs))


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
    """Delete the ``.NAME.*.tmp`` files ``atomic_write_bytes`` leaves when a process is killed mid-write.

    Call it only while no other process writes into ``folder`` (see ``output_lock``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.glob(".*.tmp") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


LOCK_NAME = ".workbook.lock"


@contextlib.contextmanager
def output_lock(folder: str | os.PathLike):
    """Hold an exclusive lock on the output folder ``folder`` (a lock file inside it) while the block runs.

    ``with output_lock(out): ...`` raises ``OutputClash`` at once when another
    process holds it, so two runs never write the same files. The operating
    system releases the lock when its process ends, even by ``kill -9``.
    """
    from filelock import FileLock, Timeout

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / LOCK_NAME), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise OutputClash(f"{folder} is in use by another run (it holds {folder / LOCK_NAME}); wait for it "
                          "to finish, or give another output folder.") from None
    try:
        yield folder
    finally:
        lock.release()
