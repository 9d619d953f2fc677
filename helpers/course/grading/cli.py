"""The grader's command line: ``python -m helpers.course.grading``.

    python -m helpers.course.grading rpz SUBMISSIONS --out DIR [--workers N] [--eval-set FILE]
    python -m helpers.course.grading cs7643 SUBMISSIONS --out DIR [--workers N]
    python -m helpers.course.grading one rpz SUBMISSION [--eval-set FILE] [--json FILE]   # one hand-in, a JSON result
    python -m helpers.course.grading combine rpz RESULT.json ... --out DIR                 # reports from `one`'s results
    python -m helpers.course.grading gradescope-bundle rpz --out autograder.zip            # the same grader for Gradescope
    python -m helpers.course.grading gradescope rpz                                       # inside Gradescope's run_autograder

SUBMISSIONS is a folder of zips, one per student (the name before ``.zip`` is
the student id), or a folder of folders. Into ``--out`` go, each written
atomically: ``grades.csv`` (one row per student, one column per check with its
points, the challenge points, the total, the challenge metric),
``feedback/<student>.md``, ``leaderboard.csv`` (the final ranking, on the
private part), ``leaderboard.html`` (what students see: the public part only,
pseudonyms), ``results/<student>.json`` (each as soon as it is graded) and ``summary.txt``.

Student code is untrusted: it runs only in bubblewrap sandboxes
(``helpers.course.sandbox``) that see the hand-in's files and the images
handed in, nothing else (no network, no labels, no other hand-in, no
``--out``), each hand-in within a time budget, every process it starts
ended with it. Where bubblewrap cannot run, the grader refuses unless told
``--no-isolation``, and ``summary.txt`` says how the code ran. Any problem on
the instructor's side (a config, a data file, a path) is one line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from helpers.course import sandbox
from helpers.course.grading.archive import find_submissions, student_id
from helpers.course.grading.batch import grade_all
from helpers.course.grading.config import COURSES, DEFAULT_LIMITS, GradingError, load_config, parse_limits
from helpers.course.grading.data import load_grading_data
from helpers.course.grading.gradescope import gradescope_bundle, gradescope_run
from helpers.course.grading.reports import check_output_folder, write_reports, write_result
from helpers.paths import atomic_write_bytes, json_bytes


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="the course's config (default: helpers/course/grading/<course>.json)")
    p.add_argument("--eval-set", type=Path, help="rpz: the instructor's evaluation set (.npz, images and labels)")
    p.add_argument("--test-set", type=Path, help="a test set file in the same format instead of the data set's test split")
    p.add_argument("--data-root", type=Path, help="where the data sets are (default: as helpers.data finds them)")
    p.add_argument("--test-limit", type=int, help="grade on the first N test images only (a quick trial)")
    p.add_argument("--limit", action="append", metavar="KEY=VALUE",
                   help=f"override a limit of the config ({', '.join(DEFAULT_LIMITS)})")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-isolation", action="store_true",
                   help="grade without bubblewrap where it cannot run: the code then has this user's rights")


def _setup(args):
    config = load_config(args.course, args.config, parse_limits(args.limit))
    return config, load_grading_data(config, args.data_root, args.test_set, args.eval_set, args.test_limit)


def isolation_line(no_isolation: bool, course: str = "rpz") -> str:
    """How student code will run, for ``summary.txt``; ``GradingError`` when it cannot be isolated and may not run."""
    if course == "cs7643":
        return "none runs (CS7643 hand-ins are read as files)"
    problem = sandbox.bwrap_problem(drop=sandbox.is_root())   # as root, each worker's code runs as its own user
    if no_isolation:
        return ("NOT isolated (--no-isolation): plain processes with time, memory and output limits"
                + (" (bubblewrap was not used: " + problem + ")" if problem else ""))
    if problem:
        raise GradingError(f"student code cannot be isolated here: {problem}. Install bubblewrap, or pass "
                           "--no-isolation to grade without isolation (the code then has this user's rights).")
    return "isolated by bubblewrap (only its own files and inputs, no network, every process ended with it)" + \
        (", each worker as a user of its own" if sandbox.isolation(uid=sandbox.SANDBOX_UID).uid is not None else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.course.grading", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for course in COURSES:
        p = sub.add_parser(course, help=f"grade a folder of {course} hand-ins")
        p.set_defaults(course=course)
        p.add_argument("submissions", type=Path, help="folder of zips (student id = name before .zip) or of folders")
        p.add_argument("--out", type=Path, required=True, help="folder for grades.csv, feedback/, leaderboard.*")
        p.add_argument("--workers", type=int, default=1, help="hand-ins graded in parallel (default 1)")
        p.add_argument("--force", action="store_true", help="write into an --out that holds an earlier run's grades")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        _add_data_options(p)
        _add_run_options(p)
    one = sub.add_parser("one", help="grade one hand-in; print its JSON result (or write it with --json)")
    one.add_argument("course", choices=COURSES)
    one.add_argument("submission", type=Path)
    one.add_argument("--student", help="the student id (default: from the file name)")
    one.add_argument("--json", type=Path, help="write the result to this file instead of stdout")
    _add_data_options(one)
    _add_run_options(one)
    combine = sub.add_parser("combine", help="write the reports from results of `one`")
    combine.add_argument("course", choices=COURSES)
    combine.add_argument("results", type=Path, nargs="+", help="JSON results (files or folders of them)")
    combine.add_argument("--out", type=Path, required=True)
    combine.add_argument("--config", type=Path)
    combine.add_argument("--force", action="store_true")
    bundle = sub.add_parser("gradescope-bundle", help="write the autograder zip for Gradescope")
    bundle.add_argument("course", choices=COURSES)
    bundle.add_argument("--out", type=Path, required=True, help="the zip to write")
    _add_data_options(bundle)
    gs = sub.add_parser("gradescope", help="grade inside Gradescope's run_autograder (root: $GRADESCOPE_ROOT or /)")
    gs.add_argument("course", choices=COURSES)
    args = parser.parse_args(argv)

    try:
        if args.command in COURSES:
            if args.workers < 1:
                raise GradingError(f"--workers must be at least 1; got {args.workers}.")
            submissions = find_submissions(args.submissions)
            check_output_folder(args.out, [args.submissions], args.force)
            isolation = isolation_line(args.no_isolation, args.course)
            config, data = _setup(args)
            start = time.monotonic()
            results = grade_all(args.course, submissions, config, data, args.workers, progress=not args.quiet,
                                isolated=not args.no_isolation, on_result=lambda r: write_result(r, args.out))
            summary = write_reports(results, config, args.out, time.monotonic() - start, args.workers, isolation)
            print(summary + f"wrote {args.out}/grades.csv, leaderboard.html, leaderboard.csv, feedback/, results/")
        elif args.command == "one":
            if not (args.submission.is_dir() or args.submission.is_file()):
                raise GradingError(f"{args.submission}: no such hand-in (a .zip file or a folder).")
            isolation_line(args.no_isolation, args.course)
            config, data = _setup(args)
            student = args.student or student_id(args.submission)
            [result] = grade_all(args.course, [(student, args.submission)], config, data, 1, progress=False,
                                 isolated=not args.no_isolation)
            text = json_bytes(result)
            if args.json:
                atomic_write_bytes(args.json, text)
            else:
                sys.stdout.write(text.decode())
        elif args.command == "combine":
            config = load_config(args.course, args.config)
            files = [f for p in args.results for f in (sorted(p.glob("*.json")) if p.is_dir() else [p])]
            check_output_folder(args.out, [p for p in args.results if p.is_dir()], args.force)
            results = []
            for f in files:
                try:
                    result = json.loads(f.read_text())
                    if not isinstance(result, dict) or "checks" not in result or "student" not in result:
                        raise ValueError("no student and checks in it")
                    results.append(result)
                except (OSError, ValueError) as err:
                    raise GradingError(f"{f}: not a result of `python -m helpers.course.grading one` ({err}).") from None
            if not results:
                raise GradingError("no results given.")
            print(write_reports(results, config, args.out), end="")
        elif args.command == "gradescope-bundle":
            config, data = _setup(args)
            path = gradescope_bundle(args.course, args.out, config, data)
            print(f"wrote {path}: upload it as the assignment's autograder on Gradescope")
        else:
            results = gradescope_run(args.course)
            print(json.dumps({k: results[k] for k in ("score", "output")}))
    except GradingError as err:
        print(f"grade: {err}", file=sys.stderr)
        return 2
    return 0
