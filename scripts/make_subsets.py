#!/usr/bin/env python
"""Make the small real data subsets shipped in ``assets/data`` (smoke mode).

Reads the full sets from a data root (``--source``, default ``$WORKBOOK_DATA``)
and writes class-balanced random subsets in the *same formats and layout*
(gzipped IDX for MNIST / Fashion-MNIST, python pickles for CIFAR-10), so the
loaders take the same code path in both modes. The selection is seeded and
the gzip headers carry no timestamp: rerunning gives byte-identical files.

    python scripts/make_subsets.py --source ../shared/data
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.data import DatasetError, DatasetNotFoundError, encode_cifar_batch, encode_idx, load_dataset  # noqa: E402
from helpers.paths import SUBSET_DATA_DIR, atomic_write_bytes, writable_folder_problem  # noqa: E402
from helpers.settings import path_setting  # noqa: E402

# Images per split; per class it is a tenth of these.
SIZES = {
    "mnist": {"train": 2000, "test": 500},
    "fashion_mnist": {"train": 2000, "test": 500},
    "cifar10": {"train": 1000, "test": 250},
}
CIFAR_TRAIN_BATCHES = 5
SEED = 20241122


def balanced_indices(labels: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """``total`` indices, the same number from each class, in their original order."""
    classes = np.unique(labels)
    per_class = total // len(classes)
    picked = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in classes]
    return np.sort(np.concatenate(picked))


def gzip_bytes(data: bytes) -> bytes:
    compressed = bytearray(gzip.compress(data, compresslevel=9, mtime=0))
    # The header's operating-system byte: 3 (Unix), as zlib writes it; Python 3.13 writes 255 ("unknown").
    # Fixed, so that every Python makes the same bytes.
    compressed[9] = 3
    return bytes(compressed)


def write_idx_set(name: str, folder: str, source: Path, dest: Path, rng: np.random.Generator) -> None:
    stems = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
    for split, (img_stem, lab_stem) in stems.items():
        images, labels = load_dataset(name, split, root=source, download=False)
        keep = balanced_indices(labels, SIZES[name][split], rng)
        raw = dest / folder / "raw"
        atomic_write_bytes(raw / f"{img_stem}.gz", gzip_bytes(encode_idx(images[keep])))
        atomic_write_bytes(raw / f"{lab_stem}.gz", gzip_bytes(encode_idx(labels[keep].astype(np.uint8))))
        print(f"{name:14s} {split:5s}: {len(keep)} images -> {raw}")


def write_cifar(source: Path, dest: Path, rng: np.random.Generator) -> None:
    folder = dest / "cifar-10-batches-py"
    images, labels = load_dataset("cifar10", "train", root=source, download=False)
    keep = balanced_indices(labels, SIZES["cifar10"]["train"], rng)
    rng.shuffle(keep)  # every batch holds a mix of classes, as the original's do
    for i, part in enumerate(np.array_split(keep, CIFAR_TRAIN_BATCHES), start=1):
        atomic_write_bytes(folder / f"data_batch_{i}",
                           encode_cifar_batch(images[part], labels[part], f"subset training batch {i} of {CIFAR_TRAIN_BATCHES}", "subset"))
    images, labels = load_dataset("cifar10", "test", root=source, download=False)
    keep = balanced_indices(labels, SIZES["cifar10"]["test"], rng)
    atomic_write_bytes(folder / "test_batch", encode_cifar_batch(images[keep], labels[keep], "subset testing batch 1 of 1", "subset"))
    meta = source / "cifar-10-batches-py" / "batches.meta"
    atomic_write_bytes(folder / "batches.meta", meta.read_bytes())
    print(f"cifar10        train: {SIZES['cifar10']['train']} images, test: {len(keep)} -> {folder}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=path_setting("WORKBOOK_DATA"),
                        help="data root holding the full sets (default: $WORKBOOK_DATA)")
    parser.add_argument("--dest", type=Path, default=SUBSET_DATA_DIR, help=f"where to write (default: {SUBSET_DATA_DIR})")
    args = parser.parse_args(argv)
    if args.source is None:
        parser.error("give --source or set WORKBOOK_DATA to the folder that holds the full data sets")
    if not args.source.is_dir():
        parser.error(f"--source {args.source} is not a folder; give the folder that holds the full data sets")
    if why := writable_folder_problem(args.dest):
        parser.error(f"--dest {args.dest}: {why}")
    if args.dest.resolve() == args.source.resolve():
        parser.error(f"--dest {args.dest} is --source: the subsets would replace the full sets they come from")
    rng = np.random.default_rng(SEED)
    try:
        write_idx_set("mnist", "MNIST", args.source, args.dest, rng)
        write_idx_set("fashion_mnist", "FashionMNIST", args.source, args.dest, rng)
        write_cifar(args.source, args.dest, rng)
    except (DatasetError, DatasetNotFoundError) as err:
        print(f"make_subsets: failed: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"make_subsets: failed: cannot write {err.filename}: {err.strerror or err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
