"""helpers.pytorch.filter_viz: first-layer weights in the (F, C, H, W) layout filter_grid draws."""

import numpy as np
import pytest
import torch

from helpers.pytorch.filter_viz import dense_templates, numpy_templates


def test_templates_layouts():
    w = torch.arange(4 * 3072, dtype=torch.float32).view(4, 3072)
    t = dense_templates(w)
    assert t.shape == (4, 3, 32, 32) and t[1, 2, 3, 4] == w[1, 2 * 1024 + 3 * 32 + 4]
    W1 = np.arange(3072 * 5, dtype=np.float64).reshape(3072, 5)   # CS231n: rows are (32, 32, 3) pixels
    n = numpy_templates(W1)
    assert n.shape == (5, 3, 32, 32) and n[2, 1, 3, 4] == W1[(3 * 32 + 4) * 3 + 1, 2]
    with pytest.raises(ValueError, match="3072"):
        dense_templates(torch.zeros(4, 100))


def test_the_spec_names_the_layer_drawn():
    from helpers.pytorch.filter_viz import first_layer_filters, load_or_train
    from helpers.pytorch.registry import build_model

    torch.manual_seed(0)
    twolayer, convnet = build_model("twolayernn", "cifar10", (6,)), build_model("convnet", "mnist", (4,), 3)
    assert np.array_equal(first_layer_filters("twolayernn", twolayer), dense_templates(twolayer.fc1.weight))
    assert first_layer_filters("convnet", convnet, "mnist").shape == (4, 1, 3, 3)
    assert first_layer_filters("mymodel", build_model("mymodel", "cifar10", (8, 16, 16))).shape == (24, 3, 2, 2)
    for call in (lambda: first_layer_filters("softmax", None), lambda: load_or_train("mlp")):
        with pytest.raises(ValueError, match="expected 'twolayernn', 'convnet' or 'mymodel'"):
            call()


def test_mymodel_without_weights_shows_the_first_layer_its_training_sets(tmp_path, monkeypatch):
    """Without trained MyModel weights (none saved, none shipped) notebook 08 still draws MyModel's first layer,
    which training computes from the images and freezes, computed here the same way (no half hour of training)."""
    import helpers.pytorch.filter_viz as filter_viz
    from helpers.pytorch.experiments import load_splits
    from helpers.pytorch.mymodel_config import MYMODEL_VAL_SIZE
    from helpers.pytorch.mymodel_recipe import FastConfig, whitening_filters

    monkeypatch.setenv("WORKBOOK_OUTPUT", str(tmp_path / "outputs"))
    monkeypatch.setattr(filter_viz, "MODELS_DIR", tmp_path / "no-weights-shipped")
    model, how = filter_viz.load_or_train("mymodel")
    assert "its whitening layer computed here from the training images" in how, how
    assert "outputs/models/cifar10_mymodel.pt not found" in how.replace("$WORKBOOK_OUTPUT", "outputs")
    train_images = load_splits("cifar10", MYMODEL_VAL_SIZE, FastConfig().seed, pixels="uint8").train[0][:5000]
    expected = whitening_filters(model.normalize(train_images.float() / 255), 2)
    torch.testing.assert_close(model.whiten.weight, expected)
    assert not model.training and not model.whiten.weight.requires_grad
