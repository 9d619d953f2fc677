"""``python -m helpers.course.grading``: the grader's command line (``helpers.course.grading.cli``)."""

from helpers.course.grading.cli import main

raise SystemExit(main())
