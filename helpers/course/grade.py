"""The instructor's autograder: grade a class's hand-ins safely, in parallel, and rank them on a leaderboard.

    python -m helpers.course.grade rpz SUBMISSIONS --out DIR [--workers N] [--eval-set FILE]
    python -m helpers.course.grade cs7643 SUBMISSIONS --out DIR [--workers N]
    python -m helpers.course.grade one rpz SUBMISSION [--eval-set FILE]       # one hand-in, a JSON result on stdout
    python -m helpers.course.grade combine rpz RESULT.json ... --out DIR       # reports from `one`'s results
    python -m helpers.course.grade gradescope-bundle rpz --out autograder.zip  # the same grader for Gradescope
    python -m helpers.course.grade gradescope rpz                              # inside Gradescope's run_autograder

SUBMISSIONS is a folder of zips, one per student (the name before ``.zip`` is
the student id), or a folder of folders. Into ``--out`` go, each written
atomically: ``grades.csv`` (one row per student, one column per check with its
points, the challenge points, the total, the challenge metric),
``feedback/<student>.md``, ``leaderboard.csv`` (the final ranking, on the
private part), ``leaderboard.html`` (what students see: the public part only),
``results/<student>.json`` and ``summary.txt``.

The checks, points and thresholds are the course's config
(``helpers/course/grading/<course>.json``, or ``--config FILE``); the defaults follow
the original assignments. The RPZ lab: every layer of ``numpy_nn.py``
forward and backward against the reference (``helpers.numpy_nn``) on fresh
shapes and values drawn per student; ``MyNet()`` + ``model.pt`` +
``classify``; accuracy on the clean test set and on the instructor's
evaluation set (``--eval-set``, see ``helpers.course.grading.make_eval_set``).
CS7643 part 2: what ``collect_submission.sh cs7643`` promises, each log ending
with its test accuracy, ``predictions.csv`` scored against the test labels.

Student code is untrusted. Each hand-in is unpacked into an empty temporary
folder (absolute paths, ``..``, links and oversized or overlong archives are
refused: a zero with the reason) and its code runs only in child processes
(``python -I``) started there, with a wall-clock timeout, an address-space
limit, a cap on the size of every file it writes (its printed output
included) and a minimal environment. They receive the images to classify,
never the labels; weights load with ``torch.load(weights_only=True)``. A
hand-in that hangs, crashes or misbehaves keeps the points it earned before
and gets the reason; the batch goes on. (The child can still read files that
its user may read: run the grader as a user without access to anything
else, or in a container as Gradescope does, for full isolation.)
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from helpers.course import submission
from helpers.course.sandbox import LimitedRun, run_limited
from helpers.paths import REPO_ROOT, atomic_write_bytes

COURSES = ("rpz", "cs7643")
CONFIG_DIR = Path(__file__).with_name("grading")
GRADESCOPE_ROOT_VARIABLE = "GRADESCOPE_ROOT"
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
# Limits used when a course's config leaves one out.
DEFAULT_LIMITS = {"numpy_timeout_s": 60, "torch_timeout_s": 300, "numpy_memory_mb": 2048, "torch_memory_mb": 6144,
                  "output_mb": 8, "unpacked_mb": 100, "max_files": 200, "threads": 1}
RPZ_LAYER_CHECKS = ("relu_forward", "relu_backward", "linear_forward", "linear_backward",
                    "sigmoid_forward", "sigmoid_backward", "se_forward", "se_backward")
MESSAGE_CHARS = 400  # a student's error message is cut to this length in the feedback


class GradingError(Exception):
    """A problem on the instructor's side (config, data, output folder); the message says what to fix."""


class UnsafeSubmission(Exception):
    """A hand-in that is refused before anything runs (unsafe or oversized archive)."""


# --------------------------------------------------------------------------- config


def load_config(course: str, path: str | os.PathLike | None = None, limits: dict | None = None) -> dict:
    """The course's config (``helpers/course/grading/<course>.json`` or ``path``), limits completed and overridden by ``limits``."""
    if course not in COURSES:
        raise GradingError(f"unknown course {course!r}; expected one of {', '.join(COURSES)}.")
    path = Path(path) if path else CONFIG_DIR / f"{course}.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GradingError(f"config file {path} not found.") from None
    except json.JSONDecodeError as err:
        raise GradingError(f"config file {path} is not valid JSON: {err}.") from None
    if config.get("course") != course:
        raise GradingError(f"config file {path} is for course {config.get('course')!r}, not {course!r}.")
    config["limits"] = {**DEFAULT_LIMITS, **config.get("limits", {}), **(limits or {})}
    for name, check in config.get("checks", {}).items():
        if not isinstance(check, dict) or not isinstance(check.get("points", 0), (int, float)):
            raise GradingError(f"config file {path}: checks.{name} must be an object with numeric 'points'.")
        if check.get("visibility", "visible") not in VISIBILITIES:
            raise GradingError(f"config file {path}: checks.{name}.visibility must be one of {', '.join(VISIBILITIES)}.")
    challenge = config.setdefault("challenge", {})
    fraction = challenge.setdefault("public_fraction", 1.0)
    if not 0 < fraction <= 1:
        raise GradingError(f"config file {path}: challenge.public_fraction must be in (0, 1]; got {fraction}.")
    return config


def parse_limits(pairs: list[str] | None) -> dict:
    """``["numpy_timeout_s=5", ...]`` -> ``{"numpy_timeout_s": 5.0}``; unknown keys are refused."""
    limits = {}
    for pair in pairs or []:
        key, _, value = pair.partition("=")
        if key not in DEFAULT_LIMITS:
            raise GradingError(f"--limit {pair}: unknown limit {key!r}; known: {', '.join(DEFAULT_LIMITS)}.")
        try:
            limits[key] = float(value)
        except ValueError:
            raise GradingError(f"--limit {pair}: {value!r} is not a number.") from None
    return limits


# --------------------------------------------------------------------------- data the grader holds


@dataclass
class ImageSet:
    """Images ``(N, 28, 28)`` uint8 (or ``None`` where only labels are needed) and labels ``(N,)`` int64."""

    images: np.ndarray | None
    labels: np.ndarray
    source: str


def load_image_set(path: str | os.PathLike, need_images: bool = True) -> ImageSet:
    """Read an evaluation or test set: an ``.npz`` with ``images`` (uint8 ``(N, 28, 28)``) and ``labels`` (``(N,)``, 0..9).

    Loaded with ``allow_pickle=False``: the file is data only. Raises
    ``GradingError`` naming the file and the expected content.
    """
    path = Path(path)
    expected = "an .npz with 'images' (uint8, (N, 28, 28)) and 'labels' (integers 0..9, (N,))"
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files if k in ("images", "labels")}
    except FileNotFoundError:
        raise GradingError(f"{path}: not found; expected {expected}.") from None
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        raise GradingError(f"{path}: not readable as {expected} ({err}).") from None
    labels = arrays.get("labels")
    if labels is None or labels.ndim != 1 or labels.dtype.kind not in "iu" or (len(labels) and not
                                                                            (0 <= labels.min() and labels.max() <= 9)):
        raise GradingError(f"{path}: 'labels' missing or invalid; expected {expected}.")
    images = arrays.get("images")
    if need_images and (images is None or images.dtype != np.uint8 or images.shape != (len(labels), 28, 28)):
        got = "none" if images is None else f"{images.dtype} {images.shape}"
        raise GradingError(f"{path}: 'images' is {got}; expected {expected} with N = {len(labels)}.")
    return ImageSet(images if need_images else None, labels.astype(np.int64), str(path))


