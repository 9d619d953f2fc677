#!/usr/bin/env python
"""Execute notebooks in place, in full mode by default, so the committed copies hold real outputs.

    WORKBOOK_DATA=../shared/data python scripts/run_notebooks.py notebooks/02_numpy_nn.ipynb
    python scripts/run_notebooks.py --mode smoke notebooks/*.ipynb      # quick check

Each notebook runs in its own folder with a fresh kernel; widget state is
stored so that widgets show in the saved notebook. Runs take a lock file, so
two full runs started on one machine queue instead of fighting over the cores
(which would also spoil the training times the notebooks print). The
notebook is written atomically: a failed run leaves the previous copy intact
and prints the failing cell's error in one line. Every notebook is read
before the first one runs: a missing, empty or broken one is named in one
line. Exit status: 0 done, 1 a run failed, 2 a notebook or option refused,
130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from helpers.cli import number  # noqa: E402

LOCK = Path(tempfile.gettempdir()) / "workbook-notebook-run.lock"


def run(path: Path, mode: str, timeout: int, cwd: Path | None = None) -> float:
    """Execute ``path`` in ``mode`` (its kernel started in ``cwd``, default its folder) and save it in place."""
    import nbformat
    from nbclient import NotebookClient

    from helpers.paths import atomic_write_bytes, read_notebook

    os.environ["WORKBOOK_MODE"] = mode
    nb = read_notebook(path)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd or path.parent)}},
                            store_widget_state=True)
    start = time.time()
    client.execute()
    elapsed = time.time() - start
    atomic_write_bytes(path, nbformat.writes(nb).encode() + b"\n")
    return elapsed


@contextlib.contextmanager
def one_run_at_a_time():
    """Hold the machine's notebook-run lock (a second full run waits instead of sharing the cores)."""
    with open(LOCK, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"Another notebook run holds {LOCK}; waiting for it...", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def failure_line(err: BaseException) -> str:
    """One line for a failed run: nbclient's error holds the cell and a traceback; keep its last line."""
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--mode", choices=("full", "smoke"), default="full")
    parser.add_argument("--timeout", type=number(int, 1, 10**6), default=7200, help="seconds per cell (default 7200)")
    args = parser.parse_args(argv)
    from helpers.paths import NotebookError, read_notebook

    try:
        for nb in args.notebooks:   # every notebook readable before the first one runs
            read_notebook(nb)
    except NotebookError as err:
        parser.error(str(err))
    with one_run_at_a_time():
        for nb in args.notebooks:
            print(f"{nb}: running in {args.mode} mode...", flush=True)
            try:
                elapsed = run(nb.resolve(), args.mode, args.timeout)
            except KeyboardInterrupt:
                print(f"{nb}: interrupted; the notebook is left as it was.", file=sys.stderr)
                return 130
            except Exception as err:  # a failing cell (nbclient's CellExecutionError), a dead kernel, a full disk
                print(f"{nb}: the {args.mode} run failed, the notebook is left as it was: {failure_line(err)}",
                      file=sys.stderr)
                return 1
            print(f"{nb}: done in {elapsed:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
