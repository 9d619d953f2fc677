"""``python -m helpers.course.release``: the student copy's command line (``helpers.course.release.cli``)."""

from helpers.course.release.cli import main

raise SystemExit(main())
