"""The exercises of the course, in order, and ``check(name)``: run one exercise's tests.

Every piece of code a student writes (the functions of ``helpers/`` listed
below, by file and name) belongs to one named exercise. The name is a pytest marker on
that exercise's public tests, so the same tests run

- from a shell: ``pytest -m linear`` (``pytest tests -m linear`` skips the notebooks);
- from a notebook: ``exercises.check("linear")`` (after ``from helpers.course import
  exercises``), which runs them in a process of their own (with a time and a
  memory limit; a fork of a warm checker that has imported pytest, NumPy and
  torch, so a check costs its tests, not the imports) and prints
  ``linear: pass``, or the first failing check with the exercise's hint, never
  a traceback through test code.

A test carries the marker of the *last* exercise (in course order) whose code
it needs, so that it passes as soon as that exercise and the ones before it
are written.
"""

from __future__ import annotations

import atexit
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from helpers.course import sandbox
from helpers.course.sandbox import check_memory, cuda_in_use
from helpers.paths import REPO_ROOT


@dataclass(frozen=True)
class Exercise:
    """One exercise: its marker ``name``, the notebook that introduces it, the functions it fills in."""

    name: str
    notebook: str
    functions: tuple[str, ...]  # "helpers/numpy_nn.py:Linear.forward": file and qualified name of each function to write
    hint: str
    # (name, hint) per part: a failure that names the part (a function) first gets that part's hint.
    parts: tuple[tuple[str, str], ...] = ()

    def hint_for(self, failure: str) -> str:
        """The hint of the part ``failure`` names first (``dw (affine_backward) differs``), else ``hint``."""
        named = [(failure.find(part), hint) for part, hint in self.parts if part in failure]
        return min(named)[1] if named else self.hint

    @property
    def test_file(self) -> str:
        """Where its tests live: ``tests/test_<module>.py`` of the module it is written in (a test checks this)."""
        return f"tests/test_{Path(self.functions[0].split(':')[0]).stem}.py"


def _fns(path: str, *names: str) -> tuple[str, ...]:
    return tuple(f"helpers/{path}:{name}" for name in names)


