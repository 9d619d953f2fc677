"""What ``collect_submission.sh`` measures of a hand-in instead of taking its records at their word.

A record (``helpers.provenance``) says how a file was made: the run
mode, the data set, the accuracy reached, the file's SHA-256. Anyone can write
one, so at collect time the tool measures what it can and refuses, naming the
file, a claim the measurement contradicts:

- ``model.pt``: its accuracy on the real test set, with the hand-in's own
  ``MyNet`` and ``classify`` (run sandboxed by ``helpers.course.submission``),
  against the accuracy its record claims (``accuracy_problem``); a network
  at chance level is refused whatever its record says.
- ``numpy_nn_training.png`` and ``numpy_nn_classification.png``: their
  records name the network their run trained (``numpy_nn_network.npz``,
  ``binary_mnist.NETWORK_FILE``). That network is measured with the
  workbook's own arithmetic (``network_probabilities``: never the student's
  layers, whose code is not run here): its test accuracy against the
  records, its stored test outputs against its weights, the last epoch of its
  history against the validation split. Both figures are then drawn again
  from it and must be the PNGs, pixel for pixel (``check_numpy_nn``).

The test sets are the full ones when they are on disk (``$WORKBOOK_DATA``,
else ``<repo>/data``); otherwise the shipped subsets stand in, with a
tolerance that fits their size, and what could not be compared is said.

What a record cannot prove: that the training really ran as long as it says,
or that its history is the path the network took (only the last epoch's
accuracies are measured), nor who ran it.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from helpers import provenance
from helpers.data import DATA_VARIABLE, DatasetNotFoundError, full_data_root, load_dataset, train_val_split
from helpers.paths import SUBSET_DATA_DIR, figure_bytes
from helpers.scratch import binary_mnist as bm

# A network this close to guessing (in accuracy points above 1 / classes) is not a trained one.
CHANCE_MARGIN = 0.05
# The smallest disagreement with a record that counts as a contradiction: on the same images the same network
# gives the same accuracy, up to a few images where float rounding (threads, bfloat16) flips a near tie.
MIN_TOLERANCE = 0.002


@dataclass(frozen=True)
class MeasurementSet:
    """The images a claim is measured on: the full test set when it is on disk, else the shipped subset."""

    root: Path
    full: bool
    dataset: str

    def describe(self, n: int) -> str:
        if self.full:
            return f"the full clean {self.dataset} test set ({n} images)"
        return (f"the {n} {self.dataset} test images shipped with the workbook (the full set is not on disk; "
                f"set {DATA_VARIABLE})")


def measurement_set(dataset: str) -> MeasurementSet:
    """Where ``dataset``'s test set is read from for a measurement: never downloaded."""
    root = full_data_root()
    try:
        load_dataset(dataset, "test", root=root, download=False)
        return MeasurementSet(root, True, dataset)
    except DatasetNotFoundError:
        return MeasurementSet(SUBSET_DATA_DIR, False, dataset)


def tolerance(claimed: float, n: int) -> float:
    """How far an accuracy measured on ``n`` images may lie from a ``claimed`` one: four standard errors of a
    sample of ``n`` (the subsets are samples of the full set), at least ``MIN_TOLERANCE``."""
    p = min(max(claimed, 0.0), 1.0)
    return max(MIN_TOLERANCE, 4 * math.sqrt(max(p * (1 - p), 0.0025) / max(n, 1)))


def accuracy_problem(claimed, measured: float, n: int, classes: int, where: str, subject: str = "it") -> str | None:
    """Why a file whose record claims ``claimed`` test accuracy but measures ``measured`` on ``n`` images (``where``)
    cannot be handed in, or ``None``: a network at chance level, or a claim the measurement contradicts.

    ``subject``: what was measured, as the message names it (``it``: the file itself).
    """
    chance = 1 / classes
    if measured < chance + CHANCE_MARGIN:
        return (f"{subject} classifies {measured:.1%} of {where} correctly, no better than guessing among "
                f"{classes} classes ({chance:.0%}): it is not a trained network")
    if claimed is None:
        return None
    if isinstance(claimed, bool) or not isinstance(claimed, (int, float)) or not math.isfinite(claimed):
        return f"its record claims a test accuracy of {claimed!r}, which is not a number"
    if abs(measured - claimed) > tolerance(claimed, n):
        return (f"its record claims test accuracy {claimed:.4f}, but {subject} measures {measured:.4f} on {where}: "
                "the record does not describe this file")
    return None


# --------------------------------------------------------------------------- the NumPy network of notebook 02


def network_probabilities(weights, activation: str, X: np.ndarray) -> np.ndarray:
    """``(N, 1)`` probabilities of the second digit: ``Linear -> act -> ... -> Linear -> Sigmoid`` computed here.

    weights: ``[(W (D, H), b (1, H)), ...]``; X: ``(N, D)``. The workbook's own arithmetic (``x @ W + b``),
    so that a measurement never runs the student's layers.
    """
    acts = {"relu": lambda a: np.maximum(a, 0), "sigmoid": lambda a: 1 / (1 + np.exp(-a)), "tanh": np.tanh}
    if activation not in acts:
        raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(acts)}.")
    out = X
    for i, (W, b) in enumerate(weights):
        out = out @ W + b
        if i < len(weights) - 1:
            out = acts[activation](out)
    import torch  # its sigmoid is finite for any input; deferred: the other checks here do not need torch

    return torch.sigmoid(torch.from_numpy(np.ascontiguousarray(out))).numpy()


