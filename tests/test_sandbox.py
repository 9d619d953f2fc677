"""helpers.course.sandbox and helpers.course.runner: the one runner of code the workbook did not write.

Each attack below is what a hostile hand-in would try from inside a run: read what it should not, write where it
should not, reach the network, outlive its run, kill the process that runs it, starve the machine.
"""

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from helpers.course import sandbox
from helpers.course.sandbox import CHECK_MEMORY, check_memory, memory_limit_enforced
from helpers.paths import REPO_ROOT
from tests._processes import running, wait_for

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the limits and /proc are Linux's")
needs_bwrap = pytest.mark.usefixtures("bubblewrap")   # skips without it, naming it (fails under CI)


@pytest.fixture(params=["none", "bwrap"])
def isolation(request) -> sandbox.Isolation:
    """Each test twice: plain processes, and under bubblewrap (which skips without it, or fails under CI)."""
    if request.param == "bwrap":
        request.getfixturevalue("bubblewrap")
    return sandbox.Isolation(request.param)


@pytest.fixture
def sandbox_uid() -> int:
    """A user id no grader on this machine holds (``sandbox.claimed_uid``), for the test's code to run as."""
    with sandbox.claimed_uid() as uid:
        yield uid


def program(tmp_path: Path, *steps: str, header: str = "") -> Path:
    """A program whose steps are the given function bodies, named step0, step1, ... (each needs none)."""
    lines = ["import os, sys, time, subprocess", "from runner import enter_folder, StepError", header, "",
             "def steps(run):"]
    for i, body in enumerate(steps):
        lines += [f"    def step{i}():", textwrap.indent(textwrap.dedent(body).strip() or "pass", " " * 8)]
    lines.append(f"    return [{', '.join(f'({chr(39)}step{i}{chr(39)}, step{i}, ())' for i in range(len(steps)))}]")
    path = tmp_path / f"program_{uuid.uuid4().hex[:8]}.py"
    path.write_text("\n".join(lines) + "\n")
    return path


def folder(tmp_path: Path, files: dict | None = None) -> Path:
    path = tmp_path / f"handin_{uuid.uuid4().hex[:8]}"
    path.mkdir()
    for name, text in (files or {"model.py": "x = 1\n"}).items():
        (path / name).write_text(text)
    sandbox.make_readable(path)
    return path


def run(tmp_path, *steps, isolation=None, files=None, **kw):
    kw = {"timeout": 60, "memory": None, "output": 2**20, "preload": ("numpy",), **kw}
    return sandbox.run(program(tmp_path, *steps), folder=folder(tmp_path, files),
                       isolation=isolation or sandbox.Isolation("none"), **kw)


def test_each_step_reports_its_raw_outputs_and_what_it_printed(tmp_path, isolation):
    r = run(tmp_path, """
        import numpy as np
        enter_folder(run.folder)
        print("hello from the step")
        return {"x": np.arange(3)}, {"files": sorted(os.listdir("."))}
    """, "raise ValueError('wrong')", "raise StepError('a message for the student')",
            isolation=isolation)
    assert not r.stopped_early() and list(r.records) == ["step0", "step1", "step2"]
    first = r.records["step0"]
    assert first.ok and first.meta == {"files": ["model.py"]} and first.output == "hello from the step\n"
    assert np.array_equal(first.arrays["x"], np.arange(3))
    assert (r.records["step1"].ok, r.records["step1"].error) == (False, "ValueError: wrong")
    assert r.records["step2"].error == "a message for the student"


def test_the_workbooks_package_is_unimportable_but_a_hand_ins_own_helpers_is_its_own(tmp_path, isolation):
    step = """
        enter_folder(run.folder)
        try:
            import helpers
            return {}, {"helpers": getattr(helpers, "WHOSE", helpers.__file__)}
        except ImportError as err:
            return {}, {"helpers": type(err).__name__}
    """
    alone = run(tmp_path, step, isolation=isolation)
    assert alone.records["step0"].meta == {"helpers": "ModuleNotFoundError"}
    own = run(tmp_path, step, isolation=isolation, files={"helpers.py": "WHOSE = 'the student'\n"})
    assert own.records["step0"].meta == {"helpers": "the student"}


def test_a_step_is_skipped_when_a_step_it_needs_failed(tmp_path):
    path = tmp_path / "needs.py"
    path.write_text("def steps(run):\n    def bad():\n        raise RuntimeError('x')\n"
                    "    return [('a', bad, ()), ('b', lambda: None, ('a',)), ('c', lambda: None, ())]\n")
    r = sandbox.run(path, folder=folder(tmp_path), timeout=30, memory=None, output=None,
                    isolation=sandbox.Isolation("none"))
    assert (r.records["b"].ok, r.records["b"].skipped, r.records["b"].error) == (False, True, "not run: a failed")
    assert r.records["c"].ok


