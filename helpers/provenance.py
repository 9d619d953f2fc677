"""How a hand-in file was made: a JSON record beside it, so that smoke-mode work cannot be handed in.

Every file a notebook or ``python -m helpers.train`` saves for a hand-in
(``model.pt`` and the PNGs of the RPZ lab; the logs, curves, weights and
filter grids of CS7643) gets a sidecar ``<file>.provenance.json`` written atomically
next to it::

    {"file": "model.pt", "sha256": "...", "mode": "full", "made_by": "notebooks/06_pytorch_fc_cnn.ipynb",
     "created": "2026-12-02T14:00:00+00:00", "dataset": "mnist", "epochs": 12, "test_accuracy": 0.9951}

The ``sha256`` ties the record to the file's content: a file changed after it
was recorded has no valid record. ``collect_submission.sh`` refuses a file
whose record is missing, does not match, or says smoke mode (``problem``),
and, since anyone can write a record, measures what it claims
(``helpers.course.verify``).

Nothing a student made is overwritten by a smoke run: ``save_artefact`` in
smoke mode writes ``<stem>.smoke<suffix>`` instead of replacing a file whose
record says full mode.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from pathlib import Path

from helpers.paths import atomic_write_bytes, atomic_write_json, figure_bytes, output_lock
from helpers.runtime import mode

SUFFIX = ".provenance.json"


def sidecar(path: str | os.PathLike) -> Path:
    """The record's path: ``model.pt`` -> ``model.pt.provenance.json``."""
    path = Path(path)
    return path.with_name(path.name + SUFFIX)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record(path: str | os.PathLike, made_by: str | None, run_mode: str | None = None, **facts) -> Path:
    """Write the record of the existing file ``path``: the run mode, ``made_by`` (the notebook) and ``facts``.

    ``run_mode``: default the current one. ``facts``: what a reader needs to
    judge the file, e.g. ``dataset``, ``epochs``, ``test_accuracy``
    (JSON-serialisable values). Returns the sidecar's path.
    """
    path = Path(path)
    entry = {"file": path.name, "sha256": _sha256(path), "mode": run_mode or mode(), "made_by": made_by,
             "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **facts}
    return atomic_write_json(sidecar(path), entry)


def read(path: str | os.PathLike) -> dict | None:
    """The record of ``path`` when it exists and matches the file's content, else None."""
    path = Path(path)
    try:
        entry = json.loads(sidecar(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or not path.is_file() or entry.get("sha256") != _sha256(path):
        return None
    return entry


def problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be handed in (no record, changed since, smoke mode), or None."""
    path = Path(path)
    if not sidecar(path).is_file():
        return f"there is no record of how it was made ({sidecar(path).name} is missing)"
    entry = read(path)
    if entry is None:
        return f"it changed after it was made (it no longer matches {sidecar(path).name})"
    if entry.get("mode") != "full":
        return f"it was made in {entry.get('mode')} mode, a quick check run, not the real training"
    return None


def describe(entry: dict | None) -> str:
    """One line about a record: ``full mode, mnist, 12 epochs, test accuracy 0.9951``."""
    if not entry:
        return "no record"
    parts = [f"{entry.get('mode')} mode"]
    if entry.get("dataset"):
        parts.append(str(entry["dataset"]))
    if entry.get("epochs") is not None:
        parts.append(f"{entry['epochs']} epochs")
    for key in ("test_accuracy", "val_accuracy"):
        if entry.get(key) is not None:
            parts.append(f"{key.replace('_', ' ')} {entry[key]:.4f}")
    return ", ".join(parts)


def keep_full(path: str | os.PathLike) -> Path:
    """Where a smoke run may write ``path`` without replacing full-mode work (``<stem>.smoke<suffix>``)."""
    path = Path(path)
    if mode() == "smoke" and (read(path) or {}).get("mode") == "full":
        kept = path.with_name(f"{path.stem}.smoke{path.suffix}")
        print(f"{path.name} from a full run is kept; this smoke run's file is {kept.name}")
        return kept
    return path


def save_artefact(path: str | os.PathLike, data: bytes, made_by: str, **facts) -> Path:
    """Write ``data`` to ``path`` atomically with its record; returns the path written.

    In smoke mode a file whose record says full mode is kept, and the data
    goes to ``<stem>.smoke<suffix>`` beside it.
    """
    with output_lock(Path(path).parent):   # one writer per output folder
        path = keep_full(Path(path))
        atomic_write_bytes(path, data)
        record(path, made_by, **facts)
    return path


def save_figure(fig, path: str | os.PathLike, made_by: str, **facts) -> Path:
    """``save_artefact`` for a matplotlib figure (PNG unless the suffix says otherwise)."""
    return save_artefact(path, figure_bytes(fig, Path(path).suffix.lstrip(".") or "png"), made_by, **facts)


def copy_artefact(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Copy ``source`` to ``target`` atomically with the facts of ``source``'s record; returns the path written.

    The copy keeps the run mode of the training, not of the copying. A
    ``source`` without a valid record gets the mode ``unknown``, which
    ``collect_submission.sh`` refuses.
    """
    source = Path(source)
    entry = read(source) or {"mode": "unknown", "made_by": None}
    facts = {k: v for k, v in entry.items() if k not in ("file", "sha256", "created", "mode", "made_by")}
    with output_lock(Path(target).parent):
        target = keep_full(Path(target))
        atomic_write_bytes(target, source.read_bytes())
        record(target, entry.get("made_by"), run_mode=entry.get("mode"), **{**facts, "copied_from": source.name})
    return target
