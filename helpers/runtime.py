"""Run mode and reproducibility.

Two run modes, chosen by the ``WORKBOOK_MODE`` environment variable:

- ``full`` (the default): the full data sets and real training, the figures a
  student should see.
- ``smoke``: the small real subsets shipped in ``assets/data`` and tiny
  epochs; what the test suite (nbval) runs.

Only the *size* of the work changes between the modes, never the code path:
a notebook asks ``by_mode(full=20, smoke=1)`` for its number of epochs and
otherwise runs the same cells.

Every notebook starts with ``setup()``, which seeds ``random``, NumPy and
torch, fixes thread counts (``set_threads``, the one thread policy), asks torch for deterministic algorithms and sets
a consistent NumPy print precision, so that nbval can compare outputs. In
IPython (JupyterLab, Colab) it also turns on ``autoreload``, so that a
helper edited in ``helpers/`` takes effect when the cell is re-run, without
restarting the kernel.

``subnormals_flushed()`` counts floats too small to be normal as zero inside a
block (the NumPy ``Solver`` trains inside it): on Intel processors arithmetic
on them is many times slower.
"""

from __future__ import annotations

import contextlib
import os
import random
from typing import TypeVar

import numpy as np

from helpers.settings import SETTINGS, choice_setting, int_setting
from helpers.stubs import stub_line

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # Colab and other environments without it: NumPy keeps its default
    threadpool_limits = None

MODES = ("full", "smoke")
MODE_VARIABLE = "WORKBOOK_MODE"
DEFAULT_SEED = 0
# NumPy print precision used by every notebook; the seeds print 8 digits.
PRINT_PRECISION = 8

T = TypeVar("T")


def mode() -> str:
    """Return the current run mode, ``"full"`` or ``"smoke"``.

    Raises ``ValueError`` naming the variable when it holds anything else.
    """
    return choice_setting(MODE_VARIABLE, MODES)


def is_smoke() -> bool:
    """True in smoke mode (the test suite's small, fast run)."""
    return mode() == "smoke"


def by_mode(full: T, smoke: T) -> T:
    """Pick the value for the current mode: ``epochs = by_mode(full=20, smoke=1)``."""
    return smoke if is_smoke() else full


