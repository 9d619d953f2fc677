"""Writing an exercise's solution into the student copy in place of its stubs, as the student would: for the
tests that play the student (``test_student_copy.py``, ``test_browser.py``), withheld from the copy like them."""

from __future__ import annotations

from pathlib import Path

from helpers.course.release.markers import BEGIN_SOL, END_SOL, find_regions
from helpers.course.release.python_stubs import CODE_STUB_COMMENT, enclosing_functions, function_at
from helpers.paths import REPO_ROOT
from helpers.stubs import STUB_PATTERN


def solution_bodies(path: str, qualname: str) -> list[list[str]]:
    """The lines inside each solution region of function ``qualname`` in the solution's ``path``, in order."""
    text = (REPO_ROOT / path).read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    regions = find_regions(lines, BEGIN_SOL, END_SOL, path)
    functions = enclosing_functions(text)
    return [lines[r.begin + 1:r.end] for r in regions if function_at(functions, r.begin + 1) == qualname]


def restore(student: Path, function: str) -> int:
    """Put the solution of ``function`` ("helpers/x.py:Name.method") back in place of its stubs; returns how many."""
    path, qualname = function.split(":")
    target = student / path
    lines = target.read_text(encoding="utf-8").splitlines(keepends=True)
    bodies = iter(solution_bodies(path, qualname))
    out, i, count = [], 0, 0
    while i < len(lines):
        match = STUB_PATTERN.search(lines[i])
        if (match and match["what"] == qualname and match["where"] == path and out
                and out[-1].strip() == CODE_STUB_COMMENT):
            out.pop()  # the "# YOUR CODE HERE" line above the raise
            out.extend(next(bodies))
            count += 1
        else:
            out.append(lines[i])
        i += 1
    target.write_text("".join(out), encoding="utf-8")
    return count
