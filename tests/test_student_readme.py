"""The student copy's own README (helpers/course/student_readme.py, written by `python -m helpers.course.release student`)."""

from __future__ import annotations

import re

from helpers.course import colab, release
from helpers.course.exercises import EXERCISES
from helpers.paths import REPO_ROOT


def test_the_student_copy_gets_its_own_readme(tmp_path):
    out = tmp_path / "student"
    release.write_student_version(REPO_ROOT, out)
    readme = (out / "README.md").read_text()
    # Set-up, where to write, one exercise's check, hand-in and Colab, in the student's words.
    for words in ("scripts/setup.sh", "scripts/lab.sh", "--cpu", "# YOUR CODE HERE", "YOUR ANSWER HERE",
                  'exercises.check("linear")', "scripts/test.sh -m linear", "./collect_submission.sh rpz",
                  "full-mode", "Google Colab"):
        assert words in readme, words
    # Colab: the Drive folder the set-up cell keeps the workbook in, so the student knows where the work lives.
    assert "/".join(colab.DRIVE_HOME.parts[-2:]) in readme
    # The exercises, in course order, each with its notebook.
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \| `(\w+)` \|", readme, re.M)
    assert [(int(i), name, nb) for i, name, nb in rows] == [(i, e.name, e.notebook) for i, e in enumerate(EXERCISES, 1)]
    # Nothing of the instructor's side: release commands, withheld weights, solution markers, this machine.
    for words in ("helpers.course.release", "withheld", "BEGIN SOLUTION", "instructor", "/work/"):
        assert words not in readme, words
    # What it names exists in the copy.
    for path in ("scripts/setup.sh", "scripts/lab.sh", "scripts/test.sh", "scripts/python", "collect_submission.sh",
                 "notebooks/00_setup.ipynb", "helpers/numpy_nn.py"):
        assert (out / path).is_file(), path
