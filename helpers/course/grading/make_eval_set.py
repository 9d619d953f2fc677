"""Make the instructor's evaluation set: images through a "customer camera" the students never see.

    python -m helpers.course.grading.make_eval_set --dataset mnist --seed 7 --out eval_mnist.npz
    python -m helpers.course.grading.make_eval_set --dataset fashion_mnist --n 2000 --severities 2 3 --out eval.npz
    python -m helpers.course.grading.make_eval_set --from-folder my_digits/ --out eval_own.npz

Each image is framed anew (a random rotation, shift, scale and shear, a
little wider than the camera augmentation's geometry: ``PLACEMENT``) and then gets
one corruption of ``helpers.pytorch.robustness.PANEL`` (noise, blur,
contrast, exposure, JPEG, motion blur, pixelation, banding, vignetting...)
at a severity drawn from ``--severities`` (default ``DEFAULT_SEVERITIES``,
calibrated so that the lab's baseline fails networks trained without the
augmentation and passes those trained with it: README, "Grading a class").
The images come from the test split in a secret order (a permutation drawn
from ``--seed``), or from ``--from-folder DIR`` (``DIR/<label>/*.png`` or
``.jpg``, any size, converted to 28x28 grey digits, light on dark; add
``--as-is`` to keep them as they are, for photos of a real camera).

It prints how often nearest-neighbour matching against every public MNIST
and Fashion-MNIST image (train and test, those on disk) finds an image's
exact source: the rate a hand-in that ships the public test labels could
look up. The file is an ``.npz`` with ``images`` (uint8 ``(N, 28, 28)``),
``labels`` (int64 ``(N,)``) and ``corruption`` and ``severity`` per image
(for the instructor's analysis), the format ``--eval-set FILE`` reads (with
``allow_pickle=False``). Keep the file and the seed to yourself: this
script is withheld from the student copy of the workbook.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from helpers.course.grading.data import save_image_set
from helpers.data import DatasetNotFoundError, load_dataset

# Calibrated (benchmarks/eval_set_calibration.py, README "Grading a class"): severities drawn per image.
DEFAULT_SEVERITIES = (3,)
# The customer's framing: a little wider than the camera augmentation's affine ranges (12 degrees, 10 %), so that
# nearest-neighbour matching finds the source of few images even among the 10,000 test images alone (3 %).
PLACEMENT = {"degrees": 15.0, "translate": (0.12, 0.12), "scale": (0.85, 1.1), "shear": 10.0}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def make_eval_set(images: np.ndarray, labels: np.ndarray, seed: int = 0, names=None,
                  severities=DEFAULT_SEVERITIES, n: int | None = None, placement: bool = True,
                  camera: bool = True) -> dict:
    """Frame and corrupt ``n`` of ``images`` (uint8 ``(N, 28, 28)``), in a secret order; returns the file's arrays.

    Keys: ``images`` uint8 ``(n, 28, 28)``, ``labels`` int64 ``(n,)``,
    ``corruption`` (str, per image) and ``severity`` (int, per image), and
    ``source`` (int64 ``(n,)``: each image's index in ``images``; not for the
    file). ``placement``: the random framing; ``camera``: the corruptions
    (both off: the images as they are, in the secret order).
    """
    # deferred: torch and torchvision take seconds to import; --help, public_images and load_folder need neither
    import torch

    from helpers.pytorch import augment
    from helpers.pytorch.robustness import corrupt, corruption_names

    names = corruption_names(names or None)
    rng = np.random.default_rng(seed)
    n = len(images) if n is None else min(int(n), len(images))
    order = rng.permutation(len(images))[:n]   # never the public order: it would tell each image's source
    kinds = rng.integers(0, len(names), n)
    levels = np.asarray(severities)[rng.integers(0, len(severities), n)]
    x = torch.from_numpy(images[order].astype(np.float32) / 255.0).unsqueeze(1)
    if placement:
        x = augment.random_affine(x, torch.Generator().manual_seed(seed), chunk=1, **PLACEMENT)
    if camera:
        for k, name in enumerate(names):
            for level in severities:
                idx = np.flatnonzero((kinds == k) & (levels == level))
                if len(idx):
                    x[idx] = corrupt(x[idx], name, int(level), seed=seed)
    out = np.round(x.squeeze(1).numpy() * 255).astype(np.uint8)
    return {"images": out, "labels": labels[order].astype(np.int64),
            "corruption": np.array([names[k] if camera else "none" for k in kinds]),
            "severity": levels.astype(np.int64) if camera else np.zeros(n, np.int64), "source": order.astype(np.int64)}


def _unit_rows(images: np.ndarray, pool: int = 1) -> np.ndarray:
    """Images ``(N, 28, 28)`` as mean-free rows of norm 1 (float32), after ``pool`` x ``pool`` averaging."""
    x = images.astype(np.float32)
    if pool > 1:
        x = x.reshape(len(x), 28 // pool, pool, 28 // pool, pool).mean(axis=(2, 4))
    x = x.reshape(len(x), -1)
    x -= x.mean(axis=1, keepdims=True)
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-6)


def nearest_public(images: np.ndarray, public: np.ndarray, pool: int = 1, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``images`` (uint8 ``(N, 28, 28)``), its nearest of ``public`` ``(M, 28, 28)`` by cosine
    similarity of mean-free pixels (after ``pool`` x ``pool`` averaging): ``(index (N,), similarity (N,))``."""
    bank = _unit_rows(public, pool)
    index, similarity = np.empty(len(images), np.int64), np.empty(len(images), np.float32)
    for i in range(0, len(images), chunk):
        scores = _unit_rows(images[i:i + chunk], pool) @ bank.T
        index[i:i + chunk] = scores.argmax(axis=1)
        similarity[i:i + chunk] = scores.max(axis=1)
    return index, similarity


