"""Nothing lost, nothing run, nothing silently wrong: the workbook under careless use, hostile files and crashes.

Hostile files are real: pickles whose ``__reduce__`` creates a marker file
when they are unpickled; each test asserts the marker never appears.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from helpers.paths import REPO_ROOT
from tests._commands import repo_env, run_predict, train_main
from tests._submissions import NUMPY_NN


class Payload:
    """Unpickling it creates ``marker`` (``open(marker, "w")``): what a hostile file would do with worse code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


SOFTMAX = ("--model", "softmax", "--epochs", "1")


# --------------------------------------------------------------------------- checkpoints (helpers.pytorch.training)


def test_the_payload_really_runs_when_unpickled_plainly(tmp_path):
    """The hostile file used below is live: a plain ``torch.load`` runs it (so the tests that follow can fail)."""
    path, marker = tmp_path / "evil.pt", tmp_path / "marker"
    torch.save({"model": Payload(marker), "epoch": 1}, path)
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_resume_from_a_planted_checkpoint_runs_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert train_main(*SOFTMAX, out=out) == 0
    last, marker = out / "checkpoints" / "softmax" / "last.pt", tmp_path / "marker"
    torch.save({"model": Payload(marker), "epoch": 1, "settings": {}}, last)
    assert train_main(*SOFTMAX, "--resume", out=out) == 2
    err = capsys.readouterr().err
    assert not marker.exists(), "the checkpoint's code ran"
    assert str(last) in err and "could run code" in err and "Traceback" not in err


def test_fit_never_unpickles_code_from_best_or_last(tmp_path):
    from helpers.pytorch.training import CheckpointError, TensorLoader, fit

    marker = tmp_path / "marker"
    x, y = torch.rand(32, 4), torch.randint(0, 2, (32,))
    loader = TensorLoader(x, y, batch_size=8)
    torch.save({"model": Payload(marker), "epoch": 1}, tmp_path / "last.pt")
    with pytest.raises(CheckpointError, match="last.pt"):
        fit(torch.nn.Linear(4, 2), loader, loader, epochs=1, device="cpu", checkpoint_dir=tmp_path, resume=True,
            progress=False, verbose=False)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", b"PK\x03\x04 truncated zip"])
def test_a_damaged_checkpoint_is_named_on_resume(tmp_path, capsys, content):
    out = tmp_path / "run"
    last = out / "checkpoints" / "softmax" / "last.pt"
    last.parent.mkdir(parents=True)
    last.write_bytes(content)
    assert train_main(*SOFTMAX, "--resume", out=out) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert str(last) in err and "Delete it" in err


def test_a_new_run_keeps_the_earlier_checkpoints_until_its_first_epoch(tmp_path, monkeypatch, capsys):
    """Re-running without --resume, interrupted before its first epoch, loses nothing (twice over)."""
    import helpers.pytorch.training as training

    out = tmp_path / "run"
    assert train_main(*SOFTMAX, out=out) == 0
    folder = out / "checkpoints" / "softmax"
    before = {name: (folder / name).read_bytes() for name in ("last.pt", "best.pt")}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "evaluate", interrupted)   # dies inside the first epoch
    for _ in range(2):
        assert train_main(*SOFTMAX, "--lr", "0.5", out=out) == 130
        err = capsys.readouterr().err
        assert "No epoch had finished" in err and "earlier run's checkpoints" in err
        assert "--resume" not in err, "no advice to resume a run that has no checkpoint"
        assert {name: (folder / name).read_bytes() for name in before} == before
    monkeypatch.undo()
    # The earlier run's checkpoint is still the one a resume continues, with its own settings.
    assert train_main(*SOFTMAX, "--epochs", "2", "--resume", out=out) == 2
    assert "--epochs 1 (now 2)" in capsys.readouterr().err


def test_settings_of_a_run_stopped_before_training_do_not_bless_the_old_checkpoint(tmp_path, monkeypatch, capsys):
    """A fresh run with another lr that fails before training; --resume with that lr must be refused."""
    import helpers.pytorch.experiments as experiments

    out = tmp_path / "run"
    assert train_main(*SOFTMAX, "--epochs", "2", out=out) == 0

    def no_data(*args, **kwargs):
        raise FileNotFoundError("no data")

    monkeypatch.setattr(experiments, "load_splits", no_data)
    assert train_main(*SOFTMAX, "--epochs", "2", "--lr", "0.5", out=out) == 1
    monkeypatch.undo()
    capsys.readouterr()
    assert train_main(*SOFTMAX, "--epochs", "2", "--lr", "0.5", "--resume", out=out) == 2
    assert "--lr 0.002 (now 0.5)" in capsys.readouterr().err


