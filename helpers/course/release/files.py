"""Which files of the solution repository the student copy is made of: its tracked files (``list[str]``,
relative POSIX paths), less the withheld ones (trained weights, outputs, full data sets, the instructor's
side) and tracked symbolic links, which are never followed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

# Never handed out: trained weights, what notebooks write, full data sets.
WITHHELD_DIRS = ("assets/models/", "outputs/", "data/")
WITHHELD_SUFFIXES = (".pt", ".pth", ".ckpt")
# The instructor's side: the grader (its evaluation-set recipe, configs, tests and benchmark), this release tool
# (with its fingerprints, the student README's template and their tests, the walk through the student copy and its
# helper that writes the solutions back in),
# the tests of the reference solutions' own designs, the course repository's CI, its browser test, its version corners
# and its check of the committed notebooks' outputs. The copy speaks to students only.
INSTRUCTOR_ONLY = ("helpers/course/grading/", "tests/test_grade.py", "benchmarks/grade_throughput.py",
                   "helpers/course/release/", "helpers/course/fingerprints.py", "helpers/course/student_readme.py",
                   "tests/test_release.py", "tests/test_student_readme.py", "tests/test_student_copy.py",
                   "tests/_solutions.py", ".ci/",
                   "tests/test_browser.py", "tests/test_checks_with_solutions.py", "tests/test_fingerprints.py",
                   "scripts/test_versions.py", "tests/test_versions.py", "tests/test_notebooks_committed.py")

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


def link_problem(source: Path, name: str) -> str | None:
    """Why tracked file ``name`` is left out when it is a symbolic link, else None.

    A tracked symbolic link is never followed: its target (anywhere, even outside the repository) could leak.
    """
    path = source / name
    if not path.is_symlink():
        return None
    return (f"{name}: a symbolic link (to {os.readlink(path)}); the student copy never follows links, so it "
            "leaves this out: commit the file itself instead, or untrack the link (git rm --cached)")
