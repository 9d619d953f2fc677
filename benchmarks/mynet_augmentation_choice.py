"""Choose MyNet's camera augmentation on validation images only: clean, through the camera, and under held-out kinds.

Each variant of ``camera_augment(data set)`` trains a fresh ``MyNet`` for the
same time budget (the notebook's recipe: AdamW one-cycle, label smoothing 0.1,
batch 256), then is scored on the 5,000 validation images (never the test set):

- ``clean``: the images as they are;
- ``camera``: the images through the data set's camera model with every image
  corrupted (``p=1``, a fixed seed), the kinds the augmentation trains on;
- ``held-out``: the mean over ``robustness.VALIDATION_PANEL`` at severities
  1-3, kinds in neither the augmentation nor the report's panel.

The report's panel (``robustness.PANEL``) and its unseen kinds are never
looked at here: they are reported once, by notebook 06, for the variant chosen.

    WORKBOOK_DATA=/path/to/data python benchmarks/mynet_augmentation_choice.py --dataset fashion_mnist \\
        --budget-min 4 --variants current elongated_blur correlated_noise resample all

``consistency_1`` and ``consistency_12`` keep the camera and change the
training: two draws of it per image (twice the work per step) and AugMix's
Jensen-Shannon consistency between them, of weight 1 or 12.

``--recalibrate PRIOR`` also scores each model with its batch-norm statistics
re-estimated on each batch of images (``robustness.PredictionTimeBatchNorm``:
the images of one kind and severity come in batches of 1,000, like a
customer's camera sending many pictures); ``PRIOR`` is the training
statistics' weight in images. Saved weights are scored the same way:

    ... --variants --score outputs/models/mynet_mnist.pt --recalibrate 250 1000

Runs with a shorter budget than the notebook's rank variants, they do not
give the notebook's accuracies; run two data sets side by side with
``WORKBOOK_THREADS=1`` each to compare on equal terms.
"""

from __future__ import annotations

import argparse
import os

from helpers.cli import number

VARIANTS = {
    "current": {},
    "elongated_blur": {"elongated_blur": True},
    "correlated_noise": {"correlated_noise": True},
    "resample": {"resample_p": 0.25},
    "all": {"elongated_blur": True, "correlated_noise": True, "resample_p": 0.25},
    "stronger": {"p": 0.6, "strength": 0.8},   # Fashion-MNIST's camera as strong as MNIST's
    # Not a camera: two draws of the current camera per image, and AugMix's consistency loss of this weight.
    "consistency_1": {"consistency": 1.0},
    "consistency_12": {"consistency": 12.0},
}


def two_views(augment):
    """A batch transform: two independent draws of ``augment`` for each image, stacked ``(2B, C, H, W)``."""
    import torch

    def views(x, generator=None):
        return torch.cat([augment(x, generator=generator), augment(x, generator=generator)])
    return views


def consistency_loss(weight: float, label_smoothing: float = 0.1):
    """AugMix's loss (Hendrycks et al., 2020) for ``k`` stacked views: ``(scores (k*B, classes), y (B,)) -> loss``.

    The cross-entropy of every view plus ``weight`` times the Jensen-Shannon
    divergence between the views' predicted distributions (zero when the
    network answers the same for every view of an image).
    """
    import math

    import torch
    import torch.nn.functional as F

    def loss(scores, y):
        k = len(scores) // len(y)
        log_p = F.log_softmax(scores, dim=1).view(k, len(y), -1)
        log_mean = torch.logsumexp(log_p, dim=0) - math.log(k)
        js = (log_p.exp() * (log_p - log_mean)).sum(-1).mean()
        return F.cross_entropy(scores, y.repeat(k), label_smoothing=label_smoothing) + weight * js
    return loss


def score(model, x_val, y_val, camera_val) -> dict:
    """Validation accuracy of ``model``: ``clean``, ``camera``, ``held_out`` (mean) and ``per_kind`` (held-out kinds)."""
    import torch

    from helpers.pytorch.robustness import VALIDATION_PANEL, evaluate_robustness, summary
    from helpers.pytorch.training import predict_classes

    model.eval()
    accuracy = lambda x: float((predict_classes(model, x) == y_val).float().mean())
    report = evaluate_robustness({"m": model}, x_val[:2000], y_val[:2000], corruptions=[c.name for c in VALIDATION_PANEL])
    with torch.no_grad():
        return {"clean": accuracy(x_val), "camera": accuracy(camera_val), "held_out": summary(report)["m"]["unseen"],
                "per_kind": {k: sum(v) / len(v) for k, v in report["acc"]["m"].items()}}