def test_the_environment_given_is_the_whole_environment(tmp_path):
    r = run(tmp_path, "return {}, {'env': sorted(k for k in os.environ if k != 'LC_CTYPE')}",
            env={"ONLY_THIS": "1", "PATH": os.defpath})
    assert r.records["step0"].meta["env"] == ["HOME", "ONLY_THIS", "PATH", "TMPDIR"]


# --------------------------------------------------------------------------- time, memory, output, processes


@linux_only
def test_a_timeout_ends_every_process_the_code_started_setsid_and_double_forks_included(tmp_path, isolation):
    token = f"sleeper-{uuid.uuid4().hex}"
    start = time.monotonic()
    r = run(tmp_path, f"""
        subprocess.Popen(["setsid", sys.executable, "-c", "import time; time.sleep(300)", "{token}"])
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(300)", "{token}"])
            os._exit(0)
        print("started", flush=True)
        time.sleep(300)
    """, isolation=isolation, timeout=4)
    assert r.timed_out and r.stopped_early() and time.monotonic() - start < 30
    assert r.why_stopped("an endless loop?") == "timed out after 4 s (an endless loop?)"
    assert "step0" not in r.records and r.missing("step0").startswith("not reached: timed out after 4 s")
    assert wait_for(lambda: not running(token), timeout=10), "a process the code started outlived the run"


@linux_only
def test_a_passing_step_ends_every_process_it_started(tmp_path, isolation):
    token = f"daemon-{uuid.uuid4().hex}"
    r = run(tmp_path, f"""
        for _ in range(30):
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "{token}"], start_new_session=True)
    """, "return {}, {'still_running': len([p for p in os.listdir('/proc') if p.isdigit()])}", isolation=isolation)
    assert r.records["step0"].ok and r.records["step1"].ok
    assert wait_for(lambda: not running(token), timeout=10)


@linux_only
def test_a_step_that_kills_its_parent_ends_the_run_not_the_caller(tmp_path, isolation):
    token = f"orphan-{uuid.uuid4().hex}"
    r = run(tmp_path, "pass", f"""
        subprocess.Popen(["setsid", sys.executable, "-c", "import time; time.sleep(300)", "{token}"])
        time.sleep(0.5)
        os.kill(os.getppid(), 9)
        time.sleep(300)
    """, "pass", isolation=isolation, timeout=60)
    assert r.records["step0"].ok and "step1" not in r.records and "step2" not in r.records
    assert "killed by signal SIGKILL" in r.why_stopped() and r.seconds < 30
    if isolation.kind == "bwrap":   # the pid namespace ends with its runner
        assert wait_for(lambda: not running(token), timeout=10)
    else:   # a plain run cannot adopt what its killed runner left: the caller's session kill is all there is
        for pid in running(token):
            os.kill(pid, 9)


@pytest.mark.skipif(not memory_limit_enforced(), reason="only Linux enforces an address-space limit")
def test_the_memory_limit_stops_an_allocation_beyond_it(tmp_path):
    r = run(tmp_path, "import numpy as np\nx = np.ones(4 * 2**30, dtype=np.uint8)\nprint('allocated')",
            "import numpy as np\nx = np.ones(2**20, dtype=np.uint8)", memory=2 * 2**30)
    assert not r.records["step0"].ok and r.records["step0"].error.startswith("MemoryError")
    assert "allocated" not in r.records["step0"].output and r.records["step1"].ok


@linux_only
def test_the_output_limit_stops_a_flood_of_printing(tmp_path):
    r = run(tmp_path, "while True:\n    sys.stdout.write('x' * 65536)", "print('next')", output=2**20)
    assert not r.records["step0"].ok and "more than 1 MB" in r.records["step0"].error
    assert len(r.records["step0"].output) <= 8192 and r.records["step1"].output == "next\n"


def test_a_step_that_answers_too_much_is_cut(tmp_path):
    r = run(tmp_path, "import numpy as np\nreturn {'x': np.zeros(2**20)}, {}", output=2**20)
    assert not r.records["step0"].ok and r.records["step0"].error == "returned more than 1 MB"


def test_a_check_gets_the_memory_limit_on_linux_unless_cuda_is_in_use(monkeypatch, tmp_path):
    import torch

    assert check_memory() == (CHECK_MEMORY if memory_limit_enforced() and not torch.cuda.is_available() else None)
    monkeypatch.setattr(sandbox.sys, "platform", "darwin")   # macOS refuses RLIMIT_AS: no limit, the check still runs
    assert check_memory() is None
    r = run(tmp_path, "print('ran')", memory=2**30)
    assert r.records["step0"].output == "ran\n" and r.memory is None


# --------------------------------------------------------------------------- isolation (bubblewrap)


