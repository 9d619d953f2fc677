"""A fast CIFAR-10 training recipe for ``helpers.torch_models.MyModel`` (seed 002, Q8.8).

The recipe follows the fastest published CIFAR-10 trainers (Keller Jordan's
airbench94, tysam-code's hlb-CIFAR10, David Page's "How to train your
ResNet"), scaled down to train on a laptop CPU:

- the first layer is a frozen 2x2 *patch-whitening* convolution computed
  from the training images (``init_whitening``);
- batch norm, GELU, identity init of the convolutions, the classifier's
  output scaled by 1/9;
- label smoothing 0.2 and a *summed* loss, Nesterov SGD with the learning
  rate and weight decay given per 1024 examples (so that batch size and
  momentum can be changed without retuning), 64x learning rate for the batch
  norm shifts, a linear warm-up then linear decay, and "lookahead" (every 5
  steps the weights are pulled toward an exponential moving average);
- augmentation done on whole batches of uint8 tensors in memory: random
  translation by up to 2 pixels (reflect padding) and a left-right flip that
  alternates from one epoch to the next (``augment_batch``); no DataLoader,
  no worker processes;
- optional test-time augmentation (``predict``: mirror, mirror + shifts).

``train_fast(model, images, labels, FastConfig(...))`` runs it and returns a
history; ``evaluate(model, images, labels)`` is plain ``argmax`` accuracy.
Images are uint8 tensors ``(N, 3, 32, 32)`` everywhere (``cifar_uint8``).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class FastConfig:
    """Hyperparameters of ``train_fast`` (defaults: the shipped MyModel recipe).

    lr and weight_decay are per 1024 examples, decoupled from batch size and
    momentum as in airbench: the SGD learning rate is
    ``lr / (1024 * (1 + 1 / (1 - momentum)))`` on a loss *summed* over the batch.
    """

    epochs: float = 10.0
    batch_size: int = 1024
    lr: float = 11.5
    momentum: float = 0.85
    weight_decay: float = 0.0153
    bias_scaler: float = 64.0
    label_smoothing: float = 0.2
    whiten_bias_epochs: int = 3
    translate: int = 2
    flip: bool = True
    warmup: float = 0.23          # fraction of the steps spent warming up
    lookahead: bool = True
    bf16: bool = False            # bfloat16 autocast (CPU with AVX-512 BF16, or GPU)
    eval_every: int = 1           # evaluate on the eval set every this many epochs (0: only at the end)
    seed: int = 0


def cifar_uint8(images) -> torch.Tensor:
    """NumPy uint8 images ``(N, 32, 32, 3)`` (``load_dataset``'s layout) -> uint8 tensor ``(N, 3, 32, 32)``."""
    arr = np.asarray(images)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[1:] != (32, 32, 3):
        raise ValueError(f"expected uint8 CIFAR-10 images (N, 32, 32, 3); got {arr.dtype} {arr.shape}.")
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2)))


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
def predict(model, images_u8: torch.Tensor, tta_level: int = 0, batch_size: int = 1000, bf16: bool = False) -> torch.Tensor:
    """Logits ``(N, 10)`` for uint8 images ``(N, 3, 32, 32)``.

    tta_level 0: plain ``model(x)``; 1: average with the mirrored image;
    2: also with the image shifted by one pixel up-left and down-right (6 views).
    """
    if tta_level not in (0, 1, 2):
        raise ValueError(f"tta_level must be 0, 1 or 2; got {tta_level}.")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()

    def mirror(x):
        return model(x) if tta_level == 0 else 0.5 * (model(x) + model(x.flip(-1)))

    out = []
    with _autocast(device, bf16):
        for chunk in images_u8.split(batch_size):
            x = to_unit_float(chunk, device)
            logits = mirror(x)
            if tta_level == 2:
                padded = F.pad(x, (1,) * 4, mode="reflect")
                shifted = [mirror(padded[:, :, :32, :32].contiguous(memory_format=torch.channels_last)),
                           mirror(padded[:, :, 2:, 2:].contiguous(memory_format=torch.channels_last))]
                logits = 0.5 * logits + 0.25 * (shifted[0] + shifted[1])
            out.append(logits.float().cpu())
    model.train(was_training)
    return torch.cat(out)


def evaluate(model, images_u8: torch.Tensor, labels, tta_level: int = 0, bf16: bool = False) -> float:
    """Accuracy of ``predict(model, images_u8, tta_level).argmax(1)`` against ``labels`` ``(N,)``."""
    labels = torch.as_tensor(np.asarray(labels))
    return (predict(model, images_u8, tta_level, bf16=bf16).argmax(1) == labels).float().mean().item()


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------

class _Lookahead:
    """Every few steps: ema <- lerp(ema, weights, 1 - decay); weights <- ema (hlb-CIFAR10's scheme)."""

    def __init__(self, model):
        self.ema = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self, model, decay: float) -> None:
        state = model.state_dict()
        for k, ema in self.ema.items():
            ema.lerp_(state[k], 1 - decay)
            state[k].copy_(ema)


