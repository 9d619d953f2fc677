"""Run code the workbook did not write: isolated, limited, and ended with everything it started. The one way to do it.

The exercise checks (``helpers.course.exercises``), the hand-in check
(``helpers.course.submission``) and the grader (``helpers.course.grading``) all
run student code through ``run`` (or ``WarmRunner``, which keeps one
sandboxed process warm for the exercise checks). What runs is a *program*, a
``.py`` file of the workbook listing steps; ``helpers/course/runner.py`` (the
child side) runs each step in a process of its own, and this side reads back
one record per step: ``ok``, the error, the raw outputs (JSON metadata,
arrays), what the step printed. The caller judges the outputs; nothing the
student's code prints or writes can pass for a record (the channel is closed
in every process that runs student code).

- **isolation** (``Isolation``): ``bwrap`` (bubblewrap, on Linux): the code sees
  a read-only system (``/usr``, the Python installation), its own folder (at
  ``/submission``, read-only unless asked), its inputs (``/runner``), an
  empty ``/tmp`` of limited size and nothing else: no home folder, no other
  hand-in, no network (a network namespace of its own), no process outside
  (a pid namespace of its own: when the run ends, every process in it
  ends). Run as root, the code runs as ``uid`` (a user of its own, so that
  the process limit holds and it owns nothing). ``none``: a plain process in
  the caller's folder, for the student's own code on a system without
  bubblewrap (macOS) or when the instructor says ``--no-isolation``;
- **time**: the run is stopped after ``timeout`` seconds, and every process it
  started with it: the child side adopts the orphans of each step (a
  subreaper on Linux) and kills them when the step ends, the pid namespace
  ends the rest; as root, every process of ``uid`` is killed after the run;
- **memory**: address space at most ``memory`` bytes, on Linux (macOS refuses the limit);
- **processes**: at most ``nproc`` processes and threads (under bubblewrap, or as ``uid``);
- **output**: every file the code writes, what it prints included, at most
  ``output`` bytes (``SIGXFSZ``, ``EFBIG``); no core dumps.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import filelock
import numpy as np

try:
    import resource
except ImportError:  # not POSIX: runs get no resource limits (see _limits)
    resource = None

RUNNER = Path(__file__).with_name("runner.py")
# Address space a check may use (bytes): importing torch takes about 2 GiB of it, a test's arrays the rest.
CHECK_MEMORY = 16 * 2**30
# What a check may write (files and printed output together), and the size of its /tmp under bubblewrap.
CHECK_OUTPUT = 64 * 2**20
# The first user id the code runs as when the caller is root; each grading worker claims one of its own from
# SANDBOX_UID on (claimed_uid), so that ending a uid's processes never reaches another worker or grader.
SANDBOX_UID = 64000
SANDBOX_UIDS = 1000
MOUNT_FOLDER, MOUNT_RUNNER = "/submission", "/runner"
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime")


class IsolationUnavailable(RuntimeError):
    """No sandbox tool works here; the message says why and what to do."""


def is_root() -> bool:
    """Whether this process runs as root (which may run code as another user)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def cuda_in_use() -> bool:
    """Whether this process has torch imported with CUDA available (its children may then use CUDA)."""
    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.cuda.is_available())


def memory_limit_enforced() -> bool:
    """Whether this system enforces an address-space limit (Linux; macOS refuses ``RLIMIT_AS``)."""
    return sys.platform.startswith("linux")


def check_memory() -> int | None:
    """The address-space limit of a check run here: ``CHECK_MEMORY``; ``None`` where CUDA is in use or off Linux."""
    return CHECK_MEMORY if memory_limit_enforced() and not cuda_in_use() else None


