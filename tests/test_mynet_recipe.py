"""helpers.pytorch.mynet_recipe: the augmentation per data set, one training call, notebook 06's MyNet runs."""

import re

import pytest
import torch
import torch.nn as nn

from helpers import provenance
from helpers.pytorch import mynet_recipe
from helpers.pytorch.experiments import load_splits
from helpers.pytorch.mynet_recipe import (
    PANEL_ROWS,
    camera_augment,
    grader_accuracy,
    mynet_controls,
    plot_mynet_histories,
    report_saved,
    robustness_reports,
    train_classifier,
    train_mynets,
    training_config,
)
from helpers.pytorch.training import HISTORY_KEYS
from helpers.pytorch_cnn import MyNet
from helpers.widgets import train_panel
from tests._module_from_file import module_from_file


def test_the_lab_trains_on_pixels_in_0_1_split_off_the_training_set():
    data = load_splits("mnist", val_size=200, max_train=300, pixels="unit")
    assert data.x_train.shape == (300, 1, 28, 28) and data.x_val.shape == (200, 1, 28, 28)
    assert data.x_test.dtype == torch.float32 and 0 <= float(data.x_test.min()) <= float(data.x_test.max()) <= 1
    assert data.y_train.dtype == torch.int64 and len(data.y_test) == len(data.x_test)


def test_each_data_set_has_its_camera_and_overrides_apply():
    mnist, fashion = camera_augment("mnist"), camera_augment("fashion_mnist", strength=0.3)
    assert (mnist.p, mnist.strength, mnist.hflip) == (0.6, 0.8, False)
    assert (fashion.p, fashion.strength, fashion.hflip) == (0.4, 0.3, True)
    with pytest.raises(ValueError, match="no augmentation defined for 'svhn'"):
        camera_augment("svhn")


def test_train_classifier_runs_fit_and_reports_the_test_accuracy():
    data = load_splits("mnist", val_size=200, max_train=512, pixels="unit")
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
    bench = _choice_benchmark()
    # Training is handed no test set (train_classifier then reports no test accuracy).
    seen_tests = []
    train = mynet_recipe.train_classifier
    monkeypatch.setattr(mynet_recipe, "train_classifier", lambda model, data, **kw: (seen_tests.append(data.test),
                                                                                      train(model, data, **kw))[1])
    rows = bench.main(["--dataset", "mnist", "--budget-min", "0.02", "--epochs", "1", "--val-size", "200",
                       "--variants", "current", "all", "consistency_1", "--recalibrate", "250"])
    # Each trained model is also scored with its batch-norm statistics re-estimated per batch.
    assert [r["variant"] for r in rows] == ["current", "current, recalibrated 250", "all", "all, recalibrated 250",
                                            "consistency_1", "consistency_1, recalibrated 250"]
    for r in rows:
        assert all(0 <= r[k] <= 1 for k in ("clean", "camera", "held_out"))
        assert set(r["per_kind"]) == {"zoom_blur", "glass_blur", "ghosting", "oversharpen", "interlace"}
    assert seen_tests == [(None, None)] * 3
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


def test_the_panel_sets_the_training_and_lays_out_every_control():
    controls = mynet_controls()
    assert sorted(controls) == sorted(name for row in PANEL_ROWS for name in row)
    config = training_config({name: c.value for name, c in controls.items()})
    assert config["datasets"] == ("mnist", "fashion_mnist") and config["epochs"] == 1   # smoke mode's defaults
    assert config["budget_s"] == 60 * controls["budget_min"].value
    assert (config["plain_epochs"], config["plain_budget_s"]) == (1, None)
    train_panel(controls, lambda values: None, rows=PANEL_ROWS)


@pytest.fixture(scope="module")
def mynet_run(tmp_path_factory):
    """notebook 06's MyNet runs on a tiny MNIST (256 training images, one epoch): ``(data, saved, trained, out)``."""
    out = tmp_path_factory.mktemp("mynets")
    data = {"mnist": load_splits("mnist", val_size=100, max_train=256, pixels="unit")}
    config = training_config({"datasets": ("mnist",), "batch_size": 128, "plain": True, "epochs": 1,
                              "budget_min": 1.0, "lr": 4e-3, "strength": 1.0})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBOOK_OUTPUT", str(out))   # the checkpoints
        saved, trained = train_mynets(data, config, out / "models")
    return data, saved, trained, out


def test_train_mynets_saves_the_augmented_network_with_its_record_and_keeps_both(mynet_run, capsys):
    data, saved, trained, out = mynet_run
    assert set(trained) == {("mnist", "augmented"), ("mnist", "plain")}
    model, history, seconds = trained[("mnist", "augmented")]
    assert isinstance(model, MyNet) and history["epoch"] == [1] and seconds > 0
    assert saved == {"mnist": out / "models" / "mynet_mnist.pt"} and saved["mnist"].is_file()
    entry = provenance.read(saved["mnist"])
    assert entry["made_by"] == "notebooks/06_pytorch_fc_cnn.ipynb" and entry["dataset"] == "mnist"
    assert entry["epochs"] == 1 and entry["test_accuracy"] == pytest.approx(history["test_acc"])
    assert grader_accuracy(saved["mnist"], data["mnist"]) == pytest.approx(history["test_acc"])
    assert (out / "checkpoints" / "mynet_mnist").is_dir()


def test_the_histories_are_drawn(mynet_run, monkeypatch):
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf().axes[0].get_title()) or plt.close("all"))
    plot_mynet_histories(mynet_run[2], ["mnist"])
    assert len(shown) == 1


def test_robustness_reports_compare_plain_extra_and_augmented_in_that_order(mynet_run, capsys):
    data, _, trained, _ = mynet_run
    other = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.LogSoftmax(dim=1))
    reports = robustness_reports(data, trained, ["mnist"], 10, extra={"mnist": {"linear": other}},
                                 corruptions=["gaussian_noise", "pixelate"], show=False)
    assert reports["mnist"]["models"] == ["plain MyNet", "linear", "augmented MyNet"] and reports["mnist"]["n"] == 10
    assert reports["mnist"]["corruptions"] == ["gaussian_noise", "pixelate"]
    out = capsys.readouterr().out
    assert out.startswith("mnist: 10 test images, 2 corruptions x 3 severities (")
    assert "augmented MyNet" in out.splitlines()[1]


def test_report_saved_measures_as_the_grader_and_never_ships_from_a_smoke_run(mynet_run, capsys, tmp_path,
                                                                               monkeypatch):
    data, saved, trained, _ = mynet_run
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    accuracy = report_saved(saved, data, shipped_dir=shipped)
    assert accuracy == {"mnist": pytest.approx(trained[("mnist", "augmented")][1]["test_acc"])}
    first, second = capsys.readouterr().out.splitlines()
    assert re.match(r"mnist +your MyNet: test accuracy \d\.\d{4} on 500 images \(target 0\.995: NOT met\) \| "
                    r"\d\.\d\d MB \| classify \d+\.\d s$", first), first
    assert second.strip().startswith("not shipped: a smoke-mode run never replaces") and not any(shipped.iterdir())
    monkeypatch.setattr(mynet_recipe, "HAND_IN_LIMIT_MB", 0.01)
    with pytest.raises(ValueError, match="the upload system takes under 0.01 MB"):
        report_saved(saved, data, shipped_dir=shipped)
