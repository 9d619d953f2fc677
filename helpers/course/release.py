"""Generate the student version of the workbook from the solution copy (one source, two versions).

    python -m helpers.course.release student OUT_DIR --repo-url URL   # write the student copy into OUT_DIR (empty or absent)
    python -m helpers.course.release check              # what stops a student copy (exit 1, a line each, naming file:line)

The markers are nbgrader's, so instructors who use nbgrader can take the
notebooks as they are. A marker is a line of its own (leading spaces allowed);
anything that looks like one but is not exactly one (``## BEGIN SOLUTION``,
``### BEGIN-SOLUTION``, ``### BEGIN SOLUTIONS``, a zero-width space inside, a
marker with a trailing comment or after code, a notebook code cell marked as a
solution only in nbgrader's metadata) is an error, since its solution would leak:

``### BEGIN SOLUTION`` / ``### END SOLUTION``
    In ``.py`` files and notebook code cells. The region is replaced by a stub
    at the indentation of the BEGIN line::

        # YOUR CODE HERE
        raise NotImplementedError("YOUR CODE HERE: Linear.forward (helpers/numpy_nn.py)")

    naming the enclosing function, or in a notebook the code cell, counted
    from 0 over code cells as in nbval's test ids (``Cell 3``). In ``.py`` files a
    region must sit inside a function, so that the student's modules still
    import and pytest still collects every test.

``<!-- ### BEGIN SOLUTION -->`` / ``<!-- ### END SOLUTION -->`` (markdown answers)
    In markdown cells (the bare ``### BEGIN SOLUTION`` line works too, but
    would render as a heading in the instructor's copy). The region is
    replaced by nbgrader's prompt ``YOUR ANSWER HERE``. A markdown cell that
    nbgrader marks as a solution cell (``metadata.nbgrader.solution``) and has
    no markers is replaced whole by the prompt, as nbgrader does.

``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``
    In test files and notebook code cells: removed (a ``pass`` keeps the
    block valid where the removal would empty it). In ``.py`` files they
    must sit inside a function, so the test ids stay the same.

Outputs: every code cell of a notebook from the first cell that *depends on a
solution* on has its outputs and execution count cleared (and the notebook's
saved widget state, which holds widget outputs, is dropped). A cell depends
on a solution when it holds a solution region or names a helpers module that
holds one (``numpy_nn`` for ``helpers/numpy_nn.py``) or a top-level function
or class of it that holds one (``Linear``; word match, so ``nn.Linear`` counts
too: clearing more is the safe side), or a function of another helpers module
that uses one (``bm.run`` where ``binary_mnist.run`` trains ``numpy_nn``'s
layers; matched as the notebook spells it, since such names are common words).
Why not only the cells
with a region: a notebook mostly calls solutions written in ``helpers/``, and
what a cell shows after that (losses, figures, accuracies) is the solution's
result; results flow down the notebook, so everything after the first
dependent cell is cleared. Why not every output: the cells before it (set-up,
data previews, literal expected values printed before any solution runs) are
what a student compares against, and notebooks without any solution (such as
``00_setup``) keep all their outputs.

What is copied: the git-tracked files of the source repository (read from
the working tree; every file but caches when it is not a git repository), except trained weights (``assets/models/``, ``*.pt``,
``*.pth``, ``*.ckpt``), ``outputs/``, ``data/`` (full data sets) and the
instructor's side (``INSTRUCTOR_ONLY``: the grader, this tool and its tests, the
tests that need the solutions, CI). The copy's
root ``conftest.py`` gains ``helpers.course.student_checks``, a pytest plugin that
turns a failure caused by a stub into one line naming the function to write.
The copy's ``README.md`` is the student's own (``helpers/course/student_readme.py``:
set-up, where to write, how to check one exercise, the exercises in order,
how to hand in, a Colab badge per notebook), not the instructor's, and its
``helpers/__init__.py`` maps only the modules it holds.
A manifest ``.student_version.json`` lists what was withheld. ``--repo-url URL``
(required where the source has a Colab set-up, unless ``--keep-solution-url``;
refused when it is the source's own address) makes the copy's Colab set-up
(``DEFAULT_REPO_URL`` in ``helpers/course/colab.py`` and every notebook's first
cell) clone the student repository at URL.

Checked by content, not by markers: the whole copy is built in memory first,
then every file of it is read as a student could (notebook sources, outputs
and metadata; text; the printable text of binary-looking files, zips and gzips
unpacked) and refused when it holds a solution region or a markdown answer
(found by fingerprint, ``helpers.course.fingerprints``: renamed or reformatted
copies too) or speaks of the instructor's side (``_INSTRUCTOR_TALK``, or any
mention of a marker). A marker line in a tracked file other than ``.py`` /
``.ipynb`` (README, shell scripts, assets), which would be copied as it is, is
an error; a tracked symbolic link is never followed (``check`` reports it,
``student`` leaves it out). The copy is written into a temporary folder next
to OUT_DIR and renamed into place, so a full disk leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from helpers.course.fingerprints import readable_texts

# Built from pieces so that this file holds no marker line itself.
_MARK = "###"
BEGIN_SOLUTION = f"{_MARK} BEGIN SOLUTION"
END_SOLUTION = f"{_MARK} END SOLUTION"
BEGIN_HIDDEN = f"{_MARK} BEGIN HIDDEN TESTS"
END_HIDDEN = f"{_MARK} END HIDDEN TESTS"
TEXT_STUB = "YOUR ANSWER HERE"
CODE_STUB_COMMENT = "# YOUR CODE HERE"
# The stub's message; helpers.course.student_checks parses it back (keep the two in step).
STUB_MESSAGE = "YOUR CODE HERE: {what} ({where})"
STUB_PATTERN = re.compile(r"YOUR CODE HERE: (?P<what>[^()\n]+?) \((?P<where>[^()\n]+)\)")

MANIFEST = ".student_version.json"  # helpers.course.student_checks reads it too (MANIFEST there; keep the two in step)
PLUGIN = "helpers.course.student_checks"
# Never handed out: trained weights, what notebooks write, full data sets.
WITHHELD_DIRS = ("assets/models/", "outputs/", "data/")
WITHHELD_SUFFIXES = (".pt", ".pth", ".ckpt")
# The instructor's side: the grader (its evaluation-set recipe, configs, tests and benchmark), this release tool
# (with its fingerprints, the student README's template and their tests, the walk through the student copy),
# the tests of the reference solutions' own designs, the course repository's CI, its browser test and its version corners. The copy
# speaks to students only.
INSTRUCTOR_ONLY = ("helpers/course/grading/", "tests/test_grade.py", "benchmarks/grade_throughput.py",
                   "helpers/course/release.py", "helpers/course/fingerprints.py", "helpers/course/student_readme.py",
                   "tests/test_release.py", "tests/test_student_readme.py", "tests/test_student_copy.py", ".ci/",
                   "tests/test_browser.py", "tests/test_checks_with_solutions.py", "tests/test_fingerprints.py",
                   "scripts/test_versions.py", "tests/test_versions.py")


class MarkerError(ValueError):
    """Unbalanced or misplaced markers; the message names file and line."""


@dataclass
class Region:
    """Lines ``begin`` .. ``end`` (0-based, inclusive, the marker lines themselves)."""

    begin: int
    end: int
    indent: str


@dataclass
class Report:
    """What a student-version run did, for the manifest and the summary line."""

    copied: list[str] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)
    stubbed: dict[str, int] = field(default_factory=dict)  # path -> number of solution regions


# --------------------------------------------------------------------------- markers


def _marker_re(marker: str) -> re.Pattern:
    # The marker alone on its line, optionally inside an HTML comment (markdown).
    return re.compile(r"^(?P<indent>[ \t]*)(?:<!--\s*)?" + re.escape(marker) + r"(?:\s*-->)?[ \t]*$")


_BEGIN_SOL, _END_SOL = _marker_re(BEGIN_SOLUTION), _marker_re(END_SOLUTION)
_BEGIN_HID, _END_HID = _marker_re(BEGIN_HIDDEN), _marker_re(END_HIDDEN)


# Anything that mentions a marker, however spelt: other separators (BEGIN-SOLUTION, BEGIN_SOLUTION), plurals,
# any case and spacing, after the line is read as it shows (NFKC, invisible format characters such as a
# zero-width space removed). Quoted in prose (after a backtick or a quote) it is a mention, not a marker.
_LOOSE_MARKER = re.compile(r"(?:<!--\s*)?(?:#+\s*)?\b(?:BEGIN|END)[\W_]*(?:SOLUTIONS?|HIDDEN[\W_]*TESTS?)\b",
                           re.IGNORECASE)
_QUOTES = "`'\""
_EXACT_MARKERS = (_BEGIN_SOL, _END_SOL, _BEGIN_HID, _END_HID)


def _as_shown(line: str) -> str:
    """``line`` as it reads on screen: compatibility forms folded (NFKC), invisible format characters removed."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", line) if unicodedata.category(ch) != "Cf")