def test_stale_temporary_files_of_a_killed_write_are_removed(tmp_path):
    out = tmp_path / "run"
    folder = out / "checkpoints" / "softmax"
    folder.mkdir(parents=True)
    stale = folder / ".last.pt.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    assert train_main(*SOFTMAX, out=out) == 0
    assert not stale.exists()
    assert not list(folder.glob(".*.tmp"))


# --------------------------------------------------------------------------- one run per --out (output_lock)


def test_a_second_run_into_the_same_out_is_refused(tmp_path, capsys):
    """A real second process holds --out: the run is refused at once and writes nothing."""
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom helpers.paths import output_lock\n"
         "with output_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)\n", str(out)],
        env=repo_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        assert train_main(*SOFTMAX, out=out) == 2
        assert time.monotonic() - started < 30
        err = capsys.readouterr().err
        assert "in use by another run" in err and str(out) in err
        assert not (out / "softmax.log").exists() and not (out / "checkpoints").exists()
    finally:
        holder.kill()
        holder.wait()
    assert train_main(*SOFTMAX, out=out) == 0, "the lock goes with the process that held it"


# --------------------------------------------------------------------------- settings that cannot work


@pytest.mark.parametrize("args, words", [
    (("--model", "convnet", "--kernel-size", "99"), "--kernel-size must be at most the image size"),
    (("--model", "convnet", "--dataset", "mnist", "--kernel-size", "29"), "(28 for mnist)"),
    (("--model", "softmax", "--seed", "-1"), "--seed must be in"),
    (("--model", "softmax", "--seed", str(2**32)), "--seed must be in"),
])
def test_settings_that_cannot_work_are_refused(tmp_path, capsys, args, words):
    assert train_main(*args, out=tmp_path / "run") == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_out_under_a_file_and_a_read_only_out_are_refused(tmp_path, capsys, monkeypatch):
    import helpers.paths

    afile = tmp_path / "afile"
    afile.write_text("x")
    assert train_main(*SOFTMAX, out=afile / "sub") == 2
    assert f"lies under {afile}, which is a file" in capsys.readouterr().err
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.geteuid() == 0:  # root writes anywhere: let the permission check see what a user would
        monkeypatch.setattr(helpers.paths.os, "access", lambda path, mode: Path(path) != locked)
    assert train_main(*SOFTMAX, out=locked / "run") == 2
    assert f"--out {locked / 'run'}: {locked} is not writable" in capsys.readouterr().err


def test_a_full_disk_during_training_is_one_line(tmp_path, capsys, monkeypatch):
    import errno

    import helpers.pytorch.training as training

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(training, "atomic_write_bytes", full)
    assert train_main(*SOFTMAX, out=tmp_path / "run") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "No space left on device" in err and "best.pt" in err


# --------------------------------------------------------------------------- outputs never replace inputs


def test_predict_refuses_to_write_over_its_weights(tmp_path):
    weights = tmp_path / "w.pt"
    weights.write_bytes((REPO_ROOT / "assets" / "models" / "cifar10_mymodel.pt").read_bytes())
    before = weights.read_bytes()
    result = run_predict("--model", "mymodel", "--weights", str(weights), "--out", str(weights))
    assert result.returncode == 2
    assert f"--out {weights} is the input {weights}" in result.stderr and "Traceback" not in result.stderr
    assert weights.read_bytes() == before


def test_pdf_refuses_to_write_over_a_notebook(tmp_path, capsys):
    from helpers.course.submission import main

    notebook = tmp_path / "00_setup.ipynb"
    notebook.write_bytes((REPO_ROOT / "notebooks" / "00_setup.ipynb").read_bytes())
    before = notebook.read_bytes()
    assert main(["pdf", str(notebook), "--out", str(notebook)]) == 2
    assert "is the input" in capsys.readouterr().err
    assert notebook.read_bytes() == before


