"""Classifiers of the NumPy part of the course (CS231n names and conventions).

One file per model, re-exported here so that notebooks write
``from helpers.scratch.classifiers import TwoLayerNet``:

- ``softmax.py``: ``softmax_loss_naive``, ``softmax_loss_vectorized``, ``LinearSoftmax``
- ``two_layer_net.py``: ``TwoLayerNet``
- ``cnn.py``: ``ThreeLayerConvNet``
"""

import importlib

_EXPORTS = {
    "softmax_loss_naive": "softmax",
    "softmax_loss_vectorized": "softmax",
    "LinearSoftmax": "softmax",
    "TwoLayerNet": "two_layer_net",
    "ThreeLayerConvNet": "cnn",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    # Resolved on first use, so each model file is imported only when needed.
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