def save_image_set(path: str | os.PathLike, images: np.ndarray, labels: np.ndarray, **extra: np.ndarray) -> Path:
    """Write an image set in ``load_image_set``'s format, atomically (``extra``: more arrays, e.g. corruption names)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=np.asarray(images, dtype=np.uint8), labels=np.asarray(labels, dtype=np.int64),
                        **extra)
    return atomic_write_bytes(path, buffer.getvalue())


@dataclass
class GradingData:
    """What the grader holds and students never see: the test labels, the evaluation set, the public/private split."""

    test: ImageSet
    eval: ImageSet | None = None
    split: dict = field(default_factory=dict)  # metric set name -> boolean mask of the public part


def public_mask(n: int, fraction: float, seed: int) -> np.ndarray:
    """Boolean ``(n,)``: the public part of a set of ``n`` items, a seeded random ``fraction`` of it (all when 1)."""
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[:int(round(n * fraction))]] = True
    return mask


def load_grading_data(config: dict, data_root=None, test_set=None, eval_set=None, test_limit: int | None = None) -> GradingData:
    """The course's test set (``helpers.data.load_dataset``, or the ``test_set`` file) and optional evaluation set."""
    rpz = config["course"] == "rpz"
    if test_set:
        test = load_image_set(test_set, need_images=rpz)
    else:
        from helpers.data import DatasetNotFoundError, load_dataset

        try:
            images, labels = load_dataset(config["dataset"], "test", root=data_root, download=False)
        except DatasetNotFoundError as err:
            raise GradingError(str(err)) from None
        test = ImageSet(images if rpz else None, labels.astype(np.int64), f"{config['dataset']} test set")
    if test_limit:
        test = ImageSet(None if test.images is None else test.images[:test_limit], test.labels[:test_limit], test.source)
    evaluation = load_image_set(eval_set) if eval_set else None
    if evaluation is not None and not rpz:
        raise GradingError("--eval-set is for the rpz course; cs7643 scores predictions.csv on the test labels.")
    challenge = config["challenge"]
    data = GradingData(test, evaluation)
    for name, part in (("test", test), ("eval", evaluation)):
        if part is not None:
            data.split[name] = public_mask(len(part.labels), challenge["public_fraction"], challenge.get("split_seed", 0))
    return data


# --------------------------------------------------------------------------- unpacking


def _refuse_name(name: str) -> str | None:
    """Why an archive member name is refused, or ``None``."""
    if "\\" in name or "\0" in name:
        return f"{name!r}: backslashes and NUL are not allowed in names"
    path = PurePosixPath(name)
    if path.is_absolute() or re.match(r"^[A-Za-z]:", name):
        return f"{name!r}: an absolute path"
    if ".." in path.parts:
        return f"{name!r}: a path leading out of the folder ('..')"
    return None


def unpack(source: Path, dest: Path, max_bytes: int, max_files: int) -> list[str]:
    """Copy a hand-in (a zip or a folder) into the empty folder ``dest``; returns the relative paths written.

    Refused with ``UnsafeSubmission`` (nothing run, the reason in the message):
    absolute paths, ``..``, symbolic links, more than ``max_files`` files, or
    more than ``max_bytes`` in total (counted while decompressing, so a zip
    bomb that lies about its sizes stops at the limit too).
    """
    source = Path(source)
    written, total = [], 0

    def account(size: int) -> None:
        nonlocal total
        total += size
        if total > max_bytes:
            raise UnsafeSubmission(f"more than {max_bytes / 2**20:.0f} MB once unpacked (a zip bomb?)")

    if source.is_dir():
        for path in sorted(source.rglob("*")):
            rel = path.relative_to(source).as_posix()
            if path.is_symlink():
                raise UnsafeSubmission(f"{rel}: a symbolic link")
            if path.is_dir():
                continue
            if not path.is_file():
                raise UnsafeSubmission(f"{rel}: not a regular file")
            if len(written) >= max_files:
                raise UnsafeSubmission(f"more than {max_files} files")
            account(path.stat().st_size)
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / rel)
            written.append(rel)
        return written
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as err:
        raise UnsafeSubmission(f"{source.name} is not a readable zip file ({err})") from None
    with archive:
        members = archive.infolist()
        for info in members:  # check every name before writing anything
            problem = _refuse_name(info.filename)
            if problem:
                raise UnsafeSubmission(problem)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UnsafeSubmission(f"{info.filename}: a symbolic link")
        files = [m for m in members if not m.is_dir()]
        if len(files) > max_files:
            raise UnsafeSubmission(f"more than {max_files} files")
        if sum(m.file_size for m in files) > max_bytes:
            raise UnsafeSubmission(f"more than {max_bytes / 2**20:.0f} MB once unpacked (a zip bomb?)")
        for info in files:
            target = dest / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(1 << 20):
                        account(len(chunk))
                        out.write(chunk)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as err:
                raise UnsafeSubmission(f"{info.filename}: cannot be extracted ({err})") from None
            written.append(info.filename)
    return written


# --------------------------------------------------------------------------- the sandbox


