"""The committed notebooks hold the outputs of a full run on no particular machine.

The course repository's own check (the student copy leaves it out: a student's saved smoke runs are theirs).

A smoke run saved by mistake (``WORKBOOK_MODE=smoke``) or an output that shows a
folder of the machine that ran it fails here, naming notebook and cell.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from helpers.paths import NOTEBOOKS_DIR

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
# What helpers.runtime.setup prints first in every notebook: "mode: full | seed: 0 | ...".
MODE_LINE = re.compile(r"^mode: (?P<mode>\w+) \| seed:", re.M)
# An absolute path of a machine: Unix home, temporary and work folders, macOS and Windows user folders.
MACHINE_PATH = re.compile(r"(?<![\w.~$])(?:/(?:work|tmp|root|home|Users|mnt|private|var/folders)/|[A-Za-z]:\\Users\\)")
TEXT_TYPES = ("text/plain", "text/html", "text/markdown", "text/latex", "application/json")


def output_texts(cell) -> list[str]:
    """Every text a code cell's outputs hold (streams, text representations, tracebacks); images left out."""
    texts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            texts.append(output.text)
        elif output.output_type == "error":
            texts.extend(output.traceback)
        else:
            texts.extend(str(output.data[t]) for t in TEXT_TYPES if t in output.get("data", {}))
    return texts


def problems(nb, where: str) -> list[str]:
    """One line per smoke-mode output or machine path in ``nb``'s outputs; a missing full-mode line too."""
    found, modes = [], []
    for index, cell in enumerate(nb.cells):
        for text in output_texts(cell):
            here = [m.group("mode") for m in MODE_LINE.finditer(text)]
            modes += here
            if any(mode != "full" for mode in here):
                found.append(f"{where} cell {index}: output of a smoke-mode run; re-run the notebook in full mode")
            if m := MACHINE_PATH.search(text):
                line = next(li for li in text.splitlines() if m.group(0) in li)
                found.append(f"{where} cell {index}: output shows a path of the machine: {line.strip()[:120]!r}")
    if not modes:
        found.append(f"{where}: no 'mode: full' line from setup(); the notebook was saved without a full run")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_outputs_are_from_a_full_run_and_show_no_machine_path(path):
    nb = nbformat.read(path, as_version=4)
    assert problems(nb, path.name) == []


def _nb(*outputs):
    v4 = nbformat.v4
    return v4.new_notebook(cells=[v4.new_code_cell("x", outputs=[o]) for o in outputs])


def test_a_smoke_run_or_a_machine_path_is_caught():
    v4 = nbformat.v4
    full = v4.new_output("stream", name="stdout", text="mode: full | seed: 0 | threads: 2\n")
    smoke = v4.new_output("stream", name="stdout", text="mode: smoke | seed: 0 | threads: 2\n")
    saved = v4.new_output("stream", name="stdout", text="saved /home/ana/workbook/outputs/models/x.pt\n")
    shown = v4.new_output("execute_result", data={"text/plain": "PosixPath('/tmp/pytest-1/outputs')"}, execution_count=1)
    error = v4.new_output("error", ename="OSError", evalue="x", traceback=['File "C:\\Users\\ana\\helpers\\data.py"'])
    relative = v4.new_output("stream", name="stdout", text="saved outputs/models/x.pt in /s, $WORKBOOK_DATA/MNIST\n")
    assert problems(_nb(full, relative), "ok.ipynb") == []
    found = problems(_nb(smoke, saved, shown, error), "bad.ipynb")
    assert [f.split(":")[0] for f in found] == ["bad.ipynb cell 0", "bad.ipynb cell 1", "bad.ipynb cell 2", "bad.ipynb cell 3"]
    assert "smoke" in found[0] and "/home/ana" in found[1]
    assert problems(_nb(relative), "none.ipynb") == ["none.ipynb: no 'mode: full' line from setup(); "
                                                      "the notebook was saved without a full run"]