@dataclass(frozen=True)
class Isolation:
    """How a run is isolated: ``kind`` ``"bwrap"`` or ``"none"``; ``uid``: the user it runs as (the caller must be root)."""

    kind: str = "bwrap"
    uid: int | None = None

    def describe(self) -> str:
        if self.kind == "bwrap":
            return "isolated by bubblewrap" + (f" as user {self.uid}" if self.uid is not None else "")
        return "NOT isolated (a plain process" + (f" as user {self.uid})" if self.uid is not None else " of this user)")


@functools.cache
def bwrap_problem(drop: bool = False) -> str | None:
    """Why bubblewrap cannot isolate a run here (one line), or ``None`` when it works (tried once).

    ``drop``: as root, with the runner becoming another user (no user namespace needed).
    """
    if not sys.platform.startswith("linux"):
        return f"bubblewrap runs on Linux only, not on {sys.platform}"
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed: on Debian or Ubuntu, apt-get install bubblewrap"
    with tempfile.TemporaryDirectory(prefix="sandbox-probe-") as tmp:
        os.chmod(tmp, 0o755)
        argv = _bwrap_argv(None, Path(tmp), MOUNT_FOLDER, False, {"PATH": os.defpath}, 1 << 20, drop)
        code = "import os, sys; os.listdir('/submission')"
        try:
            proc = subprocess.run([*argv, sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True,
                                  timeout=60, start_new_session=True)
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"bubblewrap does not start here ({err})"
    if proc.returncode != 0:
        lines = (proc.stderr.strip() or f"exit status {proc.returncode}").splitlines()
        return f"bubblewrap does not work here ({lines[-1]}): user namespaces may be disabled"
    return None


def isolation(required: bool = False, uid: int | None = None) -> Isolation:
    """The best isolation here: bubblewrap when it works, else none (``IsolationUnavailable`` when ``required``).

    ``uid``: the user the code runs as, when this process is root (the grader gives one per worker); ignored otherwise.
    """
    run_as = uid if uid is not None and is_root() else None
    problem = bwrap_problem(run_as is not None)
    if problem is None:
        return Isolation("bwrap", run_as)
    if required:
        raise IsolationUnavailable(problem)
    return Isolation("none", run_as)


# --------------------------------------------------------------------------- bubblewrap's command line


@functools.cache
def _bwrap_options() -> frozenset[str]:
    """The options this bubblewrap knows (``bwrap --help``): newer ones are used only where it has them."""
    try:
        text = subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(word for word in text.split() if word.startswith("--"))


def _python_paths() -> list[str]:
    """The folders the Python that runs here needs: its prefixes and where NumPy and torch are installed."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             str(Path(os.path.realpath(sys.executable)).parent.parent)}
    for name in ("numpy", "torch", "pytest", "hypothesis", "PIL"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__file__", None):
            paths.add(str(Path(module.__file__).resolve().parent.parent))
    return sorted(p for p in paths if os.path.isdir(p))


def _workbook_install() -> list[str]:
    """Copies of this package inside the Python folders (a non-editable install): hidden from the code."""
    here = Path(__file__).resolve().parent.parent
    return [str(here)] if any(str(here).startswith(p.rstrip("/") + "/") for p in _python_paths()) else []


def _under(path: str, folders) -> bool:
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


def _bwrap_argv(runner_dir: Path | None, folder: Path | None, mount_at: str, writable: bool, env: dict,
                tmp_bytes: int, drop: bool) -> list[str]:
    """bubblewrap's arguments up to the command: namespaces, the read-only system, the folders, the environment.

    ``drop``: this process is root and the runner becomes another user itself (which needs no user namespace).
    """
    argv = ["bwrap", "--die-with-parent", "--new-session"]
    if drop:
        argv += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                 "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        argv += ["--unshare-all", "--unshare-user"]
        argv += ["--disable-userns"] if "--disable-userns" in _bwrap_options() else []   # bubblewrap 0.8
        if is_root():   # bubblewrap keeps root's capabilities (in the namespaces) unless told not to
            argv += ["--cap-drop", "ALL"]
    system = []
    for path in _SYSTEM:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            system.append(path)
    system += [p for p in _ETC if os.path.exists(p)]
    system += [p for p in _python_paths() if not _under(p, system)]
    binds = [(p, p, False) for p in system]
    if runner_dir is not None:
        binds.append((str(runner_dir), MOUNT_RUNNER, False))
    if folder is not None:
        binds.append((str(folder), mount_at, writable))
    sized = ["--size", str(int(tmp_bytes))] if "--size" in _bwrap_options() else []   # older ones: no cap on /tmp
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", *sized, "--tmpfs", "/tmp"]
    made, mounted = {"/", "/tmp"}, []
    for src, dest, rw in sorted(binds, key=lambda b: b[1]):
        for parent in reversed(Path(dest).parents):   # folders on the way, readable by the sandbox's user
            p = str(parent)
            if _under(p, mounted):
                break   # inside a mount already made: the folders are those of the bound folder
            if p not in made:
                argv += ["--perms", "0755", "--dir", p]
                made.add(p)
        argv += ["--bind" if rw else "--ro-bind", src, dest]
        mounted.append(dest)
    for hidden in _workbook_install():
        argv += ["--tmpfs", hidden]
    argv += ["--chdir", mount_at if folder is not None else "/", "--clearenv"]
    for key, value in env.items():
        argv += ["--setenv", key, str(value)]
    return argv + ["--"]


# --------------------------------------------------------------------------- records


@dataclass
class Record:
    """One step's outcome as the child side reported it: ``ok``, ``error``, raw ``meta`` and ``arrays``, its output."""

    step: str
    ok: bool
    error: str = ""
    meta: dict = field(default_factory=dict)
    output: str = ""
    seconds: float = 0.0
    skipped: bool = False
    payload: bytes = b""

    @property
    def arrays(self) -> dict:
        """The step's arrays, read from its ``.npz`` without pickles (an unreadable payload reads as none)."""
        if not self.payload:
            return {}
        try:
            with np.load(io.BytesIO(self.payload), allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (ValueError, OSError, EOFError):
            return {}


def read_records(stream, until_done: bool = False) -> tuple[list[Record], bool]:
    """Records from the child side's channel ``stream`` (binary); ``(records, done seen)``."""
    records, done = [], False
    while True:
        line = stream.readline()
        if not line:
            break
        try:
            header = json.loads(line)
        except ValueError:
            break
        payload = stream.read(int(header.get("size", 0))) if header.get("size") else b""
        if header.get("done"):
            done = True
            if until_done:
                break
            continue
        if "step" in header:
            records.append(Record(str(header["step"]), bool(header.get("ok")), str(header.get("error") or ""),
                                  header.get("meta") or {}, str(header.get("output") or ""),
                                  float(header.get("seconds") or 0), bool(header.get("skipped")), payload))
    return records, done


@dataclass
class Run:
    """How a run ended: its records by step, exit code (negative: a signal), timeout, time, the runner's own output."""

    records: dict[str, Record]
    returncode: int
    timed_out: bool
    seconds: float
    log: str
    timeout: float
    memory: int | None
    output: int | None
    isolation: Isolation
    timeout_reason: str = ""   # why the timeout was this short (a time budget), said instead of a hint

    def stopped_early(self) -> bool:
        """True unless the run ended by itself with status 0."""
        return self.timed_out or self.returncode != 0

    def why_stopped(self, timeout_hint: str = "") -> str:
        """One line saying why the run stopped: a timeout, too much output, a signal, memory, an exit status."""
        if self.timed_out:
            hint = self.timeout_reason or timeout_hint
            return f"timed out after {self.timeout:.3g} s" + (f" ({hint})" if hint else "")
        if self.output is not None and (self.returncode in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ)
                                        or "File too large" in self.log):
            return f"stopped for writing more than {self.output / 2**20:g} MB to a file or the screen"
        code = self.returncode - 128 if self.isolation.kind == "bwrap" and self.returncode > 128 else -self.returncode
        if code > 0 and code in signal.Signals._value2member_map_:
            return (f"killed by signal {signal.Signals(code).name} (the code killed the process that ran it, "
                    "or ran out of memory)")
        if self.memory is not None and ("MemoryError" in self.log or "bad_alloc" in self.log):
            return f"ran out of memory (limit {self.memory / 2**20:g} MB)"
        return f"the process exited with status {self.returncode}"

    def missing(self, step: str) -> str:
        """Why ``step`` has no record: the run stopped before it (said how) or never reached it."""
        return f"not reached: {self.why_stopped('training or an endless loop at import time?')}" \
            if self.stopped_early() else "not reached: the check did not finish"


# --------------------------------------------------------------------------- running


def _limits(memory: int | None, output: int | None):
    def apply():   # in the child, between fork and exec (inherited through bubblewrap)
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        if output is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (output, output))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply if os.name == "posix" else None