def sandbox_env(home: Path, threads: int) -> dict:
    """The child's whole environment: no variable of the grader's (no paths to data, no tokens)."""
    n = str(int(threads))
    return {"PATH": os.defpath, "HOME": str(home), "TMPDIR": str(home), "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}


def run_sandboxed(script: str, args: list[str], workdir: Path, timeout: float, memory_mb: float, output_mb: float,
                  threads: int = 1) -> LimitedRun:
    """Run ``python -I -c script args`` in ``workdir`` with the grader's limits and none of its environment.

    ``memory_mb``: address space; ``output_mb``: every file written, standard
    output and error included (``helpers.course.sandbox.run_limited`` does the rest:
    the whole process group is killed on timeout, the last 4 kB of standard error is read back).
    """
    return run_limited([sys.executable, "-I", "-c", script, *args], cwd=workdir, timeout=timeout,
                       memory=int(memory_mb * 2**20), output=int(output_mb * 2**20), env=sandbox_env(workdir, threads),
                       keep=4096)


# Shared by both runners: report each step to RESULTS/<step>.json (+ .npz), as soon as it is done,
# so that what was earned before a hang or a crash is kept. Student errors are located in their files.
_RUNNER_COMMON = r'''
import errno, json, os, re, resource, sys, traceback
sys.modules["helpers"] = None  # the workbook's own package (reference solutions) is not importable here
import numpy as np
RESULTS = sys.argv[1]
INPUTS = np.load(sys.argv[2], allow_pickle=False)

def where(err):
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if os.path.isfile(f.filename) and os.path.dirname(os.path.abspath(f.filename)) == os.getcwd()]
    return f" ({os.path.basename(frames[-1].filename)} line {frames[-1].lineno})" if frames else ""

def describe(err):
    if isinstance(err, MemoryError):
        return "MemoryError: ran out of memory"
    if isinstance(err, OSError) and err.errno == errno.EFBIG:
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0] / 2**20
        return f"printed or wrote more than {limit:g} MB (the grader's limit on output)" + where(err)
    return f"{type(err).__name__}: {err}"[:600] + where(err)

def as_array(name, value):
    try:
        array = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
    except Exception:
        array = None
    if array is None or array.dtype.kind not in "biuf":
        raise TypeError(f"{name} is a {type(value).__name__}, not a numeric array")
    return array

def report(step, ok, error=None, meta=None, **arrays):
    if ok and arrays:
        np.savez(os.path.join(RESULTS, step + ".npz"), **arrays)
    with open(os.path.join(RESULTS, step + ".json"), "w") as f:
        json.dump({"ok": ok, "error": error, "meta": meta or {}}, f)

def step(name, fn):
    try:
        arrays, meta = fn()
    except BaseException as err:  # sys.exit() in a student's code is a failed step too
        report(name, False, describe(err))
        return False
    report(name, True, meta=meta, **arrays)
    return True
'''

# The hand-in's folder joins the path only after NumPy / torch are imported: a student's numpy.py cannot replace them.
_STUDENT_PATH = r'''
sys.path.insert(0, os.getcwd())  # python -I leaves the folder off the path
'''

_NUMPY_RUNNER = _RUNNER_COMMON + _STUDENT_PATH + r'''
def get(key):
    return INPUTS[key].copy()

def imported():
    global numpy_nn
    import numpy_nn
    missing = [n for n in ("ReLU", "Linear", "Sigmoid", "SE") if not hasattr(numpy_nn, n)]
    if missing:
        raise AttributeError("numpy_nn.py defines no " + ", ".join(missing))
    return {}, {}

def elementwise(cls, prefix):
    def forward():
        layer = getattr(numpy_nn, cls)()
        return {"out": as_array(f"{cls}.forward(x)", layer.forward(get(prefix + ".x")))}, {}
    def backward():
        layer = getattr(numpy_nn, cls)()
        layer.forward(get(prefix + ".x"))
        return {"dx": as_array(f"{cls}.backward(dL_wrt_output)", layer.backward(get(prefix + ".dout")))}, {}
    return forward, backward

def linear():
    d_in, d_out = (int(v) for v in INPUTS["linear.dims"])
    layer = numpy_nn.Linear(d_in, d_out)
    layer.W, layer.b = get("linear.W"), get("linear.b")
    return layer

def linear_forward():
    return {"out": as_array("Linear.forward(x)", linear().forward(get("linear.x")))}, {}

def linear_backward():
    layer = linear()
    layer.forward(get("linear.x"))
    dx = as_array("Linear.backward(dL_wrt_output)", layer.backward(get("linear.dout")))
    return {"dx": dx, "dW": as_array("Linear.dL_wrt_W", layer.dL_wrt_W), "db": as_array("Linear.dL_wrt_b", layer.dL_wrt_b)}, {}

def se_forward():
    return {"out": as_array("SE.forward(x, y)", numpy_nn.SE().forward(get("se.x"), get("se.y")))}, {}

def se_backward():
    layer = numpy_nn.SE()
    layer.forward(get("se.x"), get("se.y"))
    return {"dx": as_array("SE.backward()", layer.backward())}, {}

if step("import", imported):
    relu_f, relu_b = elementwise("ReLU", "relu")
    sig_f, sig_b = elementwise("Sigmoid", "sigmoid")
    for name, fn in (("relu_forward", relu_f), ("relu_backward", relu_b), ("linear_forward", linear_forward),
                     ("linear_backward", linear_backward), ("sigmoid_forward", sig_f), ("sigmoid_backward", sig_b),
                     ("se_forward", se_forward), ("se_backward", se_backward)):
        step(name, fn)
'''

_TORCH_RUNNER = _RUNNER_COMMON + r'''
import torch
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
''' + _STUDENT_PATH + r'''
state = {}

def imported():
    import pytorch_cnn
    missing = [n for n in ("MyNet", "classify") if not hasattr(pytorch_cnn, n)]
    if missing:
        raise AttributeError("pytorch_cnn.py defines no " + ", ".join(missing))
    state["module"] = pytorch_cnn
    return {}, {}

def loads():
    model = state["module"].MyNet()
    try:
        weights = torch.load("model.pt", map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError("model.pt is missing") from None
    except Exception as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        # torch names the refused object on a line of its own ("WeightsUnpickler error: Unsupported global: ...").
        detail = next((line for line in lines if "Unsupported" in line or "WeightsUnpickler" in line), lines[0] if lines else "")
        detail = re.sub(r"\x1b\[[0-9;]*m", "", detail).split(". ")[0][:200]  # its first sentence, not its advice
        raise RuntimeError(f"model.pt does not load as plain weights with torch.load(..., weights_only=True) ({detail}); "
                           "save the state dict only: torch.save(model.state_dict(), 'model.pt')") from None
    if not isinstance(weights, dict):
        raise TypeError(f"model.pt holds a {type(weights).__name__}, not a state dict: torch.save(model.state_dict(), 'model.pt')")
    model.load_state_dict(weights)
    model.eval()
    state["model"] = model
    return {}, {}

def classify(key):
    def run():
        images = INPUTS[key]
        x = torch.from_numpy(images.astype(np.float32) / 255.0).reshape(len(images), 1, 28, 28)
        labels = state["module"].classify(state["model"], x)
        meta = {"type": type(labels).__name__, "dtype": str(getattr(labels, "dtype", None)),
                "shape": list(getattr(labels, "shape", ()))}
        return {"labels": as_array("classify(model, x)", labels)}, meta
    return run

if step("import", imported) and step("mynet_loads", loads):
    for key in INPUTS.files:
        step("classify_" + key, classify(key))
'''


def _read_steps(results: Path) -> dict:
    """``{step: {"ok", "error", "meta", "arrays"}}`` as reported by a runner (arrays read with ``allow_pickle=False``)."""
    steps = {}
    for path in sorted(results.glob("*.json")):
        try:
            report = json.loads(path.read_text(encoding="utf-8", errors="replace"))
            arrays = {}
            if report.get("ok") and path.with_suffix(".npz").is_file():
                with np.load(path.with_suffix(".npz"), allow_pickle=False) as data:
                    arrays = {k: data[k] for k in data.files}
            steps[path.stem] = {"ok": bool(report.get("ok")), "error": str(report.get("error") or "")[:MESSAGE_CHARS],
                                "meta": report.get("meta") or {}, "arrays": arrays}
        except (ValueError, OSError, zipfile.BadZipFile, AttributeError):
            steps[path.stem] = {"ok": False, "error": "its result could not be read", "meta": {}, "arrays": {}}
    return steps


def run_steps(runner: str, workdir: Path, inputs: dict, limits: dict, kind: str) -> tuple[dict, str | None]:
    """Run a runner on ``inputs`` (arrays) in ``workdir``; returns its steps and why it stopped early (or ``None``)."""
    scratch = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=workdir.parent))
    results = scratch / "results"
    results.mkdir()
    np.savez(scratch / "inputs.npz", **inputs)
    timeout, memory = limits[f"{kind}_timeout_s"], limits[f"{kind}_memory_mb"]
    run = run_sandboxed(runner, [str(results), str(scratch / "inputs.npz")], workdir, timeout, memory,
                        limits["output_mb"], int(limits["threads"]))
    stopped = run.why_stopped("training or an endless loop at import time?") if run.stopped_early() else None
    return _read_steps(results), stopped


# --------------------------------------------------------------------------- results


@dataclass
class Grader:
    """Collects one hand-in's checks in the config's order."""

    config: dict
    skip: frozenset = frozenset()  # checks that do not apply (eval_accuracy without an evaluation set)
    checks: dict = field(default_factory=dict)

    def add(self, name: str, passed: bool, message: str = "", hint: str = "") -> bool:
        spec = self.config["checks"][name]
        points = float(spec.get("points", 0))
        self.checks[name] = {"name": name, "what": spec.get("what", name), "passed": bool(passed),
                             "points": points if passed else 0.0, "max_points": points, "message": message.strip(),
                             "hint": "" if passed else hint, "visibility": spec.get("visibility", "visible")}
        return bool(passed)

    def result(self, student: str, metric: dict | None = None, refused: str | None = None, seconds: float = 0.0) -> dict:
        # Checks never reached (a refused archive) count as failed, with the reason.
        for name in self.config["checks"]:
            if name not in self.checks and name not in self.skip:
                self.add(name, False, refused or "not graded")
        checks = [self.checks[n] for n in self.config["checks"] if n in self.checks]
        return {"student": student, "course": self.config["course"], "checks": checks,
                "score": sum(c["points"] for c in checks), "max_score": sum(c["max_points"] for c in checks),
                "metric": metric, "refused": refused, "seconds": round(seconds, 2)}


