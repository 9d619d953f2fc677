"""The RPZ lab's experiments (notebook 06): one training call, the augmentation per data set, and the notebook's runs.

Everything here is a thin layer over ``helpers.pytorch.training.fit``; the notebook
calls ``train_classifier`` for each network of the lab's sequence, then, for ``MyNet``:

- ``mynet_controls()`` and ``training_config(values)``: the hyperparameter panel's widgets and the training they set;
- ``train_mynets(data, config, save_dir)``: the augmented (and the plain) ``MyNet`` of each data set, trained and saved;
- ``plot_mynet_histories(trained, names)``: their training curves;
- ``robustness_reports(data, trained, names, n_images)``: the corruption panel's report per data set;
- ``report_saved(saved, data)``: the saved networks measured as the grader does, a better one shipped.

The data are ``helpers.pytorch.experiments.load_splits(name, val_size=VAL_SIZE, pixels="unit")``: a
``TensorSplits`` of float32 images ``(N, 1, 28, 28)`` in [0, 1] and int64 labels ``(N,)``.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn as nn

from helpers.device import bf16_is_fast, get_device
from helpers.paths import MODELS_DIR, display_path, output_dir
from helpers.plotting import plot_history
from helpers.provenance import save_artefact
from helpers.pytorch.augment import CameraAugment
from helpers.pytorch.experiments import TensorSplits
from helpers.pytorch.registry import ship_if_better, weights_bytes
from helpers.pytorch.robustness import evaluate_robustness, plot_robustness, robustness_table
from helpers.pytorch.training import Recipe, evaluate, fit, one_cycle
from helpers.pytorch_cnn import MyNet, classify, load_model
from helpers.runtime import by_mode

DATASETS = ("mnist", "fashion_mnist")
VAL_SIZE = 5000   # the RPZ lab's validation images, split off the 60,000 training images
MADE_BY = "notebooks/06_pytorch_fc_cnn.ipynb"   # what the saved networks' records name as their maker
TARGETS = {"mnist": 0.995, "fashion_mnist": 0.93}   # clean test accuracy the lab asks of MyNet
HAND_IN_LIMIT_MB = 5   # the largest model.pt the upload system takes
PANEL_ROWS = [["datasets", "batch_size", "plain"], ["epochs", "budget_min"], ["lr", "strength"]]


def camera_augment(name: str, seed: int = 0, **overrides) -> CameraAugment:
    """The augmentation used for ``name``'s ``MyNet``.

    MNIST (the RPZ lab's MNIST year, a very noisy camera): 60 % of the images corrupted at
    strength 0.8, rotations, shears and elastic warps of the handwriting.
    Fashion-MNIST (its Fashion-MNIST year, real-world photos, brightness shifts): 40 % of
    the images corrupted, at strength 0.6 (clothes are told apart by finer
    texture than digits, which strong noise erases), left-right mirroring,
    small shifts and no warps (a warped sleeve changes the class more than
    a warped digit).
    """
    if name == "mnist":
        kwargs = dict(p=0.6, strength=0.8)
    elif name == "fashion_mnist":
        kwargs = dict(p=0.4, strength=0.6, degrees=5.0, translate=0.08, scale=(0.9, 1.1), shear=0.0,
                      elastic_p=0.0, hflip=True)
    else:
        raise ValueError(f"no augmentation defined for {name!r}; expected one of {DATASETS}.")
    kwargs.update(overrides)
    return CameraAugment(seed=seed, **kwargs)


def train_classifier(model: nn.Module, data: TensorSplits, *, epochs: int, lr: float = 3e-3, batch_size: int = 128,
                     optimizer: str = "adamw", weight_decay: float = 5e-4, label_smoothing: float = 0.0,
                     augment=None, schedule: str = "onecycle", checkpoint_dir=None, seed: int = 0,
                     progress: bool = True, verbose: bool = True, patience: int | None = None,
                     channels_last: bool = True, time_budget: float | None = None,
                     bf16: bool | None = None, loss_fn=None) -> tuple[dict, float]:
    """Train ``model`` on ``data`` (``load_splits(name, pixels="unit")``); return ``(history, seconds)``.

    ``optimizer``: ``"adamw"`` or ``"sgd"`` (momentum 0.9, Nesterov);
    ``schedule``: ``"onecycle"`` (peak ``lr``) or ``"constant"``;
    ``augment``: a batch transform such as ``camera_augment(name)`` or ``None``;
    ``time_budget``: seconds of training at most (the one-cycle schedule is
    fitted into it: see ``helpers.pytorch.training.BudgetOneCycle``).
    ``bf16``: bfloat16 autocast in the training steps; ``None`` uses it where
    it is fast (``helpers.device.bf16_is_fast``).
    ``loss_fn``: ``(scores, y) -> loss`` instead of the cross-entropy with
    ``label_smoothing`` (e.g. a consistency loss over stacked views: see ``fit``'s ``batch_transform``).
    The history also gets the test accuracy as ``history["test_acc"]``
    (``None`` when ``data`` holds no test set, ``data.without_test()``: choosing a recipe never looks at it).
    """
    train, val, test = data.loaders(batch_size, seed=seed)
    if optimizer == "adamw":
        make_opt = lambda params: torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    elif optimizer == "sgd":
        make_opt = lambda params: torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    else:
        raise ValueError(f"optimizer must be 'adamw' or 'sgd'; got {optimizer!r}.")
    if schedule not in ("onecycle", "constant"):
        raise ValueError(f"schedule must be 'onecycle' or 'constant'; got {schedule!r}.")
    if time_budget is not None and schedule != "onecycle":
        raise ValueError("time_budget needs schedule='onecycle' (the schedule is what fits the budget).")
    loss_fn = loss_fn or nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    device = get_device()
    if bf16 is None:
        bf16 = bf16_is_fast(device)
    start = time.time()
    recipe = Recipe(epochs=epochs, optimizer=make_opt,
                    scheduler=one_cycle(lr, time_budget=time_budget) if schedule == "onecycle" else None,
                    loss_fn=loss_fn, batch_transform=augment, seed=seed, patience=patience,
                    channels_last=channels_last, bf16=bf16)
    history = fit(model, train, val, recipe, checkpoint_dir=checkpoint_dir, device=device, progress=progress,
                  verbose=verbose)
    seconds = time.time() - start
    history["bf16"] = bf16
    model.to("cpu").to(memory_format=torch.contiguous_format)
    history["test_acc"] = evaluate(model, test, device="cpu")["acc"] if test is not None else None
    return history, seconds


# ---------------------------------------------------------------------------
# Notebook 06's MyNet runs
# ---------------------------------------------------------------------------

def mynet_controls() -> dict:
    """The hyperparameter panel's widgets at this mode's defaults, ``{name: widget}`` (laid out by ``PANEL_ROWS``).

    ``datasets`` (a tuple of data set names), ``batch_size``, ``plain`` (also train without augmentation),
    ``epochs`` (at most), ``budget_min`` (minutes of training per augmented network), ``lr`` (the one-cycle
    peak) and ``strength`` (a factor on the camera's strength). ``training_config`` turns their values into a run.
    """
    import ipywidgets as widgets  # deferred: ipywidgets takes ~0.2 s to import and is needed only in a notebook

    return {
        "datasets": widgets.Dropdown(options=[("both", DATASETS), ("MNIST", ("mnist",)),
                                              ("Fashion-MNIST", ("fashion_mnist",))], value=DATASETS,
                                     description="data set"),
        "batch_size": widgets.Dropdown(options=[64, 128, 256, 512], value=256, description="batch"),
        "plain": widgets.Checkbox(value=True, description="also train without augmentation"),
        "epochs": widgets.IntSlider(value=by_mode(full=40, smoke=1), min=1, max=40, description="epochs"),
        "budget_min": widgets.FloatSlider(value=by_mode(full=13.0, smoke=5.0), min=0.5, max=60, step=0.5,
                                          description="budget (min)"),
        "lr": widgets.FloatLogSlider(value=4e-3, base=10, min=-4, max=-1, step=0.1, description="max lr"),
        "strength": widgets.FloatSlider(value=1.0, min=0.0, max=1.5, step=0.1, description="aug strength x"),
    }


def training_config(values: dict) -> dict:
    """The panel's ``values`` (``mynet_controls``'s names) and what follows from them: the run ``train_mynets`` does.

    Adds ``budget_s`` (the augmented network's time budget in seconds), ``plain_epochs`` and ``plain_budget_s``
    (the plain network's shorter training: 3 epochs within 90 s in full mode, 1 epoch in smoke mode).
    """
    return {**values, "budget_s": 60 * values["budget_min"], "plain_epochs": by_mode(full=3, smoke=1),
            "plain_budget_s": by_mode(full=90, smoke=None)}


def train_mynets(data: dict, config: dict, save_dir) -> tuple[dict, dict]:
    """Train the augmented ``MyNet`` (and, with ``config["plain"]``, the plain one) of each ``config["datasets"]``.

    data: ``{name: TensorSplits}`` (float32 images ``(N, 1, 28, 28)`` in [0, 1]); config: ``training_config``'s.
    The augmented network trains with ``camera_augment(name)`` at ``config["strength"]`` times its strength
    (checkpoints in ``output_dir("checkpoints", f"mynet_{name}")``) and is saved to
    ``save_dir / f"mynet_{name}.pt"`` with its record (made by notebook 06; data set, epochs, test accuracy:
    ``collect_submission.sh`` checks it; a smoke run writes ``mynet_<name>.smoke.pt`` beside a full run's file).
    The plain one, trained on clean images for the comparison, is not saved. One line is printed per network.

    Returns ``(saved, trained)``: ``{name: the saved file}`` and
    ``{(name, "augmented" | "plain"): (model, history, seconds)}``.
    """
    saved, trained = {}, {}
    for name in config["datasets"]:
        base = camera_augment(name)
        augment = camera_augment(name, strength=base.strength * config["strength"])
        torch.manual_seed(0)
        model = MyNet(flip_tta=augment.hflip)
        history, seconds = train_classifier(
            model, data[name], epochs=config["epochs"], lr=config["lr"], batch_size=config["batch_size"],
            label_smoothing=0.1, augment=augment, time_budget=config["budget_s"],
            checkpoint_dir=output_dir("checkpoints", f"mynet_{name}"), progress=False)
        trained[(name, "augmented")] = (model, history, seconds)
        path = save_artefact(Path(save_dir) / f"mynet_{name}.pt", weights_bytes(model), made_by=MADE_BY,
                             dataset=name, epochs=len(history["epoch"]), test_accuracy=float(history["test_acc"]))
        saved[name] = path
        print(f"==> {name}: augmented MyNet trained in {seconds / 60:.1f} min ({len(history['epoch'])} epochs"
              f"{', bfloat16 autocast' if history['bf16'] else ''}), "
              f"test accuracy {history['test_acc']:.4f}; saved {display_path(path)} ({path.stat().st_size / 1e6:.2f} MB)")
        if config["plain"]:
            torch.manual_seed(0)
            plain = MyNet()
            history, seconds = train_classifier(
                plain, data[name], epochs=config["plain_epochs"], lr=config["lr"], batch_size=config["batch_size"],
                label_smoothing=0.1, augment=None, time_budget=config["plain_budget_s"], progress=False)
            trained[(name, "plain")] = (plain, history, seconds)
            print(f"==> {name}: plain MyNet (no augmentation) trained in {seconds / 60:.1f} min, "
                  f"test accuracy {history['test_acc']:.4f}")
    return saved, trained


def plot_mynet_histories(trained: dict, names) -> None:
    """Show the training curves of each of ``names``' augmented ``MyNet`` in ``trained`` (``train_mynets``')."""
    import matplotlib.pyplot as plt  # deferred: pyplot is slow to import and only the plots need it

    for name in names:
        _model, history, seconds = trained[(name, "augmented")]
        plot_history(history, title=f"MyNet on {name}, with the camera augmentation ({seconds / 60:.1f} min)")
        plt.show()


def robustness_reports(data: dict, trained: dict, names, n_images: int, extra: dict | None = None,
                       corruptions=None, show: bool = True) -> dict:
    """The corruption panel's report for each of ``names``, on its first ``n_images`` test images.

    trained: ``train_mynets``'s; each report compares the plain ``MyNet`` (when trained), the networks of
    ``extra[name]`` (``{label: model}``, e.g. the lab's ``SimpleCNN``) and the augmented ``MyNet``, in that order,
    on ``corruptions`` (names of ``robustness.PANEL``; default all of it).
    Prints per data set one line (images, corruptions, seconds) and ``robustness_table``; with ``show``, draws
    ``plot_robustness``. Returns ``{name: evaluate_robustness's report}``.
    """
    reports = {}
    for name in names:
        models = {"plain MyNet": trained[(name, "plain")][0]} if (name, "plain") in trained else {}
        models.update((extra or {}).get(name, {}))
        models["augmented MyNet"] = trained[(name, "augmented")][0]
        x, y = data[name].x_test[:n_images], data[name].y_test[:n_images]
        start = time.time()
        reports[name] = evaluate_robustness(models, x, y, corruptions)
        print(f"{name}: {len(y)} test images, {len(reports[name]['corruptions'])} corruptions x 3 severities "
              f"({time.time() - start:.0f} s)")
        print(robustness_table(reports[name]))
        print()
        if show:
            import matplotlib.pyplot as plt  # deferred: pyplot is slow to import and only the plots need it

            plot_robustness(reports[name], title=f"{name}: accuracy under corruption (* = kind not used in training)")
            plt.show()
    return reports


def grader_accuracy(path, data: TensorSplits) -> float:
    """Load ``path`` as the grader does (``MyNet()`` + ``load_state_dict``, on the CPU); its accuracy on the whole
    test set of ``data`` (``classify``'s int64 labels ``(N,)`` against ``data.y_test``)."""
    labels = classify(load_model(path), data.x_test)
    if labels.dtype != torch.int64 or labels.shape != data.y_test.shape:
        raise ValueError(f"classify must return int64 labels of shape {tuple(data.y_test.shape)}; "
                         f"got {labels.dtype} {tuple(labels.shape)}.")
    return (labels == data.y_test).float().mean().item()


def report_saved(saved: dict, data: dict, shipped_dir=MODELS_DIR) -> dict:
    """Measure each saved ``MyNet`` as the grader does, against the lab's target, and ship it if it is better.

    saved: ``{name: file}`` (``train_mynets``'s); data: ``{name: TensorSplits}``. Prints per data set the test
    accuracy (``grader_accuracy``), the target (``TARGETS``), the file's size and the time, then what
    ``registry.ship_if_better`` did with ``shipped_dir / f"mynet_{name}.pt"`` (measured the same way; only a
    full run ships). A file over ``HAND_IN_LIMIT_MB`` raises ``ValueError``. Returns ``{name: test accuracy}``.
    """
    accuracy = {}
    for name, path in saved.items():
        start = time.time()
        accuracy[name] = grader_accuracy(path, data[name])
        size = Path(path).stat().st_size / 1e6
        print(f"{name:14s} your MyNet: test accuracy {accuracy[name]:.4f} on {len(data[name].y_test)} images "
              f"(target {TARGETS[name]}: {'met' if accuracy[name] >= TARGETS[name] else 'NOT met'}) | {size:.2f} MB | "
              f"classify {time.time() - start:.1f} s")
        if size >= HAND_IN_LIMIT_MB:
            raise ValueError(f"{display_path(path)} is {size:.2f} MB; the upload system takes under "
                             f"{HAND_IN_LIMIT_MB} MB: make MyNet smaller.")
        shipped = Path(shipped_dir) / f"mynet_{name}.pt"
        shipped_acc = grader_accuracy(shipped, data[name]) if shipped.exists() else None
        print(f"{'':14s} {ship_if_better(path, accuracy[name], shipped, shipped_acc)}")
    return accuracy
