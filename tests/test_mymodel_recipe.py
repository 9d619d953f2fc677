"""helpers.pytorch.mymodel_recipe: MyModel's fast recipe as configuration of the one training loop."""

import numpy as np
import pytest
import torch

from helpers.data import load_dataset
from helpers.pytorch.experiments import load_splits
from helpers.pytorch.models import MyModel
from helpers.pytorch.mymodel_recipe import (
    FastConfig,
    Muon,
    augment_batch,
    cifar_uint8,
    lr_factor,
    mymodel_accuracy,
    orthogonalize,
    pad_reflect,
    predict_logits,
    train_mymodel,
    whitening_filters,
)
from helpers.pytorch.training import HISTORY_KEYS
from tests._interrupt import Interrupt, stop_after_two
from tests._module_from_file import module_from_file


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _dark_and_bright(generator=None):
    """Two easy classes of 64 uint8 images ``(64, 3, 32, 32)``: dark (label 0) and bright (label 1)."""
    labels = torch.arange(64) % 2
    images = labels.view(-1, 1, 1, 1) * 150 + torch.randint(0, 100, (64, 3, 32, 32), generator=generator)
    return images.to(torch.uint8), labels


def test_whitening_filters_whiten_patches():
    # Correlated patches: after the filters the 12 directions are uncorrelated with unit variance.
    g = torch.Generator().manual_seed(0)
    base = torch.randn(64, 1, 16, 16, generator=g)
    images = torch.cat([base, 0.5 * base + 0.1 * torch.randn(64, 1, 16, 16, generator=g),
                        torch.randn(64, 1, 16, 16, generator=g)], dim=1).double()
    filters = whitening_filters(images, kernel_size=2, eps=0.0)
    assert filters.shape == (24, 3, 2, 2)
    torch.testing.assert_close(filters[12:], -filters[:12])
    out = torch.nn.functional.conv2d(images.float(), filters[:12]).permute(1, 0, 2, 3).reshape(12, -1).double()
    cov = out @ out.T / out.shape[1]
    torch.testing.assert_close(cov, torch.eye(12, dtype=torch.float64), atol=2e-3, rtol=0)


def test_augment_batch_is_a_crop_and_flip_of_the_padded_image():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8, generator=g)
    index = torch.tensor([5, 0, 3])
    # No padding, no flip: the images themselves.
    same = augment_batch(images, index, torch.zeros(3, dtype=torch.bool), pad=0)
    assert torch.equal(same, images[index])
    flipped = augment_batch(images, index, torch.ones(3, dtype=torch.bool), pad=0)
    assert torch.equal(flipped, images[index].flip(-1))
    # With padding every output is some 32x32 window of its padded image.
    padded = pad_reflect(images, 2)
    out = augment_batch(padded, index, torch.tensor([True, False, True]), pad=2, generator=g)
    for b, i in enumerate(index.tolist()):
        src = padded[i].flip(-1) if b != 1 else padded[i]
        windows = [src[:, dy:dy + 32, dx:dx + 32] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[b], w) for w in windows)


def test_lr_schedule_shape():
    total = 100
    values = [lr_factor(s, total, 0.23) for s in range(total + 1)]
    assert values[0] == pytest.approx(0.2) and max(values) == pytest.approx(1.0)
    assert values[-1] == pytest.approx(0.07)
    assert int(np.argmax(values)) == 23
    # lr_end sets the last step's factor; the warm-up is unchanged by it.
    ending_at_zero = [lr_factor(s, total, 0.23, end=0.0) for s in range(total + 1)]
    assert ending_at_zero[-1] == pytest.approx(0.0) and ending_at_zero[:24] == values[:24]
    assert all(a >= b for a, b in zip(ending_at_zero[23:], ending_at_zero[24:]))


