"""Plays the student: the student copy, worked through exercise by exercise in course order.

Generates the student copy of this repository, then for each exercise of
``helpers.course.exercises.EXERCISES`` puts the solution back into that exercise's
stubs only, and checks with the same ``run_check`` that ``exercises.check``
uses that

- the exercise's public tests pass now, and
- every later exercise still fails, each failure being the one line
  "... is not written yet: write the code at '# YOUR CODE HERE'."

At the end the student's files equal the solution's. A second test takes the
copy with every exercise written and runs its whole unit suite and every
notebook in smoke mode under nbval, without a failing cell: what a student who
has finished sees. Slow (minutes each: one pytest process per exercise; the
copy's whole suite), so they run only when asked:
``pytest -m student_copy tests/test_student_copy.py`` (``.ci/run`` runs the two
side by side).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.course import release
from helpers.course.exercises import EXERCISES, run_check
from helpers.course.release.markers import BEGIN_SOL, END_SOL
from helpers.paths import REPO_ROOT
from tests._solutions import restore

pytestmark = pytest.mark.student_copy

NOT_WRITTEN = re.compile(r"^\S+ in helpers/\S+\.py is not written yet: write the code at '# YOUR CODE HERE'\.$")


def assert_not_written_yet(results, names):
    for name in names:
        result = results[name]
        assert result.failed, f"{name} passes before its code is written: {result.passed}"
        message = (result.first_failure or "").strip()
        assert NOT_WRITTEN.match(message), f"{name} fails for another reason than its stub:\n{result.summary()}"


def write_student_copy(student: Path) -> None:
    release.write_student_version(REPO_ROOT, student, repo_url="https://github.com/course-2027/workbook-student")


def assert_modules_are_the_solutions(student: Path) -> None:
    for path in {f.split(":")[0] for e in EXERCISES for f in e.functions}:
        solution = [line for line in (REPO_ROOT / path).read_text().splitlines(keepends=True)
                    if not (BEGIN_SOL.match(line) or END_SOL.match(line))]
        assert (student / path).read_text() == "".join(solution), path


def test_the_student_works_through_every_exercise_in_course_order(tmp_path):
    student = tmp_path / "student"
    write_student_copy(student)
    names = [e.name for e in EXERCISES]

    # Nothing written yet: every exercise fails, with the one-line message.
    assert_not_written_yet(run_check(names, root=student), names)

    for k, exercise in enumerate(EXERCISES):
        restored = sum(restore(student, f) for f in exercise.functions)
        assert restored >= len(exercise.functions), f"{exercise.name}: a stub was not found"
        # The later exercises whose tests share a file with this one or the next: the ones whose results
        # could change now (the tests of the others do not import what was just written). All of them
        # were checked above, before anything was written.
        files = {e.test_file for e in EXERCISES[k:k + 2]}
        later = [e.name for e in EXERCISES[k + 1:] if e.test_file in files]
        results = run_check([exercise.name, *later], root=student)
        assert results[exercise.name].ok, results[exercise.name].summary()
        assert_not_written_yet(results, later)

    # Every exercise written: the student's modules are the solution's.
    assert_modules_are_the_solutions(student)


def test_the_finished_copy_passes_its_whole_suite_and_runs_every_notebook(tmp_path):
    student = tmp_path / "student"
    write_student_copy(student)
    restored = sum(restore(student, f) for e in EXERCISES for f in e.functions)
    assert restored >= sum(len(e.functions) for e in EXERCISES), "a stub was not found"
    assert_modules_are_the_solutions(student)
    # The copy's whole unit suite, and every notebook run in smoke mode under nbval. The copy's notebooks had
    # their solution-dependent outputs cleared, so they are run, not compared (--nbval-lax): no cell may fail.
    suite = subprocess.run([sys.executable, "-m", "pytest", "tests", "notebooks", "-q", "-x", "-p", "no:cacheprovider",
                            "-o", "addopts=", "-m", "not browser and not student_copy and not slow", "--nbval-lax",
                            "--nbval-current-env"],
                           cwd=student, capture_output=True, text=True, timeout=2400,
                           env={**os.environ, "PYTHONPATH": str(student)})
    assert suite.returncode == 0, suite.stdout[-3000:] + suite.stderr[-2000:]
    assert re.search(r"\d+ passed", suite.stdout.splitlines()[-1])
    ran = re.findall(r"^notebooks/(\d\d)_\w+\.ipynb", subprocess.run(
        [sys.executable, "-m", "pytest", "notebooks", "--collect-only", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
         "--nbval-lax"], cwd=student, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(student)}).stdout, re.M)
    assert sorted(set(ran)) == [f"{i:02d}" for i in range(9)], ran