def accuracy_metric(name: str, set_name: str, predictions: np.ndarray, labels: np.ndarray, public: np.ndarray) -> dict:
    """Accuracy on the whole set, its public part and its private part (the whole set when all is public)."""
    correct = predictions == labels
    private = ~public if (~public).any() else np.ones_like(public)
    return {"name": name, "set": set_name, "value": float(correct.mean()), "public": float(correct[public].mean()),
            "private": float(correct[private].mean()), "n": int(len(labels))}


# --------------------------------------------------------------------------- RPZ


_LAYER_HINTS = {
    "relu": "max(0, x) element-wise for any shape; backward passes dL_wrt_output where the forward input was > 0, 0 elsewhere.",
    "linear": "forward is x @ W + b with W (input_dim, output_dim), b (1, output_dim); backward returns dL_wrt_output @ W.T "
              "and stores the per-sample dL_wrt_W (batch, input_dim, output_dim) and dL_wrt_b (batch, 1, output_dim).",
    "sigmoid": "1 / (1 + exp(-x)) element-wise for any shape; backward multiplies by sigmoid(x) * (1 - sigmoid(x)).",
    "se": "forward is (x - y)**2 element-wise (no sum, no mean), shape of x; backward returns 2 * (x - y).",
}
_EXPECTED = {  # how the lab's docstrings name each compared output's shape
    ("linear", "out"): "(batch, output_dim)", ("linear", "dx"): "(batch, input_dim)",
    ("linear", "dW"): "(batch, input_dim, output_dim)", ("linear", "db"): "(batch, 1, output_dim)",
}
_OUTPUT_NAMES = {"out": "forward output", "dx": "dL/dx", "dW": "dL_wrt_W", "db": "dL_wrt_b"}


def layer_inputs(seed: int) -> dict:
    """Fresh float64 inputs for the layer checks: shapes and values drawn from ``seed`` (one per student)."""
    rng = np.random.default_rng(seed)

    def any_shape():
        return tuple(int(v) for v in rng.integers(2, 6, size=int(rng.integers(1, 5))))

    def away_from_zero(shape):  # ReLU's kink at 0 has two valid subgradients: keep inputs off it
        x = rng.standard_normal(shape)
        return np.where(np.abs(x) < 1e-3, 0.5, x)

    batch, d_in, d_out = (int(v) for v in rng.choice(np.arange(2, 10), size=3, replace=False))
    relu_shape, sigmoid_shape, se_shape = any_shape(), any_shape(), any_shape()
    return {
        "relu.x": away_from_zero(relu_shape), "relu.dout": rng.standard_normal(relu_shape),
        "linear.dims": np.array([d_in, d_out]), "linear.W": rng.standard_normal((d_in, d_out)),
        "linear.b": rng.standard_normal((1, d_out)), "linear.x": rng.standard_normal((batch, d_in)),
        "linear.dout": rng.standard_normal((batch, d_out)),
        "sigmoid.x": 3 * rng.standard_normal(sigmoid_shape), "sigmoid.dout": rng.standard_normal(sigmoid_shape),
        "se.x": rng.standard_normal(se_shape), "se.y": rng.standard_normal(se_shape),
    }


def reference_layer_outputs(inputs: dict) -> dict:
    """``{check: {output: array}}`` from the reference solution (``helpers.numpy_nn``) on ``inputs``."""
    from helpers import numpy_nn as ref

    def get(key):
        return inputs[key].copy()

    out = {}
    for cls, prefix in ((ref.ReLU, "relu"), (ref.Sigmoid, "sigmoid")):
        layer = cls()
        out[f"{prefix}_forward"] = {"out": layer.forward(get(f"{prefix}.x"))}
        out[f"{prefix}_backward"] = {"dx": layer.backward(get(f"{prefix}.dout"))}
    d_in, d_out = (int(v) for v in inputs["linear.dims"])
    layer = ref.Linear(d_in, d_out)
    layer.W, layer.b = get("linear.W"), get("linear.b")
    out["linear_forward"] = {"out": layer.forward(get("linear.x"))}
    dx = layer.backward(get("linear.dout"))
    out["linear_backward"] = {"dx": dx, "dW": layer.dL_wrt_W, "db": layer.dL_wrt_b}
    layer = ref.SE()
    out["se_forward"] = {"out": layer.forward(get("se.x"), get("se.y"))}
    out["se_backward"] = {"dx": layer.backward()}
    return out


def _describe_call(check: str, inputs: dict) -> str:
    layer = check.split("_")[0]
    if layer == "linear":
        d_in, d_out = (int(v) for v in inputs["linear.dims"])
        return f"Linear({d_in}, {d_out}) on x of shape {inputs['linear.x'].shape}"
    if layer == "se":
        return f"SE on x and y of shape {inputs['se.x'].shape}"
    return f"{'ReLU' if layer == 'relu' else 'Sigmoid'} on x of shape {inputs[layer + '.x'].shape}"


def compare_outputs(check: str, got: dict, expected: dict, inputs: dict, rtol: float, atol: float) -> str | None:
    """The first difference between a student's outputs and the reference's, as one message (``None``: all match)."""
    layer = check.split("_")[0]
    call = _describe_call(check, inputs)
    for key, want in expected.items():
        name = _OUTPUT_NAMES[key]
        have = got.get(key)
        if have is None:
            return f"{call}: no {name} returned"
        if have.shape != want.shape:
            contract = _EXPECTED.get((layer, key), "the forward input's shape")
            return f"{call}: {name} has shape {have.shape}; expected {contract} = {want.shape}"
        have = have.astype(np.float64)
        if not np.all(np.isfinite(have)):
            return f"{call}: {name} holds NaN or infinite values"
        if not np.allclose(have, want, rtol=rtol, atol=atol):
            diff = np.abs(have - want)
            index = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
            return (f"{call}: {name} differs from the expected values (largest difference "
                    f"{float(diff.max()):.3g} at index {index})")
    return None


RPZ_FILES = tuple(d.name for d in submission.RPZ_FILES)  # what collect_submission.sh rpz packs