def _listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    accepted = []
    server.settimeout(0.2)

    def serve():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not accepted:
            try:
                accepted.append(server.accept())
            except (TimeoutError, OSError):
                pass
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server, accepted


@needs_bwrap
def test_isolated_code_sees_only_its_folder_and_a_read_only_system(tmp_path, sandbox_uid):
    secret = tmp_path / "secret.txt"
    secret.write_text("the labels")
    other = folder(tmp_path, {"numpy_nn.py": "victim = True\n"})
    home = Path.home()
    r = run(tmp_path, f"""
        enter_folder(run.folder)
        seen = {{}}
        for path in [{str(secret)!r}, {str(other / 'numpy_nn.py')!r}, {str(REPO_ROOT / 'helpers' / 'numpy_nn.py')!r},
                     {str(home)!r}, "/etc/passwd", "/etc/shadow"]:
            try:
                seen[path] = open(path).read()[:20] if os.path.isfile(path) else os.listdir(path)
            except OSError as err:
                seen[path] = type(err).__name__
        written = {{}}
        for path in ["/usr/evil", os.path.join(run.folder, "evil.py"), {str(tmp_path / 'evil')!r}, "/tmp/mine"]:
            try:
                open(path, "w").write("x")
                written[path] = "written"
            except OSError as err:
                written[path] = type(err).__name__
        return {{}}, {{"seen": seen, "written": written, "root": sorted(os.listdir("/")),
                     "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())}}
    """, isolation=sandbox.isolation(uid=sandbox_uid))
    meta = r.records["step0"].meta
    home_seen = meta["seen"].pop(str(home))
    # Of the home folder, only the way to a Python installed under it (pyenv, conda) shows, nothing else.
    assert not isinstance(home_seen, list) or all(
        any(p.startswith(str(home / name)) for p in sandbox._python_paths()) for name in home_seen), home_seen
    assert all(v in ("FileNotFoundError", "PermissionError") for v in meta["seen"].values()), meta["seen"]
    assert meta["written"][f"{sandbox.MOUNT_FOLDER}/evil.py"] in ("OSError", "PermissionError")
    assert meta["written"]["/usr/evil"] in ("OSError", "PermissionError") and meta["written"]["/tmp/mine"] == "written"
    assert meta["written"][str(tmp_path / "evil")] in ("FileNotFoundError", "OSError", "PermissionError")
    assert not (tmp_path / "evil").exists() and secret.read_text() == "the labels"
    assert (other / "numpy_nn.py").read_text() == "victim = True\n"
    assert max(meta["processes"]) < 10   # a pid namespace of its own: the runner and this step, not the machine's


@needs_bwrap
@pytest.mark.parametrize("as_sandbox_user", [False, True], ids=["own-user", "sandbox-user"])
def test_isolated_code_has_no_capabilities_and_cannot_open_its_runners_channel(tmp_path, as_sandbox_user, request):
    """The result channel lives in the runner, a process the step cannot trace nor open descriptors of."""
    uid = request.getfixturevalue("sandbox_uid") if as_sandbox_user else None
    r = run(tmp_path, """
        status = open("/proc/self/status").read()
        try:
            with open(f"/proc/{os.getppid()}/fd/1", "ab") as channel:
                channel.write(b'{"step": "forged", "ok": true, "size": 0}\\n')
            opened = True
        except OSError as err:
            opened = type(err).__name__
        oom = int(open("/proc/self/oom_score_adj").read())
        return {}, {"caps": status.split("CapEff:")[1].split()[0], "opened": opened, "oom": oom}
    """, isolation=sandbox.isolation(uid=uid))
    # ... and when memory runs out, the kernel picks the sandbox's processes first
    assert r.records["step0"].meta == {"caps": "0000000000000000", "opened": "PermissionError", "oom": 1000}
    assert "forged" not in r.records


@needs_bwrap
def test_isolated_code_cannot_reach_a_listener_on_this_machine(tmp_path):
    server, accepted = _listener()
    port = server.getsockname()[1]
    try:
        r = run(tmp_path, f"""
            import socket
            results = []
            for host in ("127.0.0.1", "localhost"):
                try:
                    socket.create_connection((host, {port}), timeout=3).close()
                    results.append("connected")
                except OSError as err:
                    results.append(type(err).__name__)
            return {{}}, {{"results": results}}
        """, isolation=sandbox.isolation())
        assert "connected" not in r.records["step0"].meta["results"]
        time.sleep(0.5)
        assert not accepted
        control = run(tmp_path, f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3).close()")
        assert control.records["step0"].ok   # the listener is reachable without isolation: the attack was real
    finally:
        server.close()


