"""A fast CIFAR-10 training recipe for ``helpers.pytorch.models.MyModel`` (CS7643 Q8.8).

The recipe follows the fastest published CIFAR-10 trainers (Keller Jordan's
airbench94, airbench94_muon and airbench95, tysam-code's hlb-CIFAR10, David
Page's "How to train your ResNet"), at airbench95's widths (128/384/384) and
learning rate (airbench94's times 0.87), with airbench94_muon's Muon for the
convolution filters, for 7 epochs of 49,000 images at batch 512 (airbench95 trains
15; 7 fit in 30 minutes on 2 CPU cores with AVX-512 BF16), trained on a CPU:

- the first layer is a frozen 2x2 *patch-whitening* convolution computed
  from the training images (``init_whitening``);
- batch norm, GELU, identity init of the convolutions, the classifier's
  output scaled by 1/9;
- label smoothing 0.2 and a *summed* loss; Muon for the convolution filters
  (``FastConfig.muon_lr``, as airbench94_muon): each step of a filter bank is
  its Nesterov momentum orthogonalised (``Muon``, ``orthogonalize``); Nesterov
  SGD for the rest (the biases and the classifier), with the learning rate and
  weight decay given per 1024 examples (so that batch size and momentum can be
  changed without retuning), 64x learning rate for the batch norm shifts; a
  linear warm-up then linear decay, and "lookahead" (every 5 steps the weights
  are pulled toward an exponential moving average);
- augmentation done on whole batches of uint8 tensors in memory: random
  translation by up to 2 pixels (reflect padding) and a left-right flip that
  alternates from one epoch to the next (``augment_batch``); no DataLoader,
  no worker processes;
- optional test-time augmentation (``predict_logits``: mirror, mirror + shifts);
- bfloat16 autocast in the training steps where the processor has it
  (``helpers.device.bf16_is_fast``: AVX-512 BF16 or AMX, about 3x faster per
  step than float32 on a 2-core CPU with AMX); weights, gradients and
  evaluation stay float32.

All of it is configuration of the workbook's one training loop,
``helpers.pytorch.training.fit``: the optimizer's parameter groups, the
schedule (``StepSchedule``, stepped per batch), the summed loss, a loader
that augments (``FlipShiftLoader``) and two callbacks (``Lookahead``,
``WhitenBiasWarmup``). Checkpoints, resume, Ctrl-C, the NaN check, the
progress bar and the epoch lines are ``fit``'s.

- ``train_mymodel(model, train, val, FastConfig(...))``: the training; returns ``fit``'s history.
- ``load_splits("cifar10", val_size, seed, pixels="uint8")`` (``helpers.pytorch.experiments``): CIFAR-10's
  train / validation / test sets as uint8 tensors, the ``TensorSplits`` the recipe trains on.
- ``run_mymodel(...)``: the whole run notebook 07 and ``python -m helpers.train --model mymodel``
  share: load and split CIFAR-10, train, test, write the log, plots and weights.
- ``mymodel_accuracy(model, images, labels)``: plain ``argmax`` accuracy (or with TTA).

Images are uint8 tensors ``(N, 3, 32, 32)`` everywhere (``cifar_uint8``, ``load_splits(pixels="uint8")``).
Progress is monitored on a validation split of the training images, never
on test images.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from helpers.data import to_uint8_tensor
from helpers.device import bf16_is_fast
from helpers.paths import output_dir, output_lock
from helpers.pytorch.experiments import epoch_logger, finish_run, load_splits
from helpers.pytorch.models import MyModel
from helpers.pytorch.mymodel_config import MYMODEL_VAL_SIZE, FastConfig
from helpers.pytorch.registry import MYMODEL_WEIGHTS
from helpers.pytorch.training import Callback, Recipe, TensorLoader, _mix, evaluation_mode, fit


def cifar_uint8(images) -> torch.Tensor:
    """NumPy uint8 images ``(N, 32, 32, 3)`` (``load_dataset``'s layout) -> uint8 tensor ``(N, 3, 32, 32)``."""
    arr = np.asarray(images)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[1:] != (32, 32, 3):
        raise ValueError(f"expected uint8 CIFAR-10 images (N, 32, 32, 3); got {arr.dtype} {arr.shape}.")
    return to_uint8_tensor(arr)


def to_unit_float(images_u8: torch.Tensor, device=None) -> torch.Tensor:
    """uint8 ``(N, 3, 32, 32)`` -> float32 in [0, 1], channels-last memory (faster convolutions)."""
    x = images_u8.to(device) if device is not None else images_u8
    return x.float().div_(255).contiguous(memory_format=torch.channels_last)


# ---------------------------------------------------------------------------
# Whitening initialisation
# ---------------------------------------------------------------------------

def whitening_filters(images: torch.Tensor, kernel_size: int = 2, eps: float = 5e-4) -> torch.Tensor:
    """ZCA-like whitening filters from the patches of normalised images.

    images: float ``(N, C, H, W)``. Returns ``(2*C*k*k, C, k, k)``: the
    eigenvectors of the patch covariance scaled by ``1/sqrt(eigenvalue + eps)``,
    followed by their negatives (so that a GELU after them keeps both signs).
    """
    c = images.shape[1]
    patches = images.float().unfold(2, kernel_size, 1).unfold(3, kernel_size, 1)   # (N, C, H', W', k, k)
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * kernel_size * kernel_size).double()
    cov = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.T.flip(0)   # largest first
    filters = eigenvectors / torch.sqrt(eigenvalues.clamp_min(0) + eps)[:, None]
    filters = filters.reshape(-1, c, kernel_size, kernel_size).float()
    return torch.cat([filters, -filters])


