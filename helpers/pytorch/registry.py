"""The PyTorch models by name: build one for a data set, save its weights, load weights back.

- ``MODELS``: the names ``python -m helpers.train --model`` takes.
- ``IMAGE_SHAPES``: ``(C, H, W)`` of one image of each data set.
- ``build_model(name, dataset, hidden_sizes, kernel_size)``: a fresh network of ``helpers.pytorch.models``.
- ``architecture_of(name, state, dataset)``: the ``build_model`` arguments a state dict's shapes imply.
- ``load_trained_model(name, path, dataset)``: the network with the weights of ``path`` (read as data:
  ``torch.load(weights_only=True)``), its architecture read off the file, in evaluation mode.
- ``save_weights(model, path)``: the state dict, written atomically (``weights_bytes``: its bytes).
- ``ship_if_better(trained, accuracy, shipped, shipped_accuracy)``: a full run's weights replace the shipped ones only when better.

Bad weights raise ``WeightsError`` with one line naming the file and what it holds.
(The RPZ deliverable's ``MyNet`` has its own ``helpers.pytorch_cnn.load_model``: that file stands alone.)
"""

from __future__ import annotations

import re
from pathlib import Path

MODELS = ("softmax", "twolayernn", "convnet", "mlp", "mymodel")
IMAGE_SHAPES = {"cifar10": (3, 32, 32), "mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28)}
# The file name notebook 07, ``python -m helpers.train --model mymodel`` and the shipped weights use.
MYMODEL_WEIGHTS = "cifar10_mymodel.pt"
# The parameter each model's state dict must hold (how a file is told to be that model's).
_SIGNATURE = {"softmax": "linear.weight", "twolayernn": "fc1.weight", "convnet": "conv.weight",
              "mlp": "layers.0.weight", "mymodel": "whiten.weight"}


class WeightsError(ValueError):
    """A weights file that does not exist, is not a state dict, or does not fit the model asked for."""


def _check_name(name: str, dataset: str) -> None:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {MODELS}.")
    if dataset not in IMAGE_SHAPES:
        raise ValueError(f"unknown data set {dataset!r}; expected one of {tuple(IMAGE_SHAPES)}.")
    if name == "mymodel" and dataset != "cifar10":
        raise ValueError(f"mymodel classifies CIFAR-10 images; it cannot take {dataset}.")


def build_model(name: str, dataset: str = "cifar10", hidden_sizes=(), kernel_size: int = 5):
    """A fresh ``helpers.pytorch.models`` network called ``name`` for ``dataset``'s images.

    ``hidden_sizes``: the hidden width (``twolayernn``), the filter count (``convnet``), one width per
    hidden layer (``mlp``) or the three group widths (``mymodel``, default its own).
    """
    from helpers.pytorch.models import ConvNet, MultiLayerPerceptron, MyModel, SoftmaxClassifier, TwoLayerNN

    _check_name(name, dataset)
    im_size = IMAGE_SHAPES[dataset]
    if name == "softmax":
        return SoftmaxClassifier(im_size)
    if name == "twolayernn":
        return TwoLayerNN(im_size, hidden_dim=hidden_sizes[0])
    if name == "convnet":
        return ConvNet(im_size, hidden_dim=hidden_sizes[0], kernel_size=kernel_size)
    if name == "mlp":
        return MultiLayerPerceptron(im_size[0] * im_size[1] * im_size[2], list(hidden_sizes))
    return MyModel(widths=tuple(hidden_sizes)) if hidden_sizes else MyModel()


def architecture_of(name: str, state: dict, dataset: str = "cifar10") -> dict:
    """``build_model`` arguments (``hidden_sizes``, ``kernel_size``) read off a state dict's shapes.

    Raises ``WeightsError`` when the weights are not ``name``'s or not for ``dataset``'s images.
    """
    _check_name(name, dataset)
    expected = _SIGNATURE[name]
    if expected not in state:
        raise WeightsError(f"this file does not hold a {name} state dict (no {expected!r}; it has "
                           f"{', '.join(list(state)[:6])}{', ...' if len(state) > 6 else ''}).")
    if name == "softmax":
        return {"hidden_sizes": ()}
    if name == "twolayernn":
        return {"hidden_sizes": (state["fc1.weight"].shape[0],)}
    if name == "convnet":
        filters, channels, k, _ = state["conv.weight"].shape
        if channels != IMAGE_SHAPES[dataset][0]:
            raise WeightsError(f"this convnet takes {channels}-channel images, but {dataset} has "
                               f"{IMAGE_SHAPES[dataset][0]}-channel images.")
        return {"hidden_sizes": (filters,), "kernel_size": k}
    if name == "mlp":
        linear = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r"layers\.(\d+)\.weight", k)))
        return {"hidden_sizes": tuple(state[f"layers.{i}.weight"].shape[0] for i in linear[:-1])}
    return {"hidden_sizes": tuple(state[f"group{i}.conv2.weight"].shape[0] for i in (1, 2, 3))}


