"""helpers.pytorch.registry: the models by name, their architecture read off saved weights, weights saved atomically."""

import pickle
import warnings

import pytest
import torch

from helpers.pytorch.registry import (
    IMAGE_SHAPES,
    MODELS,
    WeightsError,
    architecture_of,
    build_model,
    load_trained_model,
    save_weights,
    ship_if_better,
)

SIZES = {"softmax": (), "twolayernn": (16,), "convnet": (4,), "mlp": (16, 8), "mymodel": (8, 16, 16)}


@pytest.mark.parametrize("name", MODELS)
def test_every_model_builds_for_its_images_and_reloads_from_its_weights(tmp_path, name):
    for dataset in ("cifar10",) if name == "mymodel" else tuple(IMAGE_SHAPES):
        torch.manual_seed(0)
        net = build_model(name, dataset, SIZES[name], kernel_size=3)
        x = torch.rand(2, *IMAGE_SHAPES[dataset])
        assert net.eval()(x).shape == (2, 10)
        path = save_weights(net, tmp_path / f"{name}_{dataset}.pt")
        assert architecture_of(name, torch.load(path, weights_only=True), dataset)["hidden_sizes"] == SIZES[name]
        again = load_trained_model(name, path, dataset)
        assert not again.training and torch.equal(again(x), net(x))


@pytest.mark.parametrize("name", MODELS)
def test_every_spec_agrees_with_its_network(name):
    """The table's entries hold together: the signature and the filter layer are the network's, the default
    hidden sizes are as many as --hidden-sizes takes, the data sets are known."""
    spec = MODELS[name]
    assert spec.name == name and set(spec.datasets) <= set(IMAGE_SHAPES)
    low, high = spec.hidden_count
    assert low <= len(spec.defaults["hidden_sizes"]) <= high and bool(spec.hidden_help) == (high > 0)
    state = build_model(name, spec.datasets[0], spec.defaults["hidden_sizes"]).state_dict()
    assert spec.signature in state and (not spec.filter_layer or spec.filter_layer in state)
    assert spec.lr_per == ("1024 examples" if spec.own_recipe else "batch")


def test_the_registry_gives_mymodels_defaults_without_loading_torch():
    """The command lines read their defaults before torch is loaded: the registry's are the recipe's own numbers,
    the ones MyModel and train_mymodel use."""
    import inspect
    import subprocess
    import sys

    from helpers.paths import REPO_ROOT
    from helpers.pytorch.models import MyModel
    from helpers.pytorch.mymodel_recipe import FastConfig

    code = ("import sys; from helpers.pytorch.registry import MODELS; d = MODELS['mymodel'].defaults; "
            "print(d['hidden_sizes'], d['epochs'], d['lr']); print(sorted(m for m in sys.modules if m == 'torch'))")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                           cwd=REPO_ROOT).stdout.splitlines()
    assert shown == [f"{inspect.signature(MyModel).parameters['widths'].default} {int(FastConfig.epochs)} "
                     f"{FastConfig.lr}", "[]"], shown


def test_unknown_names_and_mymodel_on_grey_images_are_refused():
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        build_model("resnet", "cifar10")
    with pytest.raises(ValueError, match="unknown data set 'svhn'"):
        build_model("softmax", "svhn")
    with pytest.raises(ValueError, match="mymodel classifies CIFAR-10 images; it cannot take mnist"):
        build_model("mymodel", "mnist")


def test_bad_weights_files_are_one_line_naming_the_file(tmp_path):
    convnet = tmp_path / "convnet.pt"
    save_weights(build_model("convnet", "cifar10", (4,), 3), convnet)
    cases = {
        "missing.pt": ("convnet", "cifar10", "no such file"),
        "convnet.pt": ("twolayernn", "cifar10", "does not hold a twolayernn state dict"),
    }
    (tmp_path / "text.pt").write_text("not weights")
    (tmp_path / "list.pt").write_bytes(b"")
    torch.save([1, 2], tmp_path / "list.pt")
    cases["text.pt"] = ("convnet", "cifar10", "is not a PyTorch state dict file")
    cases["list.pt"] = ("convnet", "cifar10", "holds a list, not a state dict")
    for file, (name, dataset, words) in cases.items():
        with pytest.raises(WeightsError, match=words) as err:
            load_trained_model(name, tmp_path / file, dataset)
        assert str(tmp_path / file) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(WeightsError, match="3-channel images, but mnist has 1-channel images"):
        load_trained_model("convnet", convnet, "mnist")


def test_a_weights_file_holding_code_is_refused_not_run(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"conv.weight": Payload()}))
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        with pytest.raises(WeightsError, match="is not a PyTorch state dict file"):
            load_trained_model("convnet", path)
    assert not marker.exists()
    assert [str(w.message) for w in warned] == []  # the one-line refusal only, no warning from inside torch


def test_weights_are_shipped_only_by_a_full_run_that_beats_them(tmp_path, monkeypatch):
    trained, shipped = tmp_path / "outputs" / "w.pt", tmp_path / "assets" / "w.pt"
    trained.parent.mkdir()
    trained.write_bytes(b"new")
    # Smoke mode (the test suite's): never shipped, even when better.
    assert ship_if_better(trained, 0.9, shipped, 0.5).startswith("not shipped: a smoke-mode run")
    monkeypatch.setenv("WORKBOOK_MODE", "full")
    # A copy without the shipped folder (no trained weights handed out): nothing written.
    assert "ships no weights" in ship_if_better(trained, 0.9, shipped, None) and not shipped.parent.exists()
    shipped.parent.mkdir()
    shipped.write_bytes(b"old")
    assert "does not beat" in ship_if_better(trained, 0.5, shipped, 0.5) and shipped.read_bytes() == b"old"
    assert ship_if_better(trained, 0.6, shipped, 0.5).startswith("copied to") and shipped.read_bytes() == b"new"