@torch.no_grad()
def init_whitening(model, images_u8: torch.Tensor, num_images: int = 5000) -> None:
    """Set ``model.whiten.weight`` from the first ``num_images`` training images (uint8 ``(N, 3, 32, 32)``)."""
    x = model.normalize(to_unit_float(images_u8[:num_images], model.whiten.weight.device))
    model.whiten.weight.copy_(whitening_filters(x, model.whiten.kernel_size[0]))


# ---------------------------------------------------------------------------
# Batch augmentation
# ---------------------------------------------------------------------------

def pad_reflect(images_u8: torch.Tensor, pad: int) -> torch.Tensor:
    """Reflect-pad uint8 images ``(N, C, H, W)`` -> ``(N, C, H+2p, W+2p)`` (done once per training run)."""
    if pad == 0:
        return images_u8
    return F.pad(images_u8.float(), (pad,) * 4, mode="reflect").to(torch.uint8)


def augment_batch(padded_u8: torch.Tensor, index: torch.Tensor, flip: torch.Tensor, pad: int,
                  generator: torch.Generator | None = None, size: int = 32) -> torch.Tensor:
    """Random crops (translations by up to ``pad`` pixels) and flips of a batch, in one gather.

    padded_u8: uint8 ``(N, C, size+2*pad, size+2*pad)``; index: ``(B,)`` image
    indices; flip: ``(B,)`` bools. Returns uint8 ``(B, C, size, size)``
    (channels-last memory).
    """
    b = len(index)
    shift_y = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    shift_x = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    ar = torch.arange(size)
    rows = shift_y[:, None] + ar                                   # (B, size)
    cols = shift_x[:, None] + ar
    cols = torch.where(flip[:, None], cols.flip(1), cols)         # a flip reads the columns backwards
    idx = index.to(padded_u8.device)
    out = padded_u8[idx[:, None, None], :, rows[:, :, None].to(idx.device), cols[:, None, :].to(idx.device)]
    return out.permute(0, 3, 1, 2)                                 # (B, size, size, C) -> (B, C, size, size)


# ---------------------------------------------------------------------------
# Prediction and evaluation
# ---------------------------------------------------------------------------

