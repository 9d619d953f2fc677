"""First-layer weights as images (notebook 08, CS7643's ``filter-viz.ipynb``).

- ``dense_templates``: a fully connected first layer ``(hidden, C*H*W)`` ->
  ``(hidden, C, H, W)`` templates;
- ``conv_filters``: a convolution weight ``(F, C, k, k)`` as a NumPy array;
- ``numpy_templates`` / ``numpy_conv_filters``: the same for the NumPy models
  of notebooks 04 and 05 (CS231n layouts);
- ``first_layer_filters(name, model)``: the weights of the layer the model's spec
  names (``registry.MODELS[name].filter_layer``), as templates or filters;
- ``load_or_train(name)``: a trained model from ``output_dir("models")``, or a
  quickly trained one when notebook 07 has not been run (for ``MyModel``, whose
  first layer is computed, not learnt: that layer computed from the images).

All return arrays in the ``(F, C, H, W)`` layout ``helpers.plotting.filter_grid`` takes.
"""

from __future__ import annotations

import numpy as np
import torch

from helpers.paths import MODELS_DIR, display_path, output_dir
from helpers.pytorch.experiments import load_splits
from helpers.pytorch.mymodel_config import MYMODEL_VAL_SIZE
from helpers.pytorch.mymodel_recipe import FastConfig, init_whitening
from helpers.pytorch.registry import IMAGE_SHAPES, MODELS, ModelSpec, build_model, load_trained_model
from helpers.pytorch.training import fit


def _numpy(w) -> np.ndarray:
    return w.detach().cpu().numpy() if isinstance(w, torch.Tensor) else np.asarray(w)


def dense_templates(weight, image_shape=(3, 32, 32)) -> np.ndarray:
    """PyTorch ``nn.Linear`` weight ``(hidden, C*H*W)`` -> templates ``(hidden, C, H, W)``.

    The input was flattened from ``(C, H, W)`` tensors, so each row reshapes back to that layout.
    """
    w = _numpy(weight)
    if w.ndim != 2 or w.shape[1] != int(np.prod(image_shape)):
        raise ValueError(f"expected a first-layer weight (hidden, {int(np.prod(image_shape))}) for images "
                         f"{tuple(image_shape)}; got {w.shape}.")
    return w.reshape(len(w), *image_shape)


def conv_filters(weight) -> np.ndarray:
    """Convolution weight ``(F, C, k, k)`` (torch or NumPy) -> NumPy ``(F, C, k, k)``."""
    w = _numpy(weight)
    if w.ndim != 4:
        raise ValueError(f"expected a convolution weight (F, C, k, k); got shape {w.shape}.")
    return w


def numpy_templates(W1, image_shape=(32, 32, 3)) -> np.ndarray:
    """CS231n ``TwoLayerNet`` ``W1`` ``(H*W*C, hidden)`` (rows of images flattened channels-last) -> ``(hidden, C, H, W)``."""
    W1 = np.asarray(W1)
    if W1.ndim != 2 or W1.shape[0] != int(np.prod(image_shape)):
        raise ValueError(f"expected W1 of shape ({int(np.prod(image_shape))}, hidden) for images "
                         f"{tuple(image_shape)}; got {W1.shape}.")
    return W1.T.reshape(W1.shape[1], *image_shape).transpose(0, 3, 1, 2)


def numpy_conv_filters(W1) -> np.ndarray:
    """CS231n ``ThreeLayerConvNet`` ``W1`` ``(F, C, k, k)`` -> the same array (checked)."""
    return conv_filters(np.asarray(W1))


def first_layer_filters(name: str, model, dataset: str = "cifar10") -> np.ndarray:
    """The weights of ``MODELS[name].filter_layer`` of ``model`` as ``(F, C, H, W)``: a fully connected layer's
    rows as templates of ``dataset``'s images, a convolution's filters as they are."""
    layer = _drawn_spec(name).filter_layer
    weight = model.get_parameter(layer)
    return dense_templates(weight, IMAGE_SHAPES[dataset]) if weight.ndim == 2 else conv_filters(weight)


def _drawn_spec(name: str) -> ModelSpec:
    """``MODELS[name]`` for a model with a filter layer; ``ValueError`` naming those models for another name."""
    spec = MODELS.get(name)
    if spec is None or not spec.filter_layer:
        drawn = [repr(m) for m, s in MODELS.items() if s.filter_layer]
        raise ValueError(f"unknown model {name!r}; expected {', '.join(drawn[:-1])} or {drawn[-1]}.")
    return spec


def _whitened(model):
    """``MyModel`` with its frozen whitening layer set as its training sets it (the recipe's split and seed)."""
    data = load_splits("cifar10", val_size=MYMODEL_VAL_SIZE, seed=FastConfig().seed, pixels="uint8")
    init_whitening(model, data.train[0])
    return model.cpu().eval()


def _quick_train(model, epochs: int = 1):
    """Train ``model`` briefly (SGD, ``epochs`` on the current mode's CIFAR-10) so that its filters show structure."""
    data = load_splits("cifar10", val_size=0.1, seed=0)
    train, val, _ = data.loaders(batch_size=128)
    fit(model, train, val, epochs=epochs, progress=False, verbose=False, restore_best=False,
        optimizer=lambda p: torch.optim.SGD(p, lr=5e-3, momentum=0.9, weight_decay=1e-3))
    return model.cpu().eval()


def load_or_train(name: str):
    """``(model, how)`` for a model with a filter layer: ``"twolayernn"``, ``"convnet"`` or ``"mymodel"``.

    Loads ``output_dir("models") / f"{name}.pt"`` (the spec's ``weights_file``,
    ``cifar10_mymodel.pt``, for MyModel) when it exists, building the model with
    the sizes the saved weights have; otherwise loads the weights the course
    ships (``assets/models/<weights_file>``) when they are there. Without either,
    ``MyModel`` gets its frozen whitening layer computed from the training images
    as its training would (the layer notebook 08 shows), and the two-layer net
    and the ConvNet are trained for one epoch here with their default sizes.
    ``how`` says which happened.
    """
    spec = _drawn_spec(name)
    path = output_dir("models") / (spec.weights_file or f"{name}.pt")
    if path.exists():
        return load_trained_model(name, path), f"loaded {display_path(path)}"
    if spec.weights_file and (shipped := MODELS_DIR / spec.weights_file).exists():
        return load_trained_model(name, shipped), f"loaded {display_path(shipped)}"
    model = build_model(name, "cifar10", spec.defaults["hidden_sizes"])
    if name == "mymodel":
        # Its first layer is not learnt: training sets it from the training images and freezes it, so the
        # same computation here gives the filters a trained MyModel has, without the half hour of training.
        return _whitened(model), (f"{display_path(path)} not found (notebook 07's challenge trains it): "
                                  f"its whitening layer computed here from the training images")
    return _quick_train(model), f"{display_path(path)} not found (run notebook 07): trained for one epoch here"
