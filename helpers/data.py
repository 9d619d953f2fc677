"""Offline-first loaders for MNIST, Fashion-MNIST and CIFAR-10.

``load_dataset(name, split)`` returns ``(images, labels)`` as NumPy arrays:

=================  ==========================  ==============
name               images (uint8)              labels (int64)
=================  ==========================  ==============
``"mnist"``        ``(N, 28, 28)``             ``(N,)``
``"fashion_mnist"`` ``(N, 28, 28)``            ``(N,)``
``"cifar10"``      ``(N, 32, 32, 3)`` RGB      ``(N,)``
=================  ==========================  ==============

Where the files are looked for (the *data root*):

1. the ``root`` argument, if given;
2. in smoke mode (``WORKBOOK_MODE=smoke``), the small real subsets shipped in
   ``assets/data``;
3. the ``WORKBOOK_DATA`` environment variable;
4. ``./data`` at the repository root.

The on-disk formats are the standard ones, in torchvision's layout:
``<root>/MNIST/raw/*-ubyte.gz`` and ``<root>/FashionMNIST/raw/*-ubyte.gz``
(IDX files, gzipped or not), and ``<root>/cifar-10-batches-py/`` (the python
pickles). When a set is missing it is downloaded with torchvision, waiting
at most ``WORKBOOK_DOWNLOAD_TIMEOUT`` seconds (default 60) for each answer of
the server; when that fails too (offline), ``DatasetNotFoundError`` names the
data set, the folder looked in and the ``WORKBOOK_DATA`` variable.

Files are read as data only: IDX files by their header, CIFAR-10's python
pickles with an unpickler that admits no class or function but NumPy's array
rebuilding, so a crafted file cannot run code. Labels outside the classes
are refused with the file named.
"""

from __future__ import annotations

import functools
import gzip
import os
import pickle
import socket
import struct
from pathlib import Path

import numpy as np

from helpers.paths import REPO_ROOT, SUBSET_DATA_DIR
from helpers.runtime import is_smoke
from helpers.settings import float_setting, path_setting

DATA_VARIABLE = "WORKBOOK_DATA"
DATASETS = ("mnist", "fashion_mnist", "cifar10")
SPLITS = ("train", "test")

CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion_mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
    "cifar10": [
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck",
    ],
}

# Folder names inside the data root, as torchvision writes them.
_FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "cifar-10-batches-py"}
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_CIFAR_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
_IDX_MAGIC = {2049: 1, 2051: 3}  # labels: 1 dimension, images: 3 dimensions


class DatasetError(RuntimeError):
    """A data file exists but cannot be read (truncated, corrupt, wrong format)."""


class DatasetNotFoundError(FileNotFoundError):
    """A data set is neither on disk nor downloadable."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Resolve the data root: argument > smoke subsets > ``$WORKBOOK_DATA`` > ``<repo>/data``."""
    if root is not None:
        return Path(root).expanduser()
    if is_smoke():
        return SUBSET_DATA_DIR
    return full_data_root()


def full_data_root() -> Path:
    """Where the full data sets are, whatever the run mode: ``$WORKBOOK_DATA``, else ``<repo>/data``."""
    return path_setting(DATA_VARIABLE) or REPO_ROOT / "data"


def _check_name_split(name: str, split: str) -> None:
    if name not in DATASETS:
        raise ValueError(f"Unknown data set {name!r}; expected one of {DATASETS}.")
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; expected one of {SPLITS}.")