# Course order: the notebooks in order, and within a notebook the order its sections ask for them.
EXERCISES: tuple[Exercise, ...] = (
    Exercise("linear", "01_layers", _fns("numpy_nn.py", "Linear.forward", "Linear.backward"),
             "forward: x @ W + b, (batch, input_dim) -> (batch, output_dim); backward: one dW and db per sample",
             (("Linear.forward", "x @ W + b: (batch, input_dim) times (input_dim, output_dim), plus b (1, output_dim)"),
              ("Linear.backward", "dL/dx = dL_wrt_output @ W.T; per sample n, dL_wrt_W[n] is the outer product of "
                                  "x[n] and dL_wrt_output[n], (batch, input_dim, output_dim), and dL_wrt_b[n] is "
                                  "dL_wrt_output[n], (batch, 1, output_dim)"))),
    Exercise("relu", "01_layers", _fns("numpy_nn.py", "ReLU.forward", "ReLU.backward"),
             "max(0, x) element-wise, any shape; the gradient passes where the input was positive",
             (("ReLU.forward", "max(0, x) element-wise, for inputs of any shape"),
              ("ReLU.backward", "the upstream gradient where the forward input was > 0, zero elsewhere (also at 0)"))),
    Exercise("sigmoid", "01_layers", _fns("numpy_nn.py", "Sigmoid.forward", "Sigmoid.backward"),
             "1 / (1 + exp(-x)) without overflow for large |x|; the gradient is s * (1 - s)",
             (("Sigmoid.forward", "1 / (1 + exp(-x)), written so that no exp overflows for x = -1000 or +1000"),
              ("Sigmoid.backward", "the upstream gradient times s * (1 - s), s the output forward kept"))),
    Exercise("se", "01_layers", _fns("numpy_nn.py", "SE.forward", "SE.backward"),
             "(x - y)**2 element-wise; the gradient w.r.t. x is 2 (x - y)",
             (("SE.forward", "(x - y)**2 element-wise, x and y of the same shape"),
              ("SE.backward", "2 (x - y): the loss starts back-propagation, so there is no upstream gradient"))),
    Exercise("tanh", "02_numpy_nn", _fns("numpy_nn.py", "Tanh.forward", "Tanh.backward"),
             "np.tanh element-wise; the gradient is 1 - tanh(x)**2",
             (("Tanh.forward", "np.tanh element-wise"),
              ("Tanh.backward", "the upstream gradient times 1 - t**2, t the output forward kept"))),
    Exercise("softmax_naive", "03_softmax", _fns("scratch/classifiers/softmax.py", "softmax_loss_naive"),
             "loops over examples and classes; shift the scores by their maximum; add reg * sum(W**2)"),
    Exercise("softmax_vectorized", "03_softmax", _fns("scratch/classifiers/softmax.py", "softmax_loss_vectorized"),
             "no Python loop; the same loss and gradient as softmax_loss_naive"),
    Exercise("linear_softmax", "03_softmax", _fns("scratch/classifiers/softmax.py", "LinearSoftmax.train", "LinearSoftmax.predict"),
             "minibatch SGD with the vectorised loss; predict is the argmax of X @ W"),
    Exercise("two_layer_net", "04_two_layer_net", _fns("scratch/classifiers/two_layer_net.py", "TwoLayerNet.loss"),
             "scores = relu(X @ W1 + b1) @ W2 + b2; softmax loss with reg * (sum(W1**2) + sum(W2**2)); backprop"),
    Exercise("two_layer_train", "04_two_layer_net",
             _fns("scratch/classifiers/two_layer_net.py", "TwoLayerNet.train", "TwoLayerNet.predict"),
             "Algorithm 1: minibatches, SGD with momentum, the learning rate decays once per epoch"),
    Exercise("affine", "05_conv_pool_layers", _fns("scratch/layers.py", "affine_forward", "affine_backward"),
             "forward: flatten every sample to a row, then x @ w + b; backward: dx in x's shape, dw (D, M), db (M,)",
             (("affine_forward", "flatten every sample to a row of D values, then x @ w + b: (N, D) -> (N, M)"),
              ("affine_backward", "dx comes back in x's shape (N, d_1, ..., d_k); dw (D, M) from the flattened rows; "
                                  "db (M,) sums dout over the batch"))),
    Exercise("relu_layer", "05_conv_pool_layers", _fns("scratch/layers.py", "relu_forward", "relu_backward"),
             "max(0, x); the gradient flows where x > 0",
             (("relu_forward", "max(0, x) element-wise; the cache is x"),
              ("relu_backward", "dout where the cached x > 0, zero elsewhere (also at 0)"))),
    Exercise("softmax_loss", "05_conv_pool_layers", _fns("scratch/layers.py", "softmax_loss"),
             "mean cross-entropy of (N, C) scores and its gradient (probabilities minus one-hot, over N)",
             (("loss (softmax_loss)", "the mean over the batch of -log p[y]; shift each row by its maximum first"),
              ("dx (softmax_loss)", "(probabilities - one-hot of y) / N"))),
    Exercise("conv_naive", "05_conv_pool_layers", _fns("scratch/layers.py", "conv_forward_naive", "conv_backward_naive"),
             "zero-pad, slide each filter with the stride; H' = 1 + (H + 2 pad - HH) / stride",
             (("conv_forward_naive", "loops over images, filters, rows and columns: zero-pad, then each output is the "
                                     "sum of one window times one filter, plus its bias; H' = 1 + (H + 2 pad - HH) / stride"),
              ("conv_backward_naive", "loop over the same positions: each dout[n, f, i, j] adds the filter into dx's "
                                      "window and the window into dw[f] (windows overlap: +=); drop the padding from "
                                      "dx; db sums dout over images, rows and columns"))),
    Exercise("max_pool_naive", "05_conv_pool_layers",
             _fns("scratch/layers.py", "max_pool_forward_naive", "max_pool_backward_naive"),
             "the maximum of each window; backward sends the gradient to the first maximum of its window",
             (("max_pool_forward_naive", "loops over images, channels, rows and columns: the maximum of each window"),
              ("max_pool_backward_naive", "each window's gradient goes to its first maximum (np.argmax's order); "
                                          "add where windows overlap"))),
    Exercise("update_rules", "05_conv_pool_layers", _fns("scratch/optim.py", "sgd", "sgd_momentum", "adam"),
             "next_w, config = rule(w, dw, config); keep the state (velocity, m, v, t) in config"),
    Exercise("three_layer_convnet", "05_conv_pool_layers",
             _fns("scratch/classifiers/cnn.py", "ThreeLayerConvNet.__init__", "ThreeLayerConvNet.loss"),
             "conv - relu - 2x2 max pool - affine - relu - affine - softmax, with the sandwich layers"),
    Exercise("fcnet", "06_pytorch_fc_cnn", _fns("pytorch_cnn.py", "FCNet.__init__", "FCNet.forward"),
             "flatten, then Linear layers with the activation between them; return log-probabilities"),
    Exercise("simple_cnn", "06_pytorch_fc_cnn", _fns("pytorch_cnn.py", "SimpleCNN.__init__", "SimpleCNN.forward"),
             "3x3 convolutions with stride 2 (or stride 1 and max pooling), dropout, a linear layer, log_softmax"),
    Exercise("mynet", "06_pytorch_fc_cnn", _fns("pytorch_cnn.py", "MyNet.__init__", "MyNet.forward"),
             "MyNet() takes no arguments; [0, 1] pixels in, (N, 10) log-probabilities out; with flip_tta, average "
             "with the mirror image in evaluation mode; under 5 MB"),
    Exercise("classify", "06_pytorch_fc_cnn", _fns("pytorch_cnn.py", "classify"),
             "eval mode, no gradients, batches on the model's device; int64 class indices (N,) on the CPU"),
    Exercise("softmax_classifier", "07_pytorch_cifar10",
             _fns("pytorch/models.py", "SoftmaxClassifier.__init__", "SoftmaxClassifier.forward"),
             "one nn.Linear on the flattened image: (N, 3, 32, 32) -> (N, 10) scores"),
    Exercise("two_layer_nn", "07_pytorch_cifar10", _fns("pytorch/models.py", "TwoLayerNN.__init__", "TwoLayerNN.forward"),
             "linear - ReLU - linear on the flattened image"),
    Exercise("convnet", "07_pytorch_cifar10", _fns("pytorch/models.py", "ConvNet.__init__", "ConvNet.forward"),
             "conv (padding keeps the size) - ReLU - 2x2 max pool - linear"),
    Exercise("mlp", "07_pytorch_cifar10",
             _fns("pytorch/models.py", "MultiLayerPerceptron.__init__", "MultiLayerPerceptron.forward"),
             "len(hidden_sizes) + 1 linear layers with ReLU between them"),
    Exercise("mymodel", "07_pytorch_cifar10",
             _fns("pytorch/models.py", "_ConvGroup.__init__", "_ConvGroup.forward", "MyModel.__init__",
                  "MyModel.features", "MyModel.forward"),
             "the challenge network: normalise inside, frozen whitening, three conv groups, (N, 10) scores"),
)
BY_NAME = {e.name: e for e in EXERCISES}
# Seconds one exercise's tests may take (importing torch included) before the check gives up.
CHECK_TIMEOUT = 600
# The checks' program (run by helpers/course/runner.py) and what the warm runner imports before any check.
PROGRAM = Path(__file__).with_name("runners") / "exercise_tests.py"
PRELOAD = ("pytest", "numpy", "torch", "hypothesis")