def test_orthogonalize_pushes_the_singular_values_toward_one():
    g = torch.Generator().manual_seed(0)
    for shape in ((16, 72), (72, 16)):   # wide and tall, as filter banks (out, in*k*k) are
        matrix = torch.randn(*shape, generator=g, dtype=torch.float64) * 30
        before = torch.linalg.svdvals(matrix)
        after = torch.linalg.svdvals(orthogonalize(matrix))
        assert orthogonalize(matrix).shape == shape
        assert before.max() / before.min() > 2.5
        assert 0.6 < after.min() and after.max() < 1.25


def test_muon_steps_like_nesterov_sgd_on_the_groups_it_does_not_orthogonalize():
    w_sgd = torch.randn(5, 3, requires_grad=True)
    w_muon = w_sgd.detach().clone().requires_grad_()
    sgd = torch.optim.SGD([w_sgd], lr=0.1, momentum=0.85, nesterov=True, weight_decay=0.01)
    muon = Muon([dict(params=[w_muon])], lr=0.1, momentum=0.85, weight_decay=0.01)
    for _ in range(5):
        grad = torch.randn(5, 3)
        w_sgd.grad, w_muon.grad = grad.clone(), grad.clone()
        sgd.step()
        muon.step()
    torch.testing.assert_close(w_muon, w_sgd)


def test_muon_moves_a_filter_bank_by_the_same_step_whatever_its_scale_or_its_gradients():
    # Batch norm follows each filter bank, so neither scale may change the step.
    bank = torch.randn(8, 4, 3, 3)
    small, large = bank.clone().requires_grad_(), (10 * bank).requires_grad_()
    steps = [Muon([dict(params=[w], orthogonalize=True)], lr=0.2, momentum=0.6) for w in (small, large)]
    for _ in range(3):
        grad = torch.randn(8, 4, 3, 3)
        small.grad, large.grad = grad.clone(), 1000 * grad
        for step in steps:
            step.step()
    torch.testing.assert_close(small, large, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(small, bank * 8 ** 0.5 / bank.norm(), atol=1e-2)   # it did move


def test_with_muon_the_recipe_orthogonalizes_exactly_the_trained_filters(monkeypatch):
    import helpers.pytorch.mymodel_recipe as recipe_module

    recipes, real_fit = [], recipe_module.fit

    def spy(model, loader, val_loader, recipe, **kwargs):
        recipes.append(recipe)
        return real_fit(model, loader, val_loader, recipe, **kwargs)

    monkeypatch.setattr(recipe_module, "fit", spy)
    images, labels = _dark_and_bright()
    model = MyModel(widths=(8, 16, 16))
    config = FastConfig(epochs=5, batch_size=32, lookahead=False, muon_lr=0.2)
    train_mymodel(model, (images, labels), (images, labels), config, verbose=False)
    groups = recipes[0].optimizer.param_groups
    filters = [p for g in groups if g["orthogonalize"] for p in g["params"]]
    expected = [m.weight for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d) and name != "whiten"]
    assert len(filters) == 6 and {id(p) for p in filters} == {id(p) for p in expected}   # not the frozen whitening
    assert all(not g["orthogonalize"] for g in groups if any(p is model.head.weight for p in g["params"]))
    assert mymodel_accuracy(model, images, labels) == 1.0


def test_a_run_with_muon_resumes_to_the_uninterrupted_weights(tmp_path):
    images, labels = _dark_and_bright()
    config = FastConfig(epochs=3, batch_size=32, muon_lr=0.2, bf16=False)

    def run(model, folder, **kwargs):
        train_mymodel(model, (images, labels), (images, labels), config, checkpoint_dir=tmp_path / folder,
                      verbose=False, **kwargs)
        return model.state_dict()

    torch.manual_seed(1)
    full = run(MyModel(widths=(8, 16, 16)), "full")
    torch.manual_seed(1)
    with pytest.raises(Interrupt):
        run(MyModel(widths=(8, 16, 16)), "cut", callbacks=(stop_after_two,))
    resumed = run(MyModel(widths=(8, 16, 16)), "cut", resume=True)   # a fresh model: its start must not matter
    assert all(torch.equal(resumed[k], full[k]) for k in full), "the momenta of the filters must resume too"


