"""scripts/rerun_and_diff.py: which printed numbers of a re-run differ from the committed notebook's."""

import sys

from nbformat import v4

from helpers.paths import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "scripts"))
from rerun_and_diff import diff, main  # noqa: E402


def _notebook(*texts):
    nb = v4.new_notebook()
    for text in texts:
        cell = v4.new_code_cell("print(...)")
        cell.outputs = [v4.new_output("stream", name="stdout", text=text)]
        nb.cells.append(cell)
    nb.cells.insert(1, v4.new_markdown_cell("accuracy 0.5"))   # markdown is never compared
    return nb


def test_only_cells_whose_numbers_differ_are_reported_and_timings_and_paths_are_left_out():
    committed = _notebook("val acc 0.5070 after 12.5 s in /tmp/run-1/x.pt\n", "loss 1.30378789133\n", "best: 3 layers\n")
    rerun = _notebook("val acc 0.5070 after 3.1 s in /tmp/run-2/x.pt\n", "loss 1.30378789130\n", "best: 4 layers\n")
    assert diff(committed, rerun) == [(2, ["1.30378789133"], ["1.30378789130"]), (3, ["3"], ["4"])]
    assert diff(committed, committed) == []


def test_a_missing_notebook_is_refused_with_exit_status_2(tmp_path, capsys):
    assert main([str(tmp_path / "nope.ipynb")]) == 2
    assert "no such notebook" in capsys.readouterr().err
