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

# One module per transformation, in the order a file goes through them: ``files`` (which files), ``markers``
# (where the regions are), ``python_stubs`` and ``notebook_stubs`` (with ``solution_names``: what a cell
# depends on), ``leaks`` (what the copy must not hold), ``student_copy`` (the copy built, checked and written);
# ``cli`` is the command line (``python -m helpers.course.release``).
from helpers.course.release.markers import MarkerError
from helpers.course.release.student_copy import Report, check, write_student_version

__all__ = ["MarkerError", "Report", "check", "write_student_version"]