def _marker_like(line: str) -> bool:
    """Whether ``line`` mentions a marker outside quotes (see ``_LOOSE_MARKER``)."""
    shown = _as_shown(line)
    return any(m.start() == 0 or shown[m.start() - 1] not in _QUOTES for m in _LOOSE_MARKER.finditer(shown))


def _invisible(line: str) -> str:
    """The code points of ``line`` that do not show (format characters), as ``U+200B``."""
    return ", ".join(f"U+{ord(ch):04X}" for ch in line if unicodedata.category(ch) == "Cf")


def check_near_misses(lines: list[str], where: str) -> None:
    """Raise ``MarkerError`` for a line that looks like a marker but is not exactly one.

    ``## BEGIN SOLUTION``, ``### BEGIN SOLUTIONS``, ``### BEGIN-SOLUTION``, a marker with a zero-width
    space in it or with a comment after it: its region would not be removed, so its solution would leak.
    """
    for i, line in enumerate(lines):
        if any(m.match(line) for m in _EXACT_MARKERS) or not _marker_like(line):
            continue
        if any(m.match(_as_shown(line)) for m in _EXACT_MARKERS):
            raise MarkerError(f"{where}:{i + 1}: {line.strip()!r} holds invisible characters ({_invisible(line)}) "
                              "in a marker, so it is not one; type the marker again")
        raise MarkerError(f"{where}:{i + 1}: {line.strip()!r} is not a marker; write exactly "
                          f"'{BEGIN_SOLUTION}' / '{END_SOLUTION}' (or the HIDDEN TESTS pair) on a line of its own")


def check_other_file(data: bytes, where: str) -> None:
    """Raise ``MarkerError`` for a marker in a file that release copies unchanged (only .py and .ipynb are
    transformed). A file that looks binary is read too (a NUL byte does not make it safe)."""
    for i, line in enumerate(data.decode("utf-8", errors="replace").splitlines()):
        if _marker_like(line):
            raise MarkerError(f"{where}:{i + 1}: {line.strip()[:80]!r}: markers work in .py files and notebooks "
                              "only; this file is copied as it is, so its region would reach students. Move the "
                              "solution into a .py file or a notebook, or remove it")


