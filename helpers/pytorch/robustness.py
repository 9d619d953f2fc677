"""How well does a model survive a bad camera? A panel of corruptions at three severities, a table and a plot.

``PANEL`` lists the corruptions. Those marked ``seen=True`` are of kinds
``helpers.pytorch.augment.CameraAugment`` trains on (at fixed strengths here); those
marked ``seen=False`` are kinds it never produces (motion blur, defocus,
pixelation, sensor banding, blotchy low-frequency noise, vignetting,
over-exposure with noise). The gap between the two groups estimates how the
model will do on the customer's unknown camera.

``VALIDATION_PANEL`` holds five more kinds, in neither the augmentation nor
``PANEL`` (zoom blur, frosted glass, ghosting, over-sharpening, interlacing):
a training recipe is chosen on them, with validation images
(``benchmarks/mynet_augmentation_choice.py``), so that ``PANEL``'s unseen
kinds are looked at once, for the recipe chosen.

    results = evaluate_robustness({"plain": plain_net, "augmented": my_net}, x_test, y_test)
    print(robustness_table(results))
    plot_robustness(results)

``PredictionTimeBatchNorm(model)`` classifies each batch with the model's
batch-norm statistics re-estimated on that batch: an answer to a camera
that is unknown but sends many pictures (it can stand in the ``models`` dict).

Every corruption maps float ``(N, C, H, W)`` in [0, 1] to the same shape in
[0, 1] and is deterministic given its ``seed``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers.pytorch import augment as A
from helpers.pytorch.training import predict_classes
from helpers.runtime import torch_threads

SEVERITIES = (1, 2, 3)


@dataclass(frozen=True)
class Corruption:
    """A named corruption: ``fn(x, severity, generator) -> x`` for severity 1 (mild) to 3 (strong)."""

    name: str
    fn: object
    seen: bool
    description: str


def _line_kernels(length: int) -> torch.Tensor:
    """Motion-blur kernels ``(4, 1, k, k)``: a line of ``length`` pixels at 0, 45, 90 and 135 degrees."""
    k = length if length % 2 else length + 1
    kernels = torch.zeros(4, 1, k, k)
    c = k // 2
    for i in range(-(length // 2), length - length // 2):
        kernels[0, 0, c, c + i] = 1
        kernels[1, 0, c - i, c + i] = 1
        kernels[2, 0, c + i, c] = 1
        kernels[3, 0, c + i, c + i] = 1
    return kernels / kernels.sum(dim=(2, 3), keepdim=True)


def motion_blur(x, length: int, generator=None):
    """Blur along a line of ``length`` pixels in one of four directions (chosen per image)."""
    A.check_batch(x)
    kernels = _line_kernels(length).to(x.device, x.dtype)
    direction = torch.randint(0, 4, (len(x),), generator=generator)
    out = x.clone()
    pad = kernels.shape[-1] // 2
    for d in range(4):
        idx = (direction == d).nonzero().flatten().to(x.device)
        if len(idx):
            part = x[idx]
            c = part.shape[1]
            w = kernels[d:d + 1].expand(c, 1, -1, -1)
            out[idx] = F.conv2d(F.pad(part, [pad] * 4, mode="replicate"), w, groups=c)
    return out.clamp_(0, 1)


def defocus_blur(x, radius: float):
    """Out-of-focus blur: average over a disk of ``radius`` pixels."""
    A.check_batch(x)
    r = math.ceil(radius)
    yy, xx = torch.meshgrid(torch.arange(-r, r + 1.0), torch.arange(-r, r + 1.0), indexing="ij")
    disk = ((xx ** 2 + yy ** 2) <= radius ** 2 + 0.25).to(x.dtype)
    disk = (disk / disk.sum()).to(x.device)
    c = x.shape[1]
    return F.conv2d(F.pad(x, [r] * 4, mode="replicate"), disk.expand(c, 1, -1, -1), groups=c).clamp_(0, 1)


def pixelate(x, size: int):
    """A low-resolution sensor: average down to ``size x size`` pixels, then blow back up (nearest)."""
    A.check_batch(x)
    small = F.adaptive_avg_pool2d(x, size)
    return F.interpolate(small, size=x.shape[-2:], mode="nearest").clamp_(0, 1)


def banding(x, sigma: float, generator=None):
    """Sensor read-out stripes: a random offset of standard deviation ``sigma`` added to each row and each column."""
    A.check_batch(x)
    n, c, h, w = x.shape
    rows = torch.randn(n, 1, h, 1, generator=generator) * sigma
    cols = torch.randn(n, 1, 1, w, generator=generator) * sigma / 2
    return (x + (rows + cols).to(x.device, x.dtype)).clamp_(0, 1)


def blotches(x, amplitude: float, generator=None):
    """Low-frequency additive noise (stains, uneven paper, glare): a smooth random field, positive on average."""
    A.check_batch(x)
    n, c, h, w = x.shape
    coarse = torch.rand(n, 1, 4, 4, generator=generator)
    field = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
    return (x + amplitude * field.to(x.device, x.dtype)).clamp_(0, 1)


def vignetting(x, strength: float):
    """Dark corners: multiply by ``1 - strength * r^2`` (``r`` = 1 at the corners)."""
    A.check_batch(x)
    h, w = x.shape[-2:]
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    mask = (1 - strength * (xx ** 2 + yy ** 2) / 2).clamp(0, 1).to(x.device, x.dtype)
    return (x * mask).clamp_(0, 1)


def _shift(x, dy: int, dx: int):
    """``x`` moved by ``(dy, dx)`` pixels, the border repeated into the gap."""
    h, w = x.shape[-2:]
    p = max(abs(dy), abs(dx))
    padded = F.pad(x, [p] * 4, mode="replicate")
    return padded[..., p - dy:p - dy + h, p - dx:p - dx + w]


def zoom_blur(x, zoom: float):
    """The lens zooming during the exposure: the mean of the image enlarged by 1 up to ``1 + zoom`` (centred)."""
    A.check_batch(x)
    h, w = x.shape[-2:]
    out = x.clone()
    factors = torch.linspace(1, 1 + zoom, 6)[1:]
    for f in factors.tolist():
        size = (round(h * f), round(w * f))
        big = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        top, left = (size[0] - h) // 2, (size[1] - w) // 2
        out += big[..., top:top + h, left:left + w]
    return (out / (len(factors) + 1)).clamp_(0, 1)


def glass_blur(x, fraction: float, generator=None):
    """Frosted glass: after a slight blur, a ``fraction`` of the pixels take the value of a random
    neighbour (one pixel away)."""
    A.check_batch(x)
    n, c, h, w = x.shape
    out = A.gaussian_blur(x, 0.5)
    moved = torch.rand(n, h, w, generator=generator) < fraction
    dy = torch.randint(-1, 2, (n, h, w), generator=generator) * moved
    dx = torch.randint(-1, 2, (n, h, w), generator=generator) * moved
    rows, cols = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
    src = ((rows + dy).clamp(0, h - 1) * w + (cols + dx).clamp(0, w - 1)).view(n, 1, h * w).expand(n, c, h * w)
    return out.reshape(n, c, h * w).gather(2, src.to(x.device)).view(n, c, h, w).clamp_(0, 1)


def ghosting(x, weight: float, offset: int, generator=None):
    """A reflection in the lens or glass: a faint copy of the image, moved by ``offset`` pixels in one of eight
    directions (per image), blended in with ``weight``."""
    A.check_batch(x)
    direction = torch.randint(0, 8, (len(x),), generator=generator)
    out = x.clone()
    for d in range(8):
        idx = (direction == d).nonzero().flatten().to(x.device)
        if len(idx):
            angle = d * math.pi / 4
            dy, dx = round(offset * math.sin(angle)), round(offset * math.cos(angle))
            out[idx] = (1 - weight) * x[idx] + weight * _shift(x[idx], dy, dx)
    return out.clamp_(0, 1)


def oversharpen(x, amount: float):
    """A camera's over-eager sharpening (unsharp mask): ``x + amount * (x - blur(x))``, with halos at edges."""
    A.check_batch(x)
    return (x + amount * (x - A.gaussian_blur(x, 1.0))).clamp_(0, 1)