@pytest.mark.parametrize("target", ["model.pt", "numpy_nn.py"])
def test_rpz_refuses_an_out_that_is_one_of_its_files(target, student):
    from helpers.course.submission import SubmissionError, collect_rpz

    helpers_dir, outputs = student
    victim = (outputs if target == "model.pt" else helpers_dir) / target
    before = victim.read_bytes()
    with pytest.raises(SubmissionError, match="is the input"):
        collect_rpz(helpers_dir, outputs, victim)
    assert victim.read_bytes() == before


def test_cs7643_refuses_an_out_that_is_one_of_its_files(cs7643_outputs):
    from helpers.course.submission import SubmissionError, collect_cs7643

    extra = cs7643_outputs / "extra.md"
    before = extra.read_bytes()

    def export(*args):
        raise AssertionError("refused before the PDF export")

    with pytest.raises(SubmissionError, match="is the input"):
        collect_cs7643(cs7643_outputs, extra, export=export)
    assert extra.read_bytes() == before


# --------------------------------------------------------------------------- what collect_submission.sh accepts


def test_rpz_check_cannot_be_passed_by_a_line_printed_at_exit(tmp_path, student):
    """numpy_nn.py fails to import but prints a forged passing result from an atexit handler."""
    from helpers.course.submission import SubmissionError, collect_rpz

    helpers_dir, outputs = student
    forged = ('import atexit\natexit.register(lambda: print(\'@@CHECK {"ok": true, "labels": [0, 0, 0, 0, 0, 0, 0, 0]}\', '
              'flush=True))\nraise ImportError("broken on purpose")\n')
    (helpers_dir / "numpy_nn.py").write_text(forged + NUMPY_NN)
    out = tmp_path / "rpz.zip"
    with pytest.raises(SubmissionError, match="numpy_nn.py: does not import on its own"):
        collect_rpz(helpers_dir, outputs, out)
    assert not out.exists()


def _outside_png(tmp_path: Path) -> Path:
    from PIL import Image

    path = tmp_path / "elsewhere" / "secret.png"
    path.parent.mkdir()
    Image.new("RGB", (8, 8)).save(path)
    return path


@pytest.mark.parametrize("kind, words", [
    ("empty", "is not a PNG image"),
    ("text", "is not a PNG image"),
    ("signature_only", "is not a readable image"),
    ("symlink_outside", "is a symbolic link"),
])
def test_rpz_checks_the_two_pngs(tmp_path, kind, words, student):
    from helpers.course.submission import SubmissionError, collect_rpz

    helpers_dir, outputs = student
    png = outputs / "numpy_nn_training.png"
    png.unlink()
    if kind == "empty":
        png.write_bytes(b"")
    elif kind == "text":
        png.write_text("a figure, I promise\n")
    elif kind == "signature_only":
        png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really an image" * 10)
    else:
        png.symlink_to(_outside_png(tmp_path))
    out = tmp_path / "rpz.zip"
    with pytest.raises(SubmissionError) as raised:
        collect_rpz(helpers_dir, outputs, out)
    first = str(raised.value).splitlines()[0]
    assert first.startswith("numpy_nn_training.png:") and words in first and "02_numpy_nn" in first
    assert not out.exists()