def _link_problem(source: Path, name: str) -> str | None:
    """A tracked symbolic link is never followed: its target (anywhere, even outside the repository) could leak."""
    path = source / name
    if not path.is_symlink():
        return None
    return (f"{name}: a symbolic link (to {os.readlink(path)}); the student copy never follows links, so it "
            "leaves this out: commit the file itself instead, or untrack the link (git rm --cached)")


def find_regions(lines: list[str], begin: re.Pattern, end: re.Pattern, where: str, strict_indent: bool = True) -> list[Region]:
    """Find balanced, non-nested ``begin`` .. ``end`` regions in ``lines``.

    Raises ``MarkerError`` naming ``where`` and the line (1-based) for a BEGIN
    without END, an END without BEGIN, a nested BEGIN, or (``strict_indent``)
    an END at another indentation than its BEGIN.
    """
    regions: list[Region] = []
    open_at: int | None = None
    indent = ""
    for i, line in enumerate(lines):
        if m := begin.match(line):
            if open_at is not None:
                raise MarkerError(f"{where}:{i + 1}: BEGIN marker inside the region opened at line {open_at + 1}")
            open_at, indent = i, m.group("indent")
        elif m := end.match(line):
            if open_at is None:
                raise MarkerError(f"{where}:{i + 1}: END marker without a BEGIN before it")
            if strict_indent and m.group("indent") != indent:
                raise MarkerError(f"{where}:{i + 1}: END marker indented differently from its BEGIN at line {open_at + 1}")
            regions.append(Region(open_at, i, indent))
            open_at = None
    if open_at is not None:
        raise MarkerError(f"{where}:{open_at + 1}: BEGIN marker without an END")
    return regions


def _enclosing_functions(source: str) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every function in ``source`` (1-based lines)."""
    tree = ast.parse(source)
    found: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                found.append((child.lineno, child.end_lineno or child.lineno, name))
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def _function_at(functions: list[tuple[int, int, str]], line: int) -> str | None:
    """Innermost function containing 1-based ``line``, or None."""
    best = None
    for first, last, name in functions:
        if first <= line <= last and (best is None or first >= best[0]):
            best = (first, name)
    return best[1] if best else None


def _python_source(cell_source: str) -> str:
    """Cell source as plain Python (IPython magics turned into calls) for ``ast``; line numbers kept."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return cell_source
    return TransformerManager().transform_cell(cell_source)


def _stub_lines(indent: str, what: str, where: str) -> list[str]:
    message = STUB_MESSAGE.format(what=what, where=where)
    return [f"{indent}{CODE_STUB_COMMENT}\n", f"{indent}raise NotImplementedError({message!r})\n"]


def _replace(lines: list[str], regions: list[Region], make) -> list[str]:
    out: list[str] = []
    pos = 0
    for region in regions:
        out.extend(lines[pos:region.begin])
        out.extend(make(region))
        pos = region.end + 1
    out.extend(lines[pos:])
    return out


def _remove_hidden(lines: list[str], regions: list[Region]) -> list[str]:
    # Removing a block may leave an empty suite ("if x:" with nothing under it); a pass keeps it valid.
    return _replace(lines, regions, lambda r: [f"{r.indent}pass  # hidden tests removed\n"] if r.indent else [])


# --------------------------------------------------------------------------- .py files


def student_python(text: str, where: str) -> tuple[str, int]:
    """Student version of a ``.py`` file's text. Returns (new text, number of solution regions).

    Raises ``MarkerError`` for unbalanced markers, or for a region outside a
    function (the module would no longer import).
    """
    lines = text.splitlines(keepends=True)
    check_near_misses(lines, where)
    solutions = find_regions(lines, _BEGIN_SOL, _END_SOL, where)
    hidden = find_regions(lines, _BEGIN_HID, _END_HID, where)
    if not solutions and not hidden:
        return text, 0
    try:
        functions = _enclosing_functions(text)
    except (SyntaxError, ValueError) as err:  # ValueError: a NUL byte, before Python 3.12
        raise MarkerError(f"{where}:{getattr(err, 'lineno', None) or 1}: does not parse "
                          f"({getattr(err, 'msg', None) or err})") from None
    for kind, regions in (("solution", solutions), ("hidden-tests", hidden)):
        for region in regions:
            if _function_at(functions, region.begin + 1) is None:
                raise MarkerError(f"{where}:{region.begin + 1}: {kind} region outside a function; "
                                  "the module must still import (and keep its tests) once the region is removed")
    _check_disjoint(solutions, hidden, where)

    def stub(region: Region) -> list[str]:
        return _stub_lines(region.indent, _function_at(functions, region.begin + 1), where)

    lines = _replace(lines, solutions, stub)
    # Hidden regions are found again: the solution stubs moved the lines.
    lines = _remove_hidden(lines, find_regions(lines, _BEGIN_HID, _END_HID, where))
    new = "".join(lines)
    try:
        ast.parse(new)
    except SyntaxError as err:
        raise MarkerError(f"{where}: the student version does not parse at line {err.lineno} ({err.msg})") from err
    return new, len(solutions)


def _check_disjoint(solutions: list[Region], hidden: list[Region], where: str) -> None:
    for s in solutions:
        for h in hidden:
            if not (s.end < h.begin or h.end < s.begin):
                raise MarkerError(f"{where}:{max(s.begin, h.begin) + 1}: solution and hidden-tests regions overlap")


# --------------------------------------------------------------------------- notebooks


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src  # nbformat holds a string; raw JSON may hold lines


