"""The workbook's helpers: the code the notebooks teach and use.

Modules (import them directly, e.g. ``from helpers.data import load_dataset``):

- ``helpers.paths``: where the repository, its assets and the output folder are.
- ``helpers.runtime``: the run mode (``full`` / ``smoke``) and reproducibility set-up.
- ``helpers.data``: offline-first loaders for MNIST, Fashion-MNIST and CIFAR-10.
- ``helpers.gradient_check``: numeric gradients and ``rel_error``.
- ``helpers.plotting``: image grids and training curves.
- ``helpers.device``: picks cuda, mps or cpu once.
- ``helpers.colab``: the set-up cell that makes a notebook work in Google Colab.

The deliverables (``helpers.numpy_nn``, ``helpers.pytorch_cnn``) import only
numpy / torch so that an upload system can import each file on its own.
"""

__version__ = "0.1.0"
