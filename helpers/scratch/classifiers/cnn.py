"""``ThreeLayerConvNet``: the shallow ConvNet of CS231n (CS7643 Q8.4).

    conv - relu - 2x2 max pool - affine - relu - affine - softmax

built from the fast layers of ``helpers.scratch.layers``. Inputs are minibatches
``(N, C, H, W)``.
"""

from __future__ import annotations

import io
import json
import os

import numpy as np

from helpers.paths import atomic_write_bytes
from helpers.scratch.layers import (
    affine_backward,
    affine_forward,
    affine_relu_backward,
    affine_relu_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
    softmax_loss,
)

PARAM_NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")


class ThreeLayerConvNet:
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax.

    The convolution keeps the spatial size (stride 1, ``pad = (filter_size - 1) // 2``,
    so ``filter_size`` must be odd); the pooling halves it (H and W must be even).

    Parameters (in ``self.params``):

    - ``W1`` ``(F, C, filter_size, filter_size)``, ``b1`` ``(F,)``: the filters;
    - ``W2`` ``(F * H/2 * W/2, hidden_dim)``, ``b2`` ``(hidden_dim,)``;
    - ``W3`` ``(hidden_dim, num_classes)``, ``b3`` ``(num_classes,)``.

    Weights start as ``weight_scale * randn``, biases as zeros. ``reg`` is the
    L2 strength; the loss adds ``0.5 * reg * sum(W**2)`` for W1, W2, W3 (as
    CS231n). ``dtype``: float32 trains faster, float64 for gradient checks.
    ``seed``: the generator of the initial weights (None: NumPy's global one).
    """

    def __init__(self, input_dim=(3, 32, 32), num_filters: int = 32, filter_size: int = 7, hidden_dim: int = 100,
                 num_classes: int = 10, weight_scale: float = 1e-3, reg: float = 0.0, dtype=np.float32,
                 seed: int | None = None):
        C, H, W = input_dim
        if filter_size % 2 != 1:
            raise ValueError(f"filter_size must be odd so that padding keeps the size; got {filter_size}.")
        if H % 2 or W % 2:
            raise ValueError(f"input_dim (C, H, W) needs even H and W for the 2x2 pooling; got {tuple(input_dim)}.")
        self.config = dict(input_dim=tuple(int(d) for d in input_dim), num_filters=int(num_filters),
                           filter_size=int(filter_size), hidden_dim=int(hidden_dim), num_classes=int(num_classes))
        self.reg = reg
        self.dtype = np.dtype(dtype)
        rng = np.random.default_rng(seed) if seed is not None else None
        randn = np.random.randn if rng is None else (lambda *shape: rng.standard_normal(shape))
        ### BEGIN SOLUTION
        self.params = {
            "W1": weight_scale * randn(num_filters, C, filter_size, filter_size),
            "b1": np.zeros(num_filters),
            "W2": weight_scale * randn(num_filters * (H // 2) * (W // 2), hidden_dim),
            "b2": np.zeros(hidden_dim),
            "W3": weight_scale * randn(hidden_dim, num_classes),
            "b3": np.zeros(num_classes),
        }
        ### END SOLUTION
        self.params = {k: v.astype(self.dtype) for k, v in self.params.items()}

    def loss(self, X: np.ndarray, y: np.ndarray | None = None):
        """Scores, or loss and gradients, for a minibatch.

        X: ``(N, C, H, W)``; y: ``(N,)`` labels in ``[0, num_classes)``, or None.
        Returns the scores ``(N, num_classes)`` when ``y`` is None, else
        ``(loss, grads)`` with ``grads[k]`` the shape of ``params[k]``.
        """
        layout = f"(N, {', '.join(map(str, self.config['input_dim']))})"
        if not isinstance(X, np.ndarray):
            raise TypeError(f"X must be a NumPy array of shape {layout}; got a {type(X).__name__}.")
        if X.shape[1:] != self.config["input_dim"] or X.shape[0] == 0:
            raise ValueError(f"X must have shape {layout} with at least one image; got {X.shape}.")
        X = X.astype(self.dtype, copy=False)
        W1, b1, W2, b2, W3, b3 = (self.params[k] for k in PARAM_NAMES)
        conv_param = {"stride": 1, "pad": (W1.shape[2] - 1) // 2}
        pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        ### BEGIN SOLUTION
        pooled, cache1 = conv_relu_pool_forward(X, W1, b1, conv_param, pool_param)
        hidden, cache2 = affine_relu_forward(pooled, W2, b2)
        scores, cache3 = affine_forward(hidden, W3, b3)
        ### END SOLUTION
        if y is None:
            return scores
        grads = {}
        ### BEGIN SOLUTION
        data_loss, dscores = softmax_loss(scores, y)
        loss = data_loss + 0.5 * self.reg * sum(float(np.sum(W * W)) for W in (W1, W2, W3))
        dhidden, grads["W3"], grads["b3"] = affine_backward(dscores, cache3)
        dpooled, grads["W2"], grads["b2"] = affine_relu_backward(dhidden, cache2)
        # The input images need no gradient: skip that part of the conv backward pass.
        _, grads["W1"], grads["b1"] = conv_relu_pool_backward(dpooled, cache1, need_dx=False)
        for k in ("W1", "W2", "W3"):
            grads[k] = grads[k] + self.reg * self.params[k]
        ### END SOLUTION
        return loss, grads

    def predict(self, X: np.ndarray, batch_size: int = 200) -> np.ndarray:
        """Predicted labels ``(N,)`` for images ``X`` ``(N, C, H, W)``, in batches."""
        if len(X) == 0:
            return np.empty(0, dtype=np.int64)
        return np.concatenate([np.argmax(self.loss(X[i:i + batch_size]), axis=1) for i in range(0, len(X), batch_size)])

    def save(self, path: str | os.PathLike) -> None:
        """Write the parameters and the architecture to an ``.npz`` file, atomically."""
        buf = io.BytesIO()
        np.savez(buf, config=np.array(json.dumps(self.config)), **self.params)
        atomic_write_bytes(path, buf.getvalue(), hold_folder=True)

    @classmethod
    def load(cls, path: str | os.PathLike, dtype=np.float32) -> ThreeLayerConvNet:
        """Rebuild a model saved with ``save``."""
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("config", *PARAM_NAMES) if k not in f.files]
            if missing:
                raise ValueError(f"{path} is not a ThreeLayerConvNet checkpoint: it lacks {missing} (holds {f.files}).")
            config = json.loads(str(f["config"]))
            model = cls(**config, dtype=dtype, seed=0)
            for k in PARAM_NAMES:
                if f[k].shape != model.params[k].shape:
                    raise ValueError(f"{path}: {k} has shape {f[k].shape}, expected {model.params[k].shape}.")
                model.params[k] = f[k].astype(dtype)
        return model
