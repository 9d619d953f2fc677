#!/usr/bin/env python
"""Re-run a notebook in full mode (a copy, never the committed file) and diff its printed numbers against the commit.

    WORKBOOK_DATA=/path/to/data python scripts/rerun_and_diff.py notebooks/04_two_layer_net.ipynb
    WORKBOOK_THREADS=1 python scripts/rerun_and_diff.py notebooks/07_pytorch_cifar10.ipynb   # another thread count

For every code cell it takes the numbers in the text the cell printed
(streams and plain-text results; figures are not compared), leaves out
timings and paths (``tests/nbval_sanitize.cfg``: times, rates, addresses,
folders), and prints each cell whose numbers differ: how many stayed the same
and each changed one, committed -> new (a table's column of seconds shows up
here). ``--write`` then saves the re-run in place. Exit status: 0 when every
number reproduces, 1 when some differ, 2 when the notebook cannot be read (one line naming it) or the run
failed, 130 when interrupted. The thread counts
come from ``helpers.runtime.set_threads``
(the one thread policy), overridable for a measurement with ``WORKBOOK_THREADS``
and ``WORKBOOK_BLAS_THREADS``.
"""

from __future__ import annotations

import argparse
import configparser
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def _sanitizers() -> list[tuple[re.Pattern, str]]:
    config = configparser.ConfigParser()
    config.read(ROOT / "tests" / "nbval_sanitize.cfg")
    return [(re.compile(config[s]["regex"]), config[s]["replace"]) for s in config.sections()]


def printed_numbers(cell, sanitizers) -> list[str]:
    """The numbers a code cell printed, timings and paths left out."""
    text = ""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            text += "".join(out.get("text", ""))
        elif "data" in out and "text/plain" in out["data"] and not any(k.startswith("image/") for k in out["data"]):
            text += "".join(out["data"]["text/plain"])
    for pattern, replace in sanitizers:
        text = pattern.sub(replace, text)
    return NUMBER.findall(text)


def diff(committed, rerun) -> list[tuple[int, list[str], list[str]]]:
    """``(cell index, committed numbers, new numbers)`` of every code cell whose numbers differ."""
    sanitizers = _sanitizers()
    rows = []
    for index, (old, new) in enumerate(zip(committed.cells, rerun.cells)):
        if old.cell_type != "code":
            continue
        a, b = printed_numbers(old, sanitizers), printed_numbers(new, sanitizers)
        if a != b:
            rows.append((index, a, b))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sys.path.insert(0, str(ROOT / "scripts"))
    from run_notebooks import failure_line, number, one_run_at_a_time, run

    parser.add_argument("notebook", type=Path)
    parser.add_argument("--timeout", type=number(int, 1, 10**6), default=7200, help="seconds per cell (default 7200)")
    parser.add_argument("--write", action="store_true",
                        help="then replace the committed notebook by the re-run (atomically): the one full run")
    args = parser.parse_args(argv)
    import nbformat

    sys.path.insert(0, str(ROOT))
    from helpers.paths import NotebookError, read_notebook
    from helpers.settings import path_setting

    try:
        committed = read_notebook(args.notebook)
    except NotebookError as err:
        print(f"rerun_and_diff: {err}", file=sys.stderr)
        return 2
    # The copy runs from notebooks/: a data root given relative to where this command started must still point there.
    for variable in ("WORKBOOK_DATA", "WORKBOOK_OUTPUT"):
        if (value := path_setting(variable)) is not None:
            os.environ[variable] = str(value.resolve())
    with tempfile.TemporaryDirectory(prefix="workbook-rerun-") as tmp:
        copy = Path(tmp) / args.notebook.name
        shutil.copy2(args.notebook, copy)
        # The copy runs from the notebook's own folder, as the committed one did.
        try:
            with one_run_at_a_time():
                elapsed = run(copy, "full", args.timeout, cwd=args.notebook.resolve().parent)
        except KeyboardInterrupt:
            print(f"rerun_and_diff: interrupted; {args.notebook} is left as it was.", file=sys.stderr)
            return 130
        except Exception as err:  # a failing cell: nbclient raises CellExecutionError
            print(f"rerun_and_diff: the full run of {args.notebook} failed: {failure_line(err)}", file=sys.stderr)
            return 2
        rerun = nbformat.read(copy, as_version=4)
        if args.write:
            from helpers.paths import atomic_write_bytes

            atomic_write_bytes(args.notebook, copy.read_bytes())
    rows = diff(committed, rerun)
    print(f"{args.notebook}: re-ran in {elapsed:.0f} s; {len(rows)} cell(s) print other numbers than the commit")
    for index, old, new in rows:
        changed = [f"{a} -> {b}" for a, b in zip(old, new) if a != b]
        extra = f"; {len(old)} numbers before, {len(new)} now" if len(old) != len(new) else ""
        same = sum(a == b for a, b in zip(old, new))
        print(f"  cell {index}: {same} numbers the same, {len(changed)} changed{extra}: "
              + ", ".join(changed[:20]) + (" ..." if len(changed) > 20 else ""))
    return 1 if rows else 0


if __name__ == "__main__":
    raise SystemExit(main())