def seed_everything(seed: int = DEFAULT_SEED) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (if installed)."""
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch  # deferred: torch takes seconds to import; base modules load without it
    except ImportError:  # the NumPy part of the course runs without torch
        return
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


# Overrides of the policy's counts, for measuring how far printed numbers move with them (README).
THREADS_VARIABLE, BLAS_THREADS_VARIABLE = "WORKBOOK_THREADS", "WORKBOOK_BLAS_THREADS"
# NumPy's BLAS always runs on one thread (see ``set_threads``); the settings table holds the number.
BLAS_THREADS = int(SETTINGS[BLAS_THREADS_VARIABLE].default)


def cpu_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def set_threads(num_threads: int | None = None) -> int:
    """The workbook's one thread policy: torch on ``num_threads`` (default: every core), NumPy's BLAS on one.

    Why fixed counts: a float reduction split over another number of threads
    adds in another order, so the printed digits (and a search's winner) would
    depend on the machine's load or core count. Nothing reads the load.

    - torch's intra-op threads: ``num_threads``, default ``cpu_cores()``; the
      same count on the same machine gives bit-identical training runs.
    - NumPy's BLAS (OpenBLAS): ``BLAS_THREADS`` = 1, through threadpoolctl.
      The NumPy wing's products are small ((200, 3072) @ (3072, 50)): waking
      BLAS threads costs more than it saves (``benchmarks/numpy_nn_threads.py``
      prints the ratio), and one thread makes its numbers the same on every
      machine with the same BLAS kernel. The committed outputs of notebooks
      02-05 were made this way.

    ``WORKBOOK_THREADS`` and ``WORKBOOK_BLAS_THREADS`` override the two counts
    (to reproduce a run made with other counts, or to measure how far the
    numbers move). Returns the torch thread count set.
    """
    if num_threads is None:
        num_threads = int_setting(THREADS_VARIABLE) or cpu_cores()
    if threadpool_limits is not None:
        threadpool_limits(limits=int_setting(BLAS_THREADS_VARIABLE), user_api="blas")
    try:
        import torch  # deferred: torch takes seconds to import; base modules load without it
    except ImportError:
        return num_threads
    torch.set_num_threads(num_threads)
    return num_threads


@contextlib.contextmanager
def torch_threads(num_threads: int):
    """Run torch's CPU ops on ``num_threads`` inside the block, then restore the policy's count.

    For many small element-wise ops (augmentation, corruptions): with several
    threads each op pays a synchronisation that costs more than the op itself
    (measured: 10x slower on 2 shared cores). Element-wise results do not
    depend on the thread count.
    """
    import torch  # deferred: torch takes seconds to import; base modules load without it

    before = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def subnormals_flushed():
    """Inside the block, floats too small to be normal (below 1.2e-38 in float32) count as zero, as on a GPU.

    Why: Adam's first moment of a parameter whose gradient stays zero (a dead ReLU unit) shrinks by 0.9 a
    step and is subnormal after about 700 steps, and arithmetic on subnormal floats is many times slower on
    Intel processors (notebook 05's ConvNet: 90 ms a step at first, 150 ms after 1500 steps). Values that
    small carry no weight, but a run's later digits differ from one made without flushing, as between two
    kinds of CPU (training carries a difference in the last bit onwards). The processor's flush-to-zero
    mode of this thread is set through torch (NumPy has no switch for it) and turned off again after the
    block (its default); without torch nothing changes.
    """
    try:
        import torch  # deferred: torch takes seconds to import; base modules load without it
    except ImportError:
        yield
        return
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def _ipython_shell():
    """The IPython shell this code runs in, or None (a script, pytest)."""
    try:  # deferred: IPython takes ~0.1 s to import, and only a notebook (already holding it) needs it
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def enable_autoreload() -> bool:
    """Turn on IPython's ``autoreload`` (mode 2: every module, before each cell) when running in IPython.

    An edited ``helpers/*.py`` then takes effect the next time a cell runs.
    Returns True when it was turned on; outside IPython (a script, pytest) it
    does nothing and returns False.
    """
    shell = _ipython_shell()
    if shell is None:
        return False
    shell.extension_manager.load_extension("autoreload")  # silent when already loaded (the magic would print)
    shell.run_line_magic("autoreload", "2")
    return True


def report_stubs_in_one_line() -> bool:
    """In IPython, a cell that reaches a function still to be written stops with one line naming it.

    The line is the one the tests print (``helpers.stubs.stub_line``):
    ``Linear.forward in helpers/numpy_nn.py is not written yet: write the code at '# YOUR CODE HERE'.``,
    instead of a traceback through the workbook's code. Every other error keeps its full traceback.
    Returns True when installed; outside IPython it does nothing and returns False.
    """
    shell = _ipython_shell()
    if shell is None:
        return False

    def one_line(shell, etype, value, tb, tb_offset=None):
        if message := stub_line(str(value)):
            # IPython shows an exception's own rendering when it has one; the kernel still reports the error.
            value._render_traceback_ = lambda: [f"{etype.__name__}: {message}"]
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)

    shell.set_custom_exc((NotImplementedError,), one_line)
    return True


def setup(seed: int = DEFAULT_SEED, num_threads: int | None = None, deterministic: bool = True, verbose: bool = True) -> dict:
    """Prepare a notebook or script for a reproducible run.

    Seeds every generator, fixes thread counts, turns on torch's
    deterministic algorithms (warn-only, so an op without a deterministic
    kernel still runs), sets NumPy's print precision and, in IPython, turns
    on ``autoreload`` (``enable_autoreload``) and reports a call of a function
    still to be written in one line (``report_stubs_in_one_line``). Returns a
    dict with what was set; prints one line about it when ``verbose``.
    """
    enable_autoreload()
    report_stubs_in_one_line()
    seed_everything(seed)
    threads = set_threads(num_threads)
    np.set_printoptions(precision=PRINT_PRECISION, suppress=False)
    info = {"mode": mode(), "seed": seed, "threads": threads, "torch": None}
    try:
        import torch  # deferred: torch takes seconds to import; base modules load without it
    except ImportError:
        pass
    else:
        if deterministic:
            # cuBLAS needs this to be deterministic; harmless on the CPU.
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        info["torch"] = torch.__version__
    if verbose:
        print(
            f"mode: {info['mode']} | seed: {seed} | threads: {threads} | numpy {np.__version__}"
            + (f" | torch {info['torch']}" if info["torch"] else "")
        )
    return info