@pytest.mark.parametrize("muon_lr", [FastConfig.muon_lr, 0.0])   # the shipped Muon; SGD for the filters too
def test_train_mymodel_runs_through_fit_and_learns_a_tiny_set(muon_lr):
    images, labels = _dark_and_bright(torch.Generator().manual_seed(0))
    model = MyModel(widths=(8, 16, 16))
    # Lookahead off: on a run of 10 steps its averaging would lag behind the weights.
    config = FastConfig(epochs=5, batch_size=32, lookahead=False, muon_lr=muon_lr)
    hist = train_mymodel(model, (images, labels), (images, labels), config, verbose=False)
    assert hist["epoch"] == [1, 2, 3, 4, 5] and all(np.isfinite(hist["train_loss"]))
    assert set(HISTORY_KEYS) <= set(hist) and len(hist["iter_loss"]) == 5 * 2   # fit's one history format
    assert mymodel_accuracy(model, images, labels) == 1.0
    assert predict_logits(model, images, tta_level=2).shape == (64, 10)


def test_the_recipe_trains_on_the_uint8_splits_of_cifar10():
    data = load_splits("cifar10", val_size=64, max_train=128, pixels="uint8")
    assert data.x_train.dtype == torch.uint8 and data.x_train.shape == (128, 3, 32, 32) and len(data.x_val) == 64
    X_test, y_test = load_dataset("cifar10", "test")
    assert torch.equal(data.x_test, cifar_uint8(X_test)) and torch.equal(data.y_test, torch.as_tensor(y_test))
    model = MyModel(widths=(8, 16, 16))
    hist = train_mymodel(model, data.train, data.val, FastConfig(epochs=1, batch_size=64, lookahead=False),
                         verbose=False)
    assert hist["epoch"] == [1] and 0 <= hist["val_acc"][-1] <= 1
    assert 0 <= mymodel_accuracy(model, *data.test) <= 1


def test_the_time_to_accuracy_benchmark_prints_the_accuracy_reached_by_each_minute(capsys):
    from helpers.paths import REPO_ROOT

    bench = module_from_file(REPO_ROOT / "benchmarks" / "mymodel_time_to_accuracy.py")
    # The best validation accuracy of the epochs ended by each whole minute of training.
    history = {"train_time": [30.0, 90.0, 150.0], "val_acc": [0.5, 0.7, 0.6]}
    assert bench.accuracy_by_minute(history) == [(1, 0.5), (2, 0.7), (3, 0.7)]
    # A real (smoke-mode) run: every FastConfig field is a flag.
    assert bench.main(["--epochs", "1", "--widths", "8,16,16", "--val-size", "100", "--bf16", "false",
                       "--lookahead", "false", "--max-train", "300"]) == 0
    out = capsys.readouterr().out
    assert "MyModel widths (8, 16, 16)" in out and "lookahead=False" in out and "bf16=False" in out
    assert "train (300, 3, 32, 32) | val (100, 3, 32, 32)" in out   # --max-train: the first 300 of the split
    assert "minute | best validation accuracy so far" in out and "validation 93%: " in out


def test_run_mymodel_trains_a_fresh_mymodel_of_the_widths_it_is_given(tmp_path):
    from helpers.pytorch.mymodel_recipe import run_mymodel

    # Notebook 07's smoke mode trains a narrow MyModel through the same pipeline as the full run.
    result = run_mymodel(FastConfig(epochs=1, batch_size=128, lookahead=False), val_size=100, out_dir=tmp_path,
                         widths=(8, 16, 16), verbose=False)
    assert result["model"].widths == (8, 16, 16)
    assert (tmp_path / "models" / "cifar10_mymodel.pt").is_file() and 0 <= result["test_acc"] <= 1
    with pytest.raises(ValueError, match="not both"):
        run_mymodel(model=MyModel(widths=(8, 16, 16)), widths=(8, 16, 16), out_dir=tmp_path)
