"""The command line, ``python -m helpers.course.release {student,check}``: arguments to a call of
``write_student_version`` or ``check``, their outcome to a summary line (exit 0) or one line per problem on
stderr (exit 1). Its help is the package's docstring.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from helpers.course import release
from helpers.paths import REPO_ROOT


def main(argv: list[str] | None = None) -> int:
    """Run ``student`` or ``check`` with ``argv`` (default: the process's arguments); returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m helpers.course.release", description=release.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    student = sub.add_parser("student", help="write the student copy into OUT_DIR")
    student.add_argument("out_dir", type=Path)
    student.add_argument("--source", type=Path, default=REPO_ROOT, help="solution repository (default: this one)")
    student.add_argument("--repo-url", help="the student repository's URL: the copy's Colab set-up cells clone it and "
                                            "its README links each notebook in Colab there (required)")
    student.add_argument("--keep-solution-url", action="store_true",
                         help="instead of --repo-url: keep the solution repository's URL (DEFAULT_REPO_URL in "
                              "helpers/course/colab.py), for a copy that is never handed out")
    checker = sub.add_parser("check", help="check the markers, the notebooks' markdown and what the student copy "
                                           "would hold")
    checker.add_argument("--source", type=Path, default=REPO_ROOT, help="solution repository (default: this one)")
    args = parser.parse_args(argv)

    if args.command == "check":
        problems = release.check(args.source)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"release check: {len(problems)} problem(s)", file=sys.stderr)
            return 1
        print("release check: markers balanced, well placed and exact, no result stated outside them, "
              "no solution and no instructor talk in the student copy")
        return 0
    try:
        report = release.write_student_version(args.source, args.out_dir, args.repo_url, args.keep_solution_url)
    except (release.MarkerError, ValueError) as err:
        problems = str(err).splitlines()
        for problem in problems:
            print(f"release: {problem}", file=sys.stderr)
        print(f"release: {len(problems)} problem(s); nothing written", file=sys.stderr)
        return 1
    regions = sum(report.stubbed.values())
    print(f"student version in {args.out_dir}: {len(report.copied)} files, {regions} solution regions "
          f"replaced in {len(report.stubbed)} files, {len(report.withheld)} files withheld")
    return 0
