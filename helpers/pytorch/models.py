"""PyTorch models for CIFAR-10 (CS7643 Q8.5-Q8.8, HLCV exercise 2 Question 4).

Every model takes a float32 batch of images ``(N, C, H, W)`` and returns
unnormalised class scores (logits) ``(N, n_classes)``; the loss
(``nn.CrossEntropyLoss``) applies the softmax.

- ``SoftmaxClassifier``: one linear layer on the flattened image (Q8.5).
- ``TwoLayerNN``: linear - ReLU - linear (Q8.6).
- ``ConvNet``: conv - ReLU - max-pool - linear (Q8.7).
- ``MultiLayerPerceptron``: any number of hidden layers (HLCV exercise 2, Q4).
- ``MyModel``: the challenge network (Q8.8), a small patch-whitened VGG in the
  style of the fastest published CIFAR-10 recipes (airbench, hlb-CIFAR10).
  It takes raw images in [0, 1] and normalises them itself; its training
  recipe is in ``helpers.pytorch.mymodel_recipe``.

Shape errors name the expected shape, e.g. ``ConvNet expects images (N, 3, 32, 32)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from helpers.pytorch.mymodel_config import MYMODEL_WIDTHS

# Per-channel mean and standard deviation of the CIFAR-10 training images (RGB, pixels in [0, 1]).
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


def check_images(x: torch.Tensor, im_size, model_name: str) -> None:
    """Raise ``ValueError`` unless ``x`` is a floating batch ``(N, *im_size)``."""
    expected = (len(im_size) + 1, tuple(im_size))
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{model_name} expects a torch.Tensor of images (N, {', '.join(map(str, im_size))}); "
                        f"got {type(x).__name__}.")
    if x.ndim != expected[0] or tuple(x.shape[1:]) != expected[1]:
        raise ValueError(f"{model_name} expects images (N, {', '.join(map(str, im_size))}); "
                         f"got a tensor of shape {tuple(x.shape)}.")
    if not x.is_floating_point():
        raise ValueError(f"{model_name} expects floating-point images (convert uint8 with "
                         f"helpers.data.to_float_tensor); got dtype {x.dtype}.")


class SoftmaxClassifier(nn.Module):
    """A linear classifier: scores = W x + b on the flattened image.

    im_size: ``(C, H, W)``, e.g. ``(3, 32, 32)``; n_classes: number of classes.
    forward: images ``(N, C, H, W)`` -> scores ``(N, n_classes)``.
    """

    def __init__(self, im_size=(3, 32, 32), n_classes: int = 10):
        super().__init__()
        self.im_size = tuple(im_size)
        in_features = self.im_size[0] * self.im_size[1] * self.im_size[2]
        ### BEGIN SOLUTION
        self.linear = nn.Linear(in_features, n_classes)
        ### END SOLUTION

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images, self.im_size, type(self).__name__)
        ### BEGIN SOLUTION
        scores = self.linear(images.flatten(1))
        ### END SOLUTION
        return scores


class TwoLayerNN(nn.Module):
    """Fully connected network: linear - ReLU - linear.

    im_size: ``(C, H, W)``; hidden_dim: number of hidden units; n_classes.
    forward: images ``(N, C, H, W)`` -> scores ``(N, n_classes)``.
    The first layer's weight ``fc1.weight`` has shape ``(hidden_dim, C*H*W)``:
    each row is a template that can be shown as an image (notebook 08).
    """

    def __init__(self, im_size=(3, 32, 32), hidden_dim: int = 256, n_classes: int = 10):
        super().__init__()
        self.im_size = tuple(im_size)
        in_features = self.im_size[0] * self.im_size[1] * self.im_size[2]
        ### BEGIN SOLUTION
        self.fc1 = nn.Linear(in_features, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, n_classes)
        ### END SOLUTION

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images, self.im_size, type(self).__name__)
        ### BEGIN SOLUTION
        hidden = F.relu(self.fc1(images.flatten(1)))
        scores = self.fc2(hidden)
        ### END SOLUTION
        return scores


class ConvNet(nn.Module):
    """A small convolutional network: conv - ReLU - 2x2 max-pool - linear.

    im_size: ``(C, H, W)``; hidden_dim: number of convolution filters;
    kernel_size: odd filter size (padding keeps H and W); n_classes.
    forward: images ``(N, C, H, W)`` -> scores ``(N, n_classes)``.
    ``conv.weight`` has shape ``(hidden_dim, C, kernel_size, kernel_size)``.
    """

    def __init__(self, im_size=(3, 32, 32), hidden_dim: int = 32, kernel_size: int = 5, n_classes: int = 10):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd so that padding keeps the image size; got {kernel_size}.")
        self.im_size = tuple(im_size)
        channels, height, width = self.im_size
        ### BEGIN SOLUTION
        self.conv = nn.Conv2d(channels, hidden_dim, kernel_size, padding=kernel_size // 2)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(hidden_dim * (height // 2) * (width // 2), n_classes)
        ### END SOLUTION

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images, self.im_size, type(self).__name__)
        ### BEGIN SOLUTION
        features = self.pool(F.relu(self.conv(images)))
        scores = self.fc(features.flatten(1))
        ### END SOLUTION
        return scores


class MultiLayerPerceptron(nn.Module):
    """Fully connected network with ``len(hidden_sizes) + 1`` layers (HLCV exercise 2, Q4).

    input_size: number of input features (3072 for CIFAR-10); hidden_sizes:
    list of hidden layer widths (``[50]`` is the two-layer net); num_classes.
    forward: ``(N, input_size)`` or images ``(N, C, H, W)`` with
    ``C*H*W == input_size`` -> scores ``(N, num_classes)``.
    """

    def __init__(self, input_size: int, hidden_sizes, num_classes: int = 10):
        super().__init__()
        self.input_size = int(input_size)
        hidden_sizes = list(hidden_sizes)
        ### BEGIN SOLUTION
        layers = []
        fan_in = self.input_size
        for width in hidden_sizes:
            layers += [nn.Linear(fan_in, width), nn.ReLU()]
            fan_in = width
        layers.append(nn.Linear(fan_in, num_classes))
        self.layers = nn.Sequential(*layers)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim < 2 or x[0].numel() != self.input_size:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"MultiLayerPerceptron expects (N, {self.input_size}) or images with "
                             f"C*H*W = {self.input_size}; got {shape}.")
        ### BEGIN SOLUTION
        scores = self.layers(x.flatten(1))
        ### END SOLUTION
        return scores


# ---------------------------------------------------------------------------
# The challenge model (Q8.8)
# ---------------------------------------------------------------------------

class _ConvGroup(nn.Module):
    """conv3x3 - maxpool2 - BN - GELU - conv3x3 - BN - GELU: ``(N, c_in, H, W)`` -> ``(N, c_out, H/2, W/2)``."""

    def __init__(self, c_in: int, c_out: int, bn_momentum: float):
        super().__init__()
        ### BEGIN SOLUTION
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = nn.BatchNorm2d(c_out, momentum=bn_momentum, eps=1e-12)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(c_out, momentum=bn_momentum, eps=1e-12)
        # Only the BN shifts learn; a per-channel scale before GELU adds little here.
        for norm in (self.norm1, self.norm2):
            norm.weight.requires_grad_(False)
        # Identity ("dirac") initialisation of the first c_in filters: the block starts
        # close to passing its input through, which trains faster (airbench).
        for conv in (self.conv1, self.conv2):
            nn.init.dirac_(conv.weight.data[:conv.in_channels])
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        x = F.gelu(self.norm1(self.pool(self.conv1(x))))
        x = F.gelu(self.norm2(self.conv2(x)))
        ### END SOLUTION
        return x


class MyModel(nn.Module):
    """The challenge network: a patch-whitened VGG-like net for CIFAR-10 (after airbench94, at airbench95's widths).

    Input: float32 images ``(N, 3, 32, 32)`` with pixels in [0, 1] (what
    ``helpers.data.to_float_tensor`` makes); the model normalises them with
    the CIFAR-10 channel means and standard deviations itself.
    Output: logits ``(N, 10)``.

    Layers (shapes for one image):
    ``whiten``: 2x2 conv, 3 -> 24 channels, no padding: 32x32 -> 31x31. Its
    weights are set from the eigenvectors of the covariance of 2x2 training
    patches (``helpers.pytorch.mymodel_recipe.init_whitening``) and then frozen; the 24
    channels are 12 whitened directions and their negatives, so the GELU after
    it loses nothing. Then three groups (``widths``) each halving the size:
    31 -> 15 -> 7 -> 3, a 3x3 max-pool to 1x1, and a linear layer scaled by 1/9.
    """

    def __init__(self, widths=MYMODEL_WIDTHS, bn_momentum: float = 0.4, scale: float = 1 / 9):
        super().__init__()
        self.widths = tuple(widths)
        self.scale = scale
        self.register_buffer("mean", torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(CIFAR_STD).view(1, 3, 1, 1))
        whiten_width = 2 * 3 * 2 * 2
        ### BEGIN SOLUTION
        self.whiten = nn.Conv2d(3, whiten_width, 2, padding=0, bias=True)
        self.whiten.weight.requires_grad_(False)  # set by init_whitening, then frozen
        nn.init.zeros_(self.whiten.bias)
        w1, w2, w3 = self.widths
        self.group1 = _ConvGroup(whiten_width, w1, bn_momentum)
        self.group2 = _ConvGroup(w1, w2, bn_momentum)
        self.group3 = _ConvGroup(w2, w3, bn_momentum)
        self.head = nn.Linear(w3, 10, bias=False)
        ### END SOLUTION

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] ``(N, 3, 32, 32)`` -> standardised per channel, same shape."""
        return (images - self.mean) / self.std

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 3, 32, 32)`` in [0, 1] -> pooled features ``(N, widths[-1])``."""
        check_images(images, (3, 32, 32), type(self).__name__)
        ### BEGIN SOLUTION
        x = F.gelu(self.whiten(self.normalize(images)))
        x = self.group3(self.group2(self.group1(x)))
        x = F.max_pool2d(x, 3).flatten(1)
        ### END SOLUTION
        return x

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 3, 32, 32)`` float in [0, 1] -> logits ``(N, 10)``."""
        ### BEGIN SOLUTION
        logits = self.head(self.features(images)) * self.scale
        ### END SOLUTION
        return logits