def _cell_uses(source: str, modules: set[str]) -> bool:
    return any(re.search(rf"\b{re.escape(m)}\b", source) for m in modules)


def _qualified_uses(nb, modules: set[str]) -> set[str]:
    """``modules`` with its ``module.function`` entries (see ``_importers``) spelled as notebook ``nb``
    calls them: ``bm.run`` after ``from helpers.scratch import binary_mnist as bm``, ``run`` after
    ``from helpers.scratch.binary_mnist import run``. The plain word would match too much ("run", "train")."""
    code = "\n".join(_source(c) for c in nb.get("cells", []) if c.get("cell_type") == "code")
    names = {m for m in modules if "." not in m}
    for entry in modules - names:
        module, function = entry.split(".")
        names.add(entry)
        package = r"helpers(?:\.\w+)*?"   # helpers, or one of its wings (helpers.scratch, ...)
        for match in re.finditer(rf"^\s*from\s+{package}\s+import\s+([^\n]*)", code, re.M):
            for alias in re.finditer(rf"\b{module}\b(?:\s+as\s+(\w+))?", match.group(1)):
                names.add(f"{alias.group(1) or module}.{function}")
        for alias in re.finditer(rf"^\s*import\s+({package}\.{module})(?:\s+as\s+(\w+))?", code, re.M):
            names.add(f"{alias.group(2) or alias.group(1)}.{function}")
        if re.search(rf"^\s*from\s+{package}\.{module}\s+import\s[^\n]*\b{function}\b", code, re.M):
            names.add(function)
    return names


def student_notebook(nb, where: str, solution_modules: set[str] = frozenset()):
    """Student version of a notebook (an nbformat 4 ``NotebookNode``). Returns (new notebook, number of solution regions).

    ``solution_modules``: names (see ``solution_modules()``) of helpers
    modules that hold solution regions and of their functions and classes
    that do; a code cell naming one depends on a solution (its outputs are
    cleared, and those of every code cell after it).
    """
    nb = copy.deepcopy(nb)
    solution_modules = _qualified_uses(nb, set(solution_modules))
    count = 0
    clearing = False
    code_index = -1  # counts code cells only, as nbval's test ids do ("Cell 3")
    for index, cell in enumerate(nb.get("cells", [])):
        code_index += cell.get("cell_type") == "code"
        here = f"{where} cell {index}"
        text = _source(cell)
        lines = text.splitlines(keepends=True)
        check_near_misses(lines, here)
        if cell.get("cell_type") == "code":
            solutions = find_regions(lines, _BEGIN_SOL, _END_SOL, here)
            hidden = find_regions(lines, _BEGIN_HID, _END_HID, here)
            _check_disjoint(solutions, hidden, here)
            if not solutions and cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                raise MarkerError(f"{here}:1: a code cell marked as a solution in nbgrader's metadata only; the "
                                  f"student copy would keep its code: put '{BEGIN_SOLUTION}' / '{END_SOLUTION}' "
                                  "around the solution inside the cell")
            if solutions:
                try:
                    functions = _enclosing_functions(_python_source(text))
                except SyntaxError:
                    functions = []

                def stub(region: Region, functions=functions, code_index=code_index) -> list[str]:
                    name = _function_at(functions, region.begin + 1)
                    return _stub_lines(region.indent, name or f"code cell {code_index}", where)

                lines = _replace(lines, solutions, stub)
                count += len(solutions)
            if hidden:
                lines = _remove_hidden(lines, find_regions(lines, _BEGIN_HID, _END_HID, here))
            if solutions or _cell_uses(text, solution_modules):
                clearing = True
            if clearing:
                cell["outputs"] = []
                cell["execution_count"] = None
        elif cell.get("cell_type") == "markdown":
            answers = find_regions(lines, _BEGIN_SOL, _END_SOL, here, strict_indent=False)
            if answers:
                lines = _replace(lines, answers, lambda r: [f"{r.indent}{TEXT_STUB}\n"])
                count += len(answers)
            elif cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                lines = [TEXT_STUB]
                count += 1
        new = "".join(lines)
        if new != text:
            cell["source"] = new
    if clearing:
        nb.get("metadata", {}).pop("widgets", None)
    return nb, count


# --------------------------------------------------------------------------- answers left in the open