def interlace(x, offset: int):
    """An interlaced video camera and a moving subject: every other row moved sideways by ``offset`` pixels."""
    A.check_batch(x)
    out = x.clone()
    out[..., 1::2, :] = _shift(x, 0, offset)[..., 1::2, :]
    return out


def _pick(values):
    """``severity -> value`` from a 3-tuple, with a clear error for other severities."""

    def get(severity):
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}; got {severity!r}.")
        return values[severity - 1]

    return get


def _panel():
    sev = {
        "gaussian_noise": _pick((0.1, 0.2, 0.35)),
        "shot_noise": _pick((30.0, 10.0, 4.0)),
        "salt_pepper": _pick((0.03, 0.08, 0.15)),
        "speckle_noise": _pick((0.25, 0.5, 0.8)),
        "gaussian_blur": _pick((0.7, 1.0, 1.4)),
        "low_contrast": _pick((0.5, 0.3, 0.15)),
        "black_level": _pick((0.25, 0.45, 0.65)),
        "gamma": _pick((0.5, 2.0, 3.0)),
        "illumination": _pick((0.4, 0.6, 0.8)),
        "jpeg": _pick((40, 20, 10)),
        "motion_blur": _pick((3, 5, 7)),
        "defocus_blur": _pick((1.0, 1.5, 2.0)),
        "pixelate": _pick((14, 10, 8)),
        "banding": _pick((0.08, 0.15, 0.25)),
        "blotches": _pick((0.3, 0.5, 0.7)),
        "vignetting": _pick((0.5, 0.75, 0.95)),
        "overexposed_noisy": _pick((1.5, 2.0, 3.0)),
    }
    C = Corruption
    return [
        C("gaussian_noise", lambda x, s, g: A.gaussian_noise(x, sev["gaussian_noise"](s), g), True,
          "additive Gaussian noise, sigma 0.1 / 0.2 / 0.35"),
        C("shot_noise", lambda x, s, g: A.shot_noise(x, sev["shot_noise"](s), g), True,
          "Poisson noise, 30 / 10 / 4 photons at white"),
        C("salt_pepper", lambda x, s, g: A.salt_pepper(x, sev["salt_pepper"](s), generator=g), True,
          "3 / 8 / 15 % of pixels stuck at 0 or 1"),
        C("speckle_noise", lambda x, s, g: A.speckle_noise(x, sev["speckle_noise"](s), g), True,
          "multiplicative noise, sigma 0.25 / 0.5 / 0.8"),
        C("gaussian_blur", lambda x, s, g: A.gaussian_blur(x, sev["gaussian_blur"](s)), True,
          "Gaussian blur, sigma 0.7 / 1.0 / 1.4 px"),
        C("low_contrast", lambda x, s, g: A.adjust_contrast(x, sev["low_contrast"](s)), True,
          "contrast x0.5 / x0.3 / x0.15"),
        C("black_level", lambda x, s, g: A.raise_black_level(x, sev["black_level"](s)), True,
          "black lifted to 0.25 / 0.45 / 0.65"),
        C("gamma", lambda x, s, g: A.adjust_gamma(x, sev["gamma"](s)), True, "tone curve x^0.5 / x^2 / x^3"),
        C("illumination", lambda x, s, g: A.illumination_gradient(
            x, sev["illumination"](s), torch.rand(len(x), generator=g) * 2 * math.pi, 0.3), True,
          "light falling off to 0.6 / 0.4 / 0.2 across the image"),
        C("jpeg", lambda x, s, g: A.jpeg(x, sev["jpeg"](s)), True, "JPEG quality 40 / 20 / 10"),
        C("motion_blur", lambda x, s, g: motion_blur(x, sev["motion_blur"](s), g), False,
          "camera shake: 3 / 5 / 7 px line blur"),
        C("defocus_blur", lambda x, s, g: defocus_blur(x, sev["defocus_blur"](s)), False,
          "out of focus: disk of radius 1 / 1.5 / 2 px"),
        C("pixelate", lambda x, s, g: pixelate(x, sev["pixelate"](s)), False,
          "14 / 10 / 8 px sensor, blown up"),
        C("banding", lambda x, s, g: banding(x, sev["banding"](s), g), False,
          "row / column read-out stripes, sigma 0.08 / 0.15 / 0.25"),
        C("blotches", lambda x, s, g: blotches(x, sev["blotches"](s), g), False,
          "smooth bright stains up to 0.3 / 0.5 / 0.7"),
        C("vignetting", lambda x, s, g: vignetting(x, sev["vignetting"](s)), False,
          "corners darkened by 50 / 75 / 95 %"),
        C("overexposed_noisy", lambda x, s, g: A.gaussian_noise(
            A.exposure(A.raise_black_level(x, 0.1), sev["overexposed_noisy"](s)), 0.1, g), False,
          "gain x1.5 / x2 / x3 on a lifted black, then noise 0.1"),
    ]


