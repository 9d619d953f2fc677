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