def main(argv=None) -> list[dict]:
    """Train and score each variant (or score saved files); print the table; return one dict per row."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["mnist", "fashion_mnist"], default="fashion_mnist")
    parser.add_argument("--variants", nargs="*", choices=sorted(VARIANTS), default=["current", "all"])
    parser.add_argument("--score", nargs="*", default=[], metavar="FILE",
                        help="also score saved MyNet state dicts (e.g. a full run's outputs/models/mynet_mnist.pt)")
    parser.add_argument("--budget-min", type=number(float, 0, 10_000, above=True), default=4.0,
                        help="training minutes per variant")
    parser.add_argument("--epochs", type=number(int, 1, 10_000), default=40,
                        help="at most; the budget usually ends training first")
    parser.add_argument("--lr", type=number(float, 0, 10, above=True), default=4e-3)
    parser.add_argument("--recalibrate", nargs="*", type=number(float, 0, 1e9), default=[], metavar="PRIOR",
                        help="also score each model with its batch-norm statistics re-estimated on each batch "
                             "(robustness.PredictionTimeBatchNorm with this prior, in images)")
    parser.add_argument("--val-size", type=number(int, 1, 59_999), default=None,
                        help="validation images held out (default 5000; 500 in smoke mode, whose sets are small)")
    parser.add_argument("--max-train", type=number(int, 1, 60_000), default=None,
                        help="fewer training images (a quick look)")
    args = parser.parse_args(argv)

    from helpers.runtime import by_mode, setup

    setup(seed=0)
    import torch

    from helpers.paths import display_path, error_line
    from helpers.pytorch.experiments import load_splits
    from helpers.pytorch.mynet_recipe import VAL_SIZE, camera_augment, train_classifier
    from helpers.pytorch.robustness import VALIDATION_PANEL, PredictionTimeBatchNorm
    from helpers.pytorch_cnn import MyNet, load_model

    scored = {}
    for path in args.score:   # every file read before any training starts
        try:
            scored[path] = load_model(path)
        except Exception as error:  # a missing, damaged or foreign file: torch raises many kinds
            parser.error(f"--score {path}: cannot load it into MyNet ({error_line(error)}); give a saved MyNet state dict")

    try:
        data = load_splits(args.dataset, val_size=args.val_size or by_mode(full=VAL_SIZE, smoke=500), pixels="unit",
                           max_train=args.max_train)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    data = data.without_test()   # a choice never sees the test set
    x_val, y_val = data.val
    camera_val = camera_augment(args.dataset, p=1.0)(x_val, generator=torch.Generator().manual_seed(12345))
    print(f"{args.dataset}: {len(data.y_train)} training / {len(y_val)} validation images, "
          f"{args.budget_min} min per variant, held-out kinds {[c.name for c in VALIDATION_PANEL]}, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    rows = []

    def report(row):
        rows.append(row)
        print(f"{row['variant']:18s} {row['epochs']:>3} epochs {row['seconds'] / 60:5.1f} min | clean {row['clean']:.4f} | "
              f"camera {row['camera']:.4f} | held-out {row['held_out']:.4f} | "
              + " ".join(f"{k} {v:.3f}" for k, v in row["per_kind"].items())
              + f" | load {os.getloadavg()[0]:.1f}", flush=True)

    def report_model(variant, model, epochs, seconds):
        report({"variant": variant, "epochs": epochs, "seconds": seconds, **score(model, x_val, y_val, camera_val)})
        for prior in args.recalibrate:
            report({"variant": f"{variant}, recalibrated {prior:g}", "epochs": epochs, "seconds": seconds,
                    **score(PredictionTimeBatchNorm(model, prior), x_val, y_val, camera_val)})

    for path, model in scored.items():
        report_model(display_path(path), model, "-", 0.0)
    for name in args.variants:
        overrides = dict(VARIANTS[name])
        weight = overrides.pop("consistency", None)
        augment = camera_augment(args.dataset, **overrides)
        transform, loss_fn = (two_views(augment), consistency_loss(weight)) if weight else (augment, None)
        torch.manual_seed(0)
        model = MyNet(flip_tta=augment.hflip)
        history, seconds = train_classifier(model, data, epochs=args.epochs, lr=args.lr, batch_size=256,
                                            label_smoothing=0.1, augment=transform, loss_fn=loss_fn,
                                            time_budget=60 * args.budget_min, progress=False, verbose=False)
        report_model(name, model, len(history["epoch"]), seconds)
    width = max([18] + [len(r["variant"]) for r in rows])
    print(f"\n{'variant':{width}s}  clean   camera  held-out   mean")
    for r in rows:
        print(f"{r['variant']:{width}s} {r['clean']:.4f}  {r['camera']:.4f}  {r['held_out']:.4f}   "
              f"{(r['clean'] + r['camera'] + r['held_out']) / 3:.4f}")
    return rows


if __name__ == "__main__":
    main()