@contextlib.contextmanager
def claimed_uid(first: int = SANDBOX_UID, count: int = SANDBOX_UIDS):
    """A user id for sandboxed code that no other worker or grader on this machine holds, until the block ends.

    Every run ends all processes of its user (``end_processes_of``), and the process cap counts them all, so two
    graders on one machine must never share a uid. The claim is a lock file under the system's temporary folder,
    released when the block ends or the process dies; the uid's leftover processes (a grader that was killed)
    are ended first. ``RuntimeError`` when all ``count`` uids from ``first`` are held.
    """
    folder = Path(tempfile.gettempdir()) / "workbook-sandbox-uids"
    folder.mkdir(mode=0o755, exist_ok=True)
    for uid in range(first, first + count):
        lock = filelock.FileLock(str(folder / f"{uid}.lock"))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            continue
        try:
            end_processes_of(uid)
            yield uid
        finally:
            lock.release()
        return
    raise RuntimeError(f"every sandbox user id from {first} to {first + count - 1} is held by another grader")


def end_processes_of(uid: int, rounds: int = 200) -> int:
    """Kill every process of user ``uid`` (only root may), until none is left; returns how many were killed."""
    if not is_root() or uid is None or not os.path.isdir("/proc"):
        return 0
    killed = 0
    for _ in range(rounds):
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/status") as f:
                        uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
                except (OSError, StopIteration):
                    continue
                if str(uid) in uids:
                    found.append(int(entry))
        if not found:
            return killed
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        time.sleep(0.01)
    return killed