def _validation_panel():
    sev = {
        "zoom_blur": _pick((0.1, 0.2, 0.3)),
        "glass_blur": _pick((0.2, 0.4, 0.7)),
        "ghosting": _pick(((0.3, 2), (0.4, 3), (0.5, 4))),
        "oversharpen": _pick((1.0, 2.0, 4.0)),
        "interlace": _pick((1, 2, 3)),
    }
    C = Corruption
    return [
        C("zoom_blur", lambda x, s, g: zoom_blur(x, sev["zoom_blur"](s)), False, "zoom during exposure: x1.1 / 1.2 / 1.3"),
        C("glass_blur", lambda x, s, g: glass_blur(x, sev["glass_blur"](s), g), False,
          "frosted glass: 20 / 40 / 70 % of pixels swapped with a neighbour"),
        C("ghosting", lambda x, s, g: ghosting(x, *sev["ghosting"](s), g), False,
          "a reflection: copy at 30 / 40 / 50 %, moved 2 / 3 / 4 px"),
        C("oversharpen", lambda x, s, g: oversharpen(x, sev["oversharpen"](s)), False,
          "unsharp mask of amount 1 / 2 / 4"),
        C("interlace", lambda x, s, g: interlace(x, sev["interlace"](s)), False,
          "every other row moved 1 / 2 / 3 px"),
    ]


