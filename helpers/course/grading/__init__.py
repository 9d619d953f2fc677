"""The instructor's grader (withheld from the student copy): ``python -m helpers.course.grading``.

Its parts, each a module of its own:

- ``config``: the course's checks, points, thresholds, challenge rules and limits (``rpz.json``, ``cs7643.json``);
- ``data``: what the grader holds and students never see: test labels, the evaluation set, the public/private split;
- ``make_eval_set``: the evaluation set (``python -m helpers.course.grading.make_eval_set``);
- ``calibrate``: the evaluation set against networks trained with and without augmentation (the README's table);
- ``archive``: hand-ins unpacked safely (no links, no ``..``, no zip bombs), student ids;
- ``runners/``: the programs the sandbox runs on a hand-in (the layer checks; the model's is
  ``helpers/course/runners/rpz_handin.py``, shared with the hand-in check);
- ``checks``: one hand-in's checks and its runs of student code within its time budget;
- ``rpz``, ``cs7643``: each course's checks;
- ``batch``: a class graded by worker processes, each hand-in isolated, a result for everyone;
- ``reports``: the ranking, ``grades.csv``, the leaderboards, feedback, the summary;
- ``gradescope``: the autograder bundle and the run inside Gradescope;
- ``cli``: the command line.

Student code runs only through ``helpers.course.sandbox``.
"""
