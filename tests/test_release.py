"""The student version (python -m helpers.course.release student) and the marker check of the solution copy.

Most checks run on a small synthetic solution repository built here (a helpers
module, tests with a test helper and hidden tests, a notebook with code and
markdown answers, shipped weights), because it exercises every kind of marker
whatever the course modules hold today. The real repository is checked too:
its markers are balanced and its student copy collects the same tests.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from helpers.course import release
from helpers.paths import REPO_ROOT

# Built from pieces: this file must not hold marker lines itself.
B, E = "### BEGIN " + "SOLUTION", "### END " + "SOLUTION"
BH, EH = "### BEGIN " + "HIDDEN TESTS", "### END " + "HIDDEN TESTS"
MARKER_LINE = re.compile(r"^\s*(<!--\s*)?### (BEGIN|END) (SOLUTION|HIDDEN TESTS)")

LAYERS = f'''"""A solution module of the synthetic course."""
import numpy as np


def relu(x):
    """ReLU of an array of any shape."""
    {B}
    return np.maximum(x, 0)  # TOKEN-SOL-relu
    {E}


class Linear:
    def __init__(self, W):
        self.W = W

    def forward(self, x):
        """x (N, D) -> (N, M)."""
        if x.ndim != 2:
            raise ValueError(f"x must have shape (N, D), got {{x.shape}}")
        {B}
        out = x @ self.W  # TOKEN-SOL-linear
        {E}
        return out
'''

TEST_HELPER = '''import numpy as np


def assert_layer(fn, x, expected):
    """A test helper: the student's function is called in here."""
    out = fn(x)
    np.testing.assert_allclose(out, expected)
'''

TESTS = f'''from pathlib import Path

import numpy as np
import pytest

from helpers.layers import Linear, relu
from tests._layer_checks import assert_layer


def test_relu():
    assert_layer(relu, np.array([-1.0, 2.0]), [0.0, 2.0])
    {BH}
    assert relu(np.array([-3.0]))[0] == 0.0  # TOKEN-HIDDEN-py
    {EH}


def test_linear():
    assert_layer(Linear(np.eye(2)).forward, np.ones((1, 2)), [[1.0, 1.0]])


def test_linear_checks_its_input_shape():
    with pytest.raises(ValueError, match="N, D"):
        Linear(np.eye(2)).forward(np.ones(2))


def test_shipped_weights():
    assert (Path(__file__).parent.parent / "assets" / "models" / "net.pt").read_bytes().startswith(b"weights")