def exercise(name: str) -> Exercise:
    """The exercise called ``name``; a ``KeyError`` listing the names otherwise."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no exercise called {name!r}; the exercises are: {', '.join(BY_NAME)}") from None


def exercise_of(path: str, qualname: str) -> Exercise | None:
    """The exercise that the code to write in function ``qualname`` of ``path`` (``helpers/...``) belongs to."""
    key = f"{path}:{qualname}"
    return next((e for e in EXERCISES if key in e.functions), None)


@dataclass
class CheckResult:
    """What ``run_check`` found: ``passed`` and ``failed`` test ids, the first failure's message."""

    name: str
    passed: list[str]
    failed: list[str]
    first_failure: str | None = None
    error: str | None = None  # the tests could not run at all (time limit, crash, nothing collected)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed and bool(self.passed)

    def summary(self) -> str:
        """What ``check`` prints: ``name: pass``, or the first failure with the exercise's hint."""
        if self.ok:
            return f"{self.name}: pass"
        if self.error:
            return f"{self.name}: could not check: {self.error}"
        failure = (self.first_failure or "").strip()
        lines = [f"{self.name}: {len(self.failed)} of {len(self.failed) + len(self.passed)} checks fail; "
                 f"the first, {self.failed[0]}:"]
        lines += [f"    {line}" for line in failure.splitlines()[:12]]
        if "is not written yet" not in failure and self.name in BY_NAME:
            # A check that stopped on an earlier exercise ("fix affine first") gets that exercise's hint.
            first = re.search(r"\bfix (\w+) first\b", failure)
            owner = BY_NAME.get(first[1], BY_NAME[self.name]) if first else BY_NAME[self.name]
            lines.append(f"    hint{f' ({owner.name})' if owner.name != self.name else ''}: {owner.hint_for(failure)}")
        return "\n".join(line for line in lines if line)


