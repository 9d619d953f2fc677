"""helpers.pytorch.mynet_recipe: the RPZ lab's data as tensors, the augmentation per data set, one training call."""

import re

import pytest
import torch
import torch.nn as nn

from helpers.pytorch.mynet_recipe import camera_augment, load_pixel_tensors, train_classifier
from helpers.pytorch.training import HISTORY_KEYS
from tests._module_from_file import module_from_file


def test_pixel_tensors_are_the_split_training_set_and_the_test_set():
    data = load_pixel_tensors("mnist", val_size=200, max_train=300)
    assert data["x_train"].shape == (300, 1, 28, 28) and data["x_val"].shape == (200, 1, 28, 28)
    assert data["x_test"].dtype == torch.float32 and 0 <= float(data["x_test"].min()) <= float(data["x_test"].max()) <= 1
    assert data["y_train"].dtype == torch.int64 and len(data["y_test"]) == len(data["x_test"])
    with pytest.raises(ValueError, match="the RPZ lab uses"):
        load_pixel_tensors("cifar10")


def test_each_data_set_has_its_camera_and_overrides_apply():
    mnist, fashion = camera_augment("mnist"), camera_augment("fashion_mnist", strength=0.3)
    assert (mnist.p, mnist.strength, mnist.hflip) == (0.6, 0.8, False)
    assert (fashion.p, fashion.strength, fashion.hflip) == (0.4, 0.3, True)
    with pytest.raises(ValueError, match="no augmentation defined for 'svhn'"):
        camera_augment("svhn")


def test_train_classifier_runs_fit_and_reports_the_test_accuracy():
    data = load_pixel_tensors("mnist", val_size=200, max_train=512)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 13 * 13, 10))
    history, seconds = train_classifier(model, data, epochs=2, lr=3e-3, batch_size=64, progress=False,
                                        verbose=False, augment=camera_augment("mnist"), bf16=False)
    assert set(HISTORY_KEYS) <= set(history) and history["epoch"] == [1, 2] and seconds > 0
    assert history["test_acc"] > 0.5 and history["bf16"] is False
    with pytest.raises(ValueError, match="optimizer must be 'adamw' or 'sgd'"):
        train_classifier(model, data, epochs=1, optimizer="lbfgs")
    with pytest.raises(ValueError, match="time_budget needs schedule='onecycle'"):
        train_classifier(model, data, epochs=1, schedule="constant", time_budget=10)


def _choice_benchmark():
    """``benchmarks/mynet_augmentation_choice.py`` as a module (the benchmarks are scripts, not a package)."""
    from helpers.paths import REPO_ROOT

    return module_from_file(REPO_ROOT / "benchmarks" / "mynet_augmentation_choice.py")


@pytest.mark.slow
def test_the_augmentation_choice_benchmark_scores_variants_on_validation_images_only(capsys, monkeypatch):
    from helpers.pytorch import mynet_recipe

    bench = _choice_benchmark()
    # Training is handed no test set (train_classifier then reports no test accuracy).
    seen_keys = []
    train = mynet_recipe.train_classifier
    monkeypatch.setattr(mynet_recipe, "train_classifier", lambda model, data, **kw: (seen_keys.append(set(data)),
                                                                                      train(model, data, **kw))[1])
    rows = bench.main(["--dataset", "mnist", "--budget-min", "0.02", "--epochs", "1", "--val-size", "200",
                       "--variants", "current", "all", "consistency_1", "--recalibrate", "250"])
    # Each trained model is also scored with its batch-norm statistics re-estimated per batch.
    assert [r["variant"] for r in rows] == ["current", "current, recalibrated 250", "all", "all, recalibrated 250",
                                            "consistency_1", "consistency_1, recalibrated 250"]
    for r in rows:
        assert all(0 <= r[k] <= 1 for k in ("clean", "camera", "held_out"))
        assert set(r["per_kind"]) == {"zoom_blur", "glass_blur", "ghosting", "oversharpen", "interlace"}
    assert seen_keys == [{"x_train", "y_train", "x_val", "y_val"}] * 3
    out = capsys.readouterr().out
    assert re.search(r"\nvariant +clean   camera  held-out   mean\n", out) and "held-out kinds" in out


def test_the_consistency_loss_is_the_cross_entropy_when_views_agree_and_grows_when_they_do_not():
    bench = _choice_benchmark()
    torch.manual_seed(0)
    scores, y = torch.randn(8, 10, dtype=torch.float64), torch.randint(0, 10, (8,))
    loss = bench.consistency_loss(12.0, label_smoothing=0.0)
    ce = torch.nn.functional.cross_entropy(scores, y)
    assert float(loss(torch.cat([scores, scores]), y)) == pytest.approx(float(ce), rel=1e-9)
    other = torch.randn(8, 10, dtype=torch.float64)
    both = torch.cat([scores, other])
    plain = torch.nn.functional.cross_entropy(both, y.repeat(2))
    assert float(loss(both, y)) > float(plain) + 1e-3
    views = bench.two_views(camera_augment("mnist"))(torch.rand(4, 1, 28, 28), generator=torch.Generator().manual_seed(0))
    assert views.shape == (8, 1, 28, 28) and not torch.equal(views[:4], views[4:])
