"""Grading a class: each hand-in in a worker process, a worker lost is replaced, every student gets a result.

The main process never runs a hand-in: workers do (``--workers 1`` too),
one hand-in at a time, each with the sandbox's isolation
(``helpers.course.sandbox``) and, as root, a user of its own per worker
(``sandbox.claimed_uid``: one no other worker or grader on the machine holds). A worker that dies or overruns the hand-in's
budget costs that hand-in its result (with the reason) and is replaced;
the batch goes on and ends with a result for every student.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import tempfile
import time
from collections import deque
from pathlib import Path

from tqdm.auto import tqdm

from helpers.course import runner, sandbox
from helpers.course.grading.archive import UnsafeSubmission, student_id, unpack
from helpers.course.grading.checks import Grader, Runs
from helpers.course.grading.cs7643 import grade_cs7643
from helpers.course.grading.data import GradingData
from helpers.course.grading.rpz import grade_rpz

# Seconds a worker may run past a hand-in's budget (unpacking, the reference's outputs) before it is replaced.
WORKER_GRACE_S = 120


def _skip(data: GradingData) -> frozenset:
    return frozenset({"eval_accuracy"} if data.eval is None else ())


def grade_submission(course: str, path: str | os.PathLike, config: dict, data: GradingData,
                     student: str | None = None, isolation: sandbox.Isolation | None = None) -> dict:
    """Grade one hand-in (a zip or a folder); returns its result (JSON-ready): checks, score, metric, refusal."""
    path = Path(path)
    student = student or student_id(path)
    if isolation is None:   # CS7643 hand-ins are read as files: no student code runs, nothing to isolate
        isolation = sandbox.isolation(required=True) if course == "rpz" else sandbox.Isolation("none")
    grader = Grader(config, skip=_skip(data))
    start = time.monotonic()
    limits = config["limits"]
    # ignore_cleanup_errors: a hand-in that made its files unremovable must not stop the batch.
    with tempfile.TemporaryDirectory(prefix="grade-", ignore_cleanup_errors=True) as tmp:
        workdir = Path(tmp) / "submission"
        workdir.mkdir()
        try:
            files = unpack(path, workdir, int(limits["unpacked_mb"] * 2**20), int(limits["max_files"]))
        except UnsafeSubmission as err:
            return grader.result(student, refused=f"hand-in refused: {err}", seconds=time.monotonic() - start,
                                 isolation=isolation.describe())
        sandbox.make_readable(workdir)   # for the sandbox's user; the temporary folder around it stays private
        grade = grade_rpz if course == "rpz" else grade_cs7643
        metric = grade(workdir, files, config, data, student, grader, Runs(limits, isolation))
    return grader.result(student, metric, seconds=time.monotonic() - start, isolation=isolation.describe())


def _worker(conn, slot: int, course: str, config: dict, data: GradingData, isolated: bool, pin: bool) -> None:
    """A worker process: grade the hand-ins it is sent, one at a time, until the pipe closes.

    ``pin``: keep this worker (and the code it runs) on CPU ``slot``, so that a hand-in that starts many busy
    processes slows its own runs, not another worker's.
    """
    if pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[slot]})
    runner.die_with_parent()   # a grader killed mid-batch takes its workers along (and they their sandboxes)
    runner.adopt_orphans()     # what a hand-in's runner leaves when it is killed comes here, and ends below
    # cs7643's hand-ins are read as files (no student code runs); --no-isolation: a plain process of this user.
    sandboxed = isolated and course != "cs7643"
    with sandbox.claimed_uid() if sandboxed else contextlib.nullcontext() as uid:
        isolation = sandbox.isolation(required=True, uid=uid) if sandboxed else sandbox.Isolation("none")
        _serve(conn, course, config, data, isolation)


def _serve(conn, course: str, config: dict, data: GradingData, isolation) -> None:
    """The worker's loop: grade what comes through ``conn`` with ``isolation`` until the pipe closes."""
    while True:
        try:
            item = conn.recv()
        except (EOFError, OSError):
            return
        student, path = item
        try:
            result = grade_submission(course, path, config, data, student, isolation)
        except Exception as err:  # a grader bug must not stop the batch: the student gets a reason, the summary counts it
            result = Grader(config, _skip(data)).result(
                student, note=f"the grader failed on this hand-in: {type(err).__name__}: {err}")
        runner.end_children()
        if isolation.uid is not None:
            sandbox.end_processes_of(isolation.uid)
        conn.send(result)