def test_cs7643_refuses_symlinks_and_fake_pngs(tmp_path, cs7643_outputs):
    from helpers.course.submission import SubmissionError, collect_cs7643

    (cs7643_outputs / "extra.md").unlink()
    secret = tmp_path / "elsewhere.md"
    secret.write_text("someone else's notes")
    (cs7643_outputs / "extra.md").symlink_to(secret)
    (cs7643_outputs / "convnet_valaccuracy.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 50)
    with pytest.raises(SubmissionError) as raised:
        collect_cs7643(cs7643_outputs, tmp_path / "2_pytorch.zip", export=lambda *a: None)
    lines = str(raised.value).splitlines()
    assert any(line.startswith("extra.md:") and "symbolic link" in line for line in lines), lines
    assert any(line.startswith("convnet_valaccuracy.png:") and "not a readable image" in line for line in lines)


@pytest.mark.slow
def test_a_hanging_numpy_nn_is_blamed_on_numpy_nn(student):
    from helpers.course.submission import SubmissionError, check_isolated, locate

    helpers_dir, outputs = student
    (helpers_dir / "numpy_nn.py").write_text("import time\ntime.sleep(120)\n" + NUMPY_NN)
    with pytest.raises(SubmissionError) as raised:
        check_isolated(locate(helpers_dir, outputs), timeout=20)
    assert str(raised.value).startswith("numpy_nn.py: importing it took more than 20 s")


def test_an_interpreter_without_torch_is_not_blamed_on_the_student(tmp_path, monkeypatch, student):
    from helpers.course.submission import SubmissionError, check_isolated, locate

    helpers_dir, outputs = student
    # A Python like this one, but where `import torch` fails (the sandbox runs `python -I RUNNER SETUP`).
    fake = tmp_path / "python-without-torch"
    fake.write_text(f"#!{sys.executable}\nimport runpy, sys\nsys.modules['torch'] = None\nscript = sys.argv[2]\n"
                    "sys.argv = sys.argv[2:]\nrunpy.run_path(script, run_name='__main__')\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake))
    with pytest.raises(SubmissionError) as raised:
        check_isolated(locate(helpers_dir, outputs))
    message = str(raised.value)
    assert message.startswith(f"this Python ({fake}) cannot run the check") and "scripts/setup.sh" in message
    assert "numpy_nn.py" not in message and "pytorch_cnn.py" not in message


# --------------------------------------------------------------------------- data sets (helpers.data)


def _cifar_folder(root: Path, labels=None) -> Path:
    import numpy as np

    from helpers.data import encode_cifar_batch

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
        (folder / name).write_bytes(encode_cifar_batch(images, labels if labels is not None else [0, 1, 2, 3], name))
    return folder


def test_a_crafted_cifar_batch_runs_nothing(tmp_path):
    """A batch whose labels unpickle by calling open(marker): refused, and the marker never appears."""
    import pickle

    import numpy as np

    from helpers.data import DatasetError, load_dataset

    folder = _cifar_folder(tmp_path)
    marker = tmp_path / "marker"
    batch = {b"batch_label": b"x", b"labels": Payload(marker), b"data": np.zeros((4, 3072), np.uint8),
             b"filenames": [b"a.png"] * 4}
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DatasetError) as raised:
        load_dataset("cifar10", "test", root=tmp_path, download=False)
    assert not marker.exists(), "the batch's code ran"
    message = str(raised.value)
    assert str(folder / "test_batch") in message and "io.open, which a CIFAR-10 batch never holds" in message
    assert "could run code" in message


def test_the_shipped_cifar_subset_reads_through_the_restricted_unpickler():
    from helpers.data import SUBSET_DATA_DIR, _BatchUnpickler, load_dataset, read_pickle_data

    for split in ("train", "test"):
        X, y = load_dataset("cifar10", split, root=SUBSET_DATA_DIR, download=False)
        assert X.dtype.name == "uint8" and X.shape[1:] == (32, 32, 3) and len(y) == len(X) > 0
    meta = read_pickle_data(SUBSET_DATA_DIR / "cifar-10-batches-py" / "batches.meta")
    assert meta[b"label_names"][0] == b"airplane"
    assert all(module.startswith(("numpy", "_codecs")) for module, _ in _BatchUnpickler.ALLOWED)


@pytest.mark.parametrize("bad", [10, -1, 255])
def test_cifar_labels_outside_the_classes_are_refused_at_load(tmp_path, bad):
    from helpers.data import DatasetError, load_dataset

    _cifar_folder(tmp_path, labels=[0, 1, bad, 3])
    with pytest.raises(DatasetError, match=r"1 labels outside the classes 0\.\.9 .*test_batch"):
        load_dataset("cifar10", "test", root=tmp_path, download=False)


def test_mnist_labels_outside_the_classes_are_refused_at_load(tmp_path):
    import gzip

    import numpy as np

    from helpers.data import DatasetError, encode_idx, load_dataset

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(encode_idx(np.zeros((3, 28, 28), np.uint8))))
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(encode_idx(np.array([1, 12, 3], np.uint8))))
    with pytest.raises(DatasetError, match=r"labels outside the classes 0\.\.9 \(from 1 to 12\)"):
        load_dataset("mnist", "test", root=tmp_path, download=False)


