"""Two-digit MNIST with the NumPy layers of ``helpers.numpy_nn`` (notebook 02).

What the notebook needs beyond the layers themselves:

- ``load_two_digits``: the images of two digits as flat float vectors with
  0/1 targets, split into train / validation / test;
- ``build_network``: ``Linear -> act -> ... -> Linear -> Sigmoid`` as a list of
  layers;
- ``train`` / ``run``: minibatch gradient descent on the squared error, with
  a per-epoch history of loss and accuracy on the training and validation
  sets;
- ``classification_figure`` / ``save_figures`` (with ``helpers.plotting.plot_history``): the
  two PNGs the lab hands in;
- ``compare``/``format_table``: the small experiments (depth, width,
  activation, batch size);
- ``training_ui``: ipywidgets controls with a Train button.

Shapes: ``X`` is ``(N, 784)`` float64 in [0, 1]; ``y`` is ``(N, 1)`` float64,
1.0 for the second digit of the pair and 0.0 for the first; the network
outputs ``(N, 1)`` probabilities of the second digit.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import time
import zipfile
from pathlib import Path

import numpy as np

from helpers import provenance
from helpers.data import load_dataset, train_val_split
from helpers.paths import OutputClash, figure_bytes, output_dir, output_lock, writable_folder_problem
from helpers.plotting import image_grid, plot_history
from helpers.runtime import by_mode, setup
from helpers.widgets import train_panel

# The layers come from helpers.numpy_nn, the file the student writes; it is imported only where a network is built
# or trained, so that ``collect_submission.sh`` can re-draw the figures from a saved network without running it.
ACTIVATIONS = ("relu", "sigmoid", "tanh")
DEFAULT_CONFIG = dict(digits=(3, 8), hidden_units=128, depth=1, activation="relu",
                      learning_rate=0.5, batch_size=32, epochs=12)
SMOKE_EPOCHS = 3
VAL_SIZE = 0.1
NOTEBOOK = "notebooks/02_numpy_nn.ipynb"  # what makes the hand-in figures
TRAINING_PNG = "numpy_nn_training.png"
CLASSIFICATION_PNG = "numpy_nn_classification.png"
NETWORK_FILE = "numpy_nn_network.npz"     # the trained network beside the figures: what they are checked against


def two_digit_arrays(images: np.ndarray, labels: np.ndarray, digits) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep the images of ``digits = (neg, pos)`` and make network inputs.

    images: ``(N, 28, 28)`` uint8; labels: ``(N,)`` ints. Returns
    ``X`` ``(M, 784)`` float64 in [0, 1], ``y`` ``(M, 1)`` float64 (1.0 for
    ``pos``) and the kept images ``(M, 28, 28)`` uint8.
    """
    neg, pos = (int(d) for d in digits)
    if neg == pos or not (0 <= neg <= 9 and 0 <= pos <= 9):
        raise ValueError(f"digits must be two different digits 0-9; got {tuple(digits)}.")
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 3 or labels.shape != (len(images),):
        raise ValueError(f"expected images (N, H, W) and labels (N,); got {images.shape} and {labels.shape}.")
    keep = (labels == neg) | (labels == pos)
    kept = images[keep]
    X = kept.reshape(len(kept), -1).astype(np.float64) / 255.0
    y = (labels[keep] == pos).astype(np.float64)[:, None]
    return X, y, kept


def check_config(config: dict, name=lambda key: key) -> None:
    """Raise ``ValueError`` naming the first setting of ``config`` (keys of ``DEFAULT_CONFIG``) that cannot train.

    ``name(key)`` spells a setting in the message (``--learning-rate`` on the command line).
    """
    digits = tuple(config["digits"])
    if len(digits) != 2 or digits[0] == digits[1] or not all(isinstance(d, (int, np.integer)) and 0 <= d <= 9
                                                             for d in digits):
        raise ValueError(f"{name('digits')} must be two different digits 0-9; got {digits}.")
    rate = config["learning_rate"]
    if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
        raise ValueError(f"{name('learning_rate')} must be a positive finite number; got {rate}.")
    if config["activation"] not in ACTIVATIONS:
        raise ValueError(f"{name('activation')} must be one of {', '.join(ACTIVATIONS)}; got {config['activation']!r}.")
    for key, low, high in (("hidden_units", 1, 100_000), ("depth", 0, 100), ("batch_size", 1, 10_000_000),
                           ("epochs", 1, 100_000)):
        value = config[key]
        if not (isinstance(value, (int, np.integer)) and low <= value <= high):
            raise ValueError(f"{name(key)} must be a whole number from {low} to {high:,}; got {value}.")