# What ``check`` can see of a result stated in markdown: a percentage, an "Answer" label or
# heading, an accuracy written as a fraction. Results in words ("ReLU works best") or as
# other plain numbers (a loss of 0.006) are not recognised: those cells need markers by hand.
_RESULT_PATTERNS = (
    ("a percentage", re.compile(r"\b\d+(?:[.,]\d+)?\s?%")),
    ("an 'Answer' label", re.compile(r"^\s*(?:>\s*)?(?:#+\s*|[*_]{1,2})?Answer\b", re.M | re.I)),
    ("an accuracy figure", re.compile(r"\baccurac(?:y|ies)\b[^.\n]{0,30}?\b0\.\d{2,}", re.I)),
    # A table row holding a measured number (a decimal, with or without a %): a table of results.
    ("a table of results", re.compile(r"^[ \t]*\|(?=[^\n]*\|)[^\n]*?\b\d+[.,]\d+\b[^\n]*$", re.M)),
)
# A percentage in a sentence that sets a goal is an instruction, not a result.
_TARGET_WORDS = re.compile(r"\b(?:at least|targets?|expects?|expected|asks? for|aim for)\b", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n\s*\n")


def markdown_leaks(nb, where: str) -> list[str]:
    """One line per markdown cell of ``nb`` that states a result outside solution markers.

    Looks at the text a student would receive (outside ``<!-- ### BEGIN SOLUTION -->``
    regions and nbgrader solution cells) for what ``_RESULT_PATTERNS`` recognises.
    A percentage in a sentence that names a target ("at least 40%", "the seed
    expects about 29%") is allowed.
    """
    problems = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "markdown" or cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            continue
        lines = _source(cell).splitlines(keepends=True)
        try:
            regions = find_regions(lines, _BEGIN_SOL, _END_SOL, f"{where} cell {index}", strict_indent=False)
        except MarkerError:
            continue  # reported by student_notebook
        shown = "".join(_replace(lines, regions, lambda r: ["\n"]))
        for what, pattern in _RESULT_PATTERNS:
            for sentence in _SENTENCE_END.split(shown):
                match = pattern.search(sentence)
                if match and not (what == "a percentage" and _TARGET_WORDS.search(sentence)):
                    break
            else:
                continue
            problems.append(f"{where} cell {index}: markdown states a result outside solution markers "
                            f"({what}: {match.group(0).strip()!r}); put the answer between "
                            f"'<!-- {BEGIN_SOLUTION} -->' and '<!-- {END_SOLUTION} -->'")
            break
    return problems


# --------------------------------------------------------------------------- the repository


# Skipped when ``source`` is not a git repository (e.g. a student copy not yet committed anywhere).
_UNTRACKED_JUNK = {".git", "__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".hypothesis", ".venv", "build"}


def tracked_files(source: Path) -> list[str]:
    """Paths (relative, POSIX) of the git-tracked files of ``source`` that exist in its working tree.

    Outside a git repository: every file, less caches and the withheld folders.
    """
    source = Path(source)
    inside = subprocess.run(["git", "-C", str(source), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    if inside.returncode != 0 or Path(inside.stdout.strip()).resolve() != source.resolve():
        names = (Path(folder, f).relative_to(source).as_posix()
                 for folder, _, found in os.walk(source) for f in found)  # os.walk does not follow linked folders
        return sorted(n for n in names if not _UNTRACKED_JUNK & set(n.split("/")[:-1])
                      and not n.endswith(".egg-info") and not n.startswith(WITHHELD_DIRS))
    out = subprocess.run(["git", "-C", str(source), "ls-files", "-z", "--cached"], check=True, capture_output=True).stdout
    names = sorted({n for n in out.decode().split("\0") if n})
    return [n for n in names if (source / n).is_file() or (source / n).is_symlink()]


def is_withheld(path: str) -> bool:
    """True for files never handed to students (trained weights, outputs, full data, the instructor's grader)."""
    return path.startswith(WITHHELD_DIRS + INSTRUCTOR_ONLY) or path.endswith(WITHHELD_SUFFIXES)


def solution_modules(source: Path, files: list[str]) -> set[str]:
    """Names that make a notebook cell depend on a solution.

    For every tracked ``.py`` file under helpers/ holding a solution region:
    its module name (``numpy_nn``) and the top-level functions and classes
    that hold a region (``Linear``, ``softmax_loss_naive``), since notebooks
    also import them through a package's re-exports.
    """
    names = set()
    for name in files:
        if name.startswith("helpers/") and name.endswith(".py") and not (source / name).is_symlink():
            text = _python_text(source / name)
            lines = text.splitlines()
            begins = [i + 1 for i, line in enumerate(lines) if _BEGIN_SOL.match(line)]
            if not begins:
                continue
            names.add(Path(name).stem)
            try:
                tree = ast.parse(text)
            except (SyntaxError, ValueError):
                continue  # reported by student_python
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    if any(node.lineno <= line <= (node.end_lineno or node.lineno) for line in begins):
                        names.add(node.name)
    return names | _importers(source, files, names)


def _importers(source: Path, files: list[str], names: set[str]) -> set[str]:
    """Top-level functions and classes of helpers modules that use a solution, directly or through
    another function (``binary_mnist.build_network`` builds ``numpy_nn``'s layers): what a notebook shows
    through them is the solution's result. Returned as ``module.name`` (see ``_qualified_uses``).

    A name used in a module is resolved in that module: one of its own top-level definitions, or
    one it imports with ``from helpers.x import name``; other names (local variables) are ignored.
    """
    uses: dict[tuple[str, str], set[tuple[str, str]]] = {}  # (module, def) -> (module, def) it uses
    solutions: set[tuple[str, str]] = set()
    stems = _solution_stems(source, files)
    for name in files:
        if not (name.startswith("helpers/") and name.endswith(".py")):
            continue
        module = Path(name).stem
        try:
            tree = ast.parse(_python_text(source / name))
        except (SyntaxError, ValueError):
            continue  # reported by student_python
        own = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
        imported = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("helpers.")):
                for alias in node.names:
                    imported[alias.asname or alias.name] = ((node.module or "").split(".")[-1], alias.name)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                local = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
                local |= {a.arg for a in ast.walk(node) if isinstance(a, ast.arg)}
                used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} - local
                uses[(module, node.name)] = ({(module, u) for u in used & own if u != node.name}
                                             | {imported[u] for u in used if u in imported})
                if node.name in names and module in stems:
                    solutions.add((module, node.name))
    found = set(solutions)
    while more := {d for d, used in uses.items() if d not in found and used & found}:
        found |= more
    return {f"{module}.{name}" for module, name in found - solutions if name not in names}


def _solution_stems(source: Path, files: list[str]) -> set[str]:
    """Names of the helpers modules holding a solution region."""
    return {Path(n).stem for n in files if n.startswith("helpers/") and n.endswith(".py")
            and any(_BEGIN_SOL.match(line) for line in _python_text(source / n).splitlines())}


def _python_text(path: Path) -> str:
    """The text of a ``.py`` file, or nothing where it is not UTF-8 (``_build`` reports it, naming the file)."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return ""


def _read_notebook(path: Path, name: str = ""):
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except Exception as err:  # JSON and nbformat errors come in many types
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise MarkerError(f"{name or path}: not a readable notebook ({first}); save it again from Jupyter, "
                          "or restore your last good copy of it") from None


def _write_notebook(nb) -> str:
    import nbformat

    return nbformat.writes(nb) + "\n"


# --------------------------------------------------------------------------- what the copy must not hold

# The copy speaks to students only: no instructor's side, no solution markers, no release tool. ("Ask your
# instructor" speaks to the student and is fine.)
_INSTRUCTOR_TALK = re.compile(
    r"\binstructor(?:'s|s'|s)?\s+(?:copy|side|version|repository|repo|solutions?|write-?up)\b|\bfor instructors\b"
    r"|\bsolution (?:copy|repository|version|markers?|regions?)\b|\bstudent (?:copy|version)\b"
    r"|\bhelpers\.course\.(?:release|fingerprints|student_readme)\b|\brelease (?:student|check)\b",
    re.IGNORECASE)


def _text(value) -> str:
    """A notebook field as text: a string, a list of lines, or anything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    return json.dumps(value)


def readable_parts(name: str, data: bytes):
    """(where, text) for everything a reader of file ``name`` can read: a notebook's cells, their outputs
    (images aside) and its metadata one by one; any other file's text, or the printable text in it."""
    if name.endswith(".ipynb"):
        try:
            nb = json.loads(data)
            cells = nb["cells"]
        except (ValueError, KeyError, TypeError):
            nb, cells = None, None
        if isinstance(cells, list):
            for index, cell in enumerate(cells):
                yield f"{name} cell {index}", _text(cell.get("source", ""))
                for output in cell.get("outputs", []):
                    parts = [_text(output.get(key, "")) for key in ("text", "ename", "evalue", "traceback")]
                    parts += [_text(v) for k, v in output.get("data", {}).items() if not k.startswith("image/")]
                    yield f"{name} cell {index} (output)", "\n".join(p for p in parts if p)
            yield f"{name} (metadata)", json.dumps(nb.get("metadata", {}))
            return
    for text in readable_texts(data):
        yield name, text


def _regions_to_hide(source: Path, files: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """The solution regions of ``source``: ``({label: code}, {label: markdown answer})``, labelled ``file:line``."""
    code: dict[str, str] = {}
    prose: dict[str, str] = {}
    for name in files:
        if is_withheld(name) or (source / name).is_symlink():
            continue
        try:
            if name.endswith(".py"):
                text = (source / name).read_text(encoding="utf-8")
                lines = text.splitlines(keepends=True)
                for r in find_regions(lines, _BEGIN_SOL, _END_SOL, name):
                    code[f"{name}:{r.begin + 1}"] = "".join(lines[r.begin + 1:r.end])
            elif name.endswith(".ipynb"):
                for index, cell in enumerate(_read_notebook(source / name, name).get("cells", [])):
                    lines = _source(cell).splitlines(keepends=True)
                    here = f"{name} cell {index}"
                    if cell.get("cell_type") == "code":
                        for r in find_regions(lines, _BEGIN_SOL, _END_SOL, here):
                            code[f"{here}:{r.begin + 1}"] = "".join(lines[r.begin + 1:r.end])
                    elif cell.get("cell_type") == "markdown":
                        answers = find_regions(lines, _BEGIN_SOL, _END_SOL, here, strict_indent=False)
                        for r in answers:
                            prose[f"{here}:{r.begin + 1}"] = "".join(lines[r.begin + 1:r.end])
                        if not answers and cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                            prose[here] = "".join(lines)
        except (MarkerError, UnicodeDecodeError):
            continue  # reported where the file is transformed
    return code, prose


def solution_leaks(contents: dict[str, bytes], code: dict[str, str], prose: dict[str, str]) -> list[str]:
    """One line per file of the copy (``contents``) that holds one of the solution regions ``code`` (renamed,
    reformatted or not) or of the markdown answers ``prose``: see ``helpers.course.fingerprints``."""
    from helpers.course.fingerprints import Fingerprints

    searches = (("the solution", Fingerprints(code)), ("the answer", Fingerprints(prose, prose=True)))
    problems = []
    for name in sorted(contents):
        reported = set()
        for where, text in readable_parts(name, contents[name]):
            for what, fingerprints in searches:
                for match in fingerprints.find(text):
                    if match.label not in reported:
                        reported.add(match.label)
                        problems.append(f"{where}: holds {what} at {match.label} ({match.share:.0%} of it, names "
                                        "and numbers aside); a file handed to students must not: withhold it, or "
                                        "write something that does not answer the exercise")
    return problems


def instructor_talk(contents: dict[str, bytes]) -> list[str]:
    """One line per line of the copy (``contents``) that speaks of the instructor's side: the instructor's or
    solution copy, a solution marker (even quoted), the release tool."""
    problems = []
    for name in sorted(contents):
        for where, text in readable_parts(name, contents[name]):
            for number, line in enumerate(text.splitlines(), 1):
                found = _INSTRUCTOR_TALK.search(line) or _LOOSE_MARKER.search(_as_shown(line))
                if found:
                    problems.append(f"{where}:{number}: {found.group().strip()!r}: the student copy speaks to "
                                    "students only; say it without the instructor's side, or keep it out of the copy")
    return problems


# --------------------------------------------------------------------------- the student copy

_CONFTEST_ADDITION = f'''

# A failure caused by code still to be written is reported as one line naming the function
# (helpers/course/student_checks.py).
pytest_plugins = [*globals().get("pytest_plugins", []), "{PLUGIN}"]
'''


def student_readme(repo_url: str | None, notebooks: list[str]) -> bytes:
    """The student copy's README (set-up, where to write, checks, the exercises in order, hand-in, Colab links)."""
    from helpers.course.student_readme import student_readme as render

    return render(repo_url, notebooks).encode("utf-8")


def _with_student_repo_url(name: str, data: bytes, repo_url: str) -> bytes:
    """``data`` of file ``name`` with the Colab set-up cloning ``repo_url`` (helpers/course/colab.py and notebooks)."""
    from helpers.course import colab

    if name == "helpers/course/colab.py":
        return colab.with_default_repo_url(data.decode("utf-8"), repo_url).encode("utf-8")
    if name.endswith(".ipynb"):
        import nbformat

        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        if colab.with_repo_url(nb, repo_url):
            return _write_notebook(nb).encode("utf-8")
    return data


def _without_withheld_modules(text: str) -> str:
    """helpers/__init__.py's module map without the lines of modules the copy leaves out."""
    def withheld(match: re.Match) -> bool:
        module = match.group(1).replace(".", "/")
        return is_withheld(module + ".py") or is_withheld(module + "/")

    entry = re.compile(r"^- ``(helpers(?:\.\w+)+)``:.*\n", re.M)
    return entry.sub(lambda m: "" if withheld(m) else m.group(), text)


def solution_repo_url(source: Path) -> str | None:
    """The address the Colab cells of ``source`` clone (``DEFAULT_REPO_URL`` of its colab.py), if it has one."""
    path = Path(source) / "helpers" / "course" / "colab.py"
    found = re.search(r'^DEFAULT_REPO_URL = "([^"]*)"$', path.read_text(encoding="utf-8"), re.M) if path.is_file() else None
    return found.group(1) if found else None


def _same_repository(a: str, b: str) -> bool:
    """Whether two clone addresses name the same repository: case (hosts such as GitHub ignore it), ``.git``,
    a final ``/`` and ``www.`` aside."""
    def key(url: str) -> str:
        url = url.strip().rstrip("/").lower()
        url = url[:-4] if url.endswith(".git") else url
        return url.replace("://www.", "://", 1)
    return key(a) == key(b)


def _colab_url(source: Path, repo_url: str | None, keep_solution_url: bool) -> str | None:
    """The address the copy's Colab cells will clone; ``ValueError`` when that would be the solution repository."""
    solution_url = solution_repo_url(source)
    if repo_url is not None:
        from helpers.course.colab import colab_cell

        colab_cell(repo_url)  # a ValueError for what is not a URL
        if solution_url and _same_repository(repo_url, solution_url) and not keep_solution_url:
            raise ValueError(f"--repo-url {repo_url} is the solution repository (DEFAULT_REPO_URL in "
                             "helpers/course/colab.py): in Colab every student would clone the solutions. Give the "
                             "student repository's URL")
        return repo_url
    if solution_url and not keep_solution_url:
        raise ValueError(f"no --repo-url: the copy's Colab cells would clone the solution repository ({solution_url}). "
                         "Give the student repository's URL with --repo-url (or --keep-solution-url for a copy "
                         "that is never handed out)")
    return solution_url


@dataclass
class _Build:
    """The copy in memory: its files, the report, what stops it, and the links it leaves out."""

    contents: dict[str, bytes]
    report: Report
    problems: list[str]
    links: list[str]


def _build(source: Path, repo_url: str | None) -> _Build:
    """Every file of the student copy of ``source``, transformed, and every reason not to hand it out."""
    files = tracked_files(source)
    modules = solution_modules(source, files)
    report, contents, problems, links = Report(), {}, [], []
    for name in files:
        if is_withheld(name):
            report.withheld.append(name)
            continue
        if link := _link_problem(source, name):  # links are never followed
            report.withheld.append(name)
            links.append(link)
            continue
        path = source / name
        try:
            if name.endswith(".py"):
                text, n = student_python(path.read_text(encoding="utf-8"), name)
                data = text.encode("utf-8")
            elif name.endswith(".ipynb"):
                original = _read_notebook(path, name)
                problems.extend(markdown_leaks(original, name))
                nb, n = student_notebook(original, name, modules)
                problems.extend(_unparsable_cells(nb, name))
                data = _write_notebook(nb).encode("utf-8")
            else:
                data, n = path.read_bytes(), 0
                check_other_file(data, name)
        except MarkerError as err:
            problems.append(str(err))
            continue
        except UnicodeDecodeError as err:
            problems.append(f"{name}: not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8")
            continue
        if repo_url is not None:
            data = _with_student_repo_url(name, data, repo_url)
        if name == "conftest.py" and PLUGIN.encode() not in data:
            data += _CONFTEST_ADDITION.encode("utf-8")
        if name == "helpers/__init__.py":
            data = _without_withheld_modules(data.decode("utf-8")).encode("utf-8")
        if n:
            report.stubbed[name] = n
        contents[name] = data
        report.copied.append(name)
    if "conftest.py" not in contents:
        contents["conftest.py"] = _CONFTEST_ADDITION.lstrip().encode("utf-8")
    if "README.md" in contents and "helpers/course/exercises.py" in contents:
        notebooks = sorted(Path(n).stem for n in contents if n.startswith("notebooks/") and n.endswith(".ipynb"))
        contents["README.md"] = student_readme(repo_url, notebooks)
    # The conftest names the plugin: make sure the copy has it, tracked or not.
    contents.setdefault("helpers/course/student_checks.py", Path(__file__).with_name("student_checks.py").read_bytes())
    manifest = {"withheld": report.withheld, "stubbed": report.stubbed}
    contents[MANIFEST] = (json.dumps(manifest, indent=1) + "\n").encode("utf-8")
    # What the files hold, whatever route it took: solutions (by content, not by markers) and instructor talk.
    problems += solution_leaks(contents, *_regions_to_hide(source, files))
    problems += instructor_talk(contents)
    return _Build(contents, report, problems, links)


def _unparsable_cells(nb, name: str) -> list[str]:
    problems = []
    for index, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") == "code":
            try:
                ast.parse(_python_source(_source(cell)))
            except SyntaxError as err:
                problems.append(f"{name} cell {index}: the student version does not parse at line {err.lineno} ({err.msg})")
    return problems


def check(source: Path) -> list[str]:
    """Everything that stops ``source`` from yielding a student copy; returns the problems (empty: all good).

    Markers (balanced, well placed, exact), answers stated in notebooks' markdown, tracked links, and in
    the copy it would make: any solution region (by its fingerprint) or instructor talk in any file.
    """
    build = _build(Path(source), None)
    return build.links + build.problems


def write_student_version(source: Path, out: Path, repo_url: str | None = None,
                          keep_solution_url: bool = False) -> Report:
    """Write the student copy of the repository at ``source`` into ``out`` (absent or empty).

    ``repo_url``: the student repository, written into the copy's Colab
    set-up (``helpers/course/colab.py`` and every notebook's first cell) and
    its README's Colab links. Required when ``source`` has a Colab set-up,
    unless ``keep_solution_url`` (a copy never handed out: its Colab cells
    clone the solution repository). Raises ``ValueError`` for a missing or
    wrong ``repo_url`` and ``MarkerError`` (every problem, one per line) for
    what ``check`` refuses; nothing is written then.
    """
    source, out = Path(source).resolve(), Path(out).resolve()
    repo_url = _colab_url(source, repo_url, keep_solution_url)
    if out.exists() and not out.is_dir():
        raise SystemExit(f"release: {out} is a file; give a new or empty folder")
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"release: {out} is not empty; give a new or empty folder")
    if out == source or source in out.parents:
        raise SystemExit(f"release: {out} lies inside the source {source}; give a folder outside it")
    # Everything is built and checked first, so that a problem leaves nothing half-written.
    build = _build(source, repo_url)
    if build.problems:
        raise MarkerError("\n".join(build.problems))
    _write_tree(build.contents, source, out)
    return build.report


def _write_tree(contents: dict[str, bytes], source: Path, out: Path) -> None:
    """Write the files into a temporary folder next to ``out``, then rename it to ``out``.

    A full disk or a crash half-way leaves no partial copy that would block the next run.
    """
    import tempfile

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    except OSError as err:
        raise SystemExit(f"release: cannot write into {out.parent}: {err.strerror or err}; "
                         "give a folder you can write to") from None
    try:
        for name, data in contents.items():
            target = partial / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            if (source / name).is_file() and not (source / name).is_symlink():
                shutil.copymode(source / name, target)  # keeps collect_submission.sh executable
        os.chmod(partial, 0o755)  # mkdtemp makes it private
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(partial, out)
    except OSError as err:
        shutil.rmtree(partial, ignore_errors=True)
        raise SystemExit(f"release: writing the student copy into {out} failed: {err.strerror or err} "
                         f"({err.filename or out}); nothing was left there. Free some space, or give "
                         "another folder") from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def main(argv: list[str] | None = None) -> int:
    from helpers.paths import REPO_ROOT

    parser = argparse.ArgumentParser(prog="python -m helpers.course.release", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    student = sub.add_parser("student", help="write the student copy into OUT_DIR")
    student.add_argument("out_dir", type=Path)
    student.add_argument("--source", type=Path, default=REPO_ROOT, help="solution repository (default: this one)")
    student.add_argument("--repo-url", help="the student repository's URL: the copy's Colab set-up cells clone it and "
                                            "its README links each notebook in Colab there (required)")
    student.add_argument("--keep-solution-url", action="store_true",
                         help="instead of --repo-url: keep the solution repository's URL (DEFAULT_REPO_URL in "
                              "helpers/course/colab.py), for a copy that is never handed out")
    checker = sub.add_parser("check", help="check the markers, the notebooks' markdown and what the student copy "
                                           "would hold")
    checker.add_argument("--source", type=Path, default=REPO_ROOT, help="solution repository (default: this one)")
    args = parser.parse_args(argv)

    if args.command == "check":
        problems = check(args.source)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"release check: {len(problems)} problem(s)", file=sys.stderr)
            return 1
        print("release check: markers balanced, well placed and exact, no result stated outside them, "
              "no solution and no instructor talk in the student copy")
        return 0
    try:
        report = write_student_version(args.source, args.out_dir, args.repo_url, args.keep_solution_url)
    except (MarkerError, ValueError) as err:
        problems = str(err).splitlines()
        for problem in problems:
            print(f"release: {problem}", file=sys.stderr)
        print(f"release: {len(problems)} problem(s); nothing written", file=sys.stderr)
        return 1
    regions = sum(report.stubbed.values())
    print(f"student version in {args.out_dir}: {len(report.copied)} files, {regions} solution regions "
          f"replaced in {len(report.stubbed)} files, {len(report.withheld)} files withheld")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
