"""The instructor's autograder on a corpus of generated hand-ins, good, wrong and hostile.

The RPZ batch runs once (module fixture) through the command line with two
workers and short limits, then every test reads its results. The "correct"
hand-in is the workbook's own solution files with the shipped MNIST weights.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from helpers.course import grade as G
from helpers.course.grading.make_eval_set import make_eval_set
from helpers.data import load_dataset
from helpers.paths import REPO_ROOT

NUMPY_NN = (REPO_ROOT / "helpers" / "numpy_nn.py").read_text()
PYTORCH_CNN = (REPO_ROOT / "helpers" / "pytorch_cnn.py").read_text()
WEIGHTS = REPO_ROOT / "assets" / "models" / "mynet_mnist.pt"
LIMITS = ["numpy_timeout_s=8", "torch_timeout_s=90", "unpacked_mb=5", "output_mb=1"]


def png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    return buffer.getvalue()


def mutate(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the solution no longer holds {old!r}: update the corpus"
    return text.replace(old, new)


def after_future(code: str) -> str:
    """The solution's numpy_nn.py with ``code`` run at import, right after its ``from __future__`` line."""
    line = "from __future__ import annotations\n"
    return mutate(NUMPY_NN, line, line + code)


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


def rpz_zip(path: Path, numpy_nn=NUMPY_NN, pytorch_cnn=PYTORCH_CNN, model: bytes | None = None, skip=()) -> Path:
    files = {"numpy_nn.py": numpy_nn, "numpy_nn_training.png": png(), "numpy_nn_classification.png": png(),
             "pytorch_cnn.py": pytorch_cnn, "model.pt": WEIGHTS.read_bytes() if model is None else model}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():
            if name not in skip:
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


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Build the corpus, grade it with ``python -m helpers.course.grade rpz --workers 2``; the results by student."""
    from helpers.pytorch_cnn import FCNet

    root = tmp_path_factory.mktemp("grading")
    subs = root / "submissions"
    subs.mkdir()
    marker = root / "pickle-ran.txt"
    rpz_zip(subs / "correct.zip")
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

    images, labels = load_dataset("mnist", "test")
    eval_path = G.save_image_set(root / "eval.npz", **make_eval_set(images, labels, seed=3, n=100))
    out = root / "out"
    before = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=REPO_ROOT, capture_output=True, text=True).stdout
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, "-m", "helpers.course.grade", "rpz", str(subs), "--out", str(out), "--workers", "2",
                           "--eval-set", str(eval_path), "--test-limit", "200", "--quiet", *[a for lim in LIMITS for a in ("--limit", lim)]],
                          cwd=root, env=env, capture_output=True, text=True, timeout=600)
    after = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=REPO_ROOT, capture_output=True, text=True).stdout
    assert proc.returncode == 0, proc.stderr
    results = {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    return {"root": root, "subs": subs, "out": out, "results": results, "stdout": proc.stdout, "marker": marker,
            "repo_before": before, "repo_after": after}


def failed(result: dict) -> set[str]:
    return {c["name"] for c in result["checks"] if not c["passed"]}


def check(result: dict, name: str) -> dict:
    return next(c for c in result["checks"] if c["name"] == name)


MODEL_CHECKS = {"mynet_loads", "classify_contract", "clean_accuracy", "eval_accuracy"}


def test_batch_completes_with_every_output(batch):
    out, results = batch["out"], batch["results"]
    names = {p.name for p in batch["subs"].iterdir()}
    assert set(results) == {n.removesuffix(".zip") for n in names}
    for name in ("grades.csv", "leaderboard.csv", "leaderboard.html", "summary.txt"):
        assert (out / name).is_file()
    assert {p.stem for p in (out / "feedback").glob("*.md")} == set(results)
    assert not list(out.rglob("*.tmp"))  # atomic writes leave no temporary files
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert [r["student"] for r in rows] == sorted(results)
    assert {"relu_forward", "linear_backward", "eval_accuracy", "challenge", "total", "accuracy"} <= set(rows[0])
    assert f"graded {len(results)} hand-ins" in batch["stdout"]


def test_correct_submission_gets_full_points_and_first_place(batch):
    r = batch["results"]["correct"]
    assert failed(r) == set() and r["score"] == r["max_score"] == 12
    assert r["metric"]["name"] == "eval_accuracy" and r["metric"]["value"] > 0.9
    assert r["rank"] == 1 and r["challenge_points"] == 16 and r["total"] == 28
    board = list(csv.DictReader((batch["out"] / "leaderboard.csv").open()))
    assert board[0]["student"] == "correct" and board[0]["rank"] == "1"


@pytest.mark.parametrize("student", sorted(WRONG_LAYERS))
def test_each_wrong_layer_fails_only_its_check(batch, student):
    r = batch["results"][student]
    layer_failures = failed(r) & set(G.RPZ_LAYER_CHECKS)
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
    assert "expected int64 of shape (8,)" in check(r, "classify_contract")["message"]


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
    assert r["rank"] > best["rank"] and r["challenge_points"] == 0  # below the baseline: no challenge points


def test_endless_import_times_out_and_keeps_the_model_points(batch):
    r = batch["results"]["endless_import"]
    assert failed(r) == set(G.RPZ_LAYER_CHECKS)
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
    hog = check(batch["results"]["memory_hog"], "relu_forward")["message"]
    assert "MemoryError" in hog
    chatty = check(batch["results"]["chatty"], "relu_forward")["message"]
    assert "more than 1 MB" in chatty


def test_traversal_and_zip_bomb_are_refused_with_a_zero(batch):
    for student, reason in (("traversal", "'..'"), ("zip_bomb", "zip bomb")):
        r = batch["results"][student]
        assert r["refused"] and reason in r["refused"] and r["score"] == 0 and r["total"] == 0
        assert reason in (batch["out"] / "feedback" / f"{student}.md").read_text()
    assert not (batch["subs"].parent / "escaped.py").exists()


def test_nothing_outside_the_temporary_folders_is_touched(batch):
    assert batch["repo_before"] == batch["repo_after"]
    assert sorted(p.name for p in batch["root"].iterdir()) == ["eval.npz", "out", "submissions"]


def test_feedback_says_what_failed_without_hidden_data(batch):
    text = (batch["out"] / "feedback" / "wrong_se.md").read_text()
    assert "### se_backward" in text and "Hint:" in text and "FAILED" in text
    good = (batch["out"] / "feedback" / "correct.md").read_text()
    assert "## What failed" not in good and "12 / 12" in good
    labels = np.load(batch["root"] / "eval.npz")["labels"]
    assert " ".join(map(str, labels[:20])) not in good


def test_single_submission_command_prints_json(batch, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, "-m", "helpers.course.grade", "one", "rpz", str(batch["subs"] / "wrong_se"),
                           "--limit", "numpy_timeout_s=8"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["student"] == "wrong_se" and "se_backward" in failed(result)
    assert "eval_accuracy" not in {c["name"] for c in result["checks"]}  # no evaluation set given: not graded
    # `combine` makes the reports from such results
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "wrong_se.json").write_text(proc.stdout)
    proc = subprocess.run([sys.executable, "-m", "helpers.course.grade", "combine", "rpz", str(tmp_path / "r"), "--out",
                           str(tmp_path / "reports")], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "reports" / "feedback" / "wrong_se.md").is_file()


def test_output_folder_is_never_shared_silently(batch):
    with pytest.raises(G.GradingError, match="already holds grades.csv"):
        G.check_output_folder(batch["out"], [batch["subs"]], force=False)
    with pytest.raises(G.GradingError, match="inside the hand-ins"):
        G.check_output_folder(batch["subs"] / "out", [batch["subs"]], force=True)


# --------------------------------------------------------------------------- unpacking, data, ranking


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
        with pytest.raises(G.UnsafeSubmission, match=reason):
            G.unpack(zipped(name), tmp_path, 1 << 20, 10)
    with pytest.raises(G.UnsafeSubmission, match="symbolic link"):
        G.unpack(zipped("link", external_attr=(stat.S_IFLNK | 0o777) << 16), tmp_path, 1 << 20, 10)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "link.py").symlink_to("/etc/passwd")
    with pytest.raises(G.UnsafeSubmission, match="symbolic link"):
        G.unpack(folder, tmp_path / "dest", 1 << 20, 10)
    with pytest.raises(G.UnsafeSubmission, match="not a readable zip"):
        (tmp_path / "fake.zip").write_text("not a zip")
        G.unpack(tmp_path / "fake.zip", tmp_path, 1 << 20, 10)


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
    with pytest.raises(G.UnsafeSubmission):
        G.unpack(path, dest, 1 << 20, 10)
    assert sum(f.stat().st_size for f in dest.rglob("*") if f.is_file()) <= 2 << 20


def test_image_sets_are_data_only(tmp_path):
    np.savez(tmp_path / "objects.npz", images=np.array([object()]), labels=np.zeros(1, dtype=np.int64))
    with pytest.raises(G.GradingError, match="'images'"):
        G.load_image_set(tmp_path / "objects.npz")
    np.savez(tmp_path / "shape.npz", images=np.zeros((3, 32, 32), np.uint8), labels=np.zeros(3, np.int64))
    with pytest.raises(G.GradingError, match=r"expected an .npz with 'images' \(uint8, \(N, 28, 28\)\)"):
        G.load_image_set(tmp_path / "shape.npz")
    with pytest.raises(G.GradingError, match="not found"):
        G.load_image_set(tmp_path / "absent.npz")
    images, labels = load_dataset("mnist", "test")
    arrays = make_eval_set(images, labels, seed=1, n=50)
    assert arrays["images"].shape == (50, 28, 28) and not np.array_equal(arrays["images"], images[np.sort(
        np.random.default_rng(1).permutation(len(images))[:50])])
    again = make_eval_set(images, labels, seed=1, n=50)
    assert np.array_equal(arrays["images"], again["images"])  # fixed by its seed
    loaded = G.load_image_set(G.save_image_set(tmp_path / "eval.npz", **arrays))
    assert np.array_equal(loaded.labels, arrays["labels"])


def test_public_split_is_seeded_and_sized():
    a, b = G.public_mask(1000, 0.1, seed=5), G.public_mask(1000, 0.1, seed=5)
    assert a.sum() == 100 and np.array_equal(a, b) and not np.array_equal(a, G.public_mask(1000, 0.1, seed=6))
    assert G.public_mask(10, 1.0, seed=0).all()


def fake_result(student, private, public, passed=True):
    checks = [{"name": "a", "passed": passed, "points": 1.0 if passed else 0.0, "max_points": 1.0}]
    return {"student": student, "checks": checks, "score": checks[0]["points"], "max_score": 1.0,
            "metric": {"name": "accuracy", "value": private, "public": public, "private": private}}


def test_rank_points_follow_the_private_ranking_and_the_course_rules():
    config = G.load_config("rpz")
    results = [fake_result(s, p, 1 - p) for s, p in (("e", 0.5), ("a", 0.9), ("b", 0.8), ("c", 0.7), ("d", 0.6))]
    results += [fake_result("failing", 0.99, 0.99, passed=False), fake_result("f", 0.4, 0.05), {
        "student": "refused", "checks": [], "score": 0.0, "max_score": 1.0, "metric": None, "refused": "x"}]
    ordered = G.rank(results, config)
    points = {r["student"]: r["challenge_points"] for r in results}
    assert points == {"a": 16, "b": 14, "c": 12, "d": 10, "e": 8, "f": 8, "failing": 0, "refused": 0}
    assert [r["student"] for r in ordered][:3] == ["failing", "a", "b"]  # ranked, but not qualified
    public = {r["student"]: r["public_rank"] for r in results}
    assert public["f"] == 7 and public["failing"] == 1


def cs7643_zip(path: Path, labels: np.ndarray, predictions: np.ndarray | None, broken_log=False) -> Path:
    from helpers.course import submission as S

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "1 + 1", outputs=[nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)])])
    with zipfile.ZipFile(path, "w") as z:
        for rel in S.CS7643_CODE + S.CS7643_SCRIPTS:
            z.write(REPO_ROOT / rel, rel)
        z.writestr(S.FILTER_NOTEBOOK, nbformat.writes(nb))
        for name in S.cs7643_outputs():
            if name.endswith(".png"):
                z.writestr(name, png())
            elif name.endswith(".log"):
                z.writestr(name, "epoch 1\n" + ("" if broken_log and name == "convnet.log" else "test accuracy: 0.6\n"))
            else:
                z.writestr(name, "what I tried\n")
        z.writestr(S.CS7643_PDF, b"%PDF-1.4\n")
        z.writestr("08_filter_visualization.pdf", b"%PDF-1.4\n")
        if predictions is not None:
            z.writestr("predictions.csv", "id,label\n" + "".join(f"{i},{v}\n" for i, v in enumerate(predictions)))
    return path


def test_cs7643_batch_scores_predictions_with_a_hidden_private_part(tmp_path):
    config = G.load_config("cs7643")
    data = G.load_grading_data(config)
    labels = data.test.labels
    subs = tmp_path / "subs"
    subs.mkdir()
    rng = np.random.default_rng(0)
    good = labels.copy()
    wrong = rng.permutation(len(labels))[:len(labels) // 5]
    good[wrong] = (good[wrong] + 1) % 10  # 80% right
    cs7643_zip(subs / "good.zip", labels, good)
    cs7643_zip(subs / "chance.zip", labels, rng.integers(0, 10, len(labels)), broken_log=True)
    cs7643_zip(subs / "short.zip", labels, good[:-1])
    results = {r["student"]: r for r in G.grade_all("cs7643", G.find_submissions(subs), config, data, progress=False)}
    assert failed(results["good"]) == set() and results["good"]["score"] == 16
    assert results["good"]["metric"]["value"] == pytest.approx(0.8, abs=0.01)
    assert {"q8_7_convnet", "beats_chance", "beats_instructor"} <= failed(results["chance"])
    assert "convnet.log its last line is not the test accuracy" in check(results["chance"], "q8_7_convnet")["message"]
    assert f"expected one per test image, {len(labels)}" in check(results["short"], "predictions")["message"]
    G.write_reports(list(results.values()), config, tmp_path / "out")
    page = (tmp_path / "out" / "leaderboard.html").read_text()
    m = results["good"]["metric"]
    assert f"{m['public']:.4f}" in page and f"{m['private']:.4f}" not in page and "not shown" in page
    assert data.split["test"].sum() == round(0.1 * len(labels))


# --------------------------------------------------------------------------- Gradescope


def validate_gradescope(results: dict) -> None:
    """The fields of Gradescope's documented results.json format, with their types."""
    assert isinstance(results["score"], (int, float))
    assert isinstance(results.get("execution_time", 0), int)
    assert results.get("visibility", "visible") in G.VISIBILITIES
    assert results.get("stdout_visibility", "visible") in G.VISIBILITIES
    for t in results["tests"]:
        assert set(t) <= {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format",
                          "tags", "visibility", "extra_data"}
        assert isinstance(t["score"], (int, float)) and isinstance(t["max_score"], (int, float))
        assert 0 <= t["score"] <= t["max_score"] and t["status"] in ("passed", "failed")
        assert isinstance(t["name"], str) and isinstance(t["output"], str) and t["visibility"] in G.VISIBILITIES
    assert results["score"] == sum(t["score"] for t in results["tests"])
    for entry in results.get("leaderboard", []):
        assert set(entry) <= {"name", "value", "order"} and isinstance(entry["name"], str)
        assert isinstance(entry["value"], (int, float, str)) and entry.get("order", "desc") in ("asc", "desc")