def _files_for(name: str, split: str, root: Path) -> list[Path]:
    """The files that hold ``name``/``split`` under ``root`` (.gz or plain IDX)."""
    folder = root / _FOLDERS[name]
    if name == "cifar10":
        return [folder / f for f in _CIFAR_FILES[split]]
    files = []
    for stem in _IDX_FILES[split]:
        raw = folder / "raw" / stem
        gz = raw.with_name(stem + ".gz")
        files.append(gz if gz.exists() or not raw.exists() else raw)
    return files


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (MNIST's format), gzipped or not, into a uint8 array.

    Raises ``DatasetError`` naming the file when it is truncated or not IDX.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetError(f"Cannot read {path}: {exc}. Delete the file and load again to re-download it.") from exc
    if len(data) < 8:
        raise DatasetError(f"{path} is too short to be an IDX file ({len(data)} bytes).")
    magic, count = struct.unpack(">II", data[:8])
    if magic not in _IDX_MAGIC:
        raise DatasetError(f"{path} is not an IDX file of uint8 data (magic number {magic:#x}).")
    ndim = _IDX_MAGIC[magic]
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", data[4:header]) if len(data) >= header else None
    if dims is None:
        raise DatasetError(f"{path} ends inside its header.")
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise DatasetError(
            f"{path} holds {len(data)} bytes but its header announces {dims} "
            f"({expected} bytes): the file is truncated or corrupt. Delete it and load again."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def encode_idx(array: np.ndarray) -> bytes:
    """Serialise a uint8 array as an IDX file (1-D labels or 3-D images); the inverse of ``read_idx``."""
    if array.ndim not in (1, 3):
        raise ValueError(f"IDX files here hold labels (N,) or images (N, H, W); got shape {array.shape}.")
    magic = {1: 2049, 3: 2051}[array.ndim]
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def encode_cifar_batch(images: np.ndarray, labels: np.ndarray, batch_label: str = "batch", filename_prefix: str = "image") -> bytes:
    """Pickle images ``(N, 32, 32, 3)`` uint8 and labels ``(N,)`` as a CIFAR-10 python batch file."""
    if images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise ValueError(f"expected CIFAR-10 images (N, 32, 32, 3); got shape {images.shape}.")
    data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # channel planes, as the original
    batch = {
        b"batch_label": batch_label.encode(),
        b"labels": [int(v) for v in labels],
        b"data": np.ascontiguousarray(data, dtype=np.uint8),
        b"filenames": [f"{filename_prefix}_{i:05d}.png".encode() for i in range(len(images))],
    }
    return pickle.dumps(batch, protocol=4)


class _BatchUnpickler(pickle.Unpickler):
    """Reads CIFAR-10's python batches as data only: no class or function but NumPy's array rebuilding.

    The real batches hold a dict of bytes, ints, lists and one uint8 array;
    anything else a file names (``os.system``, a class of some module) is
    refused before it runs, so a crafted batch cannot execute code.
    """

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"),
               ("_codecs", "encode")}  # how protocol 2 stores bytes when Python 3 writes it (str -> bytes)

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which a CIFAR-10 batch never holds "
                                         "(refused: loading it could run code)")
        try:
            return super().find_class(module, name)
        except ModuleNotFoundError:
            if not module.startswith("numpy._core"):
                raise
            # Written by NumPy 2, read by NumPy 1: the same function lives in numpy.core there.
            return super().find_class(module.replace("numpy._core", "numpy.core", 1), name)


def read_pickle_data(path: str | os.PathLike):
    """Unpickle ``path`` as plain data (dicts, lists, bytes, numbers, NumPy arrays); no code can run."""
    with open(path, "rb") as f:
        return _BatchUnpickler(f, encoding="bytes").load()


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = read_pickle_data(path)
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise DatasetError(
            f"Cannot read the CIFAR-10 batch {path}: {exc!r}. The file is truncated or corrupt, or not a "
            "CIFAR-10 batch; delete it and load again."
        ) from exc
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DatasetError(
            f"{path} should hold data of shape (N, 3072) and N labels; "
            f"found data {data.shape} and {len(labels)} labels."
        )
    # Stored as (N, 3*32*32), channel planes first; return channels last.
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _read(name: str, split: str, files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    if name == "cifar10":
        parts = [_read_cifar_batch(p) for p in files]
        images = np.ascontiguousarray(np.concatenate([p[0] for p in parts]))
        labels = np.concatenate([p[1] for p in parts])
    else:
        images = read_idx(files[0])
        labels = read_idx(files[1]).astype(np.int64)
        if images.ndim != 3 or labels.ndim != 1:
            raise DatasetError(f"{files[0]} / {files[1]}: expected images (N, H, W) and labels (N,).")
        images = images.copy()  # frombuffer arrays are read-only
    if len(images) != len(labels):
        raise DatasetError(f"{name} {split}: {len(images)} images but {len(labels)} labels in {files[0].parent}.")
    classes = len(CLASS_NAMES[name])
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        bad = int(np.count_nonzero((labels < 0) | (labels >= classes)))
        raise DatasetError(f"{name} {split}: {bad} labels outside the classes 0..{classes - 1} (from "
                           f"{labels.min()} to {labels.max()}) in {files[-1]}: the file is corrupt or not "
                           f"{name}'s; delete it and load again.")
    return images, labels


DOWNLOAD_TIMEOUT_VARIABLE = "WORKBOOK_DOWNLOAD_TIMEOUT"
_DOWNLOAD_SIZES = {"mnist": "about 12 MB", "fashion_mnist": "about 30 MB", "cifar10": "about 170 MB"}


def download_timeout() -> float:
    """Seconds a download waits for each answer from the server: ``$WORKBOOK_DOWNLOAD_TIMEOUT``, else 60."""
    return float_setting(DOWNLOAD_TIMEOUT_VARIABLE)


def _download(name: str, root: Path) -> None:
    """Fetch ``name`` into ``root`` with torchvision (raises on failure, ``TimeoutError`` when the server is silent)."""
    import torchvision.datasets as tvd  # deferred: torchvision takes seconds to import; base modules never pull it

    timeout = download_timeout()
    print(f"{name} is not in {root}: downloading it ({_DOWNLOAD_SIZES[name]}); waiting at most {timeout:g} s "
          f"for each answer from the server ({DOWNLOAD_TIMEOUT_VARIABLE} sets it).", flush=True)
    root.mkdir(parents=True, exist_ok=True)
    # torchvision's requests take no timeout of their own: without one a silent server is waited on for ever.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        if name == "cifar10":
            tvd.CIFAR10(str(root), train=True, download=True)
        else:
            cls = tvd.MNIST if name == "mnist" else tvd.FashionMNIST
            for train in (True, False):
                cls(str(root), train=train, download=True)
    except Exception as exc:
        if isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError) \
                or "timed out" in str(exc):
            raise TimeoutError(f"the download server sent nothing for {timeout:g} s (is the network behind a "
                               f"proxy, or offline?)") from exc
        raise
    finally:
        socket.setdefaulttimeout(previous)