PANEL = _panel()
# Held-out kinds for choosing a training recipe: in neither the augmentation nor PANEL, so PANEL's unseen
# kinds (*) stay unseen by the choice too. Choose on VALIDATION_PANEL with validation images, report PANEL once.
VALIDATION_PANEL = _validation_panel()
PANEL_BY_NAME = {c.name: c for c in PANEL + VALIDATION_PANEL}


def corruption_names(names=None) -> list[str]:
    """``names`` as a list, each checked against ``PANEL`` and ``VALIDATION_PANEL``; ``None``: ``PANEL``'s names
    (the report's panel, not the kinds kept for choosing recipes)."""
    names = list(names) if names is not None else [c.name for c in PANEL]
    unknown = sorted(set(names) - set(PANEL_BY_NAME))
    if unknown:
        raise ValueError(f"unknown corruptions {unknown}; known: {sorted(PANEL_BY_NAME)}.")
    return names


def corrupt(x: torch.Tensor, name: str, severity: int, seed: int = 0) -> torch.Tensor:
    """Corrupt a batch ``x`` (float ``(N, C, H, W)`` in [0, 1]) with the panel's ``name`` at ``severity`` (1-3)."""
    if name not in PANEL_BY_NAME:
        raise ValueError(f"unknown corruption {name!r}; the panel has {sorted(PANEL_BY_NAME)}.")
    A.check_batch(x)
    g = torch.Generator().manual_seed(int(seed) * 1009 + severity * 101 + sum(map(ord, name)))
    with torch_threads(1):
        return PANEL_BY_NAME[name].fn(x.clamp(0, 1), severity, g).clamp_(0, 1)


