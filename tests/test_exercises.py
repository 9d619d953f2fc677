"""The exercise registry (helpers/course/exercises.py): complete, in course order, one marker per exercise, check() output."""

from __future__ import annotations

import re
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from helpers.course import exercises
from helpers.course.exercises import EXERCISES, check, exercise
from helpers.paths import REPO_ROOT
from tests._processes import running, wait_for

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to see what still runs")


def test_exercises_follow_the_notebooks_and_have_unique_names():
    names = [e.name for e in EXERCISES]
    assert len(set(names)) == len(names)
    notebooks = [e.notebook for e in EXERCISES]
    assert notebooks == sorted(notebooks), "course order: the notebooks in order"
    for e in EXERCISES:
        assert (REPO_ROOT / "notebooks" / f"{e.notebook}.ipynb").is_file()
        assert re.fullmatch(r"[a-z][a-z0-9_]*", e.name), e.name
    with pytest.raises(KeyError, match="no exercise called 'nope'; the exercises are: linear, relu"):
        exercise("nope")


def test_markers_are_registered_in_course_order(pytestconfig):
    # conftest.py registers them from the exercise table (pytest --markers lists them).
    markers = [line.split(":", 1)[0] for line in pytestconfig.getini("markers")]
    assert [m for m in markers if m in exercises.BY_NAME] == [e.name for e in EXERCISES]


@pytest.mark.slow
def test_every_exercise_has_tests_in_its_test_file():
    markers = exercises.collected_markers()
    for e in EXERCISES:
        tests = [test for test, names in markers.items() if e.name in names]
        assert tests, f"no test is marked {e.name}"
        assert all(test.startswith(e.test_file + "::") for test in tests), (e.name, tests)


