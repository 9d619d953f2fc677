"""A record tells the truth or is refused: checkpoints keep the run mode and data sizes, and collect measures.

- A checkpoint stores the run mode and the data sizes it was made with; a resume in another mode or
  on other data is refused before anything loads, so a smoke run's weights never get a full-mode
  record (``helpers.pytorch.training.made_with``, ``helpers.train``).
- ``collect_submission.sh rpz`` measures what the records claim (``helpers.course.verify``): a forged
  accuracy, an untrained ``model.pt``, figures that are not the ones their run drew, a hand-written
  record: each refused, naming the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from helpers.paths import REPO_ROOT, SUBSET_DATA_DIR
from tests._commands import train_main
from tests._submissions import collect, trained_outputs, zip_dir_is_clean

# --------------------------------------------------------------------------- checkpoints


def test_a_smoke_checkpoint_never_becomes_a_full_one(tmp_path, monkeypatch, capsys):
    """A smoke run resumed with WORKBOOK_MODE=full is refused: smoke weights never get a full-mode record."""
    out = tmp_path / "run"
    assert train_main("--model", "softmax", "--epochs", "2", out=out) == 0
    weights = (out / "models" / "softmax.pt").read_bytes()
    record = (out / "models" / "softmax.pt.provenance.json").read_text()
    assert json.loads(record)["mode"] == "smoke"
    capsys.readouterr()
    monkeypatch.setenv("WORKBOOK_MODE", "full")
    monkeypatch.setenv("WORKBOOK_DATA", str(SUBSET_DATA_DIR))   # data for a full run, were it to start
    assert train_main("--model", "softmax", "--epochs", "2", "--resume", out=out) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "refused: --resume" in err and "WORKBOOK_MODE smoke (now full)" in err, err
    assert (out / "models" / "softmax.pt").read_bytes() == weights
    assert (out / "models" / "softmax.pt.provenance.json").read_text() == record


def _loaders(n: int, seed: int = 0):
    from helpers.pytorch.training import TensorLoader

    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, 6, generator=g), torch.randint(0, 3, (n,), generator=g)
    return TensorLoader(x, y, batch_size=16, shuffle=True), TensorLoader(x[:32], y[:32], batch_size=32)


def _fit(folder: Path, n: int, epochs: int, resume: bool = False):
    from helpers.pytorch.training import fit

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 3))
    train, val = _loaders(n)
    return model, fit(model, train, val, epochs=epochs, checkpoint_dir=folder, resume=resume, device="cpu",
                      progress=False, verbose=False)


def test_a_checkpoint_made_on_other_data_or_in_another_mode_is_refused_before_loading(tmp_path, monkeypatch):
    from helpers.pytorch.training import CheckpointMismatch, read_checkpoint

    folder = tmp_path / "ckpt"
    _fit(folder, n=96, epochs=1)
    saved = read_checkpoint(folder / "last.pt")["made_with"]
    assert saved == {"mode": "smoke", "train_examples": 96, "val_examples": 32, "steps_per_epoch": 6}
    before = (folder / "last.pt").read_bytes()
    with pytest.raises(CheckpointMismatch, match=r"made in smoke mode, 96 training examples.*this run is in smoke "
                                                 r"mode, 500 training examples"):
        _fit(folder, n=500, epochs=2, resume=True)
    monkeypatch.setenv("WORKBOOK_MODE", "full")
    with pytest.raises(CheckpointMismatch, match="made in smoke mode.*this run is in full mode"):
        _fit(folder, n=96, epochs=2, resume=True)
    assert (folder / "last.pt").read_bytes() == before, "a refused resume writes nothing"


def test_a_resume_on_the_same_data_still_ends_with_the_uninterrupted_weights(tmp_path):
    model_a, _ = _fit(tmp_path / "a", n=96, epochs=3)
    _fit(tmp_path / "b", n=96, epochs=1)
    model_b, history = _fit(tmp_path / "b", n=96, epochs=3, resume=True)
    assert history["epoch"] == [1, 2, 3]
    assert all(torch.equal(a, b) for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values()))


# --------------------------------------------------------------------------- collect measures what records claim


def _forge(path: Path, **facts) -> None:
    """Edit ``path``'s record by hand, keeping it in step with the file's bytes (what a forger would do)."""
    import hashlib

    sidecar = path.with_name(path.name + ".provenance.json")
    entry = json.loads(sidecar.read_text()) if sidecar.exists() else {"file": path.name, "mode": "full",
                                                                      "made_by": "notebooks/06_pytorch_fc_cnn.ipynb"}
    entry.update(facts, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    sidecar.write_text(json.dumps(entry))


def _refused(tmp_path, student) -> list[str]:
    out = tmp_path / "hand-in.zip"
    result = collect("rpz", "--out", str(out), helpers_dir=student[0], outputs=student[1])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and zip_dir_is_clean(out)
    return result.stderr.splitlines()[1:]


def test_a_forged_accuracy_of_model_pt_is_refused(tmp_path, student):
    _forge(student[1] / "model.pt", test_accuracy=0.9951)
    lines = _refused(tmp_path, student)
    measured = trained_outputs()["model.pt"][1]["test_accuracy"]
    assert any(line.startswith("model.pt: its record claims test accuracy 0.9951, but it measures "
                               f"{measured:.4f} on the full clean mnist test set (500 images)") for line in lines), lines


def test_an_untrained_model_pt_with_a_hand_written_record_is_refused(tmp_path, student):
    """An untrained model.pt with a hand-written *.provenance.json claiming 99% does not pass collect."""
    from tests._module_from_file import module_from_file

    cnn = module_from_file(student[0] / "pytorch_cnn.py", "untrained_cnn")
    # A network that learnt nothing: every weight zero, so every image gets the same class. (A freshly
    # initialised one lands anywhere from about 5% to 20% in eval mode, depending on its seed.)
    torch.save({k: torch.zeros_like(v) for k, v in cnn.MyNet().state_dict().items()}, student[1] / "model.pt")
    (student[1] / "model.pt.provenance.json").unlink()
    _forge(student[1] / "model.pt", dataset="mnist", epochs=12, test_accuracy=0.99)
    lines = _refused(tmp_path, student)
    line = next(line for line in lines if line.startswith("model.pt:"))
    assert "no better than guessing among 10 classes (10%): it is not a trained network" in line, lines


def test_figures_that_are_not_the_ones_their_run_drew_are_refused(tmp_path, student):
    outputs = student[1]
    training = outputs / "numpy_nn_training.png"
    training.write_bytes(trained_outputs()["numpy_nn_classification.png"][0])   # the other figure, re-recorded
    _forge(training)
    lines = _refused(tmp_path, student)
    assert any(line.startswith("numpy_nn_training.png: it is not the figure its network (numpy_nn_network.npz) "
                               "makes") for line in lines), lines
    assert not any(line.startswith("numpy_nn_classification.png") for line in lines), lines


def test_figures_of_another_run_are_refused(tmp_path, student):
    """A figure whose record does not name the network saved beside it (another run's, or a hand-written record)."""
    png = student[1] / "numpy_nn_classification.png"
    entry = json.loads(png.with_name(png.name + ".provenance.json").read_text())
    entry.pop("network_sha256")
    png.with_name(png.name + ".provenance.json").write_text(json.dumps(entry))
    lines = _refused(tmp_path, student)
    assert any(line.startswith("numpy_nn_classification.png: its record does not name numpy_nn_network.npz")
               for line in lines), lines


def test_a_forged_accuracy_of_the_figures_is_refused(tmp_path, student):
    for name in ("numpy_nn_training.png", "numpy_nn_classification.png", "numpy_nn_network.npz"):
        _forge(student[1] / name, test_accuracy=1.0)
    lines = _refused(tmp_path, student)
    assert any(line.startswith("numpy_nn_training.png: its record claims test accuracy 1.0000, but its network "
                               "(numpy_nn_network.npz) measures") for line in lines), lines


def test_figures_without_their_network_are_refused_before_the_slow_check(tmp_path, student):
    (student[1] / "numpy_nn_network.npz").unlink()
    lines = _refused(tmp_path, student)
    assert lines[0].startswith("numpy_nn_network.npz: not found at") and "02_numpy_nn" in lines[0], lines


def test_what_was_measured_is_printed_and_the_zip_written(tmp_path, student):
    out = tmp_path / "hand-in.zip"
    result = collect("rpz", "--out", str(out), helpers_dir=student[0], outputs=student[1])
    assert result.returncode == 0, result.stderr
    assert "measured on the full clean mnist test set (500 images)" in result.stdout
    assert "drawn again and identical: training curves, classified test images" in result.stdout


def test_measuring_never_imports_the_students_layers():
    """The figures are measured with the workbook's arithmetic: helpers.numpy_nn (the student's file) is not run."""
    import subprocess
    import sys

    code = ("import sys\nfrom helpers.course import verify\nfrom helpers.scratch import binary_mnist\n"
            "print('helpers.numpy_nn' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    assert result.stdout.strip() == "False", result.stderr


def test_the_readme_says_what_a_record_can_and_cannot_prove():
    """The course's README in its section; a copy handed to students, in its own README's "Handing in"."""
    readme = (REPO_ROOT / "README.md").read_text()
    if "What a record proves" in readme:
        section, words = readme.split("What a record proves")[1].split("\n#")[0], ("chance", "cannot prove")
    else:
        section, words = readme.split("## Handing in")[1].split("\n## ")[0], ("guessing", "cannot prove")
    for word in ("measures", "model.pt", "drawn again", *words):
        assert word in section, word

