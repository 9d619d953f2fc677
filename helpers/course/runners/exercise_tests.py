"""The exercise checks' program (``helpers.course.exercises``), run by ``helpers.course.runner`` in the sandbox.

One step, ``tests``: pytest on the arguments given (the exercises' test
files, ``-m "name1 or name2"``), in the repository's folder. Its raw outputs:
pytest's exit code, and for every test its outcome, its exercise markers and
the first line of its failure; ``exercises.run_check`` reads them.
"""

from __future__ import annotations

import os
import sys


class Collector:
    """A pytest plugin object: one record per test (its call, or the set-up or tear-down that failed)."""

    def __init__(self, exercises):
        self.exercises = set(exercises)
        self.records: list[dict] = []
        self.markers: dict[str, list[str]] = {}

    def pytest_collection_modifyitems(self, items) -> None:
        for item in items:
            self.markers[item.nodeid] = [m.name for m in item.iter_markers() if m.name in self.exercises]

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call" or report.outcome == "failed":
            self.records.append({"test": report.nodeid.split("/")[-1], "outcome": report.outcome,
                                 "markers": self.markers.get(report.nodeid, []),
                                 "message": _message(report) if report.outcome == "failed" else ""})


def _message(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, str):  # helpers.course.student_checks: "X in Y is not written yet ..."
        return longrepr
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message
    return str(longrepr).strip().splitlines()[-1] if longrepr else ""


def steps(run):
    def tests():
        os.chdir(run.folder)
        sys.path.insert(0, run.folder)
        import pytest  # here, in the step's process: the runner imports only the standard library before a step

        collector = Collector(run.args["exercises"])
        code = pytest.main(list(run.args["pytest"]), plugins=[collector])
        return {}, {"exit": int(code), "results": collector.records, "markers": collector.markers}

    return [("tests", tests, ())]