class PredictionTimeBatchNorm(nn.Module):
    """``model`` with its batch-norm statistics re-estimated on each batch it classifies (no labels needed).

    A camera nobody has seen shifts the statistics of every layer's inputs; a
    batch of its images says how. For each batch ``x`` ``(n, ...)``, each
    batch-norm layer normalises with the weighted mean of the training
    statistics and the batch's (Schneider et al., 2020, "Improving
    robustness against common corruptions by covariate shift adaptation"):
    ``(n * batch + prior * training) / (n + prior)``. ``prior`` is the
    training statistics' weight in images: ``0`` uses the batch alone,
    ``float("inf")`` the training statistics alone (the plain model).
    Meant for batches from one camera; ``model`` itself is not changed (a copy is used).

        recalibrated = PredictionTimeBatchNorm(my_net, prior=250)
        scores = recalibrated(images_from_one_camera)
    """

    def __init__(self, model: nn.Module, prior: float = 250.0):
        super().__init__()
        if not prior >= 0:
            raise ValueError(f"prior must be a number of images >= 0 (inf: the training statistics alone); got {prior}.")
        self.model, self.prior = copy.deepcopy(model).eval(), float(prior)
        norms = [m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms:
            raise ValueError(f"{type(model).__name__} has no batch-norm layer whose statistics could be re-estimated.")
        for norm in norms:
            norm.register_buffer("training_mean", norm.running_mean.clone(), persistent=False)
            norm.register_buffer("training_var", norm.running_var.clone(), persistent=False)
            # Just before the layer runs: its statistics from the input it actually gets (after the layers
            # before it were recalibrated too), blended with the training ones.
            norm.register_forward_pre_hook(self._recalibrate)

    def _recalibrate(self, norm: nn.Module, inputs: tuple) -> None:
        x = inputs[0]
        n = len(x)
        if self.prior == 0 and n < 2:
            raise ValueError(f"with prior=0 the batch alone gives the statistics: it needs at least 2 images; got {n}.")
        weight = n / (n + self.prior)                        # the batch's share; 0 when prior is inf
        dims = [0, *range(2, x.dim())]                       # all but the channel dimension
        mean = x.mean(dim=dims)
        # Unbiased, as running_var is; one value per channel says nothing of the variance: keep the training one.
        var = x.var(dim=dims) if x.numel() > x.shape[1] else norm.training_var
        norm.running_mean.copy_(weight * mean.to(norm.training_mean) + (1 - weight) * norm.training_mean)
        norm.running_var.copy_(weight * var.to(norm.training_var) + (1 - weight) * norm.training_var)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.model.eval()                                    # the batch norm layers read running_mean / running_var
        return self.model(x)


@torch.no_grad()
def _accuracy(model, x, y, batch_size: int) -> float:
    return float((predict_classes(model, x, batch_size) == y.cpu()).float().mean())


def evaluate_robustness(models: dict, x: torch.Tensor, y: torch.Tensor, corruptions=None, severities=SEVERITIES,
                        seed: int = 0, batch_size: int = 1000) -> dict:
    """Accuracy of each model on clean ``x`` and on each corruption at each severity.

    models: ``{name: nn.Module}`` (any device; each returns scores ``(N, classes)``).
    x: float ``(N, C, H, W)`` in [0, 1]; y: ``(N,)`` int64 labels.
    corruptions: names from ``PANEL`` (default: all).

    Returns ``{"models": [...], "corruptions": [...], "seen": {name: bool},
    "severities": [...], "clean": {model: acc}, "acc": {model: {corruption:
    [acc per severity]}}}``. Each corruption is applied once (same corrupted
    images for every model).
    """
    names = corruption_names(corruptions)
    results = {"models": list(models), "corruptions": names, "seen": {n: PANEL_BY_NAME[n].seen for n in names},
               "severities": list(severities), "n": len(y),
               "clean": {m: _accuracy(model, x, y, batch_size) for m, model in models.items()},
               "acc": {m: {} for m in models}}
    for name in names:
        for m in models:
            results["acc"][m][name] = []
        for s in severities:
            xc = corrupt(x, name, s, seed)
            for m, model in models.items():
                results["acc"][m][name].append(_accuracy(model, xc, y, batch_size))
    return results


def summary(results: dict) -> dict:
    """Per model: ``clean``, mean accuracy over ``seen`` corruptions, over ``unseen`` ones, over ``all``, and ``worst``."""
    out = {}
    for m in results["models"]:
        acc = results["acc"][m]
        mean = lambda names, acc=acc: (sum(sum(acc[n]) / len(acc[n]) for n in names) / len(names)
                                       if names else float("nan"))
        seen = [n for n in results["corruptions"] if results["seen"][n]]
        unseen = [n for n in results["corruptions"] if not results["seen"][n]]
        out[m] = {"clean": results["clean"][m], "seen": mean(seen), "unseen": mean(unseen),
                  "all": mean(results["corruptions"]),
                  "worst": min(min(v) for v in acc.values()) if acc else float("nan")}
    return out


def robustness_table(results: dict, digits: int = 1) -> str:
    """A plain-text table: one row per corruption (mean over severities, and the strongest severity),
    one column per model; ``*`` marks corruptions unseen in training. Accuracies in percent."""
    models = results["models"]
    width = max(12, *(len(m) + 2 for m in models))
    pct = lambda v: f"{100 * v:.{digits}f}"
    head = f"{'corruption':22s}" + "".join(f"{m:>{width}s}" for m in models)
    sub = f"{'(mean | strongest)':22s}" + "".join(f"{'':>{width}s}" for _ in models)
    lines = [head, sub, "-" * len(head), f"{'clean':22s}" + "".join(f"{pct(results['clean'][m]):>{width}s}" for m in models)]
    for name in results["corruptions"]:
        label = name + ("" if results["seen"][name] else " *")
        cells = []
        for m in models:
            accs = results["acc"][m][name]
            cells.append(f"{pct(sum(accs) / len(accs)) + ' | ' + pct(accs[-1]):>{width}s}")
        lines.append(f"{label:22s}" + "".join(cells))
    lines.append("-" * len(head))
    summ = summary(results)
    for key, label in (("seen", "mean, seen kinds"), ("unseen", "mean, unseen kinds *"), ("all", "mean, all")):
        lines.append(f"{label:22s}" + "".join(f"{pct(summ[m][key]):>{width}s}" for m in models))
    return "\n".join(lines)


def plot_robustness(results: dict, title: str | None = None):
    """Grouped bars: accuracy of each model on clean data and on each corruption (mean over severities,
    the error bar reaching down to the worst severity). Returns the figure."""
    import matplotlib.pyplot as plt  # deferred: pyplot is slow to import and only the plots need it

    models, names = results["models"], results["corruptions"]
    labels = ["clean"] + [n + ("" if results["seen"][n] else " *") for n in names]
    fig, ax = plt.subplots(figsize=(max(8, 0.55 * len(labels) * max(1, len(models)) ** 0.5 + 2), 4))
    width = 0.8 / len(models)
    pos = np.arange(len(labels))
    for i, m in enumerate(models):
        means = [results["clean"][m]] + [float(np.mean(results["acc"][m][n])) for n in names]
        lows = [results["clean"][m]] + [min(results["acc"][m][n]) for n in names]
        err = np.array([np.subtract(means, lows), np.zeros(len(means))])
        ax.bar(pos + (i - (len(models) - 1) / 2) * width, means, width, yerr=err, capsize=2, label=m)
    ax.set_xticks(pos)
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title(title or "accuracy under corruption (mean over severities; bar down to the worst; * unseen)")
    fig.tight_layout()
    return fig


def show_corruptions(x: torch.Tensor, severity: int = 2, names=None, seed: int = 0, title: str | None = None):
    """One row per corruption, the images ``x`` ``(K, 1, H, W)`` corrupted at ``severity``; returns the figure."""
    import matplotlib.pyplot as plt  # deferred: pyplot is slow to import and only the plots need it

    names = list(names) if names is not None else [c.name for c in PANEL]
    rows = [("clean", x)] + [(n + ("" if PANEL_BY_NAME[n].seen else " *"), corrupt(x, n, severity, seed)) for n in names]
    k = len(x)
    fig, axes = plt.subplots(len(rows), k, figsize=(0.8 * k + 1.6, 0.8 * len(rows)), squeeze=False)
    for r, (label, imgs) in enumerate(rows):
        for c in range(k):
            ax = axes[r, c]
            ax.imshow(imgs[c, 0].cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title or f"the corruption panel at severity {severity} (* not used in training)", fontsize=9)
    fig.tight_layout()
    return fig