class _Box:
    """The folder a run is staged in: the runner and program (``/runner``), the inputs, a /tmp, the result files."""

    def __init__(self, program: Path, inputs: dict | None, isolation: Isolation):
        self.root = Path(tempfile.mkdtemp(prefix="sandbox-"))
        os.chmod(self.root, 0o711)
        self.runner_dir = self.root / "runner"
        self.runner_dir.mkdir(mode=0o755)
        for source in (RUNNER, program):
            shutil.copyfile(source, self.runner_dir / source.name)
            os.chmod(self.runner_dir / source.name, 0o644)
        self.inputs = None
        if inputs:
            np.savez(self.runner_dir / "inputs.npz", **inputs)
            os.chmod(self.runner_dir / "inputs.npz", 0o644)
            self.inputs = "inputs.npz"
        self.tmp = self.root / "tmp"   # TMPDIR and HOME of an unisolated run
        self.tmp.mkdir(mode=0o700)
        if isolation.uid is not None and is_root():
            os.chown(self.tmp, isolation.uid, isolation.uid)
        self.program = program.name

    def inside(self, name: str, isolated: bool) -> str:
        return f"{MOUNT_RUNNER}/{name}" if isolated else str(self.runner_dir / name)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def make_readable(folder: Path) -> None:
    """Let the sandbox's user read ``folder`` (dirs 0755, files 0644): it lies in a private temporary folder."""
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, 0o755 if path.is_dir() else 0o644)


