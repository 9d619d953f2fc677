"""Small synthetic image batches for the augmentation and robustness tests."""

from __future__ import annotations

import torch


def digit_batch(n=16, c=1, seed=0):
    """``n`` images of ``c`` channels, 28 x 28 in [0, 1], the same for the same ``seed``."""
    g = torch.Generator().manual_seed(seed)
    # Digit-like images: dark background, a bright blob.
    x = torch.zeros(n, c, 28, 28)
    x[:, :, 8:20, 10:18] = torch.rand(n, c, 12, 8, generator=g) * 0.5 + 0.5
    return x