def load_two_digits(digits=DEFAULT_CONFIG["digits"], val_size: float | int = VAL_SIZE, seed: int = 0, root=None) -> dict:
    """Train / validation / test sets of two MNIST digits.

    The validation set is ``val_size`` of the training images (fraction or
    count), split off with a fixed ``seed``. Returns a dict with ``X_train``
    ``(N_tr, 784)``, ``y_train`` ``(N_tr, 1)``, ``X_val``, ``y_val``,
    ``X_test``, ``y_test``, ``images_test`` ``(N_te, 28, 28)`` uint8,
    ``digits``, and ``val_size`` and ``split_seed`` (how the split was drawn).
    """
    X, y, _ = two_digit_arrays(*load_dataset("mnist", "train", root=root), digits)
    X_train, y_train, X_val, y_val = train_val_split(X, y, val_size=val_size, seed=seed)
    X_test, y_test, images_test = two_digit_arrays(*load_dataset("mnist", "test", root=root), digits)
    return dict(X_train=X_train, y_train=y_train, X_val=X_val, y_val=y_val, X_test=X_test, y_test=y_test,
                images_test=images_test, digits=tuple(int(d) for d in digits), val_size=val_size, split_seed=seed)


def build_network(input_dim: int = 784, hidden_units: int = 64, depth: int = 1, activation: str = "relu",
                seed: int = 0) -> list:
    """``depth`` hidden layers of ``hidden_units`` each, then one output unit with a sigmoid.

    ``depth=0`` is logistic regression (``Linear -> Sigmoid``). Returns the
    list of layers, input ``(batch, input_dim)`` -> output ``(batch, 1)``.
    """
    from helpers import numpy_nn  # here, not at the top: numpy_nn is the student's file (see above)

    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}.")
    if depth < 0 or hidden_units < 1:
        raise ValueError(f"need depth >= 0 and hidden_units >= 1; got depth={depth}, hidden_units={hidden_units}.")
    act = {"relu": numpy_nn.ReLU, "sigmoid": numpy_nn.Sigmoid, "tanh": numpy_nn.Tanh}[activation]
    rng = np.random.default_rng(seed)
    layers, width = [], input_dim
    for _ in range(depth):
        layers += [numpy_nn.Linear(width, hidden_units, rng=rng), act()]
        width = hidden_units
    return layers + [numpy_nn.Linear(width, 1, rng=rng), numpy_nn.Sigmoid()]


def forward(model: list, X: np.ndarray) -> np.ndarray:
    """Pass ``X`` ``(batch, input_dim)`` through every layer; returns ``(batch, 1)`` probabilities."""
    out = X
    for layer in model:
        out = layer.forward(out)
    return out


def backward(model: list, dL_wrt_output: np.ndarray) -> np.ndarray:
    """Back-propagate ``dL_wrt_output`` ``(batch, 1)`` through the layers in reverse; returns dL/dX."""
    grad = dL_wrt_output
    for layer in reversed(model):
        grad = layer.backward(grad)
    return grad


def sgd_step(model: list, learning_rate: float) -> None:
    """One gradient-descent step: each ``Linear`` moves against the batch mean of its per-sample gradients."""
    for layer in model:
        if hasattr(layer, "grads"):
            dW, db = layer.grads()
            layer.W -= learning_rate * dW.mean(axis=0)
            layer.b -= learning_rate * db.mean(axis=0)


