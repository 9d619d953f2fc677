"""The PyTorch models by name: one spec per model; build one for a data set, save its weights, load weights back.

``MODELS`` maps each name ``python -m helpers.train --model`` takes to its ``ModelSpec``, the one place that
says what the command lines, ``predict``, the filter pictures and the notebooks need to know of that model:

- ``build`` and ``architecture``: the ``helpers.pytorch.models`` network for an image shape, hidden sizes and
  kernel size, and those sizes read back off a state dict (``signature``: a parameter only its state dicts hold);
- ``datasets``: the data sets it takes (MyModel: CIFAR-10 only; ``datasets_why`` / ``datasets_instead`` say why);
- ``defaults``: ``train``'s settings; ``hidden_count`` / ``hidden_help`` / ``hidden_rule``: what
  ``--hidden-sizes`` means for it; ``kernel_size``: whether ``--kernel-size`` shapes it;
- ``own_recipe`` and ``lr_per``: trained by its own recipe (``helpers.pytorch.mymodel_recipe``, its optimizer
  fixed) or by the one loop with ``--optimizer``; ``--lr`` per batch, or per 1024 examples;
- ``pixels`` and ``tta``: ``predict``'s input (pixels the network normalises itself, or standardised images) and
  whether ``--tta`` applies;
- ``weights_file``: the file name its runs write and the course ships (``MYMODEL_WEIGHTS``), else ``<run>.pt``;
- ``filter_layer``: the weight notebook 08 draws as filters (``helpers.pytorch.filter_viz``).

The rest of the module:

- ``model_spec(name)``: ``MODELS[name]``, or a ``ValueError`` naming the models.
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

import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from helpers.paths import atomic_write_bytes, display_path, error_line
from helpers.pytorch.mymodel_config import MYMODEL_VAL_SIZE, MYMODEL_WIDTHS, FastConfig
from helpers.runtime import mode

IMAGE_SHAPES = {"cifar10": (3, 32, 32), "mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28)}
_TITLES = {"cifar10": "CIFAR-10", "mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


class WeightsError(ValueError):
    """A weights file that does not exist, is not a state dict, or does not fit the model asked for."""


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """What the code knows about one model (``MODELS[name]``); the module docstring groups the fields by user."""

    name: str
    # (image shape (C, H, W), hidden sizes, kernel size) -> a fresh network.
    build: Callable[[tuple, tuple, int], Any]
    # A parameter every state dict of this model holds: tells its weights files from another model's.
    signature: str
    # (state dict, data set) -> build's hidden_sizes (and kernel_size); raises WeightsError for other images.
    architecture: Callable[[Mapping, str], dict]
    # train's settings: epochs, lr, batch_size, weight_decay, momentum, optimizer, hidden_sizes, val_size (the part
    # of the training images held out for validation) (read-only);
    # a model with its own recipe also muon_lr (train's --muon-lr applies to it only).
    defaults: Mapping[str, Any]
    # --hidden-sizes: how many values it takes (fewest, most); what they are in the help ("": it has none)
    # and as the refusal of a wrong count says it.
    hidden_count: tuple[int, int]
    hidden_help: str
    hidden_rule: str
    datasets: tuple[str, ...] = tuple(IMAGE_SHAPES)
    # What it is and what to use instead: train's refusal of a data set outside ``datasets`` says both.
    datasets_why: str = ""
    datasets_instead: str = ""
    kernel_size: bool = False   # --kernel-size shapes it (and the settings line names it)
    # Trained by helpers.pytorch.mymodel_recipe (its own Muon, Nesterov SGD and schedule), not by the one loop:
    # --optimizer is then fixed to defaults["optimizer"].
    own_recipe: bool = False
    # What --lr counts: "batch" (the optimizer's own rate on a batch's mean loss) or "1024 examples"
    # (the recipe's rate, decoupled from batch size and momentum: mymodel_recipe.FastConfig).
    lr_per: str = "batch"
    # predict's input: uint8 pixels the network normalises itself (mymodel_recipe.predict_logits), else
    # images standardised with the training-set statistics (experiments.standardize).
    pixels: bool = False
    tta: bool = False   # predict --tta (mirror and shifts, mymodel_recipe.predict_logits) applies
    # The weights' file name its runs write under models/ and the course ships in assets/models/;
    # "": runs write models/<run>.pt and nothing is shipped.
    weights_file: str = ""
    # The parameter whose weights notebook 08 draws as filters ("": none drawn).
    filter_layer: str = ""

    def __post_init__(self):
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))

    @property
    def images(self) -> str:
        """What it classifies, e.g. ``"CIFAR-10 images"`` (the refusals of other data sets say it)."""
        return " / ".join(_TITLES[d] for d in self.datasets) + " images"

    def image_shape(self, dataset: str) -> tuple[int, int, int]:
        """``(C, H, W)`` of the images of ``dataset``; ``ValueError`` for a data set it does not take."""
        if dataset not in IMAGE_SHAPES:
            raise ValueError(f"unknown data set {dataset!r}; expected one of {tuple(IMAGE_SHAPES)}.")
        if dataset not in self.datasets:
            raise ValueError(f"{self.name} classifies {self.images}; it cannot take {dataset}.")
        return IMAGE_SHAPES[dataset]


def _models():
    """``helpers.pytorch.models``, imported on first use: torch takes seconds to import, and the command lines'
    ``--help`` and refusals need only the specs."""
    from helpers.pytorch import models  # deferred: it imports torch (see above)

    return models


def _convnet_architecture(state, dataset: str) -> dict:
    filters, channels, k, _ = state["conv.weight"].shape
    if channels != IMAGE_SHAPES[dataset][0]:
        raise WeightsError(f"this convnet takes {channels}-channel images, but {dataset} has "
                           f"{IMAGE_SHAPES[dataset][0]}-channel images.")
    return {"hidden_sizes": (filters,), "kernel_size": k}


def _mlp_architecture(state, dataset: str) -> dict:
    linear = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r"layers\.(\d+)\.weight", k)))
    return {"hidden_sizes": tuple(state[f"layers.{i}.weight"].shape[0] for i in linear[:-1])}


# One spec per model, in the order the command lines list them. ``defaults`` are the settings notebook 07 was
# tuned with (scripts/run_<model>.sh give them explicitly).
MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec(
        "softmax", build=lambda im_size, hidden, k: _models().SoftmaxClassifier(im_size),
        signature="linear.weight", architecture=lambda state, dataset: {"hidden_sizes": ()},
        defaults=dict(epochs=6, lr=2e-3, batch_size=128, weight_decay=1e-3, momentum=0.9, optimizer="sgd",
                      hidden_sizes=(), val_size=0.1),
        hidden_count=(0, 0), hidden_help="", hidden_rule="has no hidden layer"),
    ModelSpec(
        "twolayernn", build=lambda im_size, hidden, k: _models().TwoLayerNN(im_size, hidden_dim=hidden[0]),
        signature="fc1.weight", architecture=lambda state, dataset: {"hidden_sizes": (state["fc1.weight"].shape[0],)},
        defaults=dict(epochs=8, lr=5e-3, batch_size=128, weight_decay=1e-3, momentum=0.9, optimizer="sgd",
                      hidden_sizes=(512,), val_size=0.1),
        hidden_count=(1, 1), hidden_help="one width", hidden_rule="takes one value: the hidden layer's width",
        filter_layer="fc1.weight"),
    ModelSpec(
        "convnet", build=lambda im_size, hidden, k: _models().ConvNet(im_size, hidden_dim=hidden[0], kernel_size=k),
        signature="conv.weight", architecture=_convnet_architecture,
        defaults=dict(epochs=6, lr=5e-3, batch_size=128, weight_decay=1e-3, momentum=0.9, optimizer="sgd",
                      hidden_sizes=(32,), val_size=0.1),
        hidden_count=(1, 1), hidden_help="the number of filters",
        hidden_rule="takes one value: the number of convolution filters", kernel_size=True, filter_layer="conv.weight"),
    ModelSpec(
        "mlp", build=lambda im_size, hidden, k: _models().MultiLayerPerceptron(
            im_size[0] * im_size[1] * im_size[2], list(hidden)),
        signature="layers.0.weight", architecture=_mlp_architecture,
        defaults=dict(epochs=8, lr=2e-4, batch_size=200, weight_decay=1e-4, momentum=0.9, optimizer="adam",
                      hidden_sizes=(512,), val_size=0.1),
        hidden_count=(1, 16), hidden_help="one width per hidden layer",
        hidden_rule="takes one width per hidden layer (1 to 16 layers)"),
    ModelSpec(
        "mymodel", build=lambda im_size, hidden, k: _models().MyModel(widths=hidden) if hidden else _models().MyModel(),
        signature="whiten.weight",
        architecture=lambda state, dataset: {
            "hidden_sizes": tuple(state[f"group{i}.conv2.weight"].shape[0] for i in (1, 2, 3))},
        # The recipe's own numbers (mymodel_config, which imports no torch).
        defaults=dict(epochs=int(FastConfig.epochs), lr=FastConfig.lr, batch_size=FastConfig.batch_size,
                      weight_decay=FastConfig.weight_decay, momentum=FastConfig.momentum, optimizer="sgd",
                      muon_lr=FastConfig.muon_lr, hidden_sizes=MYMODEL_WIDTHS, val_size=MYMODEL_VAL_SIZE),
        hidden_count=(3, 3), hidden_help="three group widths",
        hidden_rule="takes three values: the widths of its three convolution groups",
        datasets=("cifar10",), datasets_why="the CIFAR-10 challenge network (3x32x32 images, whitening layer)",
        datasets_instead="For MNIST / Fashion-MNIST use another model, or notebook 06's MyNet.",
        own_recipe=True, lr_per="1024 examples", pixels=True, tta=True,
        weights_file="cifar10_mymodel.pt", filter_layer="whiten.weight"),
)}
# The file name notebook 07, ``python -m helpers.train --model mymodel`` and the shipped weights use.
MYMODEL_WEIGHTS = MODELS["mymodel"].weights_file


def model_spec(name: str) -> ModelSpec:
    """``MODELS[name]``; ``ValueError`` naming the models for another name."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {tuple(MODELS)}.")
    return MODELS[name]


