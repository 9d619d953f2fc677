"""Classify a test set with trained weights and write ``predictions.csv`` (CS7643's ``test.py``).

    python -m helpers.predict --model mymodel --weights assets/models/cifar10_mymodel.pt
    python -m helpers.predict --model convnet --weights outputs/models/convnet.pt --out convnet_predictions.csv
    python -m helpers.predict --model mlp --dataset mnist --weights outputs/models/mlp_mnist.pt

``predictions.csv`` has the header ``id,label`` and one row per test image,
in test-set order (``id`` 0, 1, 2, ...): what the challenge server takes.
When the test labels are known (the CIFAR-10 test batch has them) the
accuracy is printed too.

The architecture is read off the weights (hidden widths, filter count and
size), so any file ``python -m helpers.train`` or notebook 07 wrote loads
without repeating its settings. Inputs are prepared as in training: the
challenge network takes pixels in [0, 1] and normalises them itself; the
other models take images standardised with the training-set statistics.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from helpers.cli import Refused
from helpers.data import DATASETS, DatasetError, DatasetNotFoundError, load_dataset
from helpers.device import get_device
from helpers.paths import (
    OutputClash,
    atomic_write_bytes,
    output_dir,
    output_lock,
    refuse_overwriting_inputs,
    writable_folder_problem,
)
from helpers.pytorch.registry import MODELS, WeightsError, load_trained_model

_TTA_MODELS = [name for name, spec in MODELS.items() if spec.tta]
_TTA_ONLY = f"--tta applies to --model {' or '.join(_TTA_MODELS)} only."


def predict_labels(net, model: str, images, dataset: str, tta: int = 0, batch_size: int = 1000):
    """Class indices ``(N,)`` (int64 tensor) for uint8 test images ``(N, H, W[, C])`` as ``load_dataset`` gives them.

    A model that takes pixels (``MODELS[model].pixels``) normalises them itself; the others get images
    standardised with the training-set statistics, as in training.
    """
    spec = MODELS[model]
    if tta and not spec.tta:
        raise Refused(_TTA_ONLY)
    # deferred (all three): they import torch, which takes seconds; --help and refusals must not wait for it
    if spec.pixels:
        from helpers.pytorch.mymodel_recipe import cifar_uint8, predict_logits

        return predict_logits(net, cifar_uint8(images), tta_level=tta, batch_size=batch_size).argmax(1)
    from helpers.pytorch.experiments import standardize
    from helpers.pytorch.training import predict_classes

    return predict_classes(net, standardize(images, dataset), batch_size=batch_size)


def write_predictions(path: Path, labels) -> Path:
    """``id,label`` rows in test-set order, written atomically."""
    rows = ["id,label"] + [f"{i},{int(label)}" for i, label in enumerate(labels)]
    return atomic_write_bytes(path, ("\n".join(rows) + "\n").encode())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m helpers.predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, choices=MODELS, help="the network the weights are for (required)")
    p.add_argument("--weights", required=True, type=Path, help="a state dict file (required)")
    p.add_argument("--dataset", default="cifar10", choices=DATASETS, help="whose test set (default: cifar10)")
    p.add_argument("--data-root", type=Path,
                   help="folder holding the data sets (default: $WORKBOOK_DATA, else ./data; see the README)")
    p.add_argument("--out", type=Path, help="the CSV to write (default: predictions.csv in the output folder)")
    p.add_argument("--tta", type=int, default=0, choices=(0, 1, 2),
                   help=f"{' / '.join(_TTA_MODELS)}'s test-time augmentation: 0 none, 1 mirror, 2 mirror and shifts "
                        "(default: 0)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    args = p.parse_args(argv)
    try:
        spec = MODELS[args.model]
        if args.dataset not in spec.datasets:
            raise Refused(f"--model {args.model} classifies {spec.images}; it cannot take --dataset {args.dataset}.")
        if args.tta and not spec.tta:
            raise Refused(_TTA_ONLY)
        if args.data_root is not None and args.data_root.exists() and not args.data_root.is_dir():
            raise Refused(f"--data-root {args.data_root} is a file; give the folder that holds the data sets.")
        if args.out is not None and args.out.is_dir():
            raise Refused(f"--out {args.out} is a folder; give the CSV file's path.")
        if args.out is not None:
            if why := writable_folder_problem(args.out.parent):
                raise Refused(f"--out {args.out}: {why}")
            try:
                refuse_overwriting_inputs(args.out, [args.weights])
            except OutputClash as err:
                raise Refused(str(err)) from None
        try:
            device = get_device(None if args.device == "auto" else args.device)
        except ValueError as err:
            raise Refused(f"--device: {err}") from None
        try:
            net = load_trained_model(args.model, args.weights, args.dataset, device)
        except WeightsError as err:
            raise Refused(f"--weights {err}") from None
    except Refused as err:
        p.print_usage(sys.stderr)
        print(f"{p.prog}: refused: {err}", file=sys.stderr)
        return 2
    target = args.out or output_dir() / "predictions.csv"
    try:
        with output_lock(target.parent):   # one writer per output folder, held before the work
            images, labels = load_dataset(args.dataset, "test", root=args.data_root)
            predicted = predict_labels(net, args.model, images, args.dataset, tta=args.tta)
            out = write_predictions(target, predicted.tolist())
    except OutputClash as err:
        print(f"{p.prog}: refused: --out {err}", file=sys.stderr)
        return 2
    except (DatasetError, DatasetNotFoundError, TimeoutError) as err:
        print(f"{p.prog}: failed: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # a read-only or full disk, a folder where a file is
        print(f"{p.prog}: failed: cannot write {target}: {err.strerror or err}; give another --out.", file=sys.stderr)
        return 1
    print(f"wrote {out}: {len(predicted)} predictions ({args.model}, {args.weights})")
    if labels is not None:
        accuracy = float((predicted.numpy() == np.asarray(labels)).mean())
        print(f"accuracy on the {len(labels)} {args.dataset} test images: {accuracy:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
