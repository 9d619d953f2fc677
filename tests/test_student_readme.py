"""The student copy's own README (helpers/course/student_readme.py, written by `python -m helpers.course.release student`)."""

from __future__ import annotations

import re

from helpers.course import colab, release
from helpers.course.exercises import EXERCISES
from helpers.course.release.leaks import instructor_talk
from helpers.course.student_readme import student_readme
from helpers.paths import REPO_ROOT

URL = "https://github.com/course-2027/workbook-student"


def test_the_student_copy_gets_its_own_readme(tmp_path):
    out = tmp_path / "student"
    release.write_student_version(REPO_ROOT, out, repo_url=URL)
    readme = (out / "README.md").read_text()
    # Set-up, where to write, one exercise's check, hand-in and Colab, in the student's words.
    for words in ("scripts/setup.sh", "scripts/lab.sh", "--cpu", "# YOUR CODE HERE", "YOUR ANSWER HERE",
                  'exercises.check("linear")', "scripts/test.sh -m linear", "./collect_submission.sh rpz",
                  "full-mode", "Google Colab"):
        assert words in readme, words
    # Colab: the Drive folder the set-up cell keeps the workbook in, so the student knows where the work lives,
    # and a badge per notebook of the copy that opens it in Colab from the course's repository.
    assert "/".join(colab.DRIVE_HOME.parts[-2:]) in readme
    notebooks = sorted(p.stem for p in (out / "notebooks").glob("*.ipynb"))
    badges = re.findall(r"\[!\[Open In Colab\]\(https://colab.research.google.com/assets/colab-badge.svg\)\]"
                        r"\(https://colab.research.google.com/github/course-2027/workbook-student/blob/main/"
                        r"notebooks/(\w+)\.ipynb\)", readme)
    assert badges == notebooks and len(notebooks) == 9
    # The exercises, in course order, each with its notebook.
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \| `(\w+)` \|", readme, re.M)
    assert [(int(i), name, nb) for i, name, nb in rows] == [(i, e.name, e.notebook) for i, e in enumerate(EXERCISES, 1)]
    # Nothing of the instructor's side: release commands, withheld weights, solution markers, the solution repository,
    # this machine.
    for words in ("helpers.course.release", "withheld", "BEGIN SOLUTION", "instructor", "/work/", colab.DEFAULT_REPO_URL):
        assert words not in readme, words
    assert instructor_talk({"README.md": readme.encode()}) == []
    # What it names exists in the copy.
    for path in ("scripts/setup.sh", "scripts/lab.sh", "scripts/test.sh", "scripts/python", "collect_submission.sh",
                 "notebooks/00_setup.ipynb", "helpers/numpy_nn.py"):
        assert (out / path).is_file(), path


def test_it_says_what_the_tests_compare_in_the_notebooks_as_the_student_has_them():
    readme = " ".join(student_readme(URL, ["01_layers"]).split())
    # nbval compares a cell's saved outputs only; the copy's cells from the first one that runs the student's code on
    # have none (tests/test_release.py checks that they are cleared), so those run without being compared.
    assert "a cell that holds saved outputs must print the same again (unless its first line is " \
           "`# NBVAL_IGNORE_OUTPUT`)" in readme
    assert "A cell without saved outputs is only run, not compared: in the notebooks as you got them, that is every " \
           "cell from the first one that runs your code." in readme
    assert "compares its outputs" not in readme


def test_colab_links_need_a_repository_on_github():
    elsewhere = student_readme("https://gitlab.example.edu/course/workbook", ["01_layers"])
    assert "colab-badge" not in elsewhere and "https://gitlab.example.edu/course/workbook" in elsewhere
    assert "upload each notebook of your copy of the course's repository" in elsewhere
    assert "(*File → Upload notebook*)" in elsewhere
    assert "colab-badge" not in student_readme(None, ["01_layers"])
    on_github = student_readme("https://github.com/Some-Org/work.book.git", ["01_layers"])
    assert "(https://colab.research.google.com/github/Some-Org/work.book/blob/main/notebooks/01_layers.ipynb)" in on_github


def test_every_readme_section_a_message_names_is_in_the_readme_its_reader_has(tmp_path):
    # Errors, --help texts and script headers send the reader to "README, 'Data'" and the like: the section must
    # be in the README of the repository the file ships in (the student copy has its own README).
    from helpers.course.release.files import is_withheld, tracked_files

    pointer = re.compile(r"README,\s*[\"'](?P<section>[A-Z][^\"'\n]{2,40})[\"']")
    headings = {name: set(re.findall(r"^#{2,4} (.+?)\s*$", text, re.M)) for name, text in (
        ("instructor", (REPO_ROOT / "README.md").read_text()), ("student", student_readme(URL)))}
    seen = []
    for name in tracked_files(REPO_ROOT):
        if not name.endswith((".py", ".sh", ".ipynb", ".gitignore", ".toml")):
            continue
        text = re.sub(r"\n\s*#\s*", " ", (REPO_ROOT / name).read_text(errors="replace"))  # comments over lines
        for found in pointer.finditer(text):
            readers = ["instructor"] + ([] if is_withheld(name) else ["student"])
            for reader in readers:
                seen.append(found["section"])
                assert found["section"] in headings[reader], f"{name} names README section {found['section']!r}, " \
                                                              f"not in the {reader} README"
    assert {"Data", "Training from the shell"} <= set(seen), seen
