"""Make the instructor's evaluation set: test images through a "customer camera" the students never see.

    python -m helpers.course.grading.make_eval_set --dataset mnist --out eval_mnist.npz
    python -m helpers.course.grading.make_eval_set --dataset fashion_mnist --n 2000 --severities 2 3 --seed 7 --out eval.npz

Each image gets one corruption of ``helpers.pytorch.robustness.PANEL`` (noise, blur,
contrast, exposure, JPEG, motion blur, pixelation, banding, vignetting...)
at a severity drawn from ``--severities``; which one is drawn per image from
``--seed``, so the set is fixed once made. The file is an ``.npz`` with
``images`` (uint8 ``(N, 28, 28)``), ``labels`` (int64 ``(N,)``) and
``corruption`` and ``severity`` per image (for the instructor's analysis),
the format ``python -m helpers.course.grade rpz --eval-set FILE`` reads (with
``allow_pickle=False``). Keep the file and the seed to yourself: this script
is withheld from the student copy of the workbook.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def make_eval_set(images: np.ndarray, labels: np.ndarray, seed: int = 0, names=None, severities=(1, 2, 3),
                  n: int | None = None) -> dict:
    """Corrupt ``n`` images (uint8 ``(N, 28, 28)``) drawn from the set; returns the arrays of the file.

    Keys: ``images`` uint8 ``(n, 28, 28)``, ``labels`` int64 ``(n,)``,
    ``corruption`` (str, per image) and ``severity`` (int, per image).
    """
    import torch

    from helpers.pytorch.robustness import corrupt, corruption_names

    names = corruption_names(names or None)
    rng = np.random.default_rng(seed)
    n = len(images) if n is None else min(int(n), len(images))
    chosen = np.sort(rng.permutation(len(images))[:n])
    kinds = rng.integers(0, len(names), n)
    levels = np.asarray(severities)[rng.integers(0, len(severities), n)]
    out = np.empty((n, 28, 28), dtype=np.uint8)
    x = torch.from_numpy(images[chosen].astype(np.float32) / 255.0).unsqueeze(1)
    for k, name in enumerate(names):
        for level in severities:
            idx = np.flatnonzero((kinds == k) & (levels == level))
            if len(idx):
                y = corrupt(x[idx], name, int(level), seed=seed)
                out[idx] = np.round(y.squeeze(1).numpy() * 255).astype(np.uint8)
    return {"images": out, "labels": labels[chosen].astype(np.int64),
            "corruption": np.array([names[k] for k in kinds]), "severity": levels.astype(np.int64)}


def main(argv: list[str] | None = None) -> int:
    from helpers.course.grade import save_image_set
    from helpers.data import load_dataset

    parser = argparse.ArgumentParser(prog="python -m helpers.course.grading.make_eval_set", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=("mnist", "fashion_mnist"), default="mnist")
    parser.add_argument("--out", type=Path, required=True, help="the .npz to write (never overwritten)")
    parser.add_argument("--n", type=int, help="how many test images (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--severities", type=int, nargs="+", default=[1, 2, 3], choices=(1, 2, 3))
    parser.add_argument("--corruptions", nargs="+", help="names from helpers.pytorch.robustness.PANEL (default: all)")
    parser.add_argument("--data-root", type=Path)
    args = parser.parse_args(argv)
    if args.out.exists():
        print(f"make_eval_set: {args.out} exists; choose a new file name (an evaluation set is never replaced).",
              file=sys.stderr)
        return 1
    images, labels = load_dataset(args.dataset, "test", root=args.data_root)
    try:
        arrays = make_eval_set(images, labels, args.seed, args.corruptions, tuple(args.severities), args.n)
    except ValueError as err:
        print(f"make_eval_set: {err}", file=sys.stderr)
        return 1
    save_image_set(args.out, **arrays)
    kinds = ", ".join(sorted(set(arrays["corruption"].tolist())))
    print(f"wrote {args.out}: {len(arrays['labels'])} {args.dataset} test images, corrupted by {kinds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