def _command(box: _Box, folder: Path, isolation: Isolation, env: dict, setup: dict, writable: bool,
             tmp_bytes: int, mount_at: str | None) -> tuple[list[str], dict, str]:
    """The command line, the environment and the folder of a run."""
    isolated = isolation.kind == "bwrap"
    python = [sys.executable, "-I", box.inside("runner.py", isolated), json.dumps(setup)]
    if isolated:
        inner = {**env, "HOME": "/tmp", "TMPDIR": "/tmp"}   # the only writable folder there
        argv = _bwrap_argv(box.runner_dir, folder, mount_at or str(folder), writable, inner, tmp_bytes,
                           isolation.uid is not None and is_root())
        return argv + python, {}, "/"
    return python, {**env, "HOME": str(box.tmp), "TMPDIR": str(box.tmp)}, str(folder)


def run(program: Path, *, folder: Path, args: dict | None = None, inputs: dict | None = None, timeout: float,
        memory: int | None, output: int | None, isolation: Isolation, env: dict | None = None,
        preload: tuple[str, ...] = (), nproc: int | None = None, tmp_bytes: int = 64 * 2**20,
        mount_at: str | None = MOUNT_FOLDER, writable: bool = False, timeout_reason: str = "") -> Run:
    """Run ``program``'s steps on ``folder`` under ``isolation`` and the limits; wait at most ``timeout`` seconds.

    ``args``: JSON-ready arguments of the program; ``inputs``: arrays handed
    to it (``{name: array}``, read back without pickles); ``env``: the
    code's whole environment; ``preload``: modules the runner imports before
    the first step (each step then starts with them imported);
    ``mount_at``: where ``folder`` appears under bubblewrap (``None``: at its
    own path); ``timeout_reason``: why ``timeout`` is what it is, said when it
    strikes (a time budget). Returns the
    ``Run`` with one ``Record`` per step that ran.
    """
    memory = memory if memory_limit_enforced() else None
    box = _Box(Path(program), inputs, isolation)
    isolated = isolation.kind == "bwrap"
    as_user = isolation.uid is not None and is_root()
    setup = {"preload": list(preload), "nproc": nproc if (isolated or as_user) else None,
             "user": [isolation.uid, isolation.uid] if as_user else None}
    inside_folder = (mount_at or str(folder)) if isolated else str(folder)
    request = {"program": box.inside(box.program, isolated), "args": args or {}, "folder": inside_folder,
               "inputs": box.inside(box.inputs, isolated) if box.inputs else None, "max_reply": output}
    argv, proc_env, cwd = _command(box, Path(folder), isolation, env or {"PATH": os.defpath}, setup, writable,
                                   tmp_bytes, mount_at)
    (box.root / "request").write_text(json.dumps(request) + "\n")
    start = time.monotonic()
    try:
        with open(box.root / "request", "rb") as stdin, open(box.root / "report", "w+b") as report, \
                open(box.root / "log", "w+b") as log:
            proc = subprocess.Popen(argv, cwd=cwd, env=proc_env if not isolated else {"PATH": os.defpath},
                                    stdin=stdin, stdout=report, stderr=log, preexec_fn=_limits(memory, output),
                                    start_new_session=True)
            timed_out = _wait(proc, timeout, isolated)
            report.seek(0)
            records, _ = read_records(report)
            log.seek(max(0, log.seek(0, 2) - 8192))
            text = log.read().decode("utf-8", "replace")
    finally:
        if as_user:
            end_processes_of(isolation.uid)
        box.remove()
    return Run({r.step: r for r in records}, proc.returncode, timed_out, time.monotonic() - start, text, timeout,
               memory, output, isolation, timeout_reason)


