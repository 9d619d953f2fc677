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
