"""PyTorch networks for 28x28 grey images (MNIST, Fashion-MNIST): the RPZ lab's deliverable.

This file stands alone (only ``torch`` is imported): an upload system copies
it next to ``model.pt`` and runs::

    model = MyNet()
    model.load_state_dict(torch.load("model.pt", map_location="cpu"))
    labels = classify(model, images)      # images: float32 (N, 1, 28, 28) in [0, 1]

Every network returns *log-probabilities* ``(N, 10)`` (a ``log_softmax``
output, as in the lab's template), so they train with ``F.nll_loss`` or
``F.cross_entropy`` (``log_softmax`` of log-probabilities changes nothing).

- ``FCNet``: fully connected layers; no hidden layer is the multinomial
  logistic regression of the lab's first step.
- ``SimpleCNN``: the lab's convolutional networks, one step at a time
  (3x3 convolutions with stride 2; or stride 1 with max-pooling and dropout).
- ``MyNet``: the competition network, of your own design, which must hold up
  against a bad camera and brightness / contrast shifts. Callers always pass
  plain [0, 1] pixels.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

IMAGE_SHAPE = (1, 28, 28)
NUM_CLASSES = 10

_ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh}


class FCNet(nn.Module):
    """Fully connected network: flatten, ``Linear -> activation`` per hidden layer, ``Linear``, log-softmax.

    ``FCNet()`` is the lab's one-layer network (multinomial logistic
    regression on the 784 pixels); ``FCNet(hidden=(1000,))`` adds a hidden
    layer of 1000 sigmoid units, and so on.

    Input ``(N, 1, 28, 28)`` (any ``(N, ...)`` with 784 values per sample);
    output ``(N, 10)`` log-probabilities.
    """

    def __init__(self, hidden=(), activation: str = "sigmoid", in_features: int = 28 * 28,
                 num_classes: int = NUM_CLASSES):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}; got {activation!r}.")
        self.in_features = in_features
        ### BEGIN SOLUTION
        layers = []
        width = in_features
        for units in hidden:
            layers += [nn.Linear(width, units), _ACTIVATIONS[activation]()]
            width = units
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: ``(N, 1, 28, 28)`` -> log-probabilities ``(N, 10)``."""
        x = torch.flatten(x, 1)
        if x.shape[1] != self.in_features:
            raise ValueError(f"FCNet expects {self.in_features} values per sample; got input of shape {tuple(x.shape)}.")
        ### BEGIN SOLUTION
        return F.log_softmax(self.layers(x), dim=1)
        ### END SOLUTION