def _environment() -> dict[str, str]:
    """The checks' environment: this process's, without ``PYTHONPATH`` (the runner puts the repository first).

    pytest's installed plugins are not loaded (nbval, which the notebooks' tests need, takes seconds to
    import, and a check runs the unit tests only); ``@given`` tests run without hypothesis's plugin and keep
    its database in the check's temporary folder.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", HYPOTHESIS_STORAGE_DIRECTORY="/tmp/hypothesis")
    return env


def _pytest_args(names: list[str]) -> list[str]:
    """pytest's arguments for the tests of ``names`` (their test files, ``-m "a or b"``)."""
    files = sorted({BY_NAME[n].test_file for n in names})
    return [*files, "-m", " or ".join(names), "-q", "--no-header", "-p", "no:cacheprovider", "-o", "addopts=",
            "--tb=no"]


def _isolation() -> sandbox.Isolation:
    """bubblewrap where it works (the repository read-only, no network, a /tmp of its own); else a plain process.
    Where CUDA is in use, a plain process (the sandbox has no GPU devices)."""
    return sandbox.Isolation("none") if cuda_in_use() else sandbox.isolation()


def _run_tests(root: Path, args: list[str], timeout: float):
    """pytest ``args`` on ``root`` through the runner: ``"timeout"``, or ``(raw outputs or None, output, why)``."""
    request = {"pytest": args, "exercises": list(BY_NAME)}
    outcome = _Checker.run(root, request, timeout)
    if outcome is None:  # no warm runner here (CUDA in use, not POSIX) or it failed: a fresh one
        run = sandbox.run(PROGRAM, folder=root, args=request, timeout=timeout, memory=check_memory(),
                          output=sandbox.CHECK_OUTPUT, isolation=_isolation(), env=_environment(), mount_at=None,
                          preload=PRELOAD, tmp_bytes=sandbox.CHECK_OUTPUT)
        outcome = "timeout" if run.timed_out else (list(run.records.values()), run.why_stopped())
    if outcome == "timeout":
        return outcome
    records, why = outcome
    record = records[0] if records else None
    if record is None:
        return None, "", why
    if not record.ok:   # pytest itself did not finish: its exit code, or why its process stopped
        return None, record.output, record.meta.get("exit", record.error or why)
    return record.meta, record.output, why


