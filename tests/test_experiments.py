"""helpers.pytorch.experiments: CS7643's runs: standardised tensors, the log (test accuracy last), the two plots."""

import torch

from helpers.pytorch.experiments import load_tensors, log_lines, run_experiment, standardize
from helpers.pytorch.models import SoftmaxClassifier

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_standardised_tensors_have_the_training_statistics():
    data = load_tensors("cifar10", val_size=100)
    assert data.x_train.shape[1:] == (3, 32, 32) and len(data.x_val) == 100
    assert abs(float(data.x_train.mean())) < 0.2 and 0.8 < float(data.x_train.std()) < 1.2
    grey = standardize(torch.zeros(2, 28, 28, dtype=torch.uint8).numpy(), "mnist")
    assert grey.shape == (2, 1, 28, 28) and float(grey.max()) < 0   # black is below MNIST's mean


def test_a_run_writes_its_log_plots_and_weights(tmp_path):
    data = load_tensors("cifar10", val_size=100)
    torch.manual_seed(0)
    result = run_experiment("softmax", SoftmaxClassifier(), data, epochs=2, batch_size=128, show=False,
                            optimizer=lambda p: torch.optim.SGD(p, lr=2e-3, momentum=0.9), settings="sgd 2e-3",
                            out_dir=tmp_path)
    lines = (tmp_path / "softmax.log").read_text().splitlines()
    assert lines[:2] == ["model: softmax", "settings: sgd 2e-3"] and lines[-1] == f"test accuracy: {result['test_acc']:.4f}"
    assert len([line for line in lines if line.startswith("epoch")]) == 2
    for name in ("softmax_lossvstrain.png", "softmax_valaccuracy.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG_MAGIC)
    assert (tmp_path / "models" / "softmax.pt").is_file()
    assert result["train_time"] == result["history"]["train_time"][-1] > 0
    assert log_lines("x", {"epoch": [1], "train_loss": [1.0], "train_acc": [0.5], "val_acc": [None], "time": [3.0]},
                     0.25, "s")[-1] == "test accuracy: 0.2500"


def test_every_file_of_a_run_has_its_record_and_a_smoke_run_keeps_a_full_runs_files(tmp_path):
    from helpers import provenance

    data = load_tensors("cifar10", val_size=100)
    names = ("softmax.log", "softmax_lossvstrain.png", "softmax_valaccuracy.png", "models/softmax.pt")

    def run():
        torch.manual_seed(0)
        return run_experiment("softmax", SoftmaxClassifier(), data, epochs=1, show=False, out_dir=tmp_path,
                              optimizer=lambda p: torch.optim.SGD(p, lr=2e-3), made_by="scripts/run_softmax.sh")

    result = run()
    for name in names:
        entry = provenance.read(tmp_path / name)
        assert entry["mode"] == "smoke" and entry["made_by"] == "scripts/run_softmax.sh", name
        assert entry["epochs"] == 1 and entry["test_accuracy"] == result["test_acc"], name
        provenance.record(tmp_path / name, "scripts/run_softmax.sh", run_mode="full")   # as a full run leaves it
    full = {name: (tmp_path / name).read_bytes() for name in names}
    again = run()
    assert {name: (tmp_path / name).read_bytes() for name in names} == full, "a smoke run replaced full-mode work"
    assert again["paths"]["log"].name == "softmax.smoke.log" and again["paths"]["weights"].name == "softmax.smoke.pt"