def build_model(name: str, dataset: str = "cifar10", hidden_sizes=(), kernel_size: int = 5):
    """A fresh ``helpers.pytorch.models`` network called ``name`` for ``dataset``'s images.

    ``hidden_sizes``: what ``MODELS[name].hidden_help`` says: the hidden width (``twolayernn``), the filter
    count (``convnet``), one width per hidden layer (``mlp``) or the three group widths (``mymodel``, default
    its own).
    """
    spec = model_spec(name)
    return spec.build(spec.image_shape(dataset), tuple(hidden_sizes), kernel_size)


def architecture_of(name: str, state: dict, dataset: str = "cifar10") -> dict:
    """``build_model`` arguments (``hidden_sizes``, ``kernel_size``) read off a state dict's shapes.

    Raises ``WeightsError`` when the weights are not ``name``'s or not for ``dataset``'s images.
    """
    spec = model_spec(name)
    spec.image_shape(dataset)
    if spec.signature not in state:
        raise WeightsError(f"this file does not hold a {name} state dict (no {spec.signature!r}; it has "
                           f"{', '.join(list(state)[:6])}{', ...' if len(state) > 6 else ''}).")
    return spec.architecture(state, dataset)


def load_trained_model(name: str, path, dataset: str = "cifar10", device="cpu"):
    """``build_model`` with the architecture of the weights in ``path``, the weights loaded, in evaluation mode.

    The file is read as data (``weights_only=True``): a file holding code is refused, never run.
    """
    import torch  # deferred: torch takes seconds to import, and --help and refusals need only the specs

    from helpers.pytorch.training import load_data_only

    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"{path} is a folder; give the weights file (a .pt state dict).")
    if not path.is_file():
        raise WeightsError(f"{path}: no such file (python -m helpers.train --model {name} writes "
                           f"OUT/models/<run>.pt).")
    if path.stat().st_size == 0:
        raise WeightsError(f"{path} is empty (0 bytes), not a PyTorch state dict file: save the weights again.")
    try:
        state = load_data_only(path)
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
    import torch  # deferred: torch takes seconds to import, and --help and refusals need only the specs

    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def save_weights(model, path) -> Path:
    """Save ``model.state_dict()`` (on the CPU) to ``path`` atomically: a crash never leaves half a file."""
    return atomic_write_bytes(path, weights_bytes(model))


def ship_if_better(trained, accuracy: float, shipped, shipped_accuracy: float | None) -> str:
    """Copy the weights file ``trained`` over the shipped ``shipped`` when it is more accurate; returns what was done.

    Only a full-mode run ships, and only into a copy that ships weights (the
    course repository: ``shipped``'s folder exists; a copy without the trained weights has none).
    ``accuracy`` and ``shipped_accuracy`` (None: nothing shipped yet) are
    measured the same way, on the same images. The copy is atomic.
    """
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
