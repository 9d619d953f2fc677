"""Where things live: the repository root, shipped assets and the output folder.

Everything a notebook writes (figures, checkpoints, deliverable PNGs) goes to
``output_dir()``, which is ``<repo>/outputs`` unless ``WORKBOOK_OUTPUT`` says
otherwise. That folder is git-ignored: nothing a student makes is committed
or overwritten by an update of the workbook.
"""

from __future__ import annotations

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