def load_trained_model(name: str, path, dataset: str = "cifar10", device="cpu"):
    """``build_model`` with the architecture of the weights in ``path``, the weights loaded, in evaluation mode.

    The file is read as data (``weights_only=True``): a file holding code is refused, never run.
    """
    import torch

    from helpers.paths import error_line

    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"{path} is a folder; give the weights file (a .pt state dict).")
    if not path.is_file():
        raise WeightsError(f"{path}: no such file (python -m helpers.train --model {name} writes "
                           f"OUT/models/<run>.pt).")
    if path.stat().st_size == 0:
        raise WeightsError(f"{path} is empty (0 bytes), not a PyTorch state dict file: save the weights again.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and torch errors come in many types
        raise WeightsError(f"{path} is not a PyTorch state dict file ({error_line(err)}); it is damaged, or holds "
                           "more than tensors and was not loaded, since loading it could run code.") from None
    if not isinstance(state, dict) or not state:
        raise WeightsError(f"{path} holds {'an empty dict' if isinstance(state, dict) else 'a ' + type(state).__name__}"
                           ", not a state dict of tensors.")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise WeightsError(f"{path} holds a dict of other things than named tensors, not a state dict.")
    try:
        net = build_model(name, dataset, **architecture_of(name, state, dataset))
    except WeightsError as err:
        raise WeightsError(f"{path}: {err}") from None
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise WeightsError(f"{path} does not fit {name} on {dataset} images: {err}") from None
    return net.to(device).eval()


def weights_bytes(model) -> bytes:
    """``model.state_dict()``, its tensors moved to the CPU, as the bytes of a ``torch.save`` file."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def save_weights(model, path) -> Path:
    """Save ``model.state_dict()`` (on the CPU) to ``path`` atomically: a crash never leaves half a file."""
    from helpers.paths import atomic_write_bytes

    return atomic_write_bytes(path, weights_bytes(model))


def ship_if_better(trained, accuracy: float, shipped, shipped_accuracy: float | None) -> str:
    """Copy the weights file ``trained`` over the shipped ``shipped`` when it is more accurate; returns what was done.

    Only a full-mode run ships, and only into a copy that ships weights (the
    course repository: ``shipped``'s folder exists; a copy without the trained weights has none).
    ``accuracy`` and ``shipped_accuracy`` (None: nothing shipped yet) are
    measured the same way, on the same images. The copy is atomic.
    """
    from helpers.paths import atomic_write_bytes, display_path
    from helpers.runtime import mode

    trained, shipped = Path(trained), Path(shipped)
    before = "nothing shipped yet" if shipped_accuracy is None else f"shipped: {shipped_accuracy:.4f}"
    if mode() != "full":
        return f"not shipped: a {mode()}-mode run never replaces {display_path(shipped)} ({before})"
    if not shipped.parent.is_dir():
        return f"not shipped: this copy ships no weights ({display_path(shipped.parent)} is absent)"
    if shipped_accuracy is not None and accuracy <= shipped_accuracy:
        return f"not shipped: {accuracy:.4f} does not beat {display_path(shipped)} ({before})"
    atomic_write_bytes(shipped, trained.read_bytes())
    return f"copied to {display_path(shipped)}: {accuracy:.4f} beats it ({before} before)"
