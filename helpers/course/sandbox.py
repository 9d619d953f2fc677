"""Run a student's code in a process of its own, with time and memory limits: the one way the workbook does it.

The exercise checker (``helpers.course.exercises``), the hand-in check
(``helpers.course.submission``) and the grader (``helpers.course.grade``) all
run code they did not write through ``run_limited``:

    run = run_limited([sys.executable, "-I", "-c", script, arg], cwd=folder, timeout=60, memory=check_memory())
    if run.stopped_early():
        print(run.why_stopped())

- **time**: the child starts a session of its own; on timeout the whole
  session is killed, processes the code started included (and so is
  whatever it left running when it ended);
- **memory**: address space at most ``memory`` bytes (``setrlimit`` before
  the code starts), on Linux: macOS refuses the limit (and would not
  enforce it), Windows has none. A check's limit is ``check_memory()``: none
  where CUDA is in use, whose driver reserves far more address space than
  it uses; the grader's is the instructor's configured one;
- **output**: every file the child writes, standard output and error
  included, at most ``output`` bytes (``SIGXFSZ`` beyond); no core dumps.

Standard output and error go to files (so that what was printed before a
timeout is kept) and come back as text, the last ``keep`` bytes of each.

(The exercise checker's warm process, ``exercises._Checker``, forks its
checks from an interpreter that has already imported torch, which saves
seconds per check; each fork gets the same limits: ``check_memory()``, a
session of its own that a timeout kills.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Address space a check may use (bytes): importing torch takes about 2 GiB of it, a test's arrays the rest.
CHECK_MEMORY = 16 * 2**30


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


@dataclass
class LimitedRun:
    """How a child process ended: exit code (negative: killed by that signal), timeout, time taken, output."""

    returncode: int
    timed_out: bool
    seconds: float
    stdout: str
    stderr: str
    timeout: float
    memory: int | None
    output: int | None

    def stopped_early(self) -> bool:
        """True unless the process ended by itself with status 0."""
        return self.timed_out or self.returncode != 0

    def why_stopped(self, timeout_hint: str = "") -> str:
        """One line saying why the process stopped: a timeout, too much output, a signal, memory, an exit status."""
        if self.timed_out:
            return f"timed out after {self.timeout:g} s" + (f" ({timeout_hint})" if timeout_hint else "")
        # Python ignores SIGXFSZ: its write then fails with EFBIG ("File too large") instead.
        if self.output is not None and (self.returncode == -signal.SIGXFSZ or "File too large" in self.stderr):
            return f"stopped for writing more than {self.output / 2**20:g} MB to a file or the screen"
        if self.returncode < 0:
            return f"killed by signal {signal.Signals(-self.returncode).name}"
        if self.memory is not None and ("MemoryError" in self.stderr or "bad_alloc" in self.stderr):
            return f"ran out of memory (limit {self.memory / 2**20:g} MB)"
        return f"the process exited with status {self.returncode}"


def run_limited(argv: list[str], *, cwd: Path | str, timeout: float, memory: int | None,
                output: int | None = None, env: dict | None = None, stdin: str | None = None,
                keep: int = 2**20) -> LimitedRun:
    """Run ``argv`` in ``cwd`` under the limits above; wait at most ``timeout`` seconds.

    ``memory``, ``output``: bytes, or ``None`` for no limit (``memory`` is
    left unset where ``memory_limit_enforced()`` is false); ``env``: the
    child's whole environment (default: this process's); ``stdin``: text to
    read (default: nothing, end of file at once); ``keep``: bytes of each of
    standard output and error read back, from the end.
    """
    memory = memory if memory_limit_enforced() else None

    def limit():   # in the child, between fork and exec
        import resource

        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        if output is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (output, output))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    with tempfile.TemporaryDirectory(prefix="limited-run-") as logs:
        logs = Path(logs)
        (logs / "stdin").write_text(stdin or "")
        start = time.monotonic()
        with open(logs / "stdin", "rb") as inp, open(logs / "stdout", "wb") as out, open(logs / "stderr", "wb") as err:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=inp, stdout=out, stderr=err,
                                    preexec_fn=limit if os.name == "posix" else None, start_new_session=True)
            timed_out = False
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                if os.name == "posix":
                    try:   # the code may have started processes of its own
                        os.killpg(proc.pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
                else:
                    proc.kill()
                proc.wait()
        seconds = time.monotonic() - start
        return LimitedRun(proc.returncode, timed_out, seconds, _tail(logs / "stdout", keep), _tail(logs / "stderr", keep),
                          timeout, memory, output)


def _tail(path: Path, keep: int) -> str:
    """The last ``keep`` bytes of ``path`` as text."""
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - keep))
        return f.read().decode("utf-8", "replace")
