"""What the grader holds and students never see: the test labels, the evaluation set and the public/private split."""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from helpers.course.grading.config import GradingError
from helpers.data import DatasetNotFoundError, load_dataset
from helpers.paths import atomic_write_bytes


@dataclass
class ImageSet:
    """Images ``(N, 28, 28)`` uint8 (or ``None`` where only labels are needed) and labels ``(N,)`` int64."""

    images: np.ndarray | None
    labels: np.ndarray
    source: str


def load_image_set(path: str | os.PathLike, need_images: bool = True) -> ImageSet:
    """Read an evaluation or test set: an ``.npz`` with ``images`` (uint8 ``(N, 28, 28)``) and ``labels`` (``(N,)``, 0..9).

    Loaded with ``allow_pickle=False``: the file is data only. Raises
    ``GradingError`` with one line naming the file and the expected content
    (missing, empty, not an ``.npz``, no images, wrong shapes or labels).
    """
    path = Path(path)
    expected = "an .npz with 'images' (uint8, (N, 28, 28)) and 'labels' (integers 0..9, (N,))"
    if not path.is_file():
        raise GradingError(f"{path}: not found; expected {expected}.")
    if path.stat().st_size == 0:
        raise GradingError(f"{path}: the file is empty; expected {expected}.")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):   # a plain .npy array
            raise GradingError(f"{path}: a single array (.npy); expected {expected}.")
        with data:
            arrays = {k: data[k] for k in data.files if k in ("images", "labels")}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise GradingError(f"{path}: not readable as {expected} ({err}).") from None
    labels = arrays.get("labels")
    if labels is None or labels.ndim != 1 or labels.dtype.kind not in "iu" or (len(labels) and not
                                                                            (0 <= labels.min() and labels.max() <= 9)):
        raise GradingError(f"{path}: 'labels' missing or invalid; expected {expected}.")
    if len(labels) == 0:
        raise GradingError(f"{path}: holds no images; expected {expected} with N > 0.")
    images = arrays.get("images")
    if need_images and (images is None or images.dtype != np.uint8 or images.shape != (len(labels), 28, 28)):
        got = "none" if images is None else f"{images.dtype} {images.shape}"
        raise GradingError(f"{path}: 'images' is {got}; expected {expected} with N = {len(labels)}.")
    return ImageSet(images if need_images else None, labels.astype(np.int64), str(path))


def save_image_set(path: str | os.PathLike, images: np.ndarray, labels: np.ndarray, **extra: np.ndarray) -> Path:
    """Write an image set in ``load_image_set``'s format, atomically (``extra``: more arrays, e.g. corruption names)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=np.asarray(images, dtype=np.uint8), labels=np.asarray(labels, dtype=np.int64),
                        **extra)
    return atomic_write_bytes(path, buffer.getvalue())


@dataclass
class GradingData:
    """What the grader holds and students never see: the test labels, the evaluation set, the public/private split."""

    test: ImageSet
    eval: ImageSet | None = None
    split: dict = field(default_factory=dict)  # metric set name -> boolean mask of the public part

    def metric_set(self) -> str:
        """The set that ranks the challenge: the evaluation set when there is one, else the test set."""
        return "eval" if self.eval is not None else "test"


def public_mask(n: int, fraction: float, seed: int) -> np.ndarray:
    """Boolean ``(n,)``: the public part of a set of ``n`` items, a seeded random ``fraction`` of it (all when 1)."""
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[:int(round(n * fraction))]] = True
    return mask


def with_split(config: dict, test: ImageSet, evaluation: ImageSet | None) -> GradingData:
    """``GradingData`` of ``test`` and ``evaluation`` with the config's public/private split of each."""
    challenge = config["challenge"]
    data = GradingData(test, evaluation)
    for name, part in (("test", test), ("eval", evaluation)):
        if part is not None:
            data.split[name] = public_mask(len(part.labels), challenge["public_fraction"], challenge.get("split_seed", 0))
    return data


def load_grading_data(config: dict, data_root=None, test_set=None, eval_set=None, test_limit: int | None = None) -> GradingData:
    """The course's test set (``helpers.data.load_dataset``, or the ``test_set`` file) and optional evaluation set."""
    rpz = config["course"] == "rpz"
    if eval_set and not rpz:
        raise GradingError("--eval-set is for the rpz course; cs7643 scores predictions.csv on the test labels.")
    if test_set:
        test = load_image_set(test_set, need_images=rpz)
    else:
        try:
            images, labels = load_dataset(config["dataset"], "test", root=data_root, download=False)
        except DatasetNotFoundError as err:
            raise GradingError(str(err)) from None
        test = ImageSet(images if rpz else None, labels.astype(np.int64), f"{config['dataset']} test set")
    keep = None
    if test_limit:
        keep = np.arange(min(int(test_limit), len(test.labels)))
    elif rpz and config.get("test_images") and int(config["test_images"]) < len(test.labels):
        # clean_accuracy is a threshold check: a seeded sample of the test set measures it well enough
        keep = np.sort(np.random.default_rng(config.get("seed", 0)).permutation(len(test.labels))[:int(config["test_images"])])
    if keep is not None:
        test = ImageSet(None if test.images is None else test.images[keep], test.labels[keep], test.source)
    return with_split(config, test, load_image_set(eval_set) if eval_set else None)