def grade_rpz(workdir: Path, files: list[str], config: dict, data: GradingData, student: str, grader: Grader) -> dict | None:
    """Every RPZ check on the unpacked hand-in in ``workdir``; returns the challenge metric (or ``None``)."""
    limits = config["limits"]
    tol = config.get("tolerance", {})
    rtol, atol = float(tol.get("rtol", 1e-5)), float(tol.get("atol", 1e-7))
    present = {name for name in RPZ_FILES if (workdir / name).is_file()}
    problems = [f"{name} is missing" + _found_elsewhere(name, files) for name in RPZ_FILES if name not in present]
    problems += [f"{name} {p}" for name in RPZ_FILES
                 if name.endswith(".png") and name in present and (p := submission.check_png(workdir / name))]
    grader.add("files", not problems, "; ".join(problems),
               "put the five files at the root of the zip, no folder: ./collect_submission.sh rpz makes it so.")

    # Layers: fresh inputs per student, the reference computed here, the student's code in a child process.
    seed = int(config.get("seed", 0)) * 1_000_003 + sum(ord(c) * 31 ** i for i, c in enumerate(student)) % 1_000_003
    inputs = layer_inputs(seed)
    if "numpy_nn.py" in present:
        steps, stopped = run_steps(_NUMPY_RUNNER, workdir, inputs, limits, "numpy")
        expected = reference_layer_outputs(inputs)
        imported = steps.get("import", {})
        for check in RPZ_LAYER_CHECKS:
            hint = _LAYER_HINTS[check.split("_")[0]]
            if not imported.get("ok"):
                why = imported.get("error") or stopped or "it did not run"
                grader.add(check, False, f"numpy_nn.py does not import on its own: {why}",
                           "keep training code inside main() or `if __name__ == '__main__':`; import only numpy at the top.")
            elif check not in steps:
                grader.add(check, False, f"not reached: {stopped or 'the check did not finish'}", hint)
            elif not steps[check]["ok"]:
                grader.add(check, False, f"{_describe_call(check, inputs)}: {steps[check]['error']}", hint)
            else:
                problem = compare_outputs(check, steps[check]["arrays"], expected[check], inputs, rtol, atol)
                grader.add(check, problem is None, problem or "", hint)
    else:
        for check in RPZ_LAYER_CHECKS:
            grader.add(check, False, "numpy_nn.py is missing", "hand in numpy_nn.py at the zip root.")

    # MyNet, model.pt, classify and the accuracies.
    images = {"contract": np.random.default_rng(seed).integers(0, 256, (8, 28, 28), dtype=np.uint8),
              "test": data.test.images}
    if data.eval is not None:
        images["eval"] = data.eval.images
    steps, stopped = ({}, "pytorch_cnn.py is missing") if "pytorch_cnn.py" not in present else \
        run_steps(_TORCH_RUNNER, workdir, images, limits, "torch")

    def failure(step: str) -> str:
        for name in ("import", "mynet_loads", step):
            if name in steps and not steps[name]["ok"]:
                prefix = {"import": "pytorch_cnn.py does not import on its own: ",
                          "mynet_loads": "MyNet() with model.pt: "}.get(name, "")
                return prefix + steps[name]["error"]
        return f"not reached: {stopped or 'the check did not finish'}"

    loads = steps.get("mynet_loads", {}).get("ok", False)
    grader.add("mynet_loads", loads, "" if loads else failure("mynet_loads"),
               "MyNet() must build with no arguments and model.pt must be its state dict: "
               "torch.save(model.state_dict(), 'model.pt').")
    contract = steps.get("classify_contract", {})
    message = "" if contract.get("ok") else failure("classify_contract")
    if contract.get("ok"):
        meta, labels = contract["meta"], contract["arrays"]["labels"]
        if meta.get("dtype") not in ("torch.int64", "int64") or tuple(labels.shape) != (8,):
            message = (f"classify(model, x) with x of shape (8, 1, 28, 28) returned a {meta.get('type')} of dtype "
                       f"{meta.get('dtype')} and shape {tuple(labels.shape)}; expected int64 of shape (8,)")
        elif labels.min() < 0 or labels.max() > 9:
            message = "classify returned class indices outside 0..9"
    grader.add("classify_contract", not message, message,
               "classify(model, x) takes float32 (N, 1, 28, 28) in [0, 1] and returns an int64 tensor (N,) of labels 0..9.")

    metric = None
    for key, part, check in (("test", data.test, "clean_accuracy"), ("eval", data.eval, "eval_accuracy")):
        if part is None:
            continue
        step = steps.get(f"classify_{key}", {})
        predictions = step.get("arrays", {}).get("labels") if step.get("ok") else None
        threshold = float(config["checks"][check].get("threshold", 0))
        if predictions is None or predictions.shape != part.labels.shape:
            why = failure(f"classify_{key}") if predictions is None else \
                f"classify returned shape {tuple(predictions.shape)} for {len(part.labels)} images"
            grader.add(check, False, why, "the model must classify every image: see the checks above.")
            continue
        m = accuracy_metric(check, key, predictions.astype(np.int64), part.labels, data.split[key])
        shown = "accuracy" if m["public"] == m["value"] and not (~data.split[key]).any() else "accuracy on the public part"
        grader.add(check, m["value"] >= threshold, f"{shown} {m['public']:.4f} (needed: {threshold:.4f} overall)",
                   "train longer, augment for the camera's noise (notebook 06), and check classify on clean images.")
        if check == config["challenge"].get("metric") or (metric is None and check == config["challenge"].get("fallback_metric")):
            metric = m
    return metric


def _found_elsewhere(name: str, files: list[str]) -> str:
    deeper = [f for f in files if PurePosixPath(f).name == name]
    return f" at the zip root (found {deeper[0]}: the files must not be in a folder)" if deeper else ""


# --------------------------------------------------------------------------- CS7643


def read_predictions(path: Path, n: int) -> np.ndarray:
    """Labels ``(n,)`` from a ``predictions.csv`` (header ``id,label``, ids 0..n-1 in order, labels 0..9); ``ValueError`` naming the row."""
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        rows = list(csv.reader(f))
    if not rows or [c.strip() for c in rows[0]] != ["id", "label"]:
        raise ValueError("the first line must be the header id,label")
    body = [r for r in rows[1:] if r]
    if len(body) != n:
        raise ValueError(f"it has {len(body)} rows; expected one per test image, {n}")
    labels = np.empty(n, dtype=np.int64)
    for i, row in enumerate(body):
        if len(row) != 2 or row[0].strip() != str(i):
            raise ValueError(f"row {i + 2}: expected id {i} and a label, got {','.join(row)[:40]!r}")
        try:
            labels[i] = int(row[1])
        except ValueError:
            raise ValueError(f"row {i + 2}: label {row[1][:20]!r} is not an integer 0..9") from None
        if not 0 <= labels[i] <= 9:
            raise ValueError(f"row {i + 2}: label {labels[i]} is not in 0..9")
    return labels


def grade_cs7643(workdir: Path, files: list[str], config: dict, data: GradingData, student: str, grader: Grader) -> dict | None:
    """The CS7643 part 2 checks on the unpacked ``2_pytorch.zip``; returns the challenge metric (or ``None``)."""
    def problems(names) -> list[str]:
        found = []
        for name in names:
            path = workdir / name
            if not path.is_file():
                found.append(f"{name} is missing")
            elif (check := submission.FILE_CHECKS.get(path.suffix)) and (p := check(path)):
                found.append(f"{name} {p}")
            elif path.suffix == ".pdf" and path.read_bytes()[:5] != b"%PDF-":
                found.append(f"{name} is not a PDF")
        return found

    made = submission.cs7643_outputs()
    hint = "run scripts/run_{m}.sh to the end, then ./collect_submission.sh cs7643"
    for check, model in (("q8_5_softmax", "softmax"), ("q8_6_twolayernn", "twolayernn"), ("q8_7_convnet", "convnet")):
        names = [f"scripts/run_{model}.sh"] + [n for n in made if n.startswith(model + "_") or n == f"{model}.log"]
        if model == "convnet":
            names += [submission.FILTER_NOTEBOOK, Path(submission.FILTER_NOTEBOOK).stem + ".pdf"]
        found = problems(names)
        grader.add(check, not found, "; ".join(found), hint.format(m=model))
    others = [*submission.CS7643_CODE, "scripts/run_mymodel.sh", *[n for n in made if n.startswith("mymodel")], "extra.md",
              submission.CS7643_PDF]
    found = problems(others)
    grader.add("deliverables", not found, "; ".join(found), "./collect_submission.sh cs7643 checks and packs all of them.")

    metric, labels = None, data.test.labels
    try:
        if not (workdir / "predictions.csv").is_file():
            raise ValueError("predictions.csv is missing (python -m helpers.predict writes it)")
        predictions = read_predictions(workdir / "predictions.csv", len(labels))
    except ValueError as err:
        grader.add("predictions", False, f"predictions.csv: {err}", "python -m helpers.predict --model mymodel ... writes it.")
        for check in ("beats_chance", "beats_instructor"):
            grader.add(check, False, "no valid predictions.csv")
        return None
    grader.add("predictions", True)
    metric = accuracy_metric("accuracy", "test", predictions, labels, data.split["test"])
    for check in ("beats_chance", "beats_instructor"):
        threshold = float(config["checks"][check].get("threshold", 0))
        grader.add(check, metric["value"] >= threshold,
                   f"accuracy on the public part {metric['public']:.4f} (needed: {threshold:.4f} overall)",
                   "see the challenge's suggestions: deeper [conv-relu-pool] stacks, more filters, Adam, augmentation.")
    return metric