def _autocast(device: torch.device, enabled: bool):
    dtype = torch.bfloat16 if device.type == "cpu" else torch.float16
    return torch.autocast(device.type, dtype=dtype, enabled=enabled)


@torch.no_grad()
def predict_logits(model, images_u8: torch.Tensor, tta_level: int = 0, batch_size: int = 1000, bf16: bool = False) -> torch.Tensor:
    """Logits ``(N, 10)`` for uint8 images ``(N, 3, 32, 32)``.

    tta_level 0: plain ``model(x)``; 1: average with the mirrored image;
    2: also with the image shifted by one pixel up-left and down-right (6 views).
    """
    if tta_level not in (0, 1, 2):
        raise ValueError(f"tta_level must be 0, 1 or 2; got {tta_level}.")
    device = next(model.parameters()).device

    def mirror(x):
        return model(x) if tta_level == 0 else 0.5 * (model(x) + model(x.flip(-1)))

    out = []
    with evaluation_mode(model), _autocast(device, bf16):
        for chunk in images_u8.split(batch_size):
            x = to_unit_float(chunk, device)
            logits = mirror(x)
            if tta_level == 2:
                padded = F.pad(x, (1,) * 4, mode="reflect")
                shifted = [mirror(padded[:, :, :32, :32].contiguous(memory_format=torch.channels_last)),
                           mirror(padded[:, :, 2:, 2:].contiguous(memory_format=torch.channels_last))]
                logits = 0.5 * logits + 0.25 * (shifted[0] + shifted[1])
            out.append(logits.float().cpu())
    return torch.cat(out)


def mymodel_accuracy(model, images_u8: torch.Tensor, labels, tta_level: int = 0, bf16: bool = False) -> float:
    """Accuracy of ``predict_logits(model, images_u8, tta_level).argmax(1)`` against ``labels`` ``(N,)``."""
    labels = torch.as_tensor(np.asarray(labels))
    return (predict_logits(model, images_u8, tta_level, bf16=bf16).argmax(1) == labels).float().mean().item()


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------

class FlipShiftLoader:
    """MyModel's training batches ``(x, y)``: random translations and alternating flips of uint8 images in memory.

    images_u8: uint8 ``(N, 3, 32, 32)``, reflect-padded once by ``translate``;
    labels: ``(N,)``. Each epoch (``set_epoch``) visits the images in an order
    drawn from ``(seed, epoch)``, drops the last partial batch, and flips each
    image on every other epoch (a coin per image, fixed by ``seed``: less
    redundancy than a coin per epoch). Batches are float32 in [0, 1],
    channels-last, on ``device``.
    """

    def __init__(self, images_u8: torch.Tensor, labels, batch_size: int, translate: int = 2, flip: bool = True,
                 seed: int = 0, device=None):
        labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        if images_u8.dtype != torch.uint8 or images_u8.ndim != 4 or len(images_u8) != len(labels):
            raise ValueError(f"expected uint8 images (N, 3, 32, 32) and N labels; got {images_u8.dtype} "
                             f"{tuple(images_u8.shape)} and {len(labels)} labels.")
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.padded = pad_reflect(images_u8, translate).to(self.device)
        self.labels = labels.to(self.device)
        self.n, self.batch_size = len(labels), min(batch_size, len(labels))
        self.translate, self.flip, self.seed, self.epoch = translate, flip, seed, 0
        self.base_flip = torch.rand(self.n, generator=torch.Generator().manual_seed(seed)) < 0.5

    def __len__(self) -> int:
        return self.n // self.batch_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(_mix(self.seed, self.epoch))
        order = torch.randperm(self.n, generator=generator)
        flips = self.base_flip ^ bool(self.epoch % 2) if self.flip else torch.zeros(self.n, dtype=torch.bool)
        for i in range(len(self)):
            index = order[i * self.batch_size:(i + 1) * self.batch_size]
            x = augment_batch(self.padded, index, flips[index], self.translate, generator)
            yield to_unit_float(x, self.device), self.labels[index.to(self.device)]