@pytest.fixture
def silent_server():
    """A local server that accepts connections and never answers; yields its port."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted = []

    def accept():
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in accepted:
        conn.close()


def test_a_download_from_a_silent_server_times_out_and_says_so(tmp_path, monkeypatch, capsys, silent_server):
    import torchvision.datasets as tvd

    from helpers.data import DatasetNotFoundError, load_dataset

    monkeypatch.setattr(tvd.CIFAR10, "url", f"http://127.0.0.1:{silent_server}/cifar-10-python.tar.gz")
    monkeypatch.setenv("WORKBOOK_DOWNLOAD_TIMEOUT", "0.5")
    started = time.monotonic()
    with pytest.raises(DatasetNotFoundError) as raised:
        load_dataset("cifar10", "test", root=tmp_path)
    assert time.monotonic() - started < 30
    assert "the download server sent nothing for 0.5 s" in str(raised.value)
    printed = capsys.readouterr().out
    assert "downloading it" in printed and "waiting at most 0.5 s" in printed and "WORKBOOK_DOWNLOAD_TIMEOUT" in printed


def test_predict_without_its_data_set_says_where_to_put_it(tmp_path, monkeypatch, capsys):
    import helpers.data as data
    from helpers.predict import main

    def offline(*args):
        raise OSError("offline")

    monkeypatch.setattr(data, "_download", offline)
    weights = REPO_ROOT / "assets" / "models" / "cifar10_mymodel.pt"
    if not weights.is_file():  # a FileNotFoundError: a copy without the trained weights reports a skip
        raise FileNotFoundError(f"{weights} is missing: train MyModel in notebook 07 (full mode)")
    assert main(["--model", "mymodel", "--weights", str(weights), "--data-root", str(tmp_path / "nothing"),
                 "--out", str(tmp_path / "p.csv")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cifar10 data set" in err and "WORKBOOK_DATA" in err


# --------------------------------------------------------------------------- shapes and dtypes as documented


def _pool_cache(fast: bool):
    import numpy as np

    from helpers.scratch import layers

    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    forward = layers.max_pool_forward_fast if fast else layers.max_pool_forward_naive
    return forward(x, {"pool_height": 2, "pool_width": 2, "stride": 2})


@pytest.mark.parametrize("case", ["relu", "pool_fast", "pool_naive", "conv_naive_bias", "conv_fast_bias",
                                  "conv_backward_naive", "conv_backward_fast"])
def test_layers_refuse_shapes_their_docstrings_do_not_promise(case):
    import numpy as np

    from helpers.scratch import layers

    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    conv = {"stride": 1, "pad": 1}
    if case == "relu":
        _, cache = layers.relu_forward(rng.standard_normal((4, 5)))
        call, words = (lambda: layers.relu_backward(np.ones((1, 5)), cache)), r"dout must have shape x's shape = \(4, 5\)"
    elif case.startswith("pool"):
        out, cache = _pool_cache(case == "pool_fast")
        backward = layers.max_pool_backward_fast if case == "pool_fast" else layers.max_pool_backward_naive
        call, words = (lambda: backward(np.ones((2, 3, 1, 1)), cache)), r"\(N, C, H_out, W_out\) = \(2, 3, 2, 2\)"
    elif case in ("conv_naive_bias", "conv_fast_bias"):
        forward = layers.conv_forward_naive if case == "conv_naive_bias" else layers.conv_forward_fast
        call, words = (lambda: forward(x, w, np.zeros(1), conv)), r"b must have shape \(F,\) = \(4,\); got shape \(1,\)"
    else:
        fast = case == "conv_backward_fast"
        _, cache = (layers.conv_forward_fast if fast else layers.conv_forward_naive)(x, w, np.zeros(4), conv)
        backward = layers.conv_backward_fast if fast else layers.conv_backward_naive
        call, words = (lambda: backward(np.ones((2, 4, 1, 1)), cache)), r"= \(2, 4, 5, 5\)"
    with pytest.raises(ValueError, match=words):
        call()


def test_squared_error_of_integer_inputs_does_not_wrap():
    import numpy as np

    from helpers.numpy_nn import SE

    loss = SE()
    x, y = np.array([[1]], dtype=np.uint8), np.array([[2]], dtype=np.uint8)
    assert loss.forward(x, y).tolist() == [[1.0]]
    assert loss.backward().tolist() == [[-2.0]]


def test_linear_softmax_keeps_its_initial_weights_with_integer_images():
    import numpy as np

    from helpers.scratch.classifiers.softmax import LinearSoftmax

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(50, 12)).astype(np.int64)
    y = rng.integers(0, 3, size=50)
    np.random.seed(0)
    model = LinearSoftmax()
    model.train(X, y, learning_rate=0.0, num_iters=1, batch_size=10)
    np.random.seed(0)
    expected = 0.001 * np.random.randn(12, 3)
    assert model.W.dtype == np.float64
    np.testing.assert_allclose(model.W, expected)