def load_dataset(name: str, split: str, root: str | os.PathLike | None = None, download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load a data set split as NumPy arrays.

    Parameters
    ----------
    name : ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"``.
    split : ``"train"`` or ``"test"``.
    root : data root; see the module docstring for the default.
    download : try torchvision's download when the files are missing
        (never in smoke mode, whose files ship with the workbook).

    Returns
    -------
    images : uint8 array ``(N, 28, 28)`` (MNIST, Fashion-MNIST) or
        ``(N, 32, 32, 3)`` (CIFAR-10, RGB, channels last).
    labels : int64 array ``(N,)`` with class indices 0..9.
    """
    _check_name_split(name, split)
    folder = data_root(root)
    if folder.exists() and not folder.is_dir():
        raise DatasetNotFoundError(f"The data root {folder} is a file, not a folder; give the folder that holds "
                                   f"{_FOLDERS[name]}/ (root=..., or the {DATA_VARIABLE} environment variable).")
    files = _files_for(name, split, folder)
    if not all(p.exists() for p in files):
        missing = [p.name for p in files if not p.exists()]
        error = None
        if download and not (root is None and is_smoke()):
            try:
                _download(name, folder)
            except Exception as exc:  # network errors come in many types
                error = exc
            files = _files_for(name, split, folder)
        if not all(p.exists() for p in files):
            reason = f" The download failed too: {error}." if error else ""
            raise DatasetNotFoundError(
                f"The {name} data set ({split} split) is not in {folder / _FOLDERS[name]} "
                f"(missing: {', '.join(missing)}).{reason} Put the files there, pass root=..., "
                f"or set the {DATA_VARIABLE} environment variable to a folder that holds "
                f"{_FOLDERS[name]}/ (see the README, 'Data')."
            )
    return _read(name, split, files)


def train_val_split(images: np.ndarray, labels: np.ndarray, val_size: int | float = 0.1, seed: int = 0):
    """Split arrays into training and validation parts with a fixed seed.

    ``val_size`` is a count (int) or a fraction (float in (0, 1)). Returns
    ``(train_images, train_labels, val_images, val_labels)``; the same seed
    always gives the same split.
    """
    n = len(images)
    if len(labels) != n:
        raise ValueError(f"images has {n} rows but labels has {len(labels)}.")
    n_val = int(round(val_size * n)) if isinstance(val_size, float) else int(val_size)
    if not 0 < n_val < n:
        raise ValueError(f"val_size={val_size!r} leaves no training or no validation data for N={n}.")
    order = np.random.default_rng(seed).permutation(n)
    val, train = order[:n_val], order[n_val:]
    return images[train], labels[train], images[val], labels[val]


def to_uint8_tensor(images: np.ndarray):
    """uint8 images ``(N, H, W)`` or ``(N, H, W, C)`` -> uint8 torch tensor ``(N, C, H, W)`` (contiguous)."""
    import torch  # deferred: torch takes seconds to import; this base module loads without it

    x = torch.from_numpy(np.ascontiguousarray(images))
    if x.ndim == 3:
        x = x.unsqueeze(1)
    elif x.ndim == 4:
        x = x.permute(0, 3, 1, 2)
    else:
        raise ValueError(f"expected images of shape (N, H, W) or (N, H, W, C); got {tuple(images.shape)}.")
    return x.contiguous()


def to_float_tensor(images: np.ndarray):
    """uint8 images ``(N, H, W)`` or ``(N, H, W, C)`` -> float32 torch tensor ``(N, C, H, W)`` in [0, 1].

    The batched equivalent of ``torchvision.transforms.ToTensor``.
    """
    return to_uint8_tensor(images).float().div_(255.0)


def torch_dataset(name: str, split: str, transform=None, root=None):
    """A ``torch.utils.data.Dataset`` over ``load_dataset(name, split)``.

    Each item is ``(image, label)``: the image is a float32 tensor
    ``(C, H, W)`` in [0, 1] (as ``ToTensor`` makes it), then passed through
    ``transform`` (any torchvision transform that takes a tensor image).
    """
    images, labels = load_dataset(name, split, root=root)
    return _array_dataset_class()(images, labels, transform=transform)


@functools.cache
def _array_dataset_class():
    # deferred (both): torch takes seconds to import; this base module loads without it
    import torch
    from torch.utils.data import Dataset

    class ArrayDataset(Dataset):
        """Dataset over in-memory uint8 images and int64 labels.

        images: ``(N, H, W)`` or ``(N, H, W, C)`` uint8; labels: ``(N,)``.
        Items: ``(transform(image (C, H, W) float32 in [0, 1]), label int)``.
        """

        def __init__(self, images: np.ndarray, labels: np.ndarray, transform=None):
            if len(images) != len(labels):
                raise ValueError(f"images has {len(images)} rows but labels has {len(labels)}.")
            self.images = to_float_tensor(images)
            self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
            self.transform = transform

        def __len__(self) -> int:
            return len(self.labels)

        def __getitem__(self, i):
            x = self.images[i]
            if self.transform is not None:
                x = self.transform(x)
            return x, int(self.labels[i])

    return ArrayDataset


def cifar10_arrays(num_training: int = 49000, num_validation: int = 1000, num_test: int = 1000,
                   channels_first: bool = False, subtract_mean: bool = True, dtype=np.float32, root=None) -> dict:
    """CIFAR-10 prepared as the CS231n notebooks use it.

    The first ``num_training`` training images train, the next
    ``num_validation`` validate, the first ``num_test`` test images test.
    Pixels become ``dtype`` (float64 for gradient checks; float32 trains
    faster); with ``subtract_mean`` the training mean image is subtracted
    from every split. Returns a dict with ``X_train``, ``y_train``, ``X_val``,
    ``y_val``, ``X_test``, ``y_test`` and ``mean_image``; images are
    ``(N, 32, 32, 3)``, or ``(N, 3, 32, 32)`` with ``channels_first``.
    """
    X, y = load_dataset("cifar10", "train", root=root)
    X_te, y_te = load_dataset("cifar10", "test", root=root)
    if num_training + num_validation > len(X) or num_test > len(X_te):
        raise ValueError(
            f"asked for {num_training} + {num_validation} training/validation and {num_test} test images, "
            f"but the data root holds {len(X)} and {len(X_te)} (smoke mode ships a small subset: use by_mode)."
        )
    out = {
        "X_train": X[:num_training].astype(dtype), "y_train": y[:num_training],
        "X_val": X[num_training:num_training + num_validation].astype(dtype),
        "y_val": y[num_training:num_training + num_validation],
        "X_test": X_te[:num_test].astype(dtype), "y_test": y_te[:num_test],
    }
    mean_image = out["X_train"].mean(axis=0)
    if subtract_mean:
        for key in ("X_train", "X_val", "X_test"):
            out[key] -= mean_image
    if channels_first:
        for key in ("X_train", "X_val", "X_test"):
            out[key] = np.ascontiguousarray(out[key].transpose(0, 3, 1, 2))
        mean_image = mean_image.transpose(2, 0, 1)
    out["mean_image"] = mean_image
    return out