def lr_factor(step: int, total_steps: int, warmup: float, end: float = FastConfig.lr_end) -> float:
    """Triangular schedule: 0.2 -> 1 over the first ``warmup`` fraction of steps, then -> ``end``."""
    warmup_steps = max(1, int(total_steps * warmup))
    if step < warmup_steps:
        frac = step / warmup_steps
        return 0.2 * (1 - frac) + 1.0 * frac
    frac = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 1.0 * (1 - frac) + end * frac


class StepSchedule(torch.optim.lr_scheduler.LambdaLR):
    """``lr_factor`` per batch over ``total_steps``; ``finished`` tells ``fit`` to stop (fractional epochs)."""

    def __init__(self, optimizer, total_steps: int, warmup: float, end: float):
        self.total_steps, self.warmup, self.end = total_steps, warmup, end
        super().__init__(optimizer, self.factor)

    def factor(self, step: int) -> float:
        return lr_factor(step, self.total_steps, self.warmup, self.end)

    @property
    def finished(self) -> bool:
        return self.last_epoch >= self.total_steps

    def state_dict(self) -> dict:
        return {"last_epoch": self.last_epoch, "base_lrs": self.base_lrs, "_last_lr": self._last_lr}

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)


class Lookahead(Callback):
    """A ``fit`` callback: every ``every`` steps, ema <- lerp(ema, weights, 1 - decay) and weights <- ema (hlb-CIFAR10).

    The decay grows with the run, ``0.95**5 * (step / total_steps)**3``; the
    last step leaves the model on the averaged weights.
    """

    def __init__(self, model, total_steps: int, every: int = 5):
        self.total_steps, self.every = total_steps, every
        self.ema = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def _update(self, model, decay: float) -> None:
        state = model.state_dict()
        for k, ema in self.ema.items():
            ema.lerp_(state[k], 1 - decay)
            state[k].copy_(ema)

    def on_step_end(self, step: int, model) -> None:
        if step % self.every == 0:
            self._update(model, decay=0.95 ** 5 * (step / self.total_steps) ** 3)
        if step == self.total_steps:
            self._update(model, decay=1.0)   # end on the averaged weights

    def state_dict(self) -> dict:
        return {"ema": {k: v.cpu() for k, v in self.ema.items()}}

    def load_state_dict(self, state: dict) -> None:
        device = next(iter(self.ema.values())).device
        self.ema = {k: v.to(device) for k, v in state["ema"].items()}


def orthogonalize(g: torch.Tensor, steps: int = 3, eps: float = 1e-7) -> torch.Tensor:
    """The nearest (semi-)orthogonal matrix to ``g`` ``(m, n)``, roughly: its singular values pushed toward 1.

    Three quintic Newton-Schulz iterations (Keller Jordan's Muon); the result has ``g``'s shape and dtype.
    """
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g / (g.norm() + eps)
    tall = g.shape[0] > g.shape[1]
    if tall:
        x = x.T
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