def lr_factor(step: int, total_steps: int, warmup: float) -> float:
    """Triangular schedule: 0.2 -> 1 over the first ``warmup`` fraction of steps, then -> 0.07."""
    warmup_steps = max(1, int(total_steps * warmup))
    if step < warmup_steps:
        frac = step / warmup_steps
        return 0.2 * (1 - frac) + 1.0 * frac
    frac = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 1.0 * (1 - frac) + 0.07 * frac


def train_fast(model, images_u8: torch.Tensor, labels, config: FastConfig | None = None, eval_images_u8=None,
               eval_labels=None, device=None, log=print, checkpoint_dir=None, resume: bool = False,
               progress: bool = False, checkpoint_extra: dict | None = None) -> dict:
    """Train ``MyModel`` with the fast recipe; return the history.

    images_u8: uint8 ``(N, 3, 32, 32)`` training images; labels: ``(N,)``.
    eval_images_u8 / eval_labels: optional set evaluated (plain argmax) every
    ``config.eval_every`` epochs and at the end. ``log`` gets one line per epoch.
    checkpoint_dir: where ``last.pt`` (after every epoch) and ``best.pt``
    (best evaluation accuracy so far) are written atomically, as
    ``helpers.training.fit`` does; ``resume=True`` continues from ``last.pt``
    (same config required) and gives exactly the run an uninterrupted one would.
    progress: a tqdm bar over each epoch's batches.
    checkpoint_extra: plain values stored in every checkpoint (e.g. the run's settings).

    Returns a dict of lists per epoch (``epoch``, ``train_loss``,
    ``train_acc``, ``val_acc`` (None when not evaluated), ``epoch_time``,
    ``elapsed``, ``cpu_time``: CPU seconds of the process), ``iter_loss``
    (mean loss of every step), plus ``config`` and ``train_time`` (seconds
    spent training, evaluation excluded).
    """
    from pathlib import Path

    from helpers.paths import remove_stale_temporaries
    from helpers.training import BEST_NAME, LAST_NAME, _progress, load_checkpoint, save_checkpoint

    config = config or FastConfig()
    if device is None:
        device = next(model.parameters()).device
    device = torch.device(device)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    if images_u8.dtype != torch.uint8 or images_u8.ndim != 4 or len(images_u8) != len(labels):
        raise ValueError(f"expected uint8 images (N, 3, 32, 32) and N labels; got {images_u8.dtype} "
                         f"{tuple(images_u8.shape)} and {len(labels)} labels.")
    generator = torch.Generator().manual_seed(config.seed)
    model.to(device).to(memory_format=torch.channels_last)

    n = len(images_u8)
    batch_size = min(config.batch_size, n)
    steps_per_epoch = n // batch_size                     # drop the last partial batch
    total_steps = math.ceil(steps_per_epoch * config.epochs)

    # Decoupled hyperparameters (airbench): see FastConfig.
    kilostep_scale = 1024 * (1 + 1 / (1 - config.momentum))
    lr = config.lr / kilostep_scale
    wd = config.weight_decay * batch_size / kilostep_scale
    lr_bias = lr * config.bias_scaler
    norm_biases = [p for k, p in model.named_parameters() if "norm" in k and p.requires_grad]
    others = [p for k, p in model.named_parameters() if "norm" not in k and p.requires_grad]
    optimizer = torch.optim.SGD([dict(params=norm_biases, lr=lr_bias, weight_decay=wd / lr_bias),
                                 dict(params=others, lr=lr, weight_decay=wd / lr)],
                                momentum=config.momentum, nesterov=True)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing, reduction="sum")
    lookahead = _Lookahead(model) if config.lookahead else None
    alpha = 0.95 ** 5 * (torch.arange(total_steps + 1) / total_steps) ** 3

    start = time.perf_counter()
    init_whitening(model, images_u8)
    padded = pad_reflect(images_u8, config.translate).to(device)
    base_flip = torch.rand(n, generator=generator) < 0.5
    train_time = time.perf_counter() - start

    history = {k: [] for k in ("epoch", "train_loss", "train_acc", "val_acc", "epoch_time", "elapsed", "cpu_time",
                               "iter_loss")}
    step, start_epoch, best = 0, 0, None
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if ckpt_dir is not None and resume and (ckpt_dir / LAST_NAME).is_file():
        ckpt = load_checkpoint(ckpt_dir / LAST_NAME, model, optimizer, map_location=device)
        if ckpt.get("config") != asdict(config):
            raise ValueError(f"{ckpt_dir / LAST_NAME} was written with a different FastConfig "
                             f"({ckpt.get('config')}); resume with the same settings, or start over.")
        history, step, start_epoch, best = ckpt["history"], ckpt["step"], ckpt["epoch"], ckpt.get("best")
        generator.set_state(ckpt["generator"])
        if lookahead is not None:
            lookahead.ema = {k: v.to(device) for k, v in ckpt["lookahead"].items()}
        train_time = history["elapsed"][-1] if history["elapsed"] else train_time
        log(f"Resumed from {ckpt_dir / LAST_NAME} after epoch {start_epoch}.")
    # A fresh run leaves an earlier run's checkpoints in place until its first epoch replaces them.
    if ckpt_dir is not None:
        remove_stale_temporaries(ckpt_dir)  # left by a process killed while writing a checkpoint

    for epoch in range(start_epoch, math.ceil(config.epochs)):
        if step >= total_steps:
            break
        t0, c0 = time.perf_counter(), time.process_time()
        model.train()
        model.whiten.bias.requires_grad_(epoch < config.whiten_bias_epochs)
        order = torch.randperm(n, generator=generator)
        # Alternating flip: each image is flipped on every other epoch (less redundancy than coin flips).
        flips = base_flip ^ bool(epoch % 2) if config.flip else torch.zeros(n, dtype=torch.bool)
        loss_sum, correct, seen = 0.0, 0, 0
        bar = _progress(range(steps_per_epoch), progress, desc=f"epoch {epoch + 1}/{math.ceil(config.epochs)}",
                        leave=False, mininterval=1.0)
        for i in bar:
            if step >= total_steps:
                break
            index = order[i * batch_size:(i + 1) * batch_size]
            x = to_unit_float(augment_batch(padded, index, flips[index], config.translate, generator), device)
            y = labels[index].to(device)
            for group, base in zip(optimizer.param_groups, base_lrs):
                group["lr"] = base * lr_factor(step, total_steps, config.warmup)
            with _autocast(device, config.bf16):
                out = model(x)
                loss = loss_fn(out.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if lookahead is not None and step % 5 == 0:
                lookahead.update(model, decay=alpha[step].item())
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise FloatingPointError(f"training loss became {loss_value} in epoch {epoch + 1}: lower the learning rate.")
            history["iter_loss"].append(loss_value / len(y))
            loss_sum += loss_value
            correct += (out.argmax(1) == y).sum().item()
            seen += len(y)
        if progress and hasattr(bar, "close"):
            bar.close()
        if lookahead is not None and step >= total_steps:
            lookahead.update(model, decay=1.0)   # end on the averaged weights
        epoch_time = time.perf_counter() - t0
        # CPU seconds of this process: on a machine shared with other jobs, cpu_time / threads
        # estimates what the epoch would take on an idle machine.
        cpu_time = time.process_time() - c0
        train_time += epoch_time
        last = step >= total_steps
        val_acc = None
        if eval_images_u8 is not None and (last or (config.eval_every and (epoch + 1) % config.eval_every == 0)):
            val_acc = evaluate(model, eval_images_u8, eval_labels, bf16=config.bf16)
        row = {"epoch": epoch + 1, "train_loss": loss_sum / max(seen, 1), "train_acc": correct / max(seen, 1),
               "val_acc": val_acc, "epoch_time": epoch_time, "elapsed": train_time, "cpu_time": cpu_time}
        for key, value in row.items():
            history[key].append(value)
        if ckpt_dir is not None:
            improved = val_acc is not None and (best is None or val_acc > best)
            best = val_acc if improved else best
            extra = dict(**(checkpoint_extra or {}), step=step, generator=generator.get_state(), best=best,
                         config=asdict(config),
                         lookahead={k: v.cpu() for k, v in lookahead.ema.items()} if lookahead is not None else None)
            if improved:
                save_checkpoint(ckpt_dir / BEST_NAME, model, optimizer, None, epoch + 1, history, **extra)
            save_checkpoint(ckpt_dir / LAST_NAME, model, optimizer, None, epoch + 1, history, **extra)
        log(f"epoch {epoch + 1:2d} | train loss {row['train_loss']:.3f} | train acc {row['train_acc']:.3f}"
            + (f" | eval acc {val_acc:.4f}" if val_acc is not None else "")
            + f" | {epoch_time:.0f} s (total {train_time:.0f} s, cpu {cpu_time:.0f} s)")
        if last:
            break
    history["config"] = asdict(config)
    history["train_time"] = train_time
    return history


def save_state_dict(model, path) -> None:
    """Save ``model.state_dict()`` to ``path`` atomically (a crash never leaves half a file)."""
    import io

    from helpers.paths import atomic_write_bytes

    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_mymodel(path=None, device="cpu"):
    """``MyModel`` with the weights in ``path`` (default: the shipped ``assets/models/cifar10_mymodel.pt``), in eval mode."""
    from pathlib import Path

    from helpers.paths import MODELS_DIR
    from helpers.torch_models import MyModel

    path = Path(path) if path is not None else MODELS_DIR / "cifar10_mymodel.pt"
    if not path.exists():
        raise FileNotFoundError(f"No MyModel weights at {path}: train MyModel in notebooks/07_pytorch_cifar10.ipynb "
                                f"(full mode) or with scripts/run_mymodel.sh, which save outputs/models/cifar10_mymodel.pt.")
    state = torch.load(path, map_location=device, weights_only=True)
    model = MyModel()
    model.load_state_dict(state)
    return model.to(device).eval()