def test_notebook_check_cells_name_known_exercises_in_course_order():
    import nbformat

    seen = []
    for path in sorted((REPO_ROOT / "notebooks").glob("[0-9]*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                seen += [(path.stem, m) for m in re.findall(r'^exercises\.check\("(\w+)"\)$', cell.source, re.M)]
    assert [name for _, name in seen] == [e.name for e in EXERCISES], "one check cell per exercise, in order"
    assert all(notebook == exercise(name).notebook for notebook, name in seen)


def fake_repository(tmp_path: Path, test_body: str) -> Path:
    """A repository whose only test file is the one of exercise `linear`."""
    root = tmp_path / "repo"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_numpy_nn.py").write_text(textwrap.dedent(test_body))
    return root


def test_check_prints_pass(tmp_path, capsys):
    root = fake_repository(tmp_path, """
        import pytest

        @pytest.mark.linear
        def test_ok():
            assert 1 + 1 == 2

        def test_not_this_exercise():
            assert False
    """)
    check("linear", root=root)
    assert capsys.readouterr().out == "linear: pass\n"


def test_check_prints_the_first_failing_assertion_and_the_hint_without_a_traceback(tmp_path, capsys):
    root = fake_repository(tmp_path, """
        import pytest

        def helper(value):
            assert value == 3, "Linear.forward: expected shape (2, 3)"

        @pytest.mark.linear
        def test_first():
            helper(2)

        @pytest.mark.linear
        def test_second():
            raise ValueError("later")

        @pytest.mark.linear
        def test_ok():
            pass
    """)
    check("linear", root=root)
    out = capsys.readouterr().out
    assert out.startswith("linear: 2 of 3 checks fail; the first, test_numpy_nn.py::test_first:\n"), out
    assert "Linear.forward: expected shape (2, 3)" in out
    assert f"hint: {dict(exercise('linear').parts)['Linear.forward']}" in out   # the hint of the part it names
    assert "Traceback" not in out and "def helper" not in out and "later" not in out


@pytest.mark.slow
def test_check_names_an_endless_loop(tmp_path):
    root = fake_repository(tmp_path, """
        import pytest, time

        @pytest.mark.linear
        def test_forever():
            time.sleep(60)
    """)
    result = exercises.run_check("linear", root=root, timeout=8)["linear"]
    assert not result.ok and "more than 8 s" in result.summary()


def test_checks_reuse_one_warm_checker_and_see_each_edit_as_saved(tmp_path, capsys):
    root = fake_repository(tmp_path, """
        import pytest
        from answer import value

        @pytest.mark.linear
        def test_value():
            assert value() == 3, "value() should be 3"
    """)
    (root / "answer.py").write_text("def value():\n    return 2\n")
    check("linear", root=root)
    assert "value() should be 3" in capsys.readouterr().out
    checker = exercises._Checker._running[root]
    pid = checker.proc.pid
    (root / "answer.py").write_text("def value():\n    return 1 + 2\n")   # the student's edit, saved
    check("linear", root=root)
    assert capsys.readouterr().out == "linear: pass\n"
    assert exercises._Checker._running[root] is checker and checker.alive() and checker.proc.pid == pid  # the same


def test_a_check_that_crashes_its_process_is_reported_and_the_next_check_still_runs(tmp_path):
    root = fake_repository(tmp_path, """
        import os, pytest

        @pytest.mark.linear
        def test_crash():
            os._exit(3)
    """)
    result = exercises.run_check("linear", root=root)["linear"]
    assert not result.ok and "pytest stopped (exit 3)" in result.summary()
    (root / "tests" / "test_numpy_nn.py").write_text("import pytest\n\n@pytest.mark.linear\ndef test_ok():\n    pass\n")
    assert exercises.run_check("linear", root=root)["linear"].ok


@pytest.mark.slow
@linux_only
def test_stopping_the_checker_also_stops_the_check_it_runs(tmp_path):
    """A check interrupted in the notebook stops its checker (its answer must not reach the next check), and the
    tests it was running end with it, and every process they started, instead of running on unseen."""
    import threading

    token = f"check-{uuid.uuid4().hex}"
    root = fake_repository(tmp_path, f"""
        import subprocess, sys, time, pytest

        @pytest.mark.linear
        def test_forever():
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "{token}"], start_new_session=True)
            time.sleep(300)
    """)
    worker = threading.Thread(target=exercises.run_check, args=("linear", root), kwargs={"timeout": 20})
    worker.start()
    assert wait_for(lambda: running(token)), "the check never started its process"
    first = running(token)
    exercises._Checker.stop_all()          # what an interrupt does (request's except clause)
    assert wait_for(lambda: not set(first) & set(running(token)), timeout=10), "the check's process outlived it"
    worker.join(timeout=120)               # the run falls back to a fresh runner, which times out
    assert not worker.is_alive()
    assert wait_for(lambda: not running(token), timeout=10)


def test_the_hint_is_the_one_of_the_part_that_fails_or_of_the_exercise_to_fix_first():
    def summary(name: str, message: str) -> str:
        return exercises.CheckResult(name, ["test_a.py::ok"], ["test_a.py::wrong"], message).summary()

    parts = dict(exercise("affine").parts)
    out = summary("affine", "AssertionError: compared with PyTorch: dw (affine_backward) differs by up to 0.3 (2 of 6 "
                            "entries); out (affine_forward), dx (affine_backward) match (tolerance 1e-09)")
    assert f"hint: {parts['affine_backward']}" in out and parts["affine_forward"] not in out, out
    out = summary("affine", "AssertionError: compared with PyTorch: out (affine_forward) differs by up to 1; dx "
                            "(affine_backward) matches (tolerance 1e-09)")
    assert f"hint: {parts['affine_forward']}" in out and parts["affine_backward"] not in out, out
    # A check stopped by an earlier exercise shows that exercise's hint, never its own.
    out = summary("relu_layer", "AssertionError: this check uses affine, whose own check fails (compared with PyTorch: "
                                "dw (affine_backward) differs by up to 0.3): fix affine first (exercises.check('affine'))")
    assert f"hint (affine): {parts['affine_backward']}" in out and exercise("relu_layer").hint not in out, out
    # Nothing named: the exercise's own hint; code still to write: no hint at all.
    assert f"hint: {exercise('tanh').hint}" in summary("tanh", "AssertionError: shapes differ")
    assert "hint" not in summary("tanh", "Tanh.forward in helpers/numpy_nn.py is not written yet: write the code")


def test_every_part_with_a_hint_is_a_function_of_its_exercise():
    for e in EXERCISES:
        functions = {f.split(":")[1].split(".")[-1] for f in e.functions} | {f.split(":")[1] for f in e.functions}
        for part, hint in e.parts:
            named = part.split("(")[-1].rstrip(")")   # "dx (softmax_loss)" names softmax_loss
            assert named in functions, (e.name, part)
            assert hint and hint != e.hint, (e.name, part)



@pytest.fixture(params=["as-found", "without-bubblewrap"])
def isolation_kind(request, monkeypatch):
    """Checks as this machine runs them, and as on one without bubblewrap (macOS, a container): plain processes."""
    if request.param == "without-bubblewrap":
        monkeypatch.setattr(exercises.sandbox, "bwrap_problem", lambda drop=False: "bubblewrap is not installed")
    exercises._Checker.stop_all()
    yield request.param
    exercises._Checker.stop_all()


@linux_only
def test_a_passing_check_leaves_no_process_behind(tmp_path, isolation_kind):
    """Processes a test starts (a daemon in a session of its own, a double fork) end with the check, which passes."""
    token = f"daemon-{uuid.uuid4().hex}"
    root = fake_repository(tmp_path, f"""
        import os, subprocess, sys, pytest

        @pytest.mark.linear
        def test_starts_daemons():
            for _ in range(20):
                subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "{token}"],
                                 start_new_session=True)
            if os.fork() == 0:          # a double fork: the grandchild is adopted by whoever adopts orphans
                if os.fork() == 0:
                    os.setsid()
                    os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(300)", "{token}"])
                os._exit(0)
    """)
    assert exercises.run_check("linear", root=root)["linear"].ok
    assert wait_for(lambda: not running(token), timeout=10), f"{len(running(token))} processes outlived the check"


@pytest.mark.slow
@linux_only
def test_a_check_that_times_out_ends_every_process_it_started(tmp_path, isolation_kind):
    token = f"timeout-{uuid.uuid4().hex}"
    root = fake_repository(tmp_path, f"""
        import subprocess, sys, time, pytest

        @pytest.mark.linear
        def test_hangs():
            subprocess.Popen(["setsid", sys.executable, "-c", "import time; time.sleep(300)", "{token}"])
            time.sleep(300)
    """)
    result = exercises.run_check("linear", root=root, timeout=8)["linear"]
    assert "more than 8 s" in result.summary()
    assert wait_for(lambda: not running(token), timeout=10)


def test_a_check_that_prints_without_end_is_stopped(tmp_path):
    root = fake_repository(tmp_path, """
        import sys, pytest

        @pytest.mark.linear
        def test_floods():
            while True:
                sys.stdout.write("x" * 65536)
    """)
    result = exercises.run_check("linear", root=root, timeout=120)["linear"]
    assert not result.ok and result.failed == ["test_numpy_nn.py::test_floods"]
    assert "File too large" in result.first_failure or "more than" in result.first_failure