class Muon(torch.optim.Optimizer):
    """Nesterov SGD whose steps on convolution filters are orthogonalised (Muon, as in airbench94_muon).

    Groups with ``orthogonalize=True`` hold 4-D filters each followed by batch norm: the Nesterov momentum
    of a filter bank ``(out, in, k, k)``, flattened to ``(out, in*k*k)``, is replaced by ``orthogonalize``'s
    result, and the bank is rescaled to norm ``sqrt(out)`` before each step (batch norm makes its scale
    irrelevant; this takes the place of weight decay). Other groups take ``torch.optim.SGD``'s Nesterov step
    with weight decay. ``dtype``: the precision of the orthogonalisation.
    """

    def __init__(self, params, lr: float, momentum: float, weight_decay: float = 0.0, dtype=torch.float32):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, orthogonalize=False))
        self.dtype = dtype

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, momentum = group["lr"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad if group["orthogonalize"] else p.grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(g)
                buf = state["momentum_buffer"]
                buf.mul_(momentum).add_(g)
                g = g.add(buf, alpha=momentum)
                if group["orthogonalize"]:
                    p.mul_(len(p) ** 0.5 / p.norm())
                    g = orthogonalize(g.reshape(len(g), -1).to(self.dtype)).view(g.shape).to(p.dtype)
                p.add_(g, alpha=-lr)


class WhitenBiasWarmup(Callback):
    """A ``fit`` callback: the whitening layer's bias trains for the first ``epochs`` epochs only, then stays fixed."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def on_epoch_start(self, epoch: int, model) -> None:
        model.whiten.bias.requires_grad_(epoch < self.epochs)


def train_mymodel(model, train: tuple, val: tuple | None = None, config: FastConfig | None = None, device=None,
                  checkpoint_dir=None, resume: bool = False, progress: bool = False, verbose: bool = True,
                  checkpoint_extra: dict | None = None, callbacks=()) -> dict:
    """Train ``MyModel`` with the fast recipe through ``fit``; return ``fit``'s history.

    train, val: ``(images_u8, labels)``, uint8 ``(N, 3, 32, 32)`` and ``(N,)`` (a uint8 ``TensorSplits``'s
    ``train`` and ``val``);
    ``val`` (a split of the training images) is evaluated after every epoch.
    checkpoint_dir / resume / progress / verbose / checkpoint_extra: as ``fit`` (a
    resumed run ends with exactly the weights of an uninterrupted one); callbacks: ``fit``
    callbacks, called after the recipe's own (``Lookahead``, ``WhitenBiasWarmup``).
    The model keeps its final (lookahead-averaged) weights. The history also
    holds ``config`` (the ``FastConfig`` as a dict) and ``bf16`` (whether the
    steps ran under bfloat16 autocast).
    """
    config = config or FastConfig()
    device = torch.device(device) if device is not None else next(model.parameters()).device
    bf16 = bf16_is_fast(device) if config.bf16 is None else config.bf16
    model.to(device)   # fit makes it channels-last (channels_last=True below)
    loader = FlipShiftLoader(*train, batch_size=config.batch_size, translate=config.translate, flip=config.flip,
                             seed=config.seed, device=device)
    total_steps = math.ceil(len(loader) * config.epochs)
    # Decoupled hyperparameters (airbench): see FastConfig.
    kilostep_scale = 1024 * (1 + 1 / (1 - config.momentum))
    lr = config.lr / kilostep_scale
    wd = config.weight_decay * loader.batch_size / kilostep_scale
    lr_bias = lr * config.bias_scaler
    norm_biases = [p for k, p in model.named_parameters() if "norm" in k and p.requires_grad]
    filters = [p for k, p in model.named_parameters() if p.ndim == 4 and p.requires_grad] if config.muon_lr else []
    others = [p for k, p in model.named_parameters()
              if "norm" not in k and p.requires_grad and not any(p is f for f in filters)]
    groups = [dict(params=norm_biases, lr=lr_bias, weight_decay=wd / lr_bias),
              dict(params=others, lr=lr, weight_decay=wd / lr)]
    if filters:
        groups.append(dict(params=filters, lr=config.muon_lr, momentum=config.muon_momentum, orthogonalize=True))
        optimizer = Muon(groups, lr=lr, momentum=config.momentum, dtype=torch.bfloat16 if bf16 else torch.float32)
    else:
        optimizer = torch.optim.SGD(groups, momentum=config.momentum, nesterov=True)
    init_whitening(model, train[0])   # deterministic; a resumed run then loads its checkpoint's weights
    val_loader = None
    if val is not None:
        val_loader = TensorLoader(to_unit_float(val[0]), torch.as_tensor(np.asarray(val[1]), dtype=torch.int64), 1000)
    recipe = Recipe(epochs=math.ceil(config.epochs), optimizer=optimizer,
                    scheduler=StepSchedule(optimizer, total_steps, config.warmup, config.lr_end),
                    scheduler_interval="step",
                    loss_fn=nn.CrossEntropyLoss(label_smoothing=config.label_smoothing, reduction="sum"),
                    seed=config.seed, restore_best=False, channels_last=True, bf16=bf16)
    # The recipe's callbacks first: a checkpoint matches the callbacks' states by position.
    lookahead = (Lookahead(model, total_steps),) if config.lookahead else ()
    history = fit(model, loader, val_loader, recipe,
                  callbacks=(*lookahead, WhitenBiasWarmup(config.whiten_bias_epochs), *callbacks), device=device,
                  checkpoint_dir=checkpoint_dir, resume=resume, progress=progress, verbose=verbose,
                  checkpoint_extra={**(checkpoint_extra or {}), "config": asdict(config)})
    history["config"], history["bf16"] = asdict(config), bf16
    return history


def run_mymodel(config: FastConfig | None = None, val_size: int | float = MYMODEL_VAL_SIZE, out_dir=None, device=None,
                settings: str | None = None, checkpoint_dir=None, resume: bool = False, progress: bool = False,
                verbose: bool = True, checkpoint_extra: dict | None = None, root=None, model=None, widths=None,
                name: str = "mymodel", made_by: str = "notebooks/07_pytorch_cifar10.ipynb") -> dict:
    """The MyModel run of notebook 07 and ``python -m helpers.train --model mymodel``, from data to files.

    Loads CIFAR-10 as uint8 tensors (``load_splits("cifar10", val_size, config.seed, root, pixels="uint8")``:
    ``val_size`` of the training images held out for monitoring, by default ``MYMODEL_VAL_SIZE``: 1,000 of
    50,000), trains a fresh ``MyModel(widths=widths)``
    (default widths ``MYMODEL_WIDTHS``; or ``model``, built by the caller), measures the
    test accuracy plainly and with flip+shift TTA, and writes into ``out_dir``
    (default ``output_dir()``) ``<name>.log``, ``<name>_lossvstrain.png``,
    ``<name>_valaccuracy.png`` and ``models/cifar10_mymodel.pt``, each with its record
    (``made_by``, the run mode, epochs, test accuracy: ``experiments.finish_run``).

    Returns ``{"model", "history", "test_acc", "tta_acc", "val_acc", "train_time", "log", "paths"}``.
    """
    if model is not None and widths is not None:
        raise ValueError("run_mymodel takes a model or the widths of a fresh MyModel, not both.")
    config = config or FastConfig()
    data = load_splits("cifar10", val_size, config.seed, root, pixels="uint8")
    if verbose:
        print(data.shapes(), flush=True)
    if model is None:
        model = MyModel(widths=widths) if widths is not None else MyModel()
    if device is not None:
        model.to(device)
    out = Path(out_dir) if out_dir is not None else output_dir()
    settings = settings if settings is not None else str(config)
    with output_lock(out):   # one writer per output folder (see experiments.run_experiment)
        history = train_mymodel(model, data.train, data.val, config, device=device,
                                checkpoint_dir=checkpoint_dir, resume=resume, progress=progress, verbose=verbose,
                                checkpoint_extra=checkpoint_extra,
                                callbacks=(epoch_logger(name, out, settings),))
        test_acc = mymodel_accuracy(model, *data.test)
        tta_acc = mymodel_accuracy(model, *data.test, tta_level=2)
        result = finish_run(name, model, history, test_acc, settings, out, weights_name=MYMODEL_WEIGHTS, show=False,
                            made_by=made_by, extra_lines=[f"test accuracy with flip+shift test-time augmentation "
                                                          f"(predict --tta 2): {tta_acc:.4f}"])
    return {**result, "model": model, "tta_acc": tta_acc}
