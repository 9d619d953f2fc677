"""Loaders: shipped subsets, files made in a temp folder, broken files, the data root, the full sets."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest

from helpers import data
from helpers.data import (
    CLASS_NAMES,
    DatasetError,
    DatasetNotFoundError,
    cifar10_arrays,
    data_root,
    encode_cifar_batch,
    encode_idx,
    load_dataset,
    read_idx,
    read_pickle_data,
    to_float_tensor,
    to_uint8_tensor,
    train_val_split,
)
from helpers.paths import REPO_ROOT, SUBSET_DATA_DIR


def full_data_root() -> Path | None:
    """The full data sets: $WORKBOOK_DATA if it holds them, else ../shared/data beside the checkout."""
    for candidate in (os.environ.get("WORKBOOK_DATA"), REPO_ROOT.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "MNIST" / "raw").is_dir():
            return Path(candidate)
    return None


needs_full_data = pytest.mark.skipif(full_data_root() is None, reason="full data sets not on this machine (set WORKBOOK_DATA)")

SHAPES = {"mnist": (28, 28), "fashion_mnist": (28, 28), "cifar10": (32, 32, 3)}


# --- the shipped subsets (smoke mode) ---------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SHAPES))
@pytest.mark.parametrize("split", ["train", "test"])
def test_shipped_subsets_have_the_documented_format(name, split):
    images, labels = load_dataset(name, split)  # smoke mode: the subsets in assets/data
    assert images.dtype == np.uint8 and labels.dtype == np.int64
    assert images.shape[1:] == SHAPES[name]
    assert labels.shape == (len(images),)
    counts = np.bincount(labels, minlength=10)
    assert len(counts) == 10 and (counts == counts[0]).all(), f"subset should be class-balanced, got {counts}"
    assert 100 <= len(images) <= 5000
    assert images.std() > 20, "real images, not blanks"


def test_smoke_mode_reads_the_subsets_whatever_WORKBOOK_DATA_says(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBOOK_DATA", str(tmp_path))
    assert data_root() == SUBSET_DATA_DIR
    assert len(load_dataset("mnist", "test")[0]) == 500


def test_shipped_subsets_are_small():
    total = sum(p.stat().st_size for p in SUBSET_DATA_DIR.rglob("*") if p.is_file())
    assert total < 8 * 2**20, f"assets/data should stay a few MB; it is {total / 2**20:.1f} MB"


# --- the data root ---------------------------------------------------------------------------

def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBOOK_MODE", "full")
    monkeypatch.delenv("WORKBOOK_DATA", raising=False)
    assert data_root() == REPO_ROOT / "data"
    monkeypatch.setenv("WORKBOOK_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "arg") == tmp_path / "arg"


def test_unknown_name_or_split_is_refused():
    with pytest.raises(ValueError, match="svhn"):
        load_dataset("svhn", "train")
    with pytest.raises(ValueError, match="'val'"):
        load_dataset("mnist", "val")


# --- files made in a temp folder ---------------------------------------------------------------

def write_mnist_like(root: Path, folder: str = "MNIST", n: int = 12, gz: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    for split_prefix in ("train", "t10k"):
        for stem, arr in ((f"{split_prefix}-images-idx3-ubyte", images), (f"{split_prefix}-labels-idx1-ubyte", labels)):
            payload = encode_idx(arr)
            if gz:
                (raw / f"{stem}.gz").write_bytes(gzip.compress(payload))
            else:
                (raw / stem).write_bytes(payload)
    return images, labels


@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_in_a_temp_folder_round_trip(tmp_path, gz):
    images, labels = write_mnist_like(tmp_path, "FashionMNIST", gz=gz)
    got_images, got_labels = load_dataset("fashion_mnist", "train", root=tmp_path)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels.astype(np.int64))
    assert got_images.flags.writeable, "callers may normalise in place"


def test_cifar_pickles_in_a_temp_folder_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, size=4)
        (folder / name).write_bytes(encode_cifar_batch(images, labels, name))
        batches.append((images, labels))
    X, y = load_dataset("cifar10", "train", root=tmp_path)
    np.testing.assert_array_equal(X, np.concatenate([b[0] for b in batches[:5]]))
    np.testing.assert_array_equal(y, np.concatenate([b[1] for b in batches[:5]]))
    X_test, _ = load_dataset("cifar10", "test", root=tmp_path)
    np.testing.assert_array_equal(X_test, batches[5][0])


def test_truncated_gzip_gives_a_clear_error(tmp_path):
    write_mnist_like(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz"):
        load_dataset("mnist", "train", root=tmp_path, download=False)


def test_truncated_idx_payload_gives_a_clear_error(tmp_path):
    write_mnist_like(tmp_path, gz=False)
    path = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        load_dataset("mnist", "test", root=tmp_path, download=False)


def test_garbage_file_gives_a_clear_error(tmp_path):
    path = tmp_path / "junk-idx3-ubyte"
    path.write_bytes(b"this is not an IDX file at all")
    with pytest.raises(DatasetError, match="not an IDX file"):
        read_idx(path)


def test_corrupt_cifar_pickle_gives_a_clear_error(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    good = encode_cifar_batch(np.zeros((2, 32, 32, 3), np.uint8), np.array([0, 1]))
    (folder / "test_batch").write_bytes(good[: len(good) // 3])
    with pytest.raises(DatasetError, match="test_batch.*truncated or corrupt"):
        load_dataset("cifar10", "test", root=tmp_path, download=False)


def test_images_and_labels_of_different_length_are_refused(tmp_path):
    write_mnist_like(tmp_path)
    raw = tmp_path / "MNIST" / "raw"
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(encode_idx(np.zeros(5, np.uint8))))
    with pytest.raises(DatasetError, match="12 images but 5 labels"):
        load_dataset("mnist", "train", root=tmp_path, download=False)


# --- missing data ------------------------------------------------------------------------------

def test_missing_data_and_no_network_names_the_set_the_folder_and_the_variable(tmp_path, monkeypatch):
    def offline(name, root):
        raise URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(data, "_download", offline)
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("fashion_mnist", "test", root=tmp_path)
    message = str(info.value)
    assert "fashion_mnist" in message
    assert str(tmp_path / "FashionMNIST") in message
    assert "WORKBOOK_DATA" in message
    assert "Name or service not known" in message


def test_missing_data_without_download_does_not_touch_the_network(tmp_path, monkeypatch):
    def boom(name, root):
        raise AssertionError("download attempted")

    monkeypatch.setattr(data, "_download", boom)
    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-py"):
        load_dataset("cifar10", "train", root=tmp_path, download=False)


def test_empty_root_offline_end_to_end(tmp_path):
    """The real torchvision download path, offline: a clear error, not a traceback from urllib."""
    code = (
        "from helpers.data import load_dataset, DatasetNotFoundError\n"
        f"try:\n    load_dataset('mnist', 'test', root=r'{tmp_path}')\n"
        "except DatasetNotFoundError as e:\n    print('CLEAR:', e)\n"
    )
    env = {**os.environ, "WORKBOOK_MODE": "full"}
    # Keep it offline even on a machine with network: a proxy that does not exist.
    env.update(http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9",
               HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, cwd=REPO_ROOT)
    assert "CLEAR:" in out.stdout, out.stdout + out.stderr
    assert "WORKBOOK_DATA" in out.stdout and str(tmp_path) in out.stdout


# --- splits and tensors ------------------------------------------------------------------------

def test_train_val_split_is_seeded_disjoint_and_complete():
    X = np.arange(100)[:, None]
    y = np.arange(100)
    a = train_val_split(X, y, val_size=0.2, seed=3)
    b = train_val_split(X, y, val_size=0.2, seed=3)
    c = train_val_split(X, y, val_size=0.2, seed=4)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[3], c[3])
    assert len(a[1]) == 80 and len(a[3]) == 20
    assert sorted(np.concatenate([a[1], a[3]])) == list(range(100))
    np.testing.assert_array_equal(a[0][:, 0], a[1])  # rows stay paired with their labels
    with pytest.raises(ValueError, match="no training or no validation"):
        train_val_split(X, y, val_size=100)


def test_to_float_tensor_layout_and_range():
    import torch

    grey = to_float_tensor(np.full((2, 28, 28), 255, np.uint8))
    rgb = to_float_tensor(np.zeros((3, 32, 32, 3), np.uint8))
    assert grey.shape == (2, 1, 28, 28) and grey.dtype == torch.float32 and float(grey.max()) == 1.0
    assert rgb.shape == (3, 3, 32, 32)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        to_float_tensor(np.zeros((28, 28), np.uint8))


def test_to_uint8_tensor_is_channels_first_and_keeps_the_pixels():
    import torch

    rgb = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    x = to_uint8_tensor(rgb)
    assert x.dtype == torch.uint8 and x.shape == (3, 3, 32, 32) and x.is_contiguous()
    assert np.array_equal(x.numpy(), rgb.transpose(0, 3, 1, 2))
    assert to_uint8_tensor(rgb[..., 0]).shape == (3, 1, 32, 32)
    assert torch.equal(to_float_tensor(rgb), x.float() / 255)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        to_uint8_tensor(np.zeros((28, 28), np.uint8))


def test_torch_dataset_matches_torchvision_conventions():
    import torch
    from torchvision.transforms import v2

    from helpers.data import torch_dataset

    ds = torch_dataset("cifar10", "test")
    x, label = ds[3]
    X, y = load_dataset("cifar10", "test")
    expected = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])(X[3])
    torch.testing.assert_close(x, expected)
    assert label == int(y[3])


def test_cifar10_arrays_mean_subtraction_and_layout():
    d = cifar10_arrays(num_training=800, num_validation=100, num_test=50, channels_first=True)
    assert d["X_train"].shape == (800, 3, 32, 32) and d["X_test"].shape == (50, 3, 32, 32)
    assert abs(float(d["X_train"].mean())) < 1e-3
    with pytest.raises(ValueError, match="by_mode"):
        cifar10_arrays(num_training=49000, num_validation=1000)


def test_class_names():
    assert CLASS_NAMES["cifar10"][3] == "cat" and CLASS_NAMES["fashion_mnist"][9] == "Ankle boot"


# --- the full sets (where this machine has them) --------------------------------------------------

@needs_full_data
def test_full_sets_are_the_real_ones():
    root = full_data_root()
    X, y = load_dataset("mnist", "train", root=root, download=False)
    assert X.shape == (60000, 28, 28) and y[0] == 5
    X, y = load_dataset("mnist", "test", root=root, download=False)
    assert X.shape == (10000, 28, 28) and y[0] == 7
    for split, n in (("train", 60000), ("test", 10000)):
        X, y = load_dataset("fashion_mnist", split, root=root, download=False)
        assert X.shape == (n, 28, 28) and y[0] == 9
    X, y = load_dataset("cifar10", "train", root=root, download=False)
    assert X.shape == (50000, 32, 32, 3) and y.shape == (50000,)
    np.testing.assert_allclose(X.reshape(-1, 3).mean(axis=0), [125.3, 123.0, 113.9], atol=0.1)
    X, _ = load_dataset("cifar10", "test", root=root, download=False)
    assert X.shape == (10000, 32, 32, 3)


@needs_full_data
def test_make_subsets_reproduces_the_shipped_files(tmp_path):
    out = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "make_subsets.py"), "--source", str(full_data_root()),
                          "--dest", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    shipped = sorted(p.relative_to(SUBSET_DATA_DIR) for p in SUBSET_DATA_DIR.rglob("*") if p.is_file())
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert made == shipped
    for rel in shipped:
        if rel.parts[0] == "cifar-10-batches-py" and int(np.__version__.split(".")[0]) < 2:
            # NumPy 1 pickles its arrays under another module name (numpy.core, not numpy._core): same data.
            made_batch, shipped_batch = read_pickle_data(tmp_path / rel), read_pickle_data(SUBSET_DATA_DIR / rel)
            assert made_batch.keys() == shipped_batch.keys(), rel
            for key, value in shipped_batch.items():
                assert np.array_equal(np.asarray(made_batch[key]), np.asarray(value)), (rel, key)
            continue
        assert (tmp_path / rel).read_bytes() == (SUBSET_DATA_DIR / rel).read_bytes(), rel
