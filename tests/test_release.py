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
from helpers.course.release.files import is_withheld, tracked_files
from helpers.course.release.leaks import instructor_talk, markdown_leaks, regions_to_hide, solution_leaks
from helpers.course.release.markers import BEGIN_SOL, END_SOL, check_other_file, find_regions
from helpers.course.release.notebook_stubs import TEXT_STUB, student_notebook
from helpers.course.release.python_stubs import enclosing_functions, function_at, student_python
from helpers.course.release.solution_names import solution_modules
from helpers.course.release.student_copy import MANIFEST
from helpers.paths import REPO_ROOT
from helpers.stubs import STUB_MESSAGE

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
    manifest = json.loads((student / MANIFEST).read_text())
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


@pytest.mark.slow
def test_student_copy_collects_the_same_tests(copies):
    solution, student = copies
    ids = collected_ids(solution)
    assert any("test_layers.py::test_relu" in i for i in ids) and any("01_demo.ipynb::Cell" in i for i in ids)
    assert collected_ids(student) == ids


@pytest.mark.slow
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
    assert re.search(r"SKIPPED .*assets/models/net.pt is not part of your copy of the workbook", out), out
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
            student_python(text, "x.py")


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


@pytest.mark.slow
def test_solution_copy_markers_are_balanced():
    """The repository itself: every marker balanced and placed so that the student version imports."""
    result = subprocess.run([sys.executable, "-m", "helpers.course.release", "check"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "markers balanced" in result.stdout


STUDENT_URL = "https://github.com/course-2027/workbook-student"


@pytest.fixture(scope="module")
def this_copy(tmp_path_factory):
    """The student copy of this repository, written as an instructor would: (its folder, the report)."""
    out = tmp_path_factory.mktemp("this-copy") / "student"
    return out, release.write_student_version(REPO_ROOT, out, repo_url=STUDENT_URL)


@pytest.mark.slow
def test_the_student_copy_of_this_repository_gives_nothing_away(this_copy):
    """Every file of the copy, read from disk as a student gets it: no solution region (by its fingerprint: renamed,
    reformatted, in a test, a docstring, a notebook's source or output, a README, a script, an asset, a binary
    file), no answer of a notebook, no instructor talk, no table of results, no reference design."""
    out, report = this_copy
    contents = {name: (out / name).read_bytes() for name in _all_files(out)}
    assert len(contents) > 100 and not [n for n in report.copied if is_withheld(n)]
    code, prose = regions_to_hide(REPO_ROOT, tracked_files(REPO_ROOT))
    assert len(code) >= 50 and len(prose) >= 15, "the fingerprints cover the solution regions and the answers"
    assert solution_leaks(contents, code, prose) == []
    assert instructor_talk(contents) == []
    # A finite sigmoid for any input is exercise 3's point: no shipped file shows the stable form.
    assert not [name for name, data in contents.items() if b"logaddexp(0" in data]
    for path in sorted((out / "notebooks").glob("*.ipynb")):
        assert markdown_leaks(nbformat.read(path, as_version=4), path.name) == []
    readme = (out / "README.md").read_text()
    table_rows = [line for line in readme.splitlines() if line.startswith("|") and re.search(r"\b\d+\.\d+\b", line)]
    assert not table_rows, table_rows
    # The reference MyNet's design and its measured results stay in the instructor's copy.
    told = (out / "helpers" / "pytorch_cnn.py").read_text() + "".join(
        c.source for c in nbformat.read(out / "notebooks" / "06_pytorch_fc_cnn.ipynb", as_version=4).cells)
    for secret in ("batch norm -> ReLU", "two at 14x14", "280k parameters", "99.60", "94.74", "98.65",
                   "per-image standardisation", "normalises each"):
        assert secret not in told, secret
    assert "yours to design" in told and "(N, 10)" in told, "the student is told what MyNet must do"


@pytest.mark.slow
def test_the_student_copy_of_this_repository_runs_and_clones_the_student_repository(this_copy):
    out, _ = this_copy
    assert not (out / "assets" / "models").exists()
    for name in _all_files(out):
        path = out / name
        if name.endswith(".py"):
            ast.parse(path.read_text(), filename=name)
        if name.endswith((".py", ".ipynb")):
            assert not _marker_lines(path), name
    assert "helpers.course.student_checks" in (out / "conftest.py").read_text()
    # The same tests, less those of what the student copy leaves out (the instructor's side).
    kept = [i for i in collected_ids(REPO_ROOT, "tests") if not is_withheld(i.split("::")[0])]
    assert collected_ids(out, "tests") == kept
    for withheld in ("helpers/course/grade.py", "helpers/course/grading", "helpers/course/release",
                     "helpers/course/fingerprints.py", "tests/test_release.py", ".ci"):
        assert not (out / withheld).exists(), withheld
    # The module map lists only what the copy holds.
    assert "helpers.course.release" not in (out / "helpers" / "__init__.py").read_text()
    # No answer reaches the student: none of the answers once seen there.
    markdown = ""
    for path in sorted((out / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        markdown += "".join(c.source for c in nb.cells if c.cell_type == "markdown").lower()
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert not [o for o in outputs if "test acc" in json.dumps(o).replace("_", " ").lower()], \
            f"{path.name}: a result of the solution kept in the outputs"
    for answer in ("*answer.*", "what the curves say", "reading the table", "answered by the numbers",
                   "best accuracy: 91", "53.5%", "no gpu was lent", "np.logaddexp"):
        assert answer not in markdown, answer
    assert markdown.count(TEXT_STUB.lower()) >= 16
    assert "- email:" in markdown and "- best accuracy:" in markdown, "07 keeps the extra.md template"
    # Colab in the copy clones the student repository, from the one place the copy sets it, and the README links
    # every notebook in Colab there.
    from helpers.course.colab import colab_cell

    assert f'\nDEFAULT_REPO_URL = "{STUDENT_URL}"\n' in (out / "helpers" / "course" / "colab.py").read_text()
    readme = (out / "README.md").read_text()
    for path in sorted((out / "notebooks").glob("*.ipynb")):
        first = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert first.source == colab_cell(STUDENT_URL), path.name
        badge = f"(https://colab.research.google.com/github/course-2027/workbook-student/blob/main/notebooks/{path.name})"
        assert badge in readme, path.name
    assert "workbook-course/workbook" not in readme
    assert not [n for n in _all_files(out) if n.startswith(("helpers/", "notebooks/", "scripts/"))
                and "from git" in (out / n).read_text()], "the copy has no git history to restore from"


def test_release_docs_match_the_plugin():
    """The stub message the release writes is the one the pytest plugin recognises."""
    from helpers.course import student_checks

    message = STUB_MESSAGE.format(what="Linear.forward", where="helpers/numpy_nn.py")
    assert student_checks.stub_message(NotImplementedError(message)) == (
        "Linear.forward in helpers/numpy_nn.py is not written yet: write the code at '# YOUR CODE HERE'.")
    assert student_checks.stub_message(NotImplementedError("something else")) is None
    assert textwrap.dedent(release.__doc__).count("YOUR ANSWER HERE") >= 1


def test_cells_using_a_solution_through_a_re_export_are_cleared(copies):
    solution, _ = copies
    names = solution_modules(solution, tracked_files(solution))
    assert names == {"layers", "relu", "Linear"}
    v4 = nbformat.v4
    out = [v4.new_output("stream", name="stdout", text="x\n")]
    nb = v4.new_notebook(cells=[
        v4.new_code_cell("from helpers.data import load_dataset\nprint('x')", outputs=out),
        v4.new_code_cell("from helpers.classifiers import Linear\nprint('x')", outputs=out),
        v4.new_code_cell("print('x')", outputs=out),
    ])
    student, regions = student_notebook(nb, "notebooks/x.ipynb", names)
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
    problems = markdown_leaks(nb, "notebooks/x.ipynb")
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
    names = solution_modules(tmp_path, files)
    assert {"trainer.step", "trainer.run"} <= names and "trainer.load" not in names
    v4 = nbformat.v4
    out = [v4.new_output("stream", name="stdout", text="x\n")]
    nb = v4.new_notebook(cells=[
        v4.new_code_cell("from helpers import trainer as tr\nimport subprocess", outputs=out),
        v4.new_code_cell("subprocess.run(['true'])  # the word run, not the helper\nprint(tr.load(1))", outputs=out),
        v4.new_code_cell("print(tr.run(1))", outputs=out),
        v4.new_code_cell("print('after')", outputs=out),
    ])
    student, _ = student_notebook(nb, "notebooks/x.ipynb", names)
    assert [len(c.outputs) for c in student.cells] == [1, 1, 0, 0]


# --------------------------------------------------------------------------- every route a solution could take


def _release(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "helpers.course.release", *args], cwd=REPO_ROOT, env=_env(REPO_ROOT),
                          capture_output=True, text=True, timeout=300)


def _git_add(root: Path, *names: str) -> None:
    subprocess.run(["git", "-C", str(root), "add", "--", *names], check=True)


def _plant(root: Path, name: str, data) -> Path:
    """Write (and track) file ``name`` of the solution repository ``root``."""
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    _git_add(root, name)
    return path


_SOLUTION = "sec" + "ret_answer = 42"
# A solution region long enough to have a fingerprint, and the same code as a student would find it elsewhere:
# renamed, reformatted, without comments.
NORMALISE = f'''import numpy as np


def normalise_rows(x):
    """Each row of x turned into probabilities."""
    {B}
    shifted = x - x.max(axis=1, keepdims=True)  # no overflow in exp
    weights = np.exp(shifted)
    return weights / weights.sum(axis=1, keepdims=True)
    {E}
'''
RENAMED = "z = values - values.max(axis = 1, keepdims = True)\ne = np.exp(z)\nreturn e / e.sum(axis=1, keepdims=True)\n"
ANSWER = ("**Question.** Which rate is best?\n\n<!-- " + B + " -->\nThe middle one: with a rate of three tenths the "
          "loss falls fastest and the validation curve stays flat after the fifth epoch, which the others never "
          "reach.\n<!-- " + E + " -->\n")


def _problems(solution: Path) -> str:
    return "\n".join(release.check(solution))


def _student_fails(solution: Path, out: Path) -> None:
    with pytest.raises(release.MarkerError):
        release.write_student_version(solution, out)
    assert not out.exists()


def _repo_with_a_solution(tmp_path) -> Path:
    solution = make_solution_repo(tmp_path / "solution")
    _plant(solution, "helpers/normalise.py", NORMALISE)
    assert _problems(solution) == "", "the repository is clean before anything is planted"
    return solution


def _notebook_bytes(*cells) -> bytes:
    return (nbformat.writes(nbformat.v4.new_notebook(cells=list(cells))) + "\n").encode()


@pytest.mark.parametrize("name, data", [
    # A test that answers the exercise with a working stand-in (as test_submission.py once did).
    ("tests/test_stand_in.py", "import numpy as np\n\n\ndef stand_in(values):\n"
                               + "".join(f"    {line}\n" for line in RENAMED.splitlines())),
    # A docstring that shows the answer.
    ("helpers/tips.py", '"""Tips.\n\nThe rows::\n\n    ' + RENAMED.replace("\n", "\n    ") + '"""\n'),
    # The notebook's source, and a cell's output printing the helper's source (before any cell that names a solution).
    ("notebooks/02_peek.ipynb", _notebook_bytes(nbformat.v4.new_code_cell(
        "print(open('helpers/norm' + 'alise.py').read())",
        outputs=[nbformat.v4.new_output("stream", name="stdout", text=RENAMED)]))),
    ("notebooks/03_cell.ipynb", _notebook_bytes(nbformat.v4.new_code_cell("def f(values):\n    " + RENAMED.replace("\n", "\n    ")))),
    # A README, a shell script and an asset copied as they are.
    ("docs/NOTES.md", "# Notes\n\n```python\n" + RENAMED + "```\n"),
    ("scripts/peek.sh", "#!/bin/sh\ncat <<'EOF'\n" + RENAMED + "EOF\n"),
    ("assets/cheat.txt", RENAMED),
    # Files that look binary: a NUL near the start, a zip, a gzip.
    ("assets/blob.bin", b"\0\x01\x02binary header\n" + RENAMED.encode()),
    ("assets/answers.zip", "zip"),
    ("assets/answers.txt.gz", "gz"),
])
def test_a_solution_anywhere_in_the_copy_is_refused(tmp_path, name, data):
    import gzip
    import io
    import zipfile

    solution = _repo_with_a_solution(tmp_path)
    if data == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("answers.py", RENAMED)
        data = buffer.getvalue()
    elif data == "gz":
        data = gzip.compress(RENAMED.encode())
    _plant(solution, name, data)
    problems = _problems(solution)
    assert re.search(rf"^{re.escape(name)}( cell \d+( \(output\))?)?: holds the solution at helpers/normalise.py:\d+ "
                     r"\(100% of it", problems, re.M), problems
    assert len(problems.splitlines()) == 1, problems
    _student_fails(solution, tmp_path / "student")


def test_given_code_that_shares_a_line_with_a_solution_is_not_a_leak(tmp_path):
    solution = _repo_with_a_solution(tmp_path)
    _plant(solution, "helpers/given.py", "import numpy as np\n\n\ndef peak(x):\n    return x - x.max(axis=1, keepdims=True)\n")
    assert _problems(solution) == ""


def test_an_answer_in_prose_copied_elsewhere_is_refused(tmp_path):
    solution = make_solution_repo(tmp_path / "solution")
    _plant(solution, "notebooks/04_answers.ipynb", _notebook_bytes(nbformat.v4.new_markdown_cell(ANSWER)))
    assert _problems(solution) == ""
    _plant(solution, "docs/FAQ.md", "# FAQ\n\n" + ANSWER.split("-->\n")[1].split("\n<!--")[0].upper() + "\n")
    problems = _problems(solution)
    assert re.search(r"^docs/FAQ.md: holds the answer at notebooks/04_answers.ipynb cell 0:\d+", problems, re.M), problems


@pytest.mark.parametrize("line", [
    "### BEGIN SOLUTIONS", "### BEGIN-SOLUTION", "### BEGIN_SOLUTION", "### BEGIN\u200b SOLUTION",
    "### BEGIN SOL\u200bUTION", "### BEGIN SOLUTION  # the answer", "x = 1  ### BEGIN SOLUTION",
    "### begin solution", "###  BEGIN SOLUTION", "## BEGIN SOLUTION", "### BEGIN HIDDEN-TESTS",
])
@pytest.mark.parametrize("where", ["py", "code cell", "markdown cell"])
def test_marker_lookalikes_are_refused_naming_file_and_line(tmp_path, line, where):
    solution = make_solution_repo(tmp_path / "solution")
    end = line.replace("BEGIN", "END").replace("begin", "end")
    if where == "py":
        name, lines_before = "helpers/extra.py", 1
        _plant(solution, name, f"def f():\n    {line}\n    {_SOLUTION}\n    {end}\n    return 1\n")
    else:
        name, lines_before = "notebooks/02_extra.ipynb", 0
        make = nbformat.v4.new_code_cell if where == "code cell" else nbformat.v4.new_markdown_cell
        _plant(solution, name, _notebook_bytes(make(f"{line}\n{_SOLUTION}\n{end}\n")))
    problems = _problems(solution)
    where_line = f"{name}:{lines_before + 1}:" if where == "py" else f"{name} cell 0:{lines_before + 1}:"
    assert where_line in problems and ("is not a marker" in problems or "invisible characters" in problems), problems
    if "\u200b" in line:
        assert "U+200B" in problems, problems
    _student_fails(solution, tmp_path / "student")


def test_a_code_cell_marked_a_solution_only_in_nbgraders_metadata_is_refused(tmp_path):
    solution = make_solution_repo(tmp_path / "solution")
    cell = nbformat.v4.new_code_cell(_SOLUTION, metadata={"nbgrader": {"solution": True, "grade": False}})
    _plant(solution, "notebooks/02_meta.ipynb", _notebook_bytes(nbformat.v4.new_markdown_cell("# Meta"), cell))
    problems = _problems(solution)
    assert "notebooks/02_meta.ipynb cell 1:1: a code cell marked as a solution in nbgrader's metadata only" in problems
    _student_fails(solution, tmp_path / "student")


@pytest.mark.parametrize("data", [b"\0\0\0\0header\n### BEGIN SOLUTION\n" + _SOLUTION.encode() + b"\n### END SOLUTION\n",
                                  "Notes\n\u200b### BEGIN SOLUTION\n" + _SOLUTION + "\n### END SOLUTION\n"])
def test_a_marked_region_in_a_file_copied_as_it_is_is_refused_even_when_it_looks_binary(tmp_path, data):
    solution = make_solution_repo(tmp_path / "solution")
    _plant(solution, "assets/notes.dat", data)
    problems = _problems(solution)
    assert "assets/notes.dat:2:" in problems and "copied as it is" in problems, problems
    _student_fails(solution, tmp_path / "student")


@pytest.mark.parametrize("table", [
    "| run | clean | camera |\n|---|---|---|\n| plain | 99.60 | 97.26 |\n",          # no % sign
    "| run | accuracy |\n|---|---|\n| plain | 91.5% |\n",
])
def test_a_table_of_results_outside_solution_markers_is_refused(tmp_path, table):
    solution = make_solution_repo(tmp_path / "solution")
    nb = _notebook_bytes(nbformat.v4.new_markdown_cell("With the notebook's budget (validation accuracy):\n\n" + table))
    _plant(solution, "notebooks/05_tables.ipynb", nb)
    problems = _problems(solution)
    assert "notebooks/05_tables.ipynb cell 0: markdown states a result outside solution markers (a " in problems, problems
    assert "%" in table or "(a table of results: '| plain | 99.60 | 97.26 |')" in problems, problems
    inside = _notebook_bytes(nbformat.v4.new_markdown_cell(f"**Question.** Which wins?\n\n<!-- {B} -->\n{table}<!-- {E} -->\n"))
    _plant(solution, "notebooks/05_tables.ipynb", inside)
    assert _problems(solution) == ""


@pytest.mark.parametrize("name, text", [
    ("notebooks/02_talk.ipynb", "Write it at each stub (in the instructor's copy the solution sits there)."),
    ("notebooks/02_talk.ipynb", f"Your answer goes between `<!-- {B} -->` markers."),
    ("helpers/talk.py", '"""Run ``python -m helpers.course.release student OUT`` to hand this out."""\n'),
    ("docs/HOWTO.md", "The student copy is made with release student.\n"),
])
def test_instructor_talk_in_the_copy_is_refused(tmp_path, name, text):
    solution = make_solution_repo(tmp_path / "solution")
    data = _notebook_bytes(nbformat.v4.new_markdown_cell(text)) if name.endswith(".ipynb") else text
    _plant(solution, name, data)
    problems = _problems(solution)
    assert re.search(rf"^{re.escape(name)}( cell 0)?:1: .*the student copy speaks to students only", problems, re.M), problems
    _student_fails(solution, tmp_path / "student")


def test_release_student_never_writes_a_copy_whose_colab_cells_clone_the_solutions(tmp_path):
    from helpers.course.colab import DEFAULT_REPO_URL

    solution = make_solution_repo(tmp_path / "solution")
    _plant(solution, "helpers/course/colab.py", (REPO_ROOT / "helpers/course/colab.py").read_text())
    out = tmp_path / "student"
    for args, words in [((), "no --repo-url: the copy's Colab cells would clone the solution repository"),
                        (("--repo-url", DEFAULT_REPO_URL.upper().replace("HTTPS", "https") + ".git/"),
                         "is the solution repository")]:
        result = _release("student", str(out), "--source", str(solution), *args)
        assert result.returncode == 1 and words in result.stderr and "nothing written" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and not out.exists()
    with pytest.raises(ValueError, match="would clone the solution repository"):
        release.write_student_version(solution, out)
    # Explicitly overridden: a copy that is never handed out.
    result = _release("student", str(out), "--source", str(solution), "--keep-solution-url")
    assert result.returncode == 0, result.stderr
    assert f'DEFAULT_REPO_URL = "{DEFAULT_REPO_URL}"' in (out / "helpers/course/colab.py").read_text()


def test_every_solution_region_belongs_to_exactly_one_exercise():
    from helpers.course.exercises import EXERCISES

    regions = []
    for path in sorted((REPO_ROOT / "helpers").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(REPO_ROOT).as_posix()
        found = find_regions(text.splitlines(keepends=True), BEGIN_SOL, END_SOL, where)
        functions = enclosing_functions(text) if found else []
        regions += [(where, function_at(functions, r.begin + 1)) for r in found]
    assert len(regions) > 40
    for path, name in regions:
        owners = [e.name for e in EXERCISES if f"{path}:{name}" in e.functions]
        assert len(owners) == 1, f"{path}:{name} belongs to {owners or 'no exercise'}"
    listed = {f for e in EXERCISES for f in e.functions}
    assert listed == {f"{p}:{n}" for p, n in regions}, "the registry names a function that holds no solution region"


def test_marker_variants_are_refused_not_ignored(tmp_path):
    solution = make_solution_repo(tmp_path / "solution")
    for marker in ("### begin solution", "### Begin Solution", "###  BEGIN SOLUTION", "### BEGIN  SOLUTION"):
        end = marker.replace("egin", "nd").replace("EGIN", "ND")
        _plant(solution, "helpers/extra.py", f"def f():\n    {marker}\n    {_SOLUTION}\n    {end}\n    return 1\n")
        problems = _problems(solution)
        assert "helpers/extra.py:2:" in problems and "is not a marker" in problems, (marker, problems)


@pytest.mark.parametrize("name, text", [
    ("README.md", f"# Course\n<!-- {B} -->\n{_SOLUTION}\n<!-- {E} -->\n"),
    ("scripts/grade.sh", f"#!/bin/sh\n{B}\necho {_SOLUTION}\n{E}\n"),
    ("notes.txt", f"Notes\nbegin solution\n{_SOLUTION}\nend solution\n"),
])
def test_markers_in_files_release_copies_as_they_are_are_refused(tmp_path, name, text):
    solution = make_solution_repo(tmp_path / "solution")
    _plant(solution, name, text)
    problems = _problems(solution)
    assert f"{name}:2:" in problems and "copied as it is" in problems, problems
    _student_fails(solution, tmp_path / "student")


def test_the_readme_may_quote_markers_in_prose():
    check_other_file(f"Mark answers with `{B}` / `{E}` in helpers.\n".encode(), "README.md")


def test_tracked_symlinks_are_never_followed(tmp_path):
    solution = make_solution_repo(tmp_path / "solution")
    secret = tmp_path / "outside" / "answers.py"
    secret.parent.mkdir()
    secret.write_text(_SOLUTION + "\n")
    (solution / "helpers" / "answers.py").symlink_to(secret)
    (solution / "docs").mkdir()
    (solution / "docs" / "layers.py").symlink_to(solution / "helpers" / "layers.py")
    _git_add(solution, "helpers/answers.py", "docs/layers.py")
    check = _release("check", "--source", str(solution))
    assert check.returncode == 1
    assert "helpers/answers.py: a symbolic link" in check.stderr and "docs/layers.py: a symbolic link" in check.stderr
    out = tmp_path / "student"
    result = _release("student", str(out), "--source", str(solution))
    assert result.returncode == 0, result.stderr
    assert not (out / "helpers" / "answers.py").exists() and not (out / "docs" / "layers.py").exists()
    assert not any(p.is_symlink() for p in out.rglob("*"))
    assert not any(_SOLUTION in p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
    assert "helpers/answers.py" in (out / MANIFEST).read_text()


def test_release_check_names_a_truncated_notebook(tmp_path):
    solution = make_solution_repo(tmp_path / "solution")
    notebook = solution / "notebooks" / "01_demo.ipynb"
    notebook.write_bytes(notebook.read_bytes()[:100])
    check = _release("check", "--source", str(solution))
    assert check.returncode == 1 and "Traceback" not in check.stderr
    assert "notebooks/01_demo.ipynb: not a readable notebook" in check.stderr


def test_release_student_onto_a_file_is_refused(tmp_path):
    solution = make_solution_repo(tmp_path / "solution")
    target = tmp_path / "afile"
    target.write_text("keep me")
    result = _release("student", str(target), "--source", str(solution))
    assert result.returncode == 1 and "is a file" in result.stderr and "Traceback" not in result.stderr
    assert target.read_text() == "keep me"


def test_a_full_disk_leaves_no_partial_copy_and_the_rerun_works(tmp_path, monkeypatch):
    import errno

    solution = make_solution_repo(tmp_path / "solution")
    out = tmp_path / "student"
    real_write, written = Path.write_bytes, []

    def write_until_full(self, data):
        if len(written) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        written.append(self)
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_until_full)
    with pytest.raises(SystemExit, match="No space left on device.*nothing was left there"):
        release.write_student_version(solution, out)
    monkeypatch.undo()
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "solution"]
    release.write_student_version(solution, out)
    assert (out / "helpers" / "layers.py").is_file()


def test_the_plugin_and_the_release_agree_on_the_manifest():
    from helpers.course import student_checks

    assert student_checks.MANIFEST == MANIFEST


@pytest.mark.parametrize("data, words", [
    (b"# caf\xe9\ndef f():\n    return 1\n", "helpers/odd.py: not UTF-8 text"),
    (f"\0\ndef f():\n    {B}\n    return 1\n    {E}\n".encode(), "helpers/odd.py:1: does not parse"),
])
def test_a_python_file_that_is_not_text_is_named_not_a_traceback(tmp_path, data, words):
    solution = make_solution_repo(tmp_path / "solution")
    _plant(solution, "helpers/odd.py", data)
    check = _release("check", "--source", str(solution))
    assert check.returncode == 1 and words in check.stderr and "Traceback" not in check.stderr, check.stderr