'''


def _notebook() -> nbformat.NotebookNode:
    v4 = nbformat.v4
    stream = lambda text: [v4.new_output("stream", name="stdout", text=text)]  # noqa: E731
    cells = [
        v4.new_markdown_cell("# Demo"),
        v4.new_code_cell("print('set-up', 1)", execution_count=1, outputs=stream("set-up 1\n")),
        v4.new_code_cell("import numpy as np\nfrom helpers.layers import relu\nprint(relu(np.array([-1.0, 2.0])))",
                         execution_count=2, outputs=stream("[0. 2.]\n")),
        v4.new_code_cell(f"def double(x):\n    {B}\n    return 2 * x  # TOKEN-SOL-double\n    {E}\n\nprint(double(3))",
                         execution_count=3, outputs=stream("6\n")),
        v4.new_code_cell(f"{B}\nanswer = 42  # TOKEN-SOL-cell\n{E}\nprint(answer)", execution_count=4, outputs=stream("42\n")),
        v4.new_markdown_cell(f"Why does it work?\n\n<!-- {B} -->\nBecause TOKEN-ANSWER-region.\n<!-- {E} -->\n\nNext."),
        v4.new_markdown_cell("TOKEN-ANSWER-cell: a whole answer cell, nbgrader style.",
                             metadata={"nbgrader": {"solution": True, "grade": True, "points": 1}}),
        v4.new_code_cell(f"assert double(2) == 4\n{BH}\nassert double(5) == 10  # TOKEN-HIDDEN-nb\n{EH}",
                         execution_count=5),
    ]
    nb = v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                               "language": "python"}})
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2,
                                                                             "version_minor": 0}}
    return nb


def make_solution_repo(root: Path) -> Path:
    """A small git repository with the workbook's test configuration and one of every marker."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("pyproject.toml", "conftest.py", ".gitignore", "tests/__init__.py", "tests/nbval_sanitize.cfg",
                 "helpers/course/student_checks.py", "collect_submission.sh"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, root / name)
    (root / "helpers" / "__init__.py").write_text("")
    (root / "helpers" / "layers.py").write_text(LAYERS)
    (root / "tests" / "_layer_checks.py").write_text(TEST_HELPER)
    (root / "tests" / "test_layers.py").write_text(TESTS)
    (root / "notebooks").mkdir()
    nbformat.write(_notebook(), root / "notebooks" / "01_demo.ipynb")
    (root / "assets" / "models").mkdir(parents=True)
    (root / "assets" / "models" / "net.pt").write_bytes(b"weights of a trained net")
    (root / "assets" / "extra.pth").write_bytes(b"weights elsewhere")
    (root / "README.md").write_text("# Synthetic course\n")
    (root / "untracked.txt").write_text("not added to git\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "--", *[p for p in _all_files(root) if p != "untracked.txt"]],
                   check=True)
    return root


def _marker_lines(path: Path) -> list[str]:
    """Marker lines left in a .py file or in a notebook's cells."""
    if path.suffix == ".ipynb":
        lines = [ln for cell in nbformat.read(path, as_version=4).cells for ln in cell.source.splitlines()]
    else:
        lines = path.read_text(errors="ignore").splitlines()
    return [ln for ln in lines if MARKER_LINE.match(ln)]


def _all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and ".git" not in p.relative_to(root).parts)


def _env(root: Path) -> dict:
    # The copy's own helpers package, not the worktree's; smoke mode as everywhere in tests.
    env = dict(os.environ, PYTHONPATH=str(root))
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _pytest(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=root,
                          env=_env(root), capture_output=True, text=True, timeout=600)


def collected_ids(root: Path, *paths: str) -> list[str]:
    result = _pytest(root, "--collect-only", "-q", *paths)
    assert result.returncode == 0, result.stdout + result.stderr
    return sorted(line for line in result.stdout.splitlines() if "::" in line)


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    """(solution repository, its student version)."""
    base = tmp_path_factory.mktemp("release")
    solution = make_solution_repo(base / "solution")
    student = base / "student"
    result = subprocess.run([sys.executable, "-m", "helpers.course.release", "student", str(student), "--source", str(solution)],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # 2 regions in layers.py; in the notebook 2 in code cells and 2 markdown answers.
    assert "6 solution regions replaced in 2 files" in result.stdout, result.stdout
    return solution, student


def test_no_solution_code_or_marker_left(copies):
    solution, student = copies
    assert any("TOKEN-" in (solution / f).read_text(errors="ignore") for f in _all_files(solution))
    for name in _all_files(student):
        assert "TOKEN-" not in (student / name).read_text(errors="ignore"), f"solution or hidden test left in {name}"
        assert not _marker_lines(student / name), f"marker left in {name}"


def test_only_tracked_files_and_no_weights(copies):
    solution, student = copies
    copied = set(_all_files(student))
    assert "untracked.txt" not in copied
    assert not {"assets/models/net.pt", "assets/extra.pth"} & copied
    manifest = json.loads((student / release.MANIFEST).read_text())
    assert sorted(manifest["withheld"]) == ["assets/extra.pth", "assets/models/net.pt"]
    assert {"README.md", "helpers/layers.py", "tests/test_layers.py", "notebooks/01_demo.ipynb"} <= copied
    assert os.access(student / "collect_submission.sh", os.X_OK), "the executable bit is kept"


def test_python_stubs_raise_and_name_the_function(copies):
    _, student = copies
    source = (student / "helpers" / "layers.py").read_text()
    ast.parse(source)
    # The stub sits at the indentation of the region it replaces; what is outside the region stays.
    assert "\n    # YOUR CODE HERE\n    raise NotImplementedError(" in source
    assert "\n        # YOUR CODE HERE\n        raise NotImplementedError(" in source
    assert '"""x (N, D) -> (N, M)."""' in source and "raise ValueError" in source
    namespace: dict = {}
    exec(compile(source, "layers.py", "exec"), namespace)
    import numpy as np

    with pytest.raises(NotImplementedError, match=r"relu \(helpers/layers.py\)"):
        namespace["relu"](np.zeros(2))
    with pytest.raises(NotImplementedError, match=r"Linear.forward \(helpers/layers.py\)"):
        namespace["Linear"](np.eye(2)).forward(np.ones((1, 2)))
    with pytest.raises(ValueError, match="N, D"):  # the shape check outside the region still runs
        namespace["Linear"](np.eye(2)).forward(np.ones(2))
    tests = (student / "tests" / "test_layers.py").read_text()
    ast.parse(tests)
    assert "assert_layer(relu" in tests and "hidden tests removed" in tests


def test_notebook_stubs_answers_and_outputs(copies):
    _, student = copies
    nb = nbformat.read(student / "notebooks" / "01_demo.ipynb", as_version=4)
    nbformat.validate(nb)
    cells = nb.cells
    assert len(cells) == len(_notebook().cells), "cells are never removed (nbval ids stay the same)"
    # Before the first cell that uses a solution: outputs kept. From it on: cleared.
    assert cells[1].outputs and cells[1].outputs[0].text == "set-up 1\n" and cells[1].execution_count == 1
    for cell in cells[2:]:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert "widgets" not in nb.metadata
    assert "raise NotImplementedError('YOUR CODE HERE: double (notebooks/01_demo.ipynb)')" in cells[3].source
    assert cells[3].source.startswith("def double(x):\n    # YOUR CODE HERE\n    raise")
    assert "YOUR CODE HERE: code cell 3 (notebooks/01_demo.ipynb)" in cells[4].source
    assert cells[5].source == "Why does it work?\n\nYOUR ANSWER HERE\n\nNext."
    assert cells[6].source == "YOUR ANSWER HERE"
    assert cells[7].source == "assert double(2) == 4\n"


def test_student_copy_collects_the_same_tests(copies):
    solution, student = copies
    ids = collected_ids(solution)
    assert any("test_layers.py::test_relu" in i for i in ids) and any("01_demo.ipynb::Cell" in i for i in ids)
    assert collected_ids(student) == ids


def test_assignment_checks_name_the_function_to_write(copies):
    solution, student = copies
    # The tests are real: they pass on the solution.
    solved = _pytest(solution, "tests", "-q")
    assert solved.returncode == 0, solved.stdout
    result = _pytest(student, "-q", "-rA")
    out = result.stdout
    assert result.returncode == 1, out
    assert re.search(r"^relu in helpers/layers.py is not written yet: write the code at '# YOUR CODE HERE'\.$", out, re.M), out
    assert "Linear.forward in helpers/layers.py is not written yet" in out
    # Never a traceback through the test helper (or anything else).
    assert "_layer_checks.py" not in out and "Traceback" not in out and "def assert_layer" not in out
    assert re.search(r"PASSED tests/test_layers.py::test_linear_checks_its_input_shape", out)
    assert re.search(r"SKIPPED .*assets/models/net.pt is withheld from the student version", out), out
    # Notebook cells (nbval): the stub's function, or the cell, in one line; later cells wait for it.
    assert "double in notebooks/01_demo.ipynb is not written yet" in out
    assert re.search(r"^code cell 3 in notebooks/01_demo.ipynb is not written yet", out, re.M)
    assert "FAILED notebooks/01_demo.ipynb::Cell 3 - code cell 3 in" in out
    assert re.search(r"passed", out.splitlines()[-1])


def test_marker_errors_name_file_and_line():
    cases = {
        f"def f():\n    {B}\n    return 1\n": "x.py:2: BEGIN marker without an END",
        f"def f():\n    return 1\n    {E}\n": "x.py:3: END marker without a BEGIN",
        f"def f():\n    {B}\n    {B}\n    {E}\n": "x.py:3: BEGIN marker inside the region opened at line 2",
        f"def f():\n    {B}\n    return 1\n{E}\n": "x.py:4: END marker indented differently",
        f"{B}\nX = 1\n{E}\n": "x.py:1: solution region outside a function",
        f"{BH}\ndef test_x():\n    pass\n{EH}\n": "x.py:1: hidden-tests region outside a function",
        # Near misses would leak the solution: refused, not ignored.
        f"def f():\n    ## BEGIN SOLUTION\n    return 1\n    {E}\n": "x.py:2: '## BEGIN SOLUTION' is not a marker",
        f"def f():\n    {B}  # the answer\n    return 1\n    {E}\n": "x.py:2: ",
    }
    for text, message in cases.items():
        with pytest.raises(release.MarkerError, match=re.escape(message)):
            release.student_python(text, "x.py")


def test_broken_markers_stop_the_release_and_write_nothing(tmp_path):
    solution = make_solution_repo(tmp_path / "solution")
    layers = solution / "helpers" / "layers.py"
    layers.write_text(layers.read_text().replace(f"    {E}\n\n\nclass", "\n\nclass", 1))
    check = subprocess.run([sys.executable, "-m", "helpers.course.release", "check", "--source", str(solution)],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert check.returncode == 1
    assert re.search(r"^helpers/layers.py:\d+: BEGIN marker inside the region opened at line 7$", check.stderr, re.M), \
        check.stderr
    out = tmp_path / "student"
    result = subprocess.run([sys.executable, "-m", "helpers.course.release", "student", str(out), "--source", str(solution)],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "nothing written" in result.stderr
    assert not out.exists() or not any(out.iterdir())


def test_solution_copy_markers_are_balanced():
    """The repository itself: every marker balanced and placed so that the student version imports."""
    result = subprocess.run([sys.executable, "-m", "helpers.course.release", "check"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "markers balanced" in result.stdout


def test_student_version_of_this_repository(tmp_path):
    out = tmp_path / "student"
    url = "https://github.com/course-2027/workbook-student"
    report = release.write_student_version(REPO_ROOT, out, repo_url=url)
    assert not [n for n in report.copied if release.is_withheld(n)]
    assert not (out / "assets" / "models").exists()
    for name in _all_files(out):
        path = out / name
        if name.endswith(".py"):
            ast.parse(path.read_text(), filename=name)
        if name.endswith((".py", ".ipynb")):
            assert not _marker_lines(path), name
    assert "helpers.course.student_checks" in (out / "conftest.py").read_text()
    # The same tests, less those of what the student copy leaves out (the instructor's grader).
    kept = [i for i in collected_ids(REPO_ROOT, "tests") if not release.is_withheld(i.split("::")[0])]
    assert collected_ids(out, "tests") == kept
    assert not (out / "helpers" / "grading").exists() and not (out / "helpers" / "grade.py").exists()
    # No answer reaches the student: nothing the check recognises, and none of the answers once seen there.
    markdown = ""
    for path in sorted((out / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        assert release.markdown_leaks(nb, path.name) == []
        markdown += "".join(c.source for c in nb.cells if c.cell_type == "markdown").lower()
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert not [o for o in outputs if "test acc" in json.dumps(o).replace("_", " ").lower()], \
            f"{path.name}: a result of the solution kept in the outputs"
    for answer in ("*answer.*", "what the curves say", "reading the table", "answered by the numbers",
                   "best accuracy: 91", "53.5%", "no gpu was lent"):
        assert answer not in markdown, answer
    assert markdown.count(release.TEXT_STUB.lower()) >= 14
    assert "- email:" in markdown and "- best accuracy:" in markdown, "07 keeps the extra.md template"
    # Colab in the copy clones the student repository, from the one place the copy sets it.
    from helpers.course.colab import colab_cell

    assert f'\nDEFAULT_REPO_URL = "{url}"\n' in (out / "helpers" / "course" / "colab.py").read_text()
    for path in sorted((out / "notebooks").glob("*.ipynb")):
        first = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert first.source == colab_cell(url), path.name
    assert not [n for n in _all_files(out) if n.startswith(("helpers/", "notebooks/", "scripts/"))
                and "from git" in (out / n).read_text()], "the copy has no git history to restore from"


def test_release_docs_match_the_plugin():
    """The stub message the release writes is the one the pytest plugin recognises."""
    from helpers.course import student_checks

    message = release.STUB_MESSAGE.format(what="Linear.forward", where="helpers/numpy_nn.py")
    assert student_checks.stub_message(NotImplementedError(message)) == (
        "Linear.forward in helpers/numpy_nn.py is not written yet: write the code at '# YOUR CODE HERE'.")
    assert student_checks.stub_message(NotImplementedError("something else")) is None
    assert textwrap.dedent(release.__doc__).count("YOUR ANSWER HERE") >= 1


def test_cells_using_a_solution_through_a_re_export_are_cleared(copies):
    solution, _ = copies
    names = release.solution_modules(solution, release.tracked_files(solution))
    assert names == {"layers", "relu", "Linear"}
    v4 = nbformat.v4
    out = [v4.new_output("stream", name="stdout", text="x\n")]
    nb = v4.new_notebook(cells=[
        v4.new_code_cell("from helpers.data import load_dataset\nprint('x')", outputs=out),
        v4.new_code_cell("from helpers.classifiers import Linear\nprint('x')", outputs=out),
        v4.new_code_cell("print('x')", outputs=out),
    ])
    student, regions = release.student_notebook(nb, "notebooks/x.ipynb", names)
    assert regions == 0
    assert [len(c.outputs) for c in student.cells] == [1, 0, 0]
    assert [len(c.outputs) for c in nb.cells] == [1, 1, 1], "the solution notebook is left untouched"


def _markdown_notebook(*sources: str, solution_cell: str = ""):
    v4 = nbformat.v4
    cells = [v4.new_markdown_cell(text) for text in sources]
    if solution_cell:
        cells.append(v4.new_markdown_cell(solution_cell, metadata={"nbgrader": {"solution": True}}))
    return v4.new_notebook(cells=cells)


def test_check_finds_results_stated_outside_solution_markers():
    nb = _markdown_notebook(
        "## Intro\n\nThe seed expects about 29% here; aim for at least 40%.",      # 0: targets are instructions
        "**Question.** Why?\n\n*Answer.* Because.",                                # 1: an Answer label
        "### Answer\n\nIt is so.",                                                  # 2: an Answer heading
        "Depth helps: 53.5% with two layers.",                                      # 3: a measured percentage
        "The test accuracy was 0.9142 in the end.",                                 # 4: an accuracy as a fraction
        f"**Question.** Does depth help?\n\n<!-- {B} -->\nYes: 55.4%.\n<!-- {E} -->",  # 5: inside markers
        "ReLU works best.",                                                         # 6: in words: not detectable
        solution_cell="**Answer.** 97% with one layer.",                            # 7: an nbgrader solution cell
    )
    problems = release.markdown_leaks(nb, "notebooks/x.ipynb")
    assert [p.split(":")[0] for p in problems] == [f"notebooks/x.ipynb cell {i}" for i in (1, 2, 3, 4)]
    assert all("\n" not in p and "outside solution markers" in p for p in problems)
    assert "53.5%" in problems[2] and "0.9142" in problems[3]


def test_release_check_refuses_a_notebook_with_an_answer_in_the_open(tmp_path):
    solution = make_solution_repo(tmp_path / "solution")
    nb = _markdown_notebook("**Question.** Which depth is best?", "Three layers: 98.9% on the test set.")
    nbformat.write(nb, solution / "notebooks" / "leak.ipynb")
    subprocess.run(["git", "-C", str(solution), "add", "notebooks/leak.ipynb"], check=True)
    check = subprocess.run([sys.executable, "-m", "helpers.course.release", "check", "--source", str(solution)],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert check.returncode == 1
    assert "notebooks/leak.ipynb cell 1: markdown states a result outside solution markers (a percentage: '98.9%')" \
        in check.stderr


def test_a_helper_that_uses_a_solution_clears_what_it_shows(tmp_path):
    """A helpers module without solution regions whose function uses one (as binary_mnist uses numpy_nn):
    a cell calling that function depends on the solution; the same word elsewhere does not."""
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "layers.py").write_text(f"def relu(x):\n    {B}\n    return x\n    {E}\n")
    (tmp_path / "helpers" / "trainer.py").write_text(
        "from helpers.layers import relu\n\n\ndef step(x):\n    return relu(x)\n\n\n"
        "def run(x):\n    return step(x)\n\n\ndef load(x):\n    run = x  # a local name, not the function\n    return run\n")
    files = ["helpers/layers.py", "helpers/trainer.py"]
    names = release.solution_modules(tmp_path, files)
    assert {"trainer.step", "trainer.run"} <= names and "trainer.load" not in names
    v4 = nbformat.v4
    out = [v4.new_output("stream", name="stdout", text="x\n")]
    nb = v4.new_notebook(cells=[
        v4.new_code_cell("from helpers import trainer as tr\nimport subprocess", outputs=out),
        v4.new_code_cell("subprocess.run(['true'])  # the word run, not the helper\nprint(tr.load(1))", outputs=out),
        v4.new_code_cell("print(tr.run(1))", outputs=out),
        v4.new_code_cell("print('after')", outputs=out),
    ])
    student, _ = release.student_notebook(nb, "notebooks/x.ipynb", names)
    assert [len(c.outputs) for c in student.cells] == [1, 1, 0, 0]
