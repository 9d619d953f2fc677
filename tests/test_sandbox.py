"""helpers.course.sandbox: the one runner of code the workbook did not write (time, memory and output limits)."""

import os
import sys
import time

import pytest

from helpers.course.sandbox import CHECK_MEMORY, check_memory, memory_limit_enforced, run_limited

posix_only = pytest.mark.skipif(os.name != "posix", reason="the limits are set with POSIX setrlimit and sessions")
linux_only = pytest.mark.skipif(not memory_limit_enforced(), reason="only Linux enforces an address-space limit")


def _python(code: str, tmp_path, **kw):
    return run_limited([sys.executable, "-c", code], cwd=tmp_path, **{"timeout": 30, "memory": None, **kw})


def test_a_clean_run_gives_its_output_and_reads_the_text_it_is_given(tmp_path):
    run = _python("import sys; print(sys.stdin.readline().strip().upper()); print('err', file=sys.stderr)", tmp_path,
                  stdin="token\n")
    assert (run.returncode, run.timed_out, run.stdout, run.stderr) == (0, False, "TOKEN\n", "err\n")
    assert not run.stopped_early() and run.seconds > 0


def test_the_environment_given_is_the_whole_environment(tmp_path):
    run = _python("import os; print(sorted(k for k in os.environ if k != 'LC_CTYPE'))", tmp_path,
                  env={"ONLY_THIS": "1", "PATH": os.defpath})
    assert run.stdout.strip() == "['ONLY_THIS', 'PATH']"


@posix_only
def test_a_timeout_kills_the_processes_the_code_started_and_keeps_what_it_printed(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    code = ("import subprocess, sys, time\n"
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
            "print('started', flush=True)\n"
            "time.sleep(60)\n")
    start = time.monotonic()
    run = _python(code, tmp_path, timeout=3)
    assert run.timed_out and run.stopped_early() and time.monotonic() - start < 20
    assert run.stdout == "started\n" and run.why_stopped("an endless loop?") == "timed out after 3 s (an endless loop?)"
    grandchild = int(pid_file.read_text())
    for _ in range(50):   # killed with its session; gone once its parent (init) reaps it
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the process the code started is still running")


@linux_only
def test_the_memory_limit_stops_an_allocation_beyond_it(tmp_path):
    run = _python("import numpy as np; x = np.ones(4 * 2**30, dtype=np.uint8); print('allocated')", tmp_path,
                  memory=2 * 2**30)
    assert run.stopped_early() and "allocated" not in run.stdout
    assert run.why_stopped() == "ran out of memory (limit 2048 MB)"
    assert _python("import numpy as np; x = np.ones(2**20, dtype=np.uint8); print('allocated')", tmp_path,
                   memory=2 * 2**30).stdout == "allocated\n"


@posix_only
def test_the_output_limit_stops_a_flood_of_printing(tmp_path):
    run = _python("import sys\nfor _ in range(4096): sys.stdout.write('x' * 1024)\nsys.stdout.flush()", tmp_path,
                  output=2**20, keep=100)
    assert run.stopped_early() and len(run.stdout) <= 100
    assert run.why_stopped() == "stopped for writing more than 1 MB to a file or the screen"


def test_a_check_gets_the_memory_limit_on_linux_unless_cuda_is_in_use(monkeypatch):
    import torch

    from helpers.course import sandbox

    assert check_memory() == (CHECK_MEMORY if memory_limit_enforced() and not torch.cuda.is_available() else None)
    monkeypatch.setattr(sandbox.sys, "platform", "darwin")   # macOS refuses RLIMIT_AS: no limit, the check still runs
    assert check_memory() is None
    run = run_limited([sys.executable, "-c", "print('ran')"], cwd=".", timeout=30, memory=2**30)
    assert run.stdout == "ran\n" and run.memory is None


def test_every_runner_of_student_code_goes_through_run_limited():
    """The checker, the hand-in check and the grader start no process of their own for student code."""
    from helpers.paths import REPO_ROOT

    for name in ("exercises.py", "submission.py", "grade.py"):
        path = REPO_ROOT / "helpers" / "course" / name
        if name == "grade.py" and not path.exists():
            continue   # a copy without the grader
        text = path.read_text()
        assert "subprocess.run(" not in text, name
        assert "run_limited(" in text, name