def run_check(names: str | list[str], root: Path | None = None, timeout: float = CHECK_TIMEOUT,
              extra_args: tuple[str, ...] = ()) -> dict[str, CheckResult]:
    """Run the public tests of the exercises ``names`` in a sandbox of their own; one result per exercise.

    ``root``: the repository (default: this one). The tests run from the
    exercises' test files with ``-m "name1 or name2 ..."``; a test that
    belongs to several of the exercises counts for each. They run through
    the one runner (``helpers.course.sandbox``): in a fork of a warm runner
    (Python, pytest, NumPy and torch already imported, no code of
    ``helpers/`` yet) where one can be had, else a fresh one; either way
    under bubblewrap where it works, with a time, memory and output limit,
    every process they start ended with them, importing the student's code as saved.
    """
    names = [names] if isinstance(names, str) else list(names)
    for name in names:
        exercise(name)
    root = Path(root or REPO_ROOT)
    outcome = _run_tests(root, [*_pytest_args(names), *extra_args], timeout)
    if outcome == "timeout":
        return {n: CheckResult(n, [], [], error=f"the tests took more than {timeout:.0f} s "
                               "(an endless loop?)") for n in names}
    meta, output, code = outcome
    if meta is None:
        tail = "\n".join(output.strip().splitlines()[-5:])
        return {n: CheckResult(n, [], [], error=f"pytest stopped (exit {code}):\n{tail}") for n in names}
    results = {n: CheckResult(n, [], []) for n in names}
    for record in meta["results"]:
        for n in names:
            if n in record["markers"]:
                result = results[n]
                if record["outcome"] == "failed":
                    result.failed.append(record["test"])
                    result.first_failure = result.first_failure or record["message"]
                elif record["outcome"] == "passed":
                    result.passed.append(record["test"])
    for result in results.values():
        if not result.passed and not result.failed:
            result.error = "no test carries this exercise's marker"
    return results


class _Checker:
    """The warm runner of the repository checked last (``sandbox.WarmRunner``), started at its first check and kept
    for the next ones: a check then costs its tests, not the imports (about 2 s less each)."""

    _running: dict[Path, sandbox.WarmRunner] = {}
    _lock = threading.Lock()

    @classmethod
    def run(cls, root: Path, request: dict, timeout: float):
        """``"timeout"``, ``(records, why it stopped)``, or ``None`` when no warm runner can be used."""
        if os.name != "posix" or cuda_in_use():   # a fork after CUDA started is unsafe
            return None
        with cls._lock:
            try:
                checker = cls._checker(root)
                records, timed_out = checker.request(PROGRAM.name, request, timeout)
            except OSError:   # it died (killed, out of memory): a fresh one next time
                cls._stop(root)
                return None
        return "timeout" if timed_out else (records, "the check's process stopped")

    @classmethod
    def _checker(cls, root: Path) -> sandbox.WarmRunner:
        checker = cls._running.get(root)
        if checker is None:
            cls.stop_all()   # one at a time: each holds torch in memory
            checker = sandbox.WarmRunner(root, _isolation(), memory=check_memory(), output=sandbox.CHECK_OUTPUT,
                                         env=_environment(), preload=PRELOAD, programs=(PROGRAM,))
            checker.start()
            cls._running[root] = checker
        return checker

    @classmethod
    def _stop(cls, root: Path) -> None:
        checker = cls._running.pop(root, None)
        if checker is not None:
            checker.stop()

    @classmethod
    def stop_all(cls) -> None:
        for root in list(cls._running):
            cls._stop(root)


atexit.register(_Checker.stop_all)


def check(name: str, root: Path | None = None) -> None:
    """Run exercise ``name``'s public tests and print ``name: pass`` or the first failure.

    The tests run in a process of their own that imports the code as saved
    in ``helpers/`` (save the file first). ``run_check`` returns the results
    instead of printing them.
    """
    print(run_check(name, root)[name].summary())


def collected_markers(root: Path | None = None, paths: tuple[str, ...] = ("tests",)) -> dict[str, list[str]]:
    """``{test id: [exercise markers]}`` for every test pytest collects under ``paths`` of ``root`` (nothing runs)."""
    root = Path(root or REPO_ROOT)
    # Collecting imports the test files, and with them the student's modules: through the runner, under its limits.
    outcome = _run_tests(root, [*paths, "--collect-only", "-q", "-p", "no:cacheprovider", "-o", "addopts="],
                         CHECK_TIMEOUT)
    if outcome == "timeout" or outcome[0] is None:
        detail = "timed out" if outcome == "timeout" else f"{outcome[2]}:\n{outcome[1][-2000:]}"
        raise RuntimeError(f"pytest could not collect the tests ({detail})")
    return outcome[0]["markers"]