# --------------------------------------------------------------------------- one hand-in


def student_id(path: Path) -> str:
    """The student id of a hand-in: the zip's name without ``.zip``, or the folder's name."""
    return path.name[:-4] if path.name.lower().endswith(".zip") else path.name


def grade_submission(course: str, path: str | os.PathLike, config: dict, data: GradingData, student: str | None = None) -> dict:
    """Grade one hand-in (a zip or a folder); returns its result (JSON-ready): checks, score, metric, refusal."""
    path = Path(path)
    student = student or student_id(path)
    grader = Grader(config, skip=frozenset({"eval_accuracy"} if data.eval is None else ()))
    start = time.monotonic()
    limits = config["limits"]
    # ignore_cleanup_errors: a hand-in that made its files unremovable must not stop the batch.
    with tempfile.TemporaryDirectory(prefix="grade-", ignore_cleanup_errors=True) as tmp:
        workdir = Path(tmp) / "submission"
        workdir.mkdir()
        try:
            files = unpack(path, workdir, int(limits["unpacked_mb"] * 2**20), int(limits["max_files"]))
        except UnsafeSubmission as err:
            return grader.result(student, refused=f"hand-in refused: {err}", seconds=time.monotonic() - start)
        os.chmod(workdir, 0o700)
        grade = grade_rpz if course == "rpz" else grade_cs7643
        metric = grade(workdir, files, config, data, student, grader)
    return grader.result(student, metric, seconds=time.monotonic() - start)


_WORKER: dict = {}


def _init_worker(course: str, config: dict, data: GradingData) -> None:
    _WORKER.update(course=course, config=config, data=data)


def _grade_in_worker(item: tuple[str, str]) -> dict:
    student, path = item
    try:
        return grade_submission(_WORKER["course"], path, _WORKER["config"], _WORKER["data"], student)
    except Exception as err:  # a grader bug must not stop the batch: the student gets a reason, the summary counts it
        skip = frozenset({"eval_accuracy"} if _WORKER["data"].eval is None else ())
        return Grader(_WORKER["config"], skip).result(student, refused=f"the grader failed on this hand-in: {type(err).__name__}: {err}")


def find_submissions(folder: Path) -> list[tuple[str, Path]]:
    """``[(student id, path)]`` for the zips and folders in ``folder``, sorted; ``GradingError`` on two with one id."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GradingError(f"{folder} is not a folder of hand-ins (zips or folders, one per student).")
    found, seen = [], {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not (path.is_dir() or path.name.lower().endswith(".zip")):
            continue
        sid = student_id(path)
        safe = safe_name(sid)
        if safe in seen:
            raise GradingError(f"{seen[safe].name} and {path.name} would share the student id {safe!r}; rename one.")
        seen[safe] = path
        found.append((sid, path))
    if not found:
        raise GradingError(f"{folder} holds no hand-ins (.zip files or folders).")
    return found


def safe_name(student: str) -> str:
    """A file name for a student id: letters, digits, ``.``, ``_`` and ``-`` kept, the rest ``_``."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", student).lstrip(".")
    return name or "_"


def grade_all(course: str, submissions: list[tuple[str, Path]], config: dict, data: GradingData, workers: int = 1,
              progress: bool = True) -> list[dict]:
    """Grade every hand-in, ``workers`` at a time (a process pool), with a progress bar; results in input order."""
    from tqdm.auto import tqdm

    items = [(sid, str(path)) for sid, path in submissions]
    results: dict[str, dict] = {}
    bar = tqdm(total=len(items), unit="hand-in", desc=f"grading {course}", disable=not progress)
    try:
        if workers <= 1:
            _init_worker(course, config, data)
            for item in items:
                results[item[0]] = _grade_in_worker(item)
                bar.set_postfix_str(item[0])
                bar.update()
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed

            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_init_worker, initargs=(course, config, data)) as pool:
                futures = {pool.submit(_grade_in_worker, item): item[0] for item in items}
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    bar.set_postfix_str(futures[future])
                    bar.update()
    finally:
        bar.close()
    return [results[sid] for sid, _ in items]


# --------------------------------------------------------------------------- reports


def rank(results: list[dict], config: dict) -> list[dict]:
    """Add ``rank``, ``public_rank`` and ``challenge_points`` to every result; returns them in final-rank order.

    Final ranking: the private part of the metric (descending), ties broken by
    the public part, then the student id. Challenge points go to the hand-ins
    that qualify (every check passed, when the config requires it): the
    config's ``rank_points`` to the first ones, ``points`` to the others.
    """
    challenge = config["challenge"]
    scored = [r for r in results if r.get("metric")]
    final = sorted(scored, key=lambda r: (-r["metric"]["private"], -r["metric"]["public"], r["student"]))
    public = sorted(scored, key=lambda r: (-r["metric"]["public"], r["student"]))
    for i, r in enumerate(public):
        r["public_rank"] = i + 1
    place = 0
    for i, r in enumerate(final):
        r["rank"] = i + 1
        qualified = not challenge.get("requires_all_checks") or all(c["passed"] for c in r["checks"])
        points = 0.0
        if qualified:
            bonus = challenge.get("rank_points", [])
            points = float(bonus[place] if place < len(bonus) else challenge.get("points", 0))
            place += 1
        r["challenge_points"] = points
    for r in results:
        r.setdefault("rank", None)
        r.setdefault("public_rank", None)
        r.setdefault("challenge_points", 0.0)
        r["total"] = r["score"] + r["challenge_points"]
    return final + [r for r in results if not r.get("metric")]


def _fmt(value) -> str:
    return "" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))


def grades_csv(results: list[dict], config: dict) -> str:
    """``grades.csv``: student, every check's points, challenge points, total, the metric (all, public, private),
    the final rank, the failed checks by name, the reason of a refusal."""
    names = list(config["checks"])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", *names, "challenge", "total", "accuracy", "accuracy_public", "accuracy_private",
                     "rank", "failed", "note"])
    for r in sorted(results, key=lambda r: r["student"]):
        by_name = {c["name"]: c for c in r["checks"]}
        m = r.get("metric") or {}
        writer.writerow([r["student"], *[_fmt(by_name[n]["points"]) if n in by_name else "" for n in names],
                         _fmt(r["challenge_points"]), _fmt(r["total"]), _fmt(m.get("value")), _fmt(m.get("public")),
                         _fmt(m.get("private")), _fmt(r.get("rank")),
                         " ".join(c["name"] for c in r["checks"] if not c["passed"]), r.get("refused") or ""])
    return out.getvalue()


