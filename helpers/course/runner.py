"""The child side of the workbook's one runner (``helpers.course.sandbox`` is the parent side).

This file is copied beside the program it runs and started, inside the
sandbox, as ``python -I runner.py SETUP_JSON``; it imports only the standard
library (and NumPy for a step that returns arrays). It is trusted code, and
never runs student code itself:

- it reads requests, one JSON line each, from standard input: a *program*
  (a ``.py`` file of the workbook: the hand-in check, the exercise checks,
  the grader's runners) with its arguments and inputs;
- the program's ``steps(run)`` lists its steps ``(name, function, needs)``;
  each step runs in a fork of this process (the *step process*), which
  first closes this process's result channel (its standard output), so no
  code the step imports can reach it; the step process sends back the
  function's raw outputs (JSON metadata, arrays as ``.npz``), and this
  process writes one record per step; the parent judges the records;
- it adopts every process a step starts (a child subreaper on Linux) and
  ends them all when the step ends, passing or failing, so nothing a step
  started outlives it (``setsid`` and double forks included);
- after a request it writes ``{"done": true}`` and waits for the next.

A record is one JSON line ``{"step", "ok", "error", "meta", "output",
"seconds", "size"}`` followed by ``size`` bytes of ``.npz`` (the arrays).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import importlib.util
import io
import json
import os
import resource
import select
import signal
import sys
import time
import traceback

REPORT_FD = 1                 # the result channel: the parent's pipe or file
OUTPUT_TAIL = 8192            # bytes of a step's printed output returned with its record
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 1, 4, 36
_current = None               # the step process running now
_setup: dict = {}


class StepError(Exception):
    """A step's failure with a message written for the student (no traceback added)."""


# --------------------------------------------------------------------------- helpers for programs (step side)


def enter_folder(folder: str, block=("helpers",)) -> None:
    """Make the hand-in's modules importable (after NumPy / torch, so a student's ``numpy.py`` cannot replace
    them) and the packages in ``block`` unimportable (the workbook's own code), unless the hand-in
    has a module of that name itself (a student's own ``helpers.py`` is theirs to import)."""
    for name in block:
        if not (os.path.isfile(os.path.join(folder, f"{name}.py")) or os.path.isdir(os.path.join(folder, name))):
            sys.modules[name] = None
    sys.path.insert(0, folder)
    os.chdir(folder)


def where(err: BaseException, folder: str | None = None) -> str:
    """`` (file.py line N)``: the last frame of ``err`` in a file of ``folder`` (default: the working folder)."""
    folder = os.path.abspath(folder or os.getcwd())
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if os.path.isfile(f.filename) and os.path.dirname(os.path.abspath(f.filename)) == folder]
    return f" ({os.path.basename(frames[-1].filename)} line {frames[-1].lineno})" if frames else ""


def describe(err: BaseException) -> str:
    """One line for a student: the exception and where in their files it was raised."""
    if isinstance(err, StepError):
        return str(err)[:600]
    if isinstance(err, MemoryError):
        return "MemoryError: ran out of memory" + where(err)
    if isinstance(err, OSError) and err.errno == errno.EFBIG:
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0] / 2**20
        return f"printed or wrote more than {limit:g} MB (the limit on output)" + where(err)
    return f"{type(err).__name__}: {err}"[:600] + where(err)


def as_array(name: str, value):
    """``value`` (a NumPy array or a torch tensor) as a numeric NumPy array; ``StepError`` naming ``name`` otherwise."""
    import numpy as np  # here, not at the top: the runner imports only the standard library until a step has arrays

    try:
        array = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
    except Exception:
        array = None
    if array is None or array.dtype.kind not in "biuf":
        raise StepError(f"{name} is a {type(value).__name__}, not a numeric array")
    return array


# --------------------------------------------------------------------------- processes


def _libc():
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name, use_errno=True) if name else None


def _harden() -> None:
    """No process of the same user may trace this one or open its descriptors; orphans of steps come here."""
    if not sys.platform.startswith("linux"):
        return
    libc = _libc()
    if libc is not None:
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    adopt_orphans()


def _first_to_go() -> None:
    """When memory runs out, the kernel ends this process and what it starts before any other (Linux; set while
    the process may still write its own /proc files, before it changes user)."""
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass


def die_with_parent() -> None:
    """Have the kernel kill this process when its parent dies (Linux), so that nothing outlives a killed caller."""
    libc = _libc() if sys.platform.startswith("linux") else None
    if libc is not None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def adopt_orphans() -> bool:
    """Make this process the one that adopts the orphans of its descendants (Linux); True if it now is.

    ``end_children`` can then end what a descendant left behind when it died (a daemon started with ``setsid``).
    """
    libc = _libc() if sys.platform.startswith("linux") else None
    return libc is not None and libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def children(pid: int | None = None) -> list[int]:
    """The processes whose parent is ``pid`` (default: this one), from ``/proc``; empty where there is none."""
    pid = os.getpid() if pid is None else pid
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2:].split()
            if len(fields) > 1 and int(fields[1]) == pid:
                found.append(int(entry))
    return found


def end_children(rounds: int = 1000) -> None:
    """Kill every child of this process, and the children they leave (adopted here), until none is left."""
    for _ in range(rounds):
        kids = children()
        if not kids:
            break
        for kid in kids:
            _kill(kid)
        _reap()
        time.sleep(0.001)
    _reap()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _stop(signum, frame) -> None:
    """SIGTERM from the parent (a timeout, the notebook's Stop): end the step and whatever it started, then exit."""
    if _current is not None:
        _kill(_current)
    end_children()
    os._exit(143)