class SimpleCNN(nn.Module):
    """The lab's small CNNs: ``Conv 3x3 -> ReLU`` blocks, then one ``Linear`` layer with log-softmax.

    - ``SimpleCNN()``: one convolution (32 filters, 3x3, stride 2, padding 1),
      ReLU, and a fully connected layer: the lab's template network.
    - ``SimpleCNN(channels=(32, 64))``: a second stride-2 convolution.
    - ``SimpleCNN(channels=(32, 64), pool=True, dropout=0.5)``: stride 1 and
      2x2 max-pooling instead of stride 2, and dropout before the last layer.

    Input ``(N, 1, 28, 28)``; output ``(N, 10)`` log-probabilities.
    ``self.convs[0]`` is the first convolution (its filters are what the
    notebook shows).
    """

    def __init__(self, channels=(32,), pool: bool = False, dropout: float = 0.0, num_classes: int = NUM_CLASSES):
        super().__init__()
        if not channels:
            raise ValueError("SimpleCNN needs at least one convolution: channels=(32,) or longer.")
        ### BEGIN SOLUTION
        convs, size, width = [], IMAGE_SHAPE[1], IMAGE_SHAPE[0]
        for out in channels:
            # Stride 2 halves the size; so does stride 1 followed by 2x2 max-pooling.
            convs.append(nn.Conv2d(width, out, kernel_size=3, stride=1 if pool else 2, padding=1))
            width, size = out, (size + 1) // 2
        self.convs = nn.ModuleList(convs)
        self.pool = pool
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(width * size * size, num_classes)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: ``(N, 1, 28, 28)`` -> log-probabilities ``(N, 10)``."""
        ### BEGIN SOLUTION
        for conv in self.convs:
            x = F.relu(conv(x))
            if self.pool:
                x = F.max_pool2d(x, 2, ceil_mode=True)
        x = self.dropout(torch.flatten(x, 1))
        return F.log_softmax(self.fc(x), dim=1)
        ### END SOLUTION


class MyNet(nn.Module):
    """The competition network, of your own design: it must hold up against a noisy camera and brightness /
    contrast shifts that the clean training images never show.

    What it must do:

    - ``MyNet()`` takes no arguments (the grader builds it so, then loads the
      state dict you saved).
    - Input ``(N, 1, 28, 28)`` float32 pixels in [0, 1], as they come: any
      normalisation happens inside the network. Output ``(N, 10)``
      log-probabilities.
    - ``flip_tta``: when true, in evaluation mode also classify the
      left-right mirror image and average the two probabilities (for clothes,
      which the training mirrors; not for digits). It is a buffer, saved in
      the state dict, so ``MyNet()`` followed by ``load_state_dict`` restores it.
    - Limits: the saved state dict under 5 MB; training within the notebook's
      time budget on a laptop CPU; loading it and classifying the 10,000 test
      images on one CPU thread within the grader's time limit (minutes).
    """

    def __init__(self, flip_tta: bool = False):
        super().__init__()
        ### BEGIN SOLUTION
        # Per-image standardisation (in forward) removes any brightness offset and contrast scale; then
        # 3x3 conv -> batch norm -> ReLU blocks: one at 28x28 (32 channels), two at 14x14 (64), two at 7x7
        # (128), max-pooling between; global average pooling, dropout and a linear classifier. About 280k
        # parameters (1.1 MB as a file): most of the computation runs at 14x14 and 7x7, so it trains in
        # minutes on a CPU.
        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *block(1, 32), nn.MaxPool2d(2),                        # 28 -> 14
            *block(32, 64), *block(64, 64), nn.MaxPool2d(2),       # 14 -> 7
            *block(64, 128), *block(128, 128),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(128, NUM_CLASSES))
        ### END SOLUTION
        self.register_buffer("flip_tta", torch.tensor(bool(flip_tta)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: ``(N, 1, 28, 28)`` in [0, 1] -> log-probabilities ``(N, 10)``."""
        ### BEGIN SOLUTION
        # Per-image standardisation: invariant to brightness offset and contrast scale.
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True, correction=0)
        x = (x - mean) / (std + 0.05)
        log_p = F.log_softmax(self.head(self.features(x)), dim=1)
        if not self.training and bool(self.flip_tta):
            # Mean of the two probabilities, in log space: log((p + p_mirror) / 2).
            log_p_mirror = F.log_softmax(self.head(self.features(x.flip(-1))), dim=1)
            log_p = torch.logaddexp(log_p, log_p_mirror) - 0.6931471805599453
        return log_p
        ### END SOLUTION


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters (weights and biases) of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def check_images(x, name: str = "x") -> None:
    """Raise a clear error unless ``x`` is a float32 tensor ``(N, 1, 28, 28)`` of finite values in [0, 1]."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, 1, 28, 28); got {type(x).__name__}.")
    if x.dtype != torch.float32:
        raise TypeError(
            f"{name} must be float32 with values in [0, 1] (as torchvision's ToTensor makes them); got {x.dtype}. "
            "For uint8 images use x.float() / 255."
        )
    if x.ndim != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
        raise ValueError(f"{name} must have shape (N, 1, 28, 28); got {tuple(x.shape)}.")
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values.")
    if x.numel():
        lo, hi = float(x.min()), float(x.max())
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise ValueError(
                f"{name} must hold pixel values in [0, 1]; found values in [{lo:.3g}, {hi:.3g}]. "
                "Pass raw pixels / 255: the network normalises images itself."
            )


def classify(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Classify images with a trained network.

    Parameters
    ----------
    model : a network returning class scores or log-probabilities ``(N, 10)``.
    x : float32 tensor ``(N, 1, 28, 28)`` with values in [0, 1] (as
        ``torchvision.transforms.ToTensor`` makes them), on any device.

    Returns
    -------
    int64 tensor ``(N,)`` of class indices, on the CPU. The model runs in
    evaluation mode on whatever device its parameters are on (restored to
    its previous mode afterwards); no gradients are kept.
    """
    check_images(x)
    if len(x) == 0:
        return torch.empty(0, dtype=torch.int64)
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    ### BEGIN SOLUTION
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = [model(chunk.to(device)).argmax(dim=1).cpu() for chunk in x.split(batch_size)]
    finally:
        model.train(was_training)
    labels = torch.cat(out) if out else torch.empty(0, dtype=torch.int64)
    ### END SOLUTION
    return labels.to(torch.int64)


def load_model(path, model_class=MyNet) -> nn.Module:
    """Build ``model_class()`` and load a state dict saved with ``torch.save(model.state_dict(), path)`` onto the CPU."""
    model = model_class()
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()