def leaderboard_csv(ordered: list[dict]) -> str:
    """The final leaderboard: rank on the private part, with the public figures beside it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["rank", "student", "metric", "private", "public", "public_rank", "challenge_points"])
    for r in ordered:
        m = r.get("metric") or {}
        writer.writerow([_fmt(r.get("rank")), r["student"], m.get("name", ""), _fmt(m.get("private")),
                         _fmt(m.get("public")), _fmt(r.get("public_rank")), _fmt(r["challenge_points"])])
    return out.getvalue()


def leaderboard_html(results: list[dict], config: dict) -> str:
    """The students' leaderboard: ranked on the public part only (the private part decides the final ranking)."""
    shown = sorted((r for r in results if r.get("metric")), key=lambda r: r["public_rank"])
    fraction = config["challenge"]["public_fraction"]
    part = "the whole evaluation set" if fraction >= 1 else f"{fraction:.0%} of the evaluation set (public part)"
    rows = "\n".join(f"<tr><td>{r['public_rank']}</td><td>{html.escape(r['student'])}</td>"
                     f"<td>{r['metric']['public']:.4f}</td></tr>" for r in shown)
    title = html.escape(config.get("title", config["course"]))
    note = "" if fraction >= 1 else "<p>The final ranking uses the rest of the set, which is not shown.</p>"
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}: leaderboard</title>\n"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{padding:.3em 1em;border-bottom:1px solid #ccc;text-align:left}</style></head><body>\n"
            f"<h1>{title}: leaderboard</h1>\n<p>Accuracy on {part}.</p>{note}\n"
            f"<table><thead><tr><th>#</th><th>student</th><th>accuracy</th></tr></thead><tbody>\n{rows}\n"
            "</tbody></table></body></html>\n")


def feedback_markdown(result: dict, config: dict, batch: bool = True) -> str:
    """A student's feedback: every check with its points, then each failure with its first problem and a hint."""
    title = config.get("title", config["course"])
    lines = [f"# {title}: feedback for {result['student']}", ""]
    if result.get("refused"):
        lines += [f"**{result['refused']}** Nothing was run; every check gets 0 points.", ""]
    score = f"{_fmt(result['score'])} / {_fmt(result['max_score'])} points for the checks"
    if batch and result.get("challenge_points") is not None:
        score += f", {_fmt(result['challenge_points'])} challenge points, total {_fmt(result['total'])}"
    lines += [f"Score: {score}.", ""]
    if result.get("metric"):
        m = result["metric"]
        which = "" if config["challenge"]["public_fraction"] >= 1 else " (public part)"
        lines += [f"Challenge: {m['name'].replace('_', ' ')}{which} {m['public']:.4f}" +
                  (f", leaderboard place {result['public_rank']}" if batch and result.get("public_rank") else "") + ".", ""]
    lines += ["| check | what | points | result |", "|---|---|---|---|"]
    for c in result["checks"]:
        lines.append(f"| {c['name']} | {c['what']} | {_fmt(c['points'])} / {_fmt(c['max_points'])} | "
                     f"{'passed' if c['passed'] else 'FAILED'} |")
    failed = [c for c in result["checks"] if not c["passed"]]
    if failed and not result.get("refused"):
        lines += ["", "## What failed", ""]
        for c in failed:
            lines += [f"### {c['name']}", "", c["message"] or "failed", ""]
            if c["hint"]:
                lines += [f"Hint: {c['hint']}", ""]
    return "\n".join(lines).rstrip() + "\n"


def summary_text(results: list[dict], ordered: list[dict], seconds: float, workers: int) -> str:
    """The end-of-batch summary: counts, mean score, refusals, the top of the final ranking, the speed."""
    n = len(results)
    totals = np.array([r["total"] for r in results], dtype=float)
    full = sum(r["score"] == r["max_score"] and r["max_score"] > 0 for r in results)
    refused = [r for r in results if r.get("refused")]
    lines = [f"graded {n} hand-ins in {seconds:.1f} s with {workers} worker(s) ({60 * n / max(seconds, 1e-9):.1f} per minute)",
             f"total points: mean {totals.mean():.2f}, min {totals.min():g}, max {totals.max():g}; "
             f"{full} passed every check; {len(refused)} refused"]
    lines += [f"  refused {r['student']}: {r['refused']}" for r in refused]
    top = [r for r in ordered if r.get("rank")][:5]
    if top:
        lines.append("final ranking (private part): " + ", ".join(
            f"{r['rank']}. {r['student']} {r['metric']['private']:.4f}" for r in top))
    return "\n".join(lines) + "\n"


def write_reports(results: list[dict], config: dict, out: Path, seconds: float = 0.0, workers: int = 1) -> str:
    """Write every output file into ``out`` atomically; returns the summary text."""
    ordered = rank(results, config)
    out = Path(out)
    for r in results:
        name = safe_name(r["student"])
        atomic_write_bytes(out / "results" / f"{name}.json", (json.dumps(r, indent=1) + "\n").encode())
        atomic_write_bytes(out / "feedback" / f"{name}.md", feedback_markdown(r, config).encode())
    atomic_write_bytes(out / "grades.csv", grades_csv(results, config).encode())
    atomic_write_bytes(out / "leaderboard.csv", leaderboard_csv(ordered).encode())
    atomic_write_bytes(out / "leaderboard.html", leaderboard_html(results, config).encode())
    summary = summary_text(results, ordered, seconds, workers)
    atomic_write_bytes(out / "summary.txt", summary.encode())
    return summary


def check_output_folder(out: Path, inputs: list[Path], force: bool) -> None:
    """Refuse an output folder inside an input, or one that already holds grades (unless ``force``)."""
    out = Path(out).resolve()
    for path in inputs:
        path = Path(path).resolve()
        if out == path or path in out.parents:
            raise GradingError(f"--out {out} lies inside the hand-ins {path}; choose a folder outside them.")
    if (out / "grades.csv").exists() and not force:
        raise GradingError(f"{out} already holds grades.csv from an earlier run; choose another --out or pass --force.")


# --------------------------------------------------------------------------- Gradescope