def same_pixels(png: Path, drawn: bytes) -> bool:
    """Whether the PNG file ``png`` shows exactly the image of the PNG bytes ``drawn`` (metadata aside)."""
    with Image.open(png) as a, Image.open(io.BytesIO(drawn)) as b:
        return a.size == b.size and np.array_equal(np.asarray(a.convert("RGBA")), np.asarray(b.convert("RGBA")))


def check_numpy_nn(training_png: Path, classification_png: Path, notebook: str) -> tuple[list[str], str]:
    """Measure the two PNGs of notebook 02 against the network their records name (see the module docstring).

    Returns ``(problems, summary)``: one line per problem, each starting with the file it is about, and one
    line saying what was measured.
    """
    # deferred: pyplot takes ~1 s to import, and the backend is switched to Agg only when figures are re-drawn
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    again = f"run {notebook} again in full mode (WORKBOOK_MODE unset), then collect again."
    network = training_png.with_name(bm.NETWORK_FILE)
    records = {png: provenance.read(png) or {} for png in (training_png, classification_png)}
    if not network.is_file():
        return [f"{bm.NETWORK_FILE}: not found beside the figures ({network}); the figures are checked against "
                f"the network their run trained; {again}"], ""
    if why := provenance.problem(network):
        return [f"{bm.NETWORK_FILE}: {why}; {again}"], ""
    sha = provenance.read(network)["sha256"]
    problems = [f"{png.name}: its record does not name {bm.NETWORK_FILE} as the network it was drawn from (another "
                f"run's figure?); {again}" for png, entry in records.items() if entry.get("network_sha256") != sha]
    if problems:
        return problems, ""
    try:
        net = bm.read_network(network)
        config = net["config"]
        digits = tuple(int(d) for d in config["digits"])
        activation, val_size, split_seed = config["activation"], config["val_size"], int(config["split_seed"])
        if len(digits) != 2 or digits[0] == digits[1] or not all(0 <= d <= 9 for d in digits):
            raise ValueError(f"its digits {digits} are not two different digits 0-9")
        if net["weights"][0][0].shape[0] != 28 * 28:
            raise ValueError(f"its first layer takes {net['weights'][0][0].shape[0]} inputs, not 784 pixels")
    except (ValueError, KeyError, TypeError) as err:
        return [f"{bm.NETWORK_FILE}: {err}; {again}"], ""

    measuring = measurement_set("mnist")
    X_test, y_test, images_test = bm.two_digit_arrays(*load_dataset("mnist", "test", root=measuring.root,
                                                                    download=False), digits)
    probs = network_probabilities(net["weights"], activation, X_test)
    measured = float(np.mean((probs > 0.5) == (y_test > 0.5)))
    where = (f"{len(y_test)} test images of digits {digits[0]} and {digits[1]}"
             + ("" if measuring.full else " shipped with the workbook (the full set is not on disk)"))
    for png, entry in records.items():
        if why := accuracy_problem(entry.get("test_accuracy"), measured, len(y_test), 2, where,
                                   subject=f"its network ({bm.NETWORK_FILE})"):
            problems.append(f"{png.name}: {why}; {again}")
    if problems:
        return problems, ""

    drawn = {training_png: bm.training_figure(net["history"], digits)}
    compared = ["training curves"]
    if measuring.full:
        stored = np.asarray(net["probs_test"], dtype=np.float64)
        if stored.shape != probs.shape or not np.allclose(stored, probs, rtol=1e-6, atol=1e-9):
            return [f"{bm.NETWORK_FILE}: the test outputs it stores are not what its weights compute (the layers "
                    f"that made them compute something else); check numpy_nn.py, then {again}"], ""
        X, y, _ = bm.two_digit_arrays(*load_dataset("mnist", "train", root=measuring.root, download=False), digits)
        _, _, X_val, y_val = train_val_split(X, y, val_size=val_size, seed=split_seed)
        val_acc = float(np.mean((network_probabilities(net["weights"], activation, X_val) > 0.5) == (y_val > 0.5)))
        last = (net["history"].get("val_acc") or [None])[-1]
        if last is None or abs(val_acc - last) > MIN_TOLERANCE:
            return [f"{training_png.name}: its last epoch shows validation accuracy {last}, but its network measures "
                    f"{val_acc:.4f} on that validation split: the curves are not this network's training; "
                    f"{again}"], ""
        drawn[classification_png] = bm.classification_figure(images_test, stored, y_test, digits)
        compared.append("classified test images")
    try:
        for png, fig in drawn.items():
            if not same_pixels(png, figure_bytes(fig)):
                problems.append(f"{png.name}: it is not the figure its network ({bm.NETWORK_FILE}) makes: drawn "
                                f"again from it, the pixels differ (edited, or from another run?); {again}")
    finally:
        for fig in drawn.values():
            plt.close(fig)
    not_compared = "" if measuring.full else "; classified test images not compared (the full MNIST set is not on disk)"
    summary = (f"network {bm.NETWORK_FILE}: test accuracy {measured:.4f} measured on {where}; "
               f"drawn again and identical: {', '.join(compared)}{not_compared}")
    return problems, summary