def source_recovery_rate(images: np.ndarray, sources: np.ndarray, public: np.ndarray) -> float:
    """The fraction of ``images`` whose exact source (``sources``: indices into ``public``) nearest-neighbour matching
    finds: the higher of two matchers, on raw pixels and on 4x4-averaged ones (which ignores noise)."""
    return max(float((nearest_public(images, public, pool)[0] == sources).mean()) for pool in (1, 4))


def public_images(data_root=None) -> tuple[np.ndarray, dict[str, int], list[str]]:
    """Every public MNIST and Fashion-MNIST image on disk (train and test): ``(images, {"mnist/test": offset}, missing)``."""
    parts, offsets, missing, total = [], {}, [], 0
    for dataset in ("mnist", "fashion_mnist"):
        for split in ("train", "test"):
            try:
                images, _ = load_dataset(dataset, split, root=data_root, download=False)
            except DatasetNotFoundError:
                missing.append(f"{dataset}/{split}")
                continue
            offsets[f"{dataset}/{split}"] = total
            parts.append(images)
            total += len(images)
    return (np.concatenate(parts) if parts else np.zeros((0, 28, 28), np.uint8)), offsets, missing


def load_folder(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images of ``folder/<label>/*`` (label 0..9) as uint8 ``(N, 28, 28)``, light on dark, and labels ``(N,)``.

    Raises ``ValueError`` with one line naming the folder or file when the layout or an image is unusable.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder; expected {folder}/<label 0-9>/<image>.png")
    images, labels = [], []
    for sub in sorted(folder.iterdir()):
        if not sub.is_dir():
            continue
        if not (sub.name.isdigit() and 0 <= int(sub.name) <= 9):
            raise ValueError(f"{sub}: expected sub-folders named by their label, 0 to 9")
        for path in sorted(sub.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES or path.is_symlink():
                continue
            try:
                with Image.open(path) as image:
                    grey = image.convert("L")
                    grey.thumbnail((28, 28))   # keeps the aspect ratio; Pillow refuses decompression bombs
                    canvas = Image.new("L", (28, 28), int(np.median(np.asarray(grey))))
                    canvas.paste(grey, ((28 - grey.width) // 2, (28 - grey.height) // 2))
            except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError) as err:
                raise ValueError(f"{path}: not a readable image ({err})") from None
            pixels = np.asarray(canvas, dtype=np.uint8)
            border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
            images.append(255 - pixels if border.mean() > 127 else pixels)   # dark ink on paper: invert
            labels.append(int(sub.name))
    if not images:
        raise ValueError(f"{folder} holds no images; expected {folder}/<label 0-9>/<image>.png")
    return np.stack(images), np.asarray(labels, np.int64)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.course.grading.make_eval_set", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=("mnist", "fashion_mnist"), default="mnist")
    parser.add_argument("--from-folder", type=Path, help="your own images, DIR/<label 0-9>/*.png, instead of the test set")
    parser.add_argument("--as-is", action="store_true", help="with --from-folder: no framing, no corruption")
    parser.add_argument("--out", type=Path, required=True, help="the .npz to write (never overwritten)")
    parser.add_argument("--n", type=int, help="how many images (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--severities", type=int, nargs="+", default=list(DEFAULT_SEVERITIES), choices=(1, 2, 3))
    parser.add_argument("--corruptions", nargs="+", help="names from helpers.pytorch.robustness.PANEL (default: all)")
    parser.add_argument("--data-root", type=Path)
    args = parser.parse_args(argv)
    if args.out.exists():
        print(f"make_eval_set: {args.out} exists; choose a new file name (an evaluation set is never replaced).",
              file=sys.stderr)
        return 1
    try:
        if args.from_folder:
            images, labels = load_folder(args.from_folder)
            what = f"images of {args.from_folder}"
        else:
            images, labels = load_dataset(args.dataset, "test", root=args.data_root, download=False)
            what = f"{args.dataset} test images"
        keep = not (args.from_folder and args.as_is)
        arrays = make_eval_set(images, labels, args.seed, args.corruptions, tuple(args.severities), args.n,
                               placement=keep, camera=keep)
    except (ValueError, DatasetNotFoundError) as err:
        print(f"make_eval_set: {err}", file=sys.stderr)
        return 1
    sources = arrays.pop("source")
    save_image_set(args.out, **arrays)
    kinds = ", ".join(sorted(set(arrays["corruption"].tolist())))
    print(f"wrote {args.out}: {len(arrays['labels'])} {what}, framed and corrupted by {kinds}")
    public, offsets, missing = public_images(args.data_root)
    if len(public) == 0:
        print("nearest-neighbour check skipped: no public MNIST or Fashion-MNIST image is on disk")
        return 0
    among = f"{len(public)} public images ({', '.join(offsets)})" + (f"; not on disk: {', '.join(missing)}" if missing else "")
    if args.from_folder:
        _, similarity = nearest_public(arrays["images"], public)
        near = int((similarity >= 0.98).sum())
        print(f"{near} of {len(similarity)} images have a near copy among {among}")
    elif f"{args.dataset}/test" in offsets:
        rate = source_recovery_rate(arrays["images"], sources + offsets[f"{args.dataset}/test"], public)
        print(f"nearest-neighbour matching finds the exact source of {rate:.1%} of the images among {among}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
