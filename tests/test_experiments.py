"""helpers.pytorch.experiments: the one split container and its loader; CS7643's runs: the log (test accuracy last),
the two plots."""

import hashlib

import numpy as np
import pytest
import torch

from helpers.data import load_dataset
from helpers.pytorch.experiments import CHANNEL_STATS, TensorSplits, load_splits, log_lines, run_experiment, standardize
from helpers.pytorch.models import SoftmaxClassifier

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_standardised_tensors_have_the_training_statistics():
    data = load_splits("cifar10", val_size=100)
    assert data.x_train.shape[1:] == (3, 32, 32) and len(data.x_val) == 100
    assert abs(float(data.x_train.mean())) < 0.2 and 0.8 < float(data.x_train.std()) < 1.2
    grey = standardize(torch.zeros(2, 28, 28, dtype=torch.uint8).numpy(), "mnist")
    assert grey.shape == (2, 1, 28, 28) and float(grey.max()) < 0   # black is below MNIST's mean


def test_a_run_writes_its_log_plots_and_weights(tmp_path):
    data = load_splits("cifar10", val_size=100)
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

    data = load_splits("cifar10", val_size=100)
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


@pytest.mark.parametrize("dataset, shape", [("mnist", (1, 28, 28)), ("cifar10", (3, 32, 32))])
def test_each_pixel_form_has_its_dtype_and_range_and_the_same_split(dataset, shape):
    forms = {pixels: load_splits(dataset, val_size=100, pixels=pixels) for pixels in ("standardized", "unit", "uint8")}
    for pixels, data in forms.items():
        for x, y in (data.train, data.val, data.test):
            assert x.shape[1:] == shape and y.dtype == torch.int64 and y.shape == (len(x),), pixels
        assert len(data.x_val) == 100 and len(data.x_train) + 100 == len(load_dataset(dataset, "train")[1])
    unit, u8, std = forms["unit"], forms["uint8"], forms["standardized"]
    assert u8.x_train.dtype == torch.uint8 and unit.x_train.dtype == std.x_train.dtype == torch.float32
    assert 0 <= float(unit.x_train.min()) and float(unit.x_train.max()) <= 1
    for name in ("train", "val", "test"):   # one split, three forms of the same pixels
        (xu, yu), (x8, y8), (xs, ys) = getattr(unit, name), getattr(u8, name), getattr(std, name)
        assert torch.equal(yu, y8) and torch.equal(yu, ys)
        assert torch.equal(xu, x8.float() / 255)
        mean, sd = (torch.tensor(v).view(1, -1, 1, 1) for v in CHANNEL_STATS[dataset])
        assert torch.equal(xs, (xu - mean) / sd)


def _rows(images: np.ndarray) -> list[str]:
    return sorted(hashlib.sha1(row.tobytes()).hexdigest() for row in images)


def test_the_split_is_disjoint_covers_the_training_set_and_follows_the_seed():
    X, _ = load_dataset("mnist", "train")
    assert len(set(_rows(X))) == len(X), "the subset has no repeated image (else the check below proves less)"
    data = load_splits("mnist", val_size=0.2, pixels="uint8")
    train, val = data.x_train[:, 0].numpy(), data.x_val[:, 0].numpy()
    assert len(val) == round(0.2 * len(X)) and not set(_rows(train)) & set(_rows(val))
    assert _rows(np.concatenate([train, val])) == _rows(X)
    np.testing.assert_array_equal(data.x_test[:, 0].numpy(), load_dataset("mnist", "test")[0])   # the test set as it is
    again, other = load_splits("mnist", val_size=0.2, pixels="uint8"), load_splits("mnist", 0.2, seed=1, pixels="uint8")
    assert torch.equal(again.x_val, data.x_val) and torch.equal(again.y_train, data.y_train)
    assert not torch.equal(other.x_val, data.x_val)
    few = load_splits("mnist", val_size=0.2, pixels="uint8", max_train=30)
    assert torch.equal(few.x_train, data.x_train[:30]) and torch.equal(few.x_val, data.x_val)


def test_bad_data_set_or_pixel_form_is_refused_in_one_line_naming_the_choices():
    with pytest.raises(ValueError, match=r"^unknown data set 'svhn'; expected one of 'cifar10', 'mnist', 'fashion_mnist'"):
        load_splits("svhn")
    with pytest.raises(ValueError, match=r"^unknown pixels 'float'; expected one of 'standardized', 'unit', 'uint8'\.$"):
        load_splits("mnist", pixels="float")


def test_the_container_gives_pairs_loaders_a_shape_line_and_a_copy_without_test_set():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(50, 1, 4, 4, generator=g), torch.randint(0, 10, (50,), generator=g)
    data = TensorSplits(x[:30], y[:30], x[30:40], y[30:40], x[40:], y[40:])
    assert data.train[0] is data.x_train and data.val[1] is data.y_val and data.test[0] is data.x_test
    assert data.shapes() == "train (30, 1, 4, 4) | val (10, 1, 4, 4) | test (10, 1, 4, 4)"
    train, val, test = data.loaders(batch_size=8, seed=3)
    assert (len(train), len(val), len(test)) == (4, 1, 1) and train.shuffle and not val.shuffle
    assert torch.equal(torch.cat([yb for _, yb in test]), data.y_test)
    blind = data.without_test()
    assert blind.test == (None, None) and blind.x_train is data.x_train and data.x_test is not None
    assert blind.loaders()[2] is None and blind.shapes() == "train (30, 1, 4, 4) | val (10, 1, 4, 4)"