def gradescope_results(result: dict, config: dict) -> dict:
    """A result in Gradescope's ``results.json`` format (tests with score, max_score, visibility; the leaderboard value)."""
    tests = [{"name": c["what"], "number": str(i + 1), "score": c["points"], "max_score": c["max_points"],
              "status": "passed" if c["passed"] else "failed", "visibility": c["visibility"],
              "output": ("passed" if c["passed"] else c["message"] + (f"\nHint: {c['hint']}" if c["hint"] else ""))}
             for i, c in enumerate(result["checks"])]
    results = {"score": result["score"], "execution_time": int(round(result.get("seconds", 0))),
               "output": result.get("refused") or f"{_fmt(result['score'])} / {_fmt(result['max_score'])} points.",
               "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}
    if result.get("metric"):
        m = result["metric"]
        # Students see the public part; the private part stays with the instructor for the final ranking.
        results["leaderboard"] = [{"name": "Accuracy", "value": round(m["public"], 4), "order": "desc"}]
        results["extra_data"] = {"private_accuracy": m["private"], "accuracy": m["value"]}
    return results


SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
# The versions are the workbook's requirements.txt: choose a base image whose python3 they support.
set -euo pipefail
apt-get install -y python3 python3-pip python3-venv
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --no-cache-dir {packages} --extra-index-url https://download.pytorch.org/whl/cpu
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission. GRADESCOPE_ROOT (default: /) lets it run on a laid-out copy elsewhere.
set -uo pipefail
root="${{GRADESCOPE_ROOT:-/}}"
python="${{PYTHON:-$root/autograder/venv/bin/python}}"
[ -x "$python" ] || python=python3
cd "$root/autograder/source"
exec "$python" -m helpers.course.grade gradescope {course}
"""


def _pinned(names: tuple[str, ...]) -> str:
    pins = {}
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if m:
            pins[m.group(1).lower()] = f"{m.group(1)}=={m.group(2)}"
    return " ".join(pins.get(n, n) for n in names)


def gradescope_bundle(course: str, out: Path, config: dict, data: GradingData) -> Path:
    """Write Gradescope's autograder zip: ``setup.sh``, ``run_autograder``, the grader and its config and data.

    The data files are the test set (images and labels for rpz, labels for
    cs7643) and the evaluation set, as ``.npz`` in ``grading_data/``: the
    bundle is the instructor's, uploaded to Gradescope, never given to students.
    """
    entries: dict[str, bytes] = {}
    for path in sorted((REPO_ROOT / "helpers").rglob("*")):
        if path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
            entries[path.relative_to(REPO_ROOT).as_posix()] = path.read_bytes()
    entries["requirements.txt"] = (REPO_ROOT / "requirements.txt").read_bytes()
    entries["grading_data/config.json"] = (json.dumps(config, indent=1) + "\n").encode()
    for name, part in (("test", data.test), ("eval", data.eval)):
        if part is not None:
            buffer = io.BytesIO()
            arrays = {"labels": part.labels} if part.images is None else {"images": part.images, "labels": part.labels}
            np.savez_compressed(buffer, **arrays)
            entries[f"grading_data/{name}.npz"] = buffer.getvalue()
    packages = _pinned(("numpy", "torch", "tqdm", "nbformat", "pillow")) if course == "rpz" else \
        _pinned(("numpy", "tqdm", "nbformat", "pillow"))
    entries["setup.sh"] = SETUP_SH.format(packages=packages).encode()
    entries["run_autograder"] = RUN_AUTOGRADER.format(course=course).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name in ("setup.sh", "run_autograder") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return atomic_write_bytes(out, buffer.getvalue())


def _gradescope_student(root: Path) -> str:
    """The submitter's id from Gradescope's ``submission_metadata.json`` (it seeds the layer inputs), else ``submission``."""
    try:
        meta = json.loads((root / "submission_metadata.json").read_text())
        return str(meta["users"][0]["id"])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return "submission"


def gradescope_run(course: str) -> dict:
    """Grade ``<root>/autograder/submission`` with the bundle's config and data; write ``<root>/autograder/results/results.json``."""
    root = Path(os.environ.get(GRADESCOPE_ROOT_VARIABLE) or "/") / "autograder"
    source = root / "source" / "grading_data"
    config = json.loads((source / "config.json").read_text())
    test = load_image_set(source / "test.npz", need_images=course == "rpz")
    evaluation = load_image_set(source / "eval.npz") if (source / "eval.npz").is_file() else None
    data = GradingData(test, evaluation)
    for name, part in (("test", test), ("eval", evaluation)):
        if part is not None:
            data.split[name] = public_mask(len(part.labels), config["challenge"]["public_fraction"],
                                           config["challenge"].get("split_seed", 0))
    result = grade_submission(course, root / "submission", config, data, student=_gradescope_student(root))
    results = gradescope_results(result, config)
    atomic_write_bytes(root / "results" / "results.json", (json.dumps(results, indent=1) + "\n").encode())
    return results


# --------------------------------------------------------------------------- command line


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="the course's config (default: helpers/course/grading/<course>.json)")
    p.add_argument("--eval-set", type=Path, help="rpz: the instructor's evaluation set (.npz, images and labels)")
    p.add_argument("--test-set", type=Path, help="a test set file in the same format instead of the data set's test split")
    p.add_argument("--data-root", type=Path, help="where the data sets are (default: as helpers.data finds them)")
    p.add_argument("--test-limit", type=int, help="grade on the first N test images only (a quick trial)")
    p.add_argument("--limit", action="append", metavar="KEY=VALUE",
                   help=f"override a limit of the config ({', '.join(DEFAULT_LIMITS)})")


def _setup(args) -> tuple[dict, GradingData]:
    config = load_config(args.course, args.config, parse_limits(args.limit))
    return config, load_grading_data(config, args.data_root, args.test_set, args.eval_set, args.test_limit)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.course.grade", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for course in COURSES:
        p = sub.add_parser(course, help=f"grade a folder of {course} hand-ins")
        p.set_defaults(course=course)
        p.add_argument("submissions", type=Path, help="folder of zips (student id = name before .zip) or of folders")
        p.add_argument("--out", type=Path, required=True, help="folder for grades.csv, feedback/, leaderboard.*")
        p.add_argument("--workers", type=int, default=1, help="hand-ins graded in parallel (default 1)")
        p.add_argument("--force", action="store_true", help="write into an --out that holds an earlier run's grades")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        _add_data_options(p)
    one = sub.add_parser("one", help="grade one hand-in; print its JSON result (or write it with --json)")
    one.add_argument("course", choices=COURSES)
    one.add_argument("submission", type=Path)
    one.add_argument("--student", help="the student id (default: from the file name)")
    one.add_argument("--json", type=Path, help="write the result to this file instead of stdout")
    _add_data_options(one)
    combine = sub.add_parser("combine", help="write the reports from results of `one`")
    combine.add_argument("course", choices=COURSES)
    combine.add_argument("results", type=Path, nargs="+", help="JSON results (files or folders of them)")
    combine.add_argument("--out", type=Path, required=True)
    combine.add_argument("--config", type=Path)
    combine.add_argument("--force", action="store_true")
    bundle = sub.add_parser("gradescope-bundle", help="write the autograder zip for Gradescope")
    bundle.add_argument("course", choices=COURSES)
    bundle.add_argument("--out", type=Path, required=True, help="the zip to write")
    _add_data_options(bundle)
    gs = sub.add_parser("gradescope", help="grade inside Gradescope's run_autograder (root: $GRADESCOPE_ROOT or /)")
    gs.add_argument("course", choices=COURSES)
    args = parser.parse_args(argv)

    try:
        if args.command in COURSES:
            if args.workers < 1:
                raise GradingError(f"--workers must be at least 1; got {args.workers}.")
            submissions = find_submissions(args.submissions)
            check_output_folder(args.out, [args.submissions], args.force)
            config, data = _setup(args)
            start = time.monotonic()
            results = grade_all(args.course, submissions, config, data, args.workers, progress=not args.quiet)
            summary = write_reports(results, config, args.out, time.monotonic() - start, args.workers)
            print(summary + f"wrote {args.out}/grades.csv, leaderboard.html, leaderboard.csv, feedback/, results/")
        elif args.command == "one":
            config, data = _setup(args)
            result = grade_submission(args.course, args.submission, config, data, args.student)
            text = json.dumps(result, indent=1) + "\n"
            if args.json:
                atomic_write_bytes(args.json, text.encode())
            else:
                sys.stdout.write(text)
        elif args.command == "combine":
            config = load_config(args.course, args.config)
            files = [f for p in args.results for f in (sorted(p.glob("*.json")) if p.is_dir() else [p])]
            check_output_folder(args.out, [p for p in args.results if p.is_dir()], args.force)
            results = []
            for f in files:
                try:
                    results.append(json.loads(f.read_text()))
                except (OSError, json.JSONDecodeError) as err:
                    raise GradingError(f"{f}: not a result of `python -m helpers.course.grade one` ({err}).") from None
            if not results:
                raise GradingError("no results given.")
            print(write_reports(results, config, args.out), end="")
        elif args.command == "gradescope-bundle":
            config, data = _setup(args)
            path = gradescope_bundle(args.course, args.out, config, data)
            print(f"wrote {path}: upload it as the assignment's autograder on Gradescope")
        else:
            results = gradescope_run(args.course)
            print(json.dumps({k: results[k] for k in ("score", "output")}))
    except GradingError as err:
        print(f"grade: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