def _lost(config: dict, data: GradingData, student: str, why: str) -> dict:
    return Grader(config, _skip(data)).result(student, note=f"not graded: {why}")


def grade_all(course: str, submissions: list[tuple[str, Path]], config: dict, data: GradingData, workers: int = 1,
              progress: bool = True, isolated: bool = True, on_result=None) -> list[dict]:
    """Grade every hand-in, ``workers`` at a time, with a progress bar; a result per hand-in, in input order.

    ``isolated=False`` (``--no-isolation``): plain processes of this user instead of bubblewrap;
    ``on_result(result)`` is called as each result arrives (the batch writes it at once).
    """
    ctx = multiprocessing.get_context("spawn")
    pending = deque((sid, str(path)) for sid, path in submissions)
    results: dict[str, dict] = {}
    slots: list[dict | None] = [None] * max(1, min(workers, len(pending)))
    pin = 1 < len(slots) <= len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else False
    budget = float(config["limits"]["handin_budget_s"]) + WORKER_GRACE_S
    bar = tqdm(total=len(pending), unit="hand-in", desc=f"grading {course}", disable=not progress)

    def start(i: int) -> None:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(child, i, course, config, data, isolated, pin), daemon=True)
        proc.start()
        child.close()
        slots[i] = {"proc": proc, "conn": parent, "item": None, "since": 0.0}

    def finish(i: int, result: dict) -> None:
        slot = slots[i]
        results[slot["item"][0]] = result
        if on_result is not None:
            on_result(result)
        slot["item"] = None
        bar.set_postfix_str(result["student"])
        bar.update()

    def replace(i: int, why: str) -> None:
        slot = slots[i]
        if slot["item"] is not None:
            finish(i, _lost(config, data, slot["item"][0], why))
        slot["proc"].kill()
        slot["proc"].join()
        slot["conn"].close()
        slots[i] = None

    try:
        while pending or any(s and s["item"] for s in slots):
            for i in range(len(slots)):
                if pending and (slots[i] is None or slots[i]["item"] is None):
                    if slots[i] is None:
                        start(i)
                    slots[i]["item"] = pending.popleft()
                    slots[i]["since"] = time.monotonic()
                    try:
                        slots[i]["conn"].send(slots[i]["item"])
                    except OSError:
                        replace(i, "the grader's worker process stopped before it began")
            busy = [i for i, s in enumerate(slots) if s and s["item"]]
            ready = multiprocessing.connection.wait([slots[i]["conn"] for i in busy]
                                                    + [slots[i]["proc"].sentinel for i in busy], timeout=5)
            for i in busy:
                slot = slots[i]
                if slot["conn"] in ready:
                    try:
                        finish(i, slot["conn"].recv())
                        continue
                    except (EOFError, OSError):
                        pass
                if not slot["proc"].is_alive():
                    replace(i, f"the grader's process for this hand-in was killed (exit code {slot['proc'].exitcode}); "
                               "its code may have killed it")
                elif time.monotonic() - slot["since"] > budget:
                    replace(i, f"grading it took more than {budget:g} s")
    finally:
        bar.close()
        for slot in slots:
            if slot is not None:
                slot["conn"].close()
                slot["proc"].join(timeout=10)
                if slot["proc"].is_alive():
                    slot["proc"].kill()
    return [results[sid] for sid, _ in submissions]