@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0, reason="a user of its own needs root; otherwise it is the caller's user")
def test_as_root_the_code_runs_as_a_user_of_its_own_with_a_process_limit(tmp_path, sandbox_uid):
    r = run(tmp_path, """
        n = 0
        try:
            for _ in range(200):
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                n += 1
        except OSError:
            pass
        return {}, {"uid": os.getuid(), "forked": n}
    """, isolation=sandbox.isolation(uid=sandbox_uid), nproc=40)
    meta = r.records["step0"].meta
    assert meta["uid"] == sandbox_uid and meta["forked"] < 40


@linux_only
@pytest.mark.skipif(os.geteuid() != 0 or not os.access("/usr/bin/python3", os.X_OK),
                    reason="switching users needs root; the user must reach a Python (the system's)")
def test_without_bubblewrap_as_root_the_code_runs_as_its_user_and_every_process_of_it_ends(tmp_path, monkeypatch,
                                                                                        sandbox_uid):
    """Gradescope's fallback where a container forbids namespaces: a plain process as a user of its own. The code
    kills its runner and leaves a daemon; every process of that user ends when the run does."""
    monkeypatch.setattr(sandbox.sys, "executable", "/usr/bin/python3")   # one the sandbox's user may run
    secret = tmp_path / "grading_data.txt"
    secret.write_text("labels")
    secret.chmod(0o600)
    token = f"gradescope-{uuid.uuid4().hex}"
    uid = sandbox_uid
    r = sandbox.run(program(tmp_path, f"""
        try:
            open({str(secret)!r}).read()
            leaked = True
        except OSError:
            leaked = False
        return {{}}, {{"uid": os.getuid(), "leaked": leaked}}
    """, f"""
        subprocess.Popen(["setsid", sys.executable, "-c", "import time; time.sleep(300)", "{token}"])
        time.sleep(0.5)
        os.kill(os.getppid(), 9)
    """), folder=folder(tmp_path), timeout=60, memory=None, output=2**20, isolation=sandbox.Isolation("none", uid))
    assert r.records["step0"].meta == {"uid": uid, "leaked": False}
    assert "step1" not in r.records and "killed by signal SIGKILL" in r.why_stopped()
    assert not running(token) and sandbox.end_processes_of(uid) == 0


def test_the_staged_runner_is_never_the_callers_copy_to_edit(tmp_path):
    """What runs in the sandbox is a copy of runner.py and the program, read-only there."""
    r = run(tmp_path, "open(os.path.join(os.path.dirname(sys.modules['runner'].__file__), 'runner.py'), 'a')",
            isolation=sandbox.isolation())
    assert not r.records["step0"].ok or sandbox.isolation().kind == "none"
    assert "def run_step" in sandbox.RUNNER.read_text()


def test_each_grader_claims_a_uid_no_other_holds_and_frees_it_when_it_ends(tmp_path):
    """Two graders on one machine once shared uid 64000: each ended the other's processes and filled its process
    cap. A uid is claimed by a lock no other process (or claim) shares, and freed when its holder ends."""
    first = 64000 + 900 + os.getpid() % 50   # a range of this test's own, away from any grader's
    holder = subprocess.Popen([sys.executable, "-c", f"""
import sys, time
from helpers.course import sandbox
with sandbox.claimed_uid({first}, 3) as uid:
    print(uid, flush=True)
    time.sleep(60)
"""], stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    try:
        assert holder.stdout.readline().strip() == str(first)
        with sandbox.claimed_uid(first, 3) as a, sandbox.claimed_uid(first, 3) as b:
            assert (a, b) == (first + 1, first + 2)
            with pytest.raises(RuntimeError, match="held by another grader"):
                with sandbox.claimed_uid(first, 3):
                    pass
    finally:
        holder.kill()
        holder.wait()
    with sandbox.claimed_uid(first, 3) as again:   # the holder died: its uid is free
        assert again == first


def test_without_bubblewrap_isolation_is_refused_unless_not_required(monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap_problem", lambda drop=False: "bubblewrap (bwrap) is not installed")
    with pytest.raises(sandbox.IsolationUnavailable, match="not installed"):
        sandbox.isolation(required=True)
    assert sandbox.isolation().kind == "none"


def test_every_runner_of_student_code_goes_through_the_sandbox():
    """The checker, the hand-in check and the grader start no process of their own for student code."""
    paths = [REPO_ROOT / "helpers" / "course" / n for n in ("exercises.py", "submission.py")]
    paths += sorted((REPO_ROOT / "helpers" / "course" / "grading").glob("*.py"))   # none where grading/ is not shipped
    for path in paths:
        text = path.read_text()
        assert "subprocess.run(" not in text and "subprocess.Popen(" not in text, path.name
    assert "sandbox.run(" in (REPO_ROOT / "helpers" / "course" / "submission.py").read_text()
    assert "sandbox.WarmRunner(" in (REPO_ROOT / "helpers" / "course" / "exercises.py").read_text()