def test_gradescope_bundle_runs_on_a_laid_out_submission(tmp_path):
    bundle = tmp_path / "autograder.zip"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, "-m", "helpers.course.grade", "gradescope-bundle", "rpz", "--out", str(bundle),
                           "--test-limit", "100", "--limit", "numpy_timeout_s=8"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    root = tmp_path / "root"
    source, submission, results = (root / "autograder" / n for n in ("source", "submission", "results"))
    with zipfile.ZipFile(bundle) as z:
        assert {"setup.sh", "run_autograder", "helpers/course/grade.py", "grading_data/test.npz"} <= set(z.namelist())
        z.extractall(source)
    submission.mkdir()
    results.mkdir()
    _, old, new = WRONG_LAYERS["wrong_se"]
    with zipfile.ZipFile(rpz_zip(tmp_path / "s.zip", numpy_nn=mutate(NUMPY_NN, old, new))) as z:
        z.extractall(submission)  # Gradescope unpacks the student's upload there
    run = source / "run_autograder"
    run.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the bundle's own copy of the grader
    proc = subprocess.run([str(run)], env={**env, "GRADESCOPE_ROOT": str(root), "PYTHON": sys.executable},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads((results / "results.json").read_text())
    validate_gradescope(out)
    by_name = {t["name"]: t for t in out["tests"]}
    assert by_name["SE.backward against the reference"]["status"] == "failed"
    assert out["score"] == 10 and out["leaderboard"][0]["name"] == "Accuracy" and out["leaderboard"][0]["value"] > 0.9


def test_grader_is_withheld_from_the_student_copy():
    from helpers.course.release import is_withheld

    for path in ("helpers/course/grade.py", "helpers/course/grading/make_eval_set.py", "helpers/course/grading/rpz.json",
                 "tests/test_grade.py", "benchmarks/grade_throughput.py"):
        assert is_withheld(path), path
    assert not is_withheld("helpers/numpy_nn.py") and not is_withheld("helpers/pytorch/robustness.py")


def test_config_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"course": "cs7643", "checks": {}}))
    with pytest.raises(G.GradingError, match="is for course 'cs7643', not 'rpz'"):
        G.load_config("rpz", bad)
    with pytest.raises(G.GradingError, match="unknown limit"):
        G.parse_limits(["timeout=3"])
    assert pickle.loads(pickle.dumps(G.load_config("rpz")))["limits"]["threads"] == 1


def test_files_in_a_folder_are_pointed_out_and_ids_must_not_collide(tmp_path):
    config = G.load_config("rpz")
    data = G.GradingData(G.ImageSet(np.zeros((4, 28, 28), np.uint8), np.zeros(4, np.int64), "test"),
                         split={"test": np.ones(4, dtype=bool)})
    path = tmp_path / "nested.zip"
    with zipfile.ZipFile(path, "w") as z:
        for name in G.RPZ_FILES:
            z.writestr(f"rpz/{name}", "x")
    r = G.grade_submission("rpz", path, config, data)
    assert "numpy_nn.py is missing at the zip root (found rpz/numpy_nn.py" in check(r, "files")["message"]
    assert r["score"] == 0 and "eval_accuracy" not in {c["name"] for c in r["checks"]}
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "ada lovelace.zip").write_bytes(path.read_bytes())
    (tmp_path / "subs" / "ada_lovelace").mkdir()
    with pytest.raises(G.GradingError, match="would share the student id 'ada_lovelace'"):
        G.find_submissions(tmp_path / "subs")
