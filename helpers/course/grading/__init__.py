"""Instructor-only grading files: one config per course (``rpz.json``, ``cs7643.json``) and ``make_eval_set``.

Not part of the student copy (``python -m helpers.course.release student`` withholds
this folder, ``helpers/course/grade.py`` and their tests).
"""