def _wait(proc: subprocess.Popen, timeout: float, isolated: bool) -> bool:
    """Wait for ``proc``; on timeout stop it and all it started. True when it timed out."""
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        if not isolated:   # the runner ends its step and the processes it adopted, then exits
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
    finally:
        try:   # bubblewrap's namespace ends with its process; a plain run's session ends here
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
    return timed_out


class WarmRunner:
    """One sandboxed runner kept alive for many requests (the exercise checks: a check costs its tests, not the imports).

    ``start()`` launches ``runner.py`` under ``isolation`` on ``folder`` with
    ``preload`` imported; ``request(program, args, timeout)`` runs one
    program's steps and returns its records; a timeout stops the step and
    everything it started (the runner stays). ``stop()`` ends it all.
    """

    def __init__(self, folder: Path, isolation: Isolation, *, memory: int | None, output: int | None, env: dict,
                 preload: tuple[str, ...] = (), nproc: int | None = None, tmp_bytes: int = CHECK_OUTPUT,
                 programs: tuple[Path, ...] = ()):
        self.folder, self.isolation = Path(folder), isolation
        self.memory = memory if memory_limit_enforced() else None
        self.output, self.env, self.preload, self.nproc, self.tmp_bytes = output, env, preload, nproc, tmp_bytes
        self.programs = programs
        self.proc: subprocess.Popen | None = None
        self.box: _Box | None = None
        self._lock = threading.Lock()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        isolated = self.isolation.kind == "bwrap"
        as_user = self.isolation.uid is not None and is_root()
        self.box = _Box(self.programs[0], None, self.isolation)
        for program in self.programs[1:]:
            shutil.copyfile(program, self.box.runner_dir / program.name)
            os.chmod(self.box.runner_dir / program.name, 0o644)
        setup = {"preload": list(self.preload), "nproc": self.nproc if (isolated or as_user) else None,
                 "user": [self.isolation.uid, self.isolation.uid] if as_user else None}
        argv, env, cwd = _command(self.box, self.folder, self.isolation, self.env, setup, False, self.tmp_bytes,
                                  None)
        self._log = open(self.box.root / "log", "w+b")
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env if not isolated else {"PATH": os.defpath},
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                     preexec_fn=_limits(self.memory, self.output), start_new_session=True)
        ready = self.proc.stdout.readline()
        if not ready.startswith(b'{"ready": true'):
            self.stop()
            raise OSError("the warm runner did not start")

    def request(self, program: str, args: dict, timeout: float) -> tuple[list[Record], bool]:
        """Run ``program`` (a file given at start) with ``args``; ``(records, timed_out)``. ``OSError`` if it died."""
        with self._lock:
            if not self.alive():
                self.start()
            isolated = self.isolation.kind == "bwrap"
            request = {"program": self.box.inside(program, isolated), "args": args,
                       "folder": str(self.folder), "max_reply": self.output}
            timer = threading.Timer(timeout, self._interrupt)
            self._timed_out = False
            timer.start()
            try:
                self.proc.stdin.write((json.dumps(request) + "\n").encode())
                self.proc.stdin.flush()
                records, done = read_records(self.proc.stdout, until_done=True)
            except (OSError, ValueError, AttributeError) as err:   # stopped meanwhile (stop() from elsewhere)
                timer.cancel()
                self.stop()
                raise OSError(f"the warm runner stopped ({err})") from None
            except BaseException:
                timer.cancel()
                self.stop()   # interrupted (the notebook's Stop): its answer must not reach the next request
                raise
            timer.cancel()
            if self._timed_out:
                self.stop()
                return records, True
            if not done:
                self.stop()
                raise OSError("the warm runner stopped")
            return records, False

    def _interrupt(self) -> None:
        self._timed_out = True
        if self.proc is not None:
            try:
                self.proc.send_signal(signal.SIGTERM)   # the runner ends its step and everything it started
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
        if self.isolation.uid is not None:
            end_processes_of(self.isolation.uid)
        if self.box is not None:
            self._log.close()
            self.box.remove()
            self.box = None