def loss_and_accuracy(model: list, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean squared error and accuracy (threshold 0.5) of ``model`` on ``X`` ``(N, D)``, ``y`` ``(N, 1)``."""
    from helpers.numpy_nn import SE  # here, not at the top: numpy_nn is the student's file (see above)

    p = forward(model, X)
    return float(SE().forward(p, y).mean()), float(np.mean((p > 0.5) == (y > 0.5)))


def train(model: list, data: dict, learning_rate: float, batch_size: int, epochs: int, seed: int = 0,
          callback=None) -> dict:
    """Minibatch gradient descent on the mean squared error.

    Each epoch visits the training set in a new random order (``seed``) in
    batches of ``batch_size``. After each epoch the loss and accuracy on the
    whole training and validation sets are recorded; ``callback(epoch,
    history)`` is called if given. Returns the history in the workbook's one
    format (``helpers.plotting.plot_history`` draws it): lists ``epoch``,
    ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc`` and ``train_time``
    (seconds of training so far, evaluation excluded), one entry per epoch.
    """
    from helpers.numpy_nn import SE  # here, not at the top: numpy_nn is the student's file (see above)

    X, y = data["X_train"], data["y_train"]
    if batch_size < 1 or epochs < 0:
        raise ValueError(f"need batch_size >= 1 and epochs >= 0; got {batch_size} and {epochs}.")
    rng = np.random.default_rng(seed)
    loss = SE()
    history = {"epoch": [], "train_loss": [], "val_loss": [], "train_acc": [], "val_acc": [], "train_time": []}
    seconds = 0.0
    for epoch in range(epochs):
        start = time.perf_counter()
        order = rng.permutation(len(X))
        # A diverging run overflows into inf and NaN: the loss check below stops it with one line, not warnings.
        with np.errstate(over="ignore", invalid="ignore"):
            for i in range(0, len(X), batch_size):
                idx = order[i:i + batch_size]
                p = forward(model, X[idx])
                loss.forward(p, y[idx])
                backward(model, loss.backward())
                sgd_step(model, learning_rate)
        seconds += time.perf_counter() - start
        history["epoch"].append(epoch + 1)
        history["train_time"].append(seconds)
        for split in ("train", "val"):
            with np.errstate(over="ignore", invalid="ignore"):
                split_loss, split_acc = loss_and_accuracy(model, data[f"X_{split}"], data[f"y_{split}"])
            if not np.isfinite(split_loss):   # nothing learns from here on: stop before any figure is made of it
                raise FloatingPointError(f"the {split} loss became {split_loss} in epoch {epoch + 1} (learning rate "
                                         f"{learning_rate:g}): lower the learning rate.")
            history[f"{split}_loss"].append(split_loss)
            history[f"{split}_acc"].append(split_acc)
        if callback is not None:
            callback(epoch, history)
    return history


def run(config: dict, data: dict, seed: int = 0, verbose: bool = False) -> dict:
    """Build the model ``config`` describes, train it on ``data`` and test it.

    ``config`` has the keys of ``DEFAULT_CONFIG`` (``digits`` is ignored:
    ``data`` already holds them). Returns a dict with ``model``, ``history``,
    ``test_acc``, ``test_loss``, ``probs_test`` ``(N_te, 1)`` and ``config``.
    """
    cfg = {**DEFAULT_CONFIG, **config}
    model = build_network(data["X_train"].shape[1], cfg["hidden_units"], cfg["depth"], cfg["activation"], seed=seed)

    def report(epoch, h):
        print(f"epoch {epoch + 1:3d}/{cfg['epochs']}: train loss {h['train_loss'][-1]:.4f} acc {h['train_acc'][-1]:.4f}"
              f" | val loss {h['val_loss'][-1]:.4f} acc {h['val_acc'][-1]:.4f}")

    history = train(model, data, cfg["learning_rate"], cfg["batch_size"], cfg["epochs"], seed=seed,
                    callback=report if verbose else None)
    test_loss, test_acc = loss_and_accuracy(model, data["X_test"], data["y_test"])
    return dict(model=model, history=history, test_acc=test_acc, test_loss=test_loss,
                probs_test=forward(model, data["X_test"]), config=cfg, seed=seed)


def classification_figure(images: np.ndarray, probs: np.ndarray, y: np.ndarray, digits, n: int = 40,
                          ncols: int = 10, seed: int = 0):
    """A grid of test images titled with the predicted digit and its confidence; mistakes framed in red.

    images: ``(N, 28, 28)``; probs: ``(N, 1)`` probabilities of ``digits[1]``;
    y: ``(N, 1)`` 0/1 targets. Shows ``n`` images drawn with ``seed``: the
    mistakes first (at most half of the grid), the rest correct ones.
    """

    probs, y = np.asarray(probs).reshape(-1), np.asarray(y).reshape(-1)
    if not len(images) == len(probs) == len(y):
        raise ValueError(f"images, probs and y need the same length; got {len(images)}, {len(probs)}, {len(y)}.")
    pred = probs > 0.5
    wrong = pred != (y > 0.5)
    rng = np.random.default_rng(seed)
    n = min(n, len(images))
    bad = rng.permutation(np.flatnonzero(wrong))[: n // 2]
    good = rng.permutation(np.flatnonzero(~wrong))[: n - len(bad)]
    idx = np.concatenate([bad, good]).astype(int)
    confidence = np.where(pred, probs, 1 - probs)
    titles = [f"{digits[int(pred[i])]} ({confidence[i]:.2f})" for i in idx]
    title = (f"predicted digit (confidence) on test images: {int(wrong.sum())} of {len(y)} wrong"
             f" ({100 * wrong.mean():.2f}%); mistakes in red")
    return image_grid(images[idx], titles, ncols=ncols, highlight=wrong[idx], title=title, scale=1.2)


def training_figure(history: dict, digits):
    """The hand-in's training curves: loss (mean squared error) and accuracy per epoch of ``history``."""
    return plot_history(history, loss_label="mean squared error", title=f"digits {digits[0]} vs {digits[1]}")


HISTORY_KEYS = ("epoch", "train_loss", "val_loss", "train_acc", "val_acc", "train_time")


def network_arrays(result: dict, data: dict) -> dict:
    """What ``NETWORK_FILE`` holds: the trained weights, how they were trained, their history and test outputs.

    ``W0, b0, W1, b1, ...``: each ``Linear``'s parameters in order; ``config``: the settings as JSON
    (``DEFAULT_CONFIG``'s keys, the seed and how the validation split was drawn); ``history_<key>``: the
    history; ``probs_test``: ``(N_te, 1)`` the test probabilities the classification figure shows.
    Plain arrays only, so that it is read back with ``allow_pickle=False``.
    """
    linear = [layer for layer in result["model"] if hasattr(layer, "W")]
    config = {k: result["config"][k] for k in DEFAULT_CONFIG}
    config.update(digits=list(data["digits"]), seed=int(result.get("seed", 0)),
                  val_size=data.get("val_size", VAL_SIZE), split_seed=int(data.get("split_seed", 0)))
    arrays = {"config": np.array(json.dumps(config)), "probs_test": np.asarray(result["probs_test"], np.float64)}
    for i, layer in enumerate(linear):
        arrays[f"W{i}"], arrays[f"b{i}"] = np.asarray(layer.W, np.float64), np.asarray(layer.b, np.float64)
    for key in HISTORY_KEYS:
        arrays[f"history_{key}"] = np.asarray(result["history"][key])
    return arrays


def read_network(path) -> dict:
    """``NETWORK_FILE`` read back as data (``allow_pickle=False``): ``{"config", "weights": [(W, b), ...],
    "history", "probs_test"}``; ``ValueError`` naming the file when it is not one."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            files = set(f.files)
            config = json.loads(str(f["config"]))
            layers = sum(1 for name in files if name.startswith("W"))
            weights = [(f[f"W{i}"], f[f"b{i}"]) for i in range(layers)]
            history = {key: f[f"history_{key}"].tolist() for key in HISTORY_KEYS}
            probs = f["probs_test"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path} is not a saved two-digit network ({type(err).__name__}: {err}).") from None
    shapes = [(np.shape(W), np.shape(b)) for W, b in weights]
    chained = all(len(w) == 2 and b == (1, w[1]) for w, b in shapes) and all(
        shapes[i][0][1] == shapes[i + 1][0][0] for i in range(len(shapes) - 1))
    if not shapes or not chained or shapes[-1][0][1] != 1:
        raise ValueError(f"{path} does not hold a chain of Linear layers ending in one output (W0 (D, H), b0 (1, H), "
                         f"..., (H, 1)); it holds {[w for w, _ in shapes]}.")
    return {"config": config, "weights": weights, "history": history, "probs_test": probs}


def save_figures(result: dict, data: dict, out) -> dict:
    """Write ``numpy_nn_training.png``, ``numpy_nn_classification.png`` and the network into folder ``out``.

    ``result`` is what ``run`` returns. The trained network goes to
    ``NETWORK_FILE`` (``network_arrays``); each file gets a record of how it
    was made (``helpers.provenance``: run mode, digits, epochs, test
    accuracy; the PNGs' records also name the network's SHA-256). From these
    ``collect_submission.sh`` measures the network's test accuracy and re-draws
    both figures to check they are the ones this run made. Everything is
    written atomically while the folder's ``output_lock`` is held. Returns
    the figures' paths, ``{"training": path, "classification": path}`` (the
    network is ``NETWORK_FILE`` beside them).
    """
    import matplotlib.pyplot as plt  # deferred: pyplot takes ~1 s to import and picks a GUI backend

    out = Path(out)
    facts = dict(dataset=f"mnist digits {data['digits'][0]} vs {data['digits'][1]}",
                 epochs=len(result["history"]["train_loss"]), test_accuracy=float(result["test_acc"]))
    buffer = io.BytesIO()
    np.savez(buffer, **network_arrays(result, data))
    figures = {
        "training": (training_figure(result["history"], data["digits"]), out / TRAINING_PNG),
        "classification": (classification_figure(data["images_test"], result["probs_test"], data["y_test"],
                                                 data["digits"]), out / CLASSIFICATION_PNG),
    }
    paths = {}
    with output_lock(out):
        network = provenance.save_artefact(out / NETWORK_FILE, buffer.getvalue(), made_by=NOTEBOOK, **facts)
        for key, (fig, path) in figures.items():
            paths[key] = provenance.save_artefact(path, figure_bytes(fig), made_by=NOTEBOOK,
                                       network_sha256=provenance.read(network)["sha256"], **facts)
    for fig, _ in figures.values():
        plt.close(fig)
    return paths


def compare(configs: list[dict], data: dict, seed: int = 0) -> list[dict]:
    """Train one model per config (keys of ``DEFAULT_CONFIG``) and collect the results.

    Returns one row per config: the config plus ``final_train_loss``,
    ``val_acc`` (last epoch), ``best_val_acc``, ``test_acc`` and ``seconds``.
    """
    rows = []
    for config in configs:
        r = run(config, data, seed=seed)
        h = r["history"]
        rows.append({**r["config"], "final_train_loss": h["train_loss"][-1], "val_acc": h["val_acc"][-1],
                     "best_val_acc": max(h["val_acc"]), "test_acc": r["test_acc"], "seconds": h["train_time"][-1] if h["train_time"] else 0.0})
    return rows


def format_table(rows: list[dict], columns: list[str]) -> str:
    """Rows of dicts as a fixed-width text table (floats with 4 decimals)."""
    def cell(v):
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    cells = [[cell(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def training_ui(load_data=load_two_digits, config: dict | None = None, seed: int = 0):
    """Interactive training: ipywidgets for every hyperparameter and a Train button (``helpers.widgets.train_panel``).

    ``load_data(digits)`` returns the dict ``load_two_digits`` makes (loaded
    data are cached per digit pair). The button trains a new model with the
    widget values and redraws the loss / accuracy curves below the controls.
    Returns ``(widget, panel)``; ``panel["result"]`` holds the last ``run``
    result and ``panel["button"]`` the button (``panel["button"].click()``
    trains without a browser).
    """
    # deferred (both): ipywidgets and pyplot take over a second to import, and only a notebook needs them
    import ipywidgets as w
    import matplotlib.pyplot as plt

    cfg = {**DEFAULT_CONFIG, **(config or {})}
    controls = {
        "learning_rate": w.FloatLogSlider(value=cfg["learning_rate"], base=10, min=-4, max=1, step=0.25,
                                          description="learning rate"),
        "hidden_units": w.IntSlider(value=cfg["hidden_units"], min=1, max=512, description="hidden units"),
        "depth": w.IntSlider(value=cfg["depth"], min=0, max=5, description="hidden layers"),
        "activation": w.Dropdown(options=sorted(ACTIVATIONS), value=cfg["activation"], description="activation"),
        "batch_size": w.Dropdown(options=sorted({1, 8, 32, 128, 512, cfg["batch_size"]}), value=cfg["batch_size"],
                                 description="batch size"),
        "epochs": w.IntSlider(value=cfg["epochs"], min=1, max=50, description="epochs"),
        "digit_a": w.Dropdown(options=list(range(10)), value=cfg["digits"][0], description="digit (0)"),
        "digit_b": w.Dropdown(options=list(range(10)), value=cfg["digits"][1], description="digit (1)"),
    }
    cache: dict = {}

    def train(values: dict):
        digits = (values.pop("digit_a"), values.pop("digit_b"))
        if digits[0] == digits[1]:
            raise ValueError("pick two different digits")
        if digits not in cache:
            cache[digits] = load_data(digits)
        result = run(values, cache[digits], seed=seed)
        training_figure(result["history"], digits)
        plt.show()
        result["digits"] = digits
        return result

    def summary(result) -> str:
        return (f"digits {result['digits']}: test accuracy <b>{result['test_acc']:.4f}</b>, "
                f"{result['history']['train_time'][-1]:.1f} s of training")

    return train_panel(controls, train, columns=2, summary=summary)


def main(argv=None) -> dict:
    """Train the two-digit MNIST classifier and write the two figures the lab asks for.

    The command line of ``python -m helpers.numpy_nn`` (the lab's file, run as a program, starts this one).
    ``python -m helpers.numpy_nn --help`` lists the options (digit pair,
    architecture, learning rate, batch size, epochs, output folder). The
    figures go to ``--out`` or, by default, the workbook's output folder.
    Returns a dict with the test accuracy, the history and the figure paths.
    Settings that cannot train (a NaN or negative rate, equal digits, an
    ``--out`` that is a file) exit with status 2 and one line; a run that
    fails (no data, a loss that became NaN) with status 1 and one line,
    before any figure is written.
    """
    d = DEFAULT_CONFIG
    parser = argparse.ArgumentParser(prog="python -m helpers.numpy_nn",
                                     description="Train the NumPy network on two MNIST digits and save the figures.")
    parser.add_argument("--digits", type=int, nargs=2, default=list(d["digits"]), metavar=("NEG", "POS"))
    parser.add_argument("--hidden-units", type=int, default=d["hidden_units"])
    parser.add_argument("--depth", type=int, default=d["depth"], help="number of hidden layers")
    parser.add_argument("--activation", choices=ACTIVATIONS, default=d["activation"])
    parser.add_argument("--learning-rate", type=float, default=d["learning_rate"])
    parser.add_argument("--batch-size", type=int, default=d["batch_size"])
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"default: {d['epochs']} (full mode) / {SMOKE_EPOCHS} (smoke mode)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", type=Path, default=None, help="data root (default: $WORKBOOK_DATA, see helpers.data)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: the workbook's outputs/)")
    args = parser.parse_args(argv)

    config = dict(digits=tuple(args.digits), hidden_units=args.hidden_units, depth=args.depth,
                  activation=args.activation, learning_rate=args.learning_rate, batch_size=args.batch_size,
                  epochs=args.epochs if args.epochs is not None else by_mode(full=d["epochs"], smoke=SMOKE_EPOCHS))
    try:
        check_config(config, name=lambda key: "--" + key.replace("_", "-"))
    except ValueError as err:
        parser.error(str(err))
    if not 0 <= args.seed < 2**32:
        parser.error(f"--seed must be in [0, 2**32); got {args.seed}.")
    if args.data_root is not None and args.data_root.exists() and not args.data_root.is_dir():
        parser.error(f"--data-root {args.data_root} is a file; give the folder that holds the data sets.")
    if args.out is not None and (why := writable_folder_problem(args.out)):
        parser.error(f"--out {args.out}: {why}")

    setup(seed=args.seed)
    out = Path(args.out) if args.out is not None else output_dir()
    try:
        with output_lock(out):   # held from the start: a second writer there is refused before any training
            data = load_two_digits(config["digits"], seed=args.seed, root=args.data_root)
            print(f"digits {config['digits']}: {len(data['X_train'])} train, {len(data['X_val'])} val, "
                  f"{len(data['X_test'])} test")
            result = run(config, data, seed=args.seed, verbose=True)
            paths = save_figures(result, data, out)
    except OutputClash as err:
        parser.exit(2, f"{parser.prog}: refused: --out {err}\n")
    except (OSError, ValueError, RuntimeError, FloatingPointError) as err:  # no data, a NaN loss, a full disk
        parser.exit(1, f"{parser.prog}: failed, nothing written: {type(err).__name__}: {err}\n")
    print(f"test accuracy: {result['test_acc']:.4f}")
    for p in paths.values():
        print(f"wrote {p}")
    print(f"and beside them {NETWORK_FILE}, the network they show (collect_submission.sh checks them against it)")
    return {"test_acc": result["test_acc"], "history": result["history"], "paths": paths}


if __name__ == "__main__":
    main()