def _how_it_ended(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        return f"killed by signal {name}"
    return f"exited with status {code}"


# --------------------------------------------------------------------------- one step


def _write(header: dict, payload: bytes = b"") -> None:
    data = (json.dumps({**header, "size": len(payload)}) + "\n").encode() + payload
    view = memoryview(data)
    while view:
        view = view[os.write(REPORT_FD, view):]


def _step_process(fn, reply: int, log: str) -> None:
    """In the fork: close the result channel, send what ``fn()`` returns (or its error), exit."""
    try:
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)   # the result channel (fd 1) is closed here, replaced by the step's own output file
        os.dup2(out, 2)
        os.closerange(3, reply)
        os.closerange(reply + 1, 1 << 16)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            result = fn()
            arrays, meta = result if isinstance(result, tuple) else (result or {}, {})
            payload = b""
            if arrays:
                # here, not at the top: the runner imports only the standard library until a step has arrays
                import numpy as np

                buffer = io.BytesIO()
                np.savez(buffer, **{k: as_array(k, v) for k, v in arrays.items()})
                payload = buffer.getvalue()
            header = {"ok": True, "meta": meta or {}}
        except BaseException as err:  # SystemExit too: a student's sys.exit() fails the step
            header, payload = {"ok": False, "error": describe(err)}, b""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        data = (json.dumps({**header, "size": len(payload)}) + "\n").encode() + payload
        view = memoryview(data)
        while view:
            view = view[os.write(reply, view):]
    finally:
        os._exit(0)


def _tail(path: str) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - OUTPUT_TAIL))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def run_step(name: str, fn, max_reply: int, log: str) -> tuple[dict, bytes]:
    """Fork, run ``fn`` there, read its answer (at most ``max_reply`` bytes), end every process it started."""
    global _current
    start = time.monotonic()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _step_process(fn, write_end, log)
    _current = pid
    os.close(write_end)
    data, status, too_big = bytearray(), None, False
    while True:
        ready, _, _ = select.select([read_end], [], [], 0.05)
        if ready:
            chunk = os.read(read_end, 1 << 20)
            if not chunk:
                break
            data += chunk
            if len(data) > max_reply + 65536:
                too_big = True
                break
        if status is None:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = raw
                # Whatever the step left running (and holding the pipe) ends now.
                end_children()
    if status is None:
        _kill(pid)
        _, status = os.waitpid(pid, 0)
    end_children()
    os.close(read_end)
    _current = None
    record = {"step": name, "seconds": round(time.monotonic() - start, 3), "output": _tail(log)}
    header, _, payload = bytes(data).partition(b"\n")
    try:
        answer = json.loads(header) if header else None
    except ValueError:
        answer = None
    if too_big:
        return {**record, "ok": False, "error": f"returned more than {max_reply / 2**20:g} MB"}, b""
    if not isinstance(answer, dict) or answer.get("size", -1) != len(payload):
        return {**record, "ok": False, "error": f"its process {_how_it_ended(status)} before answering",
                "meta": {"exit": os.waitstatus_to_exitcode(status)}}, b""
    return {**record, "ok": bool(answer.get("ok")), "error": answer.get("error"),
            "meta": answer.get("meta") if isinstance(answer.get("meta"), dict) else {}}, bytes(payload)


# --------------------------------------------------------------------------- requests


class Run:
    """What a program's ``steps`` gets: the folder it works on, the inputs (arrays), its arguments."""

    def __init__(self, request: dict):
        self.folder = request.get("folder") or os.getcwd()
        self.args = request.get("args") or {}
        self._inputs_path = request.get("inputs")
        self._inputs = None

    @property
    def inputs(self) -> dict:
        """The arrays handed in (an ``.npz`` read without pickles), loaded once, before any step runs."""
        if self._inputs is None:
            self._inputs = {}
            if self._inputs_path:
                # here, not at the top: the runner imports only the standard library until a step has arrays
                import numpy as np

                with np.load(self._inputs_path, allow_pickle=False) as data:
                    self._inputs = {k: data[k] for k in data.files}
        return self._inputs


def _load_program(path: str):
    name = "program_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def serve(request: dict) -> None:
    """Run one request's steps; one record each, then ``{"done": true}``."""
    run = Run(request)
    max_reply = int(request.get("max_reply") or 64 * 2**20)
    log = os.path.join(os.environ.get("TMPDIR") or "/tmp", "step-output.txt")
    passed: set[str] = set()
    try:
        program = _load_program(request["program"])
        steps = list(program.steps(run))
        run.inputs   # noqa: B018  (read now, in this trusted process, not in a step)
    except Exception as err:   # the program or its inputs: the parent's side, reported as such
        _write({"step": "runner", "ok": False, "error": f"the runner could not start: {type(err).__name__}: {err}"})
        _write({"done": True})
        return
    for name, fn, needs in steps:
        missing = [n for n in needs if n not in passed]
        if missing:
            _write({"step": name, "ok": False, "skipped": True, "error": f"not run: {missing[0]} failed"})
            continue
        record, payload = run_step(name, fn, max_reply, log)
        if record["ok"]:
            passed.add(name)
        _write(record, payload)
    _write({"done": True})


def main() -> int:
    global _setup
    _setup = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    signal.signal(signal.SIGTERM, _stop)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.modules.setdefault("runner", sys.modules[__name__])
    for name in _setup.get("preload", ()):
        try:
            __import__(name)
        except ImportError:
            pass
    _first_to_go()
    if _setup.get("user"):   # started as root: become the sandbox's user before any step (no way back)
        uid, gid = (int(v) for v in _setup["user"])
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    _harden()
    if _setup.get("nproc"):
        resource.setrlimit(resource.RLIMIT_NPROC, (int(_setup["nproc"]), int(_setup["nproc"])))
    _write({"ready": True})
    for line in sys.stdin:
        if line.strip():
            serve(json.loads(line))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
