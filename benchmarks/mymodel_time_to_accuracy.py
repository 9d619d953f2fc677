#!/usr/bin/env python
"""Time to accuracy of MyModel's recipe: train one config, print the validation accuracy reached by each minute.

    WORKBOOK_DATA=/path/to/data python benchmarks/mymodel_time_to_accuracy.py                 # the shipped settings
    WORKBOOK_DATA=/path/to/data python benchmarks/mymodel_time_to_accuracy.py --val-size 1000 --test   # notebook 07's run
    WORKBOOK_DATA=/path/to/data python benchmarks/mymodel_time_to_accuracy.py --epochs 12 --widths 32,128,256
    WORKBOOK_DATA=/path/to/data python benchmarks/mymodel_time_to_accuracy.py --lr 10 --bf16 false --test

Every field of ``helpers.pytorch.mymodel_config.FastConfig`` is a flag
(``--epochs``, ``--lr``, ``--momentum``, ``--bf16 auto|true|false``, ...), and
``--widths`` sets ``MyModel``'s three group widths. The run trains on 45,000
CIFAR-10 training images and measures, after every epoch, the accuracy on the
other 5,000 (the validation split: choose recipes on it, never on the test
set). ``--max-train N`` trains on only the first N of the 45,000 (what more
images buy at equal steps, on the same validation split); ``--val-size 1000``
trains as notebook 07's shipped run does, on 49,000 images, watching 1,000
(``MYMODEL_VAL_SIZE``). It prints

- one line per epoch (``fit``'s), then
- for each whole minute of training (evaluation excluded), the best
  validation accuracy reached by then, and
- the minutes to 90%, 93% and 94% validation accuracy.

``--test`` adds the test accuracy of the final weights, plain and with
flip+shift test-time augmentation (once, at the end). A recipe change is
judged by this table (accuracy per minute on this machine), not by epochs.
Time it on a quiet machine: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGETS = (0.90, 0.93, 0.94)


# The range of each FastConfig number a run can take (the rest: at least 0).
_RANGES = {"epochs": (0, 1000, True), "batch_size": (1, 100_000, False), "lr": (0, 1e4, True),
           "momentum": (0, 0.999, False), "label_smoothing": (0, 0.999, False), "warmup": (0, 1, False),
           "lr_end": (0, 1, False), "seed": (0, 2**32 - 1, False), "translate": (0, 16, False),
           "muon_lr": (0, 10, False), "muon_momentum": (0, 0.999, False)}


def _words(choices: dict):
    def convert(word: str):
        if word.lower() not in choices:
            raise argparse.ArgumentTypeError(f"expected one of {', '.join(choices)}; got {word!r}")
        return choices[word.lower()]
    return convert


def _flag_type(field: dataclasses.Field):
    """argparse type of a FastConfig field: bools (and bf16's "auto") from words, numbers as declared, in range."""
    from helpers.cli import number

    if field.name == "bf16":
        return _words({"auto": None, "true": True, "false": False})
    if field.type in ("bool", bool):
        return _words({"true": True, "false": False})
    kind = {"int": int, "float": float}.get(str(field.type), float)
    low, high, above = _RANGES.get(field.name, (0, 1e6, False))
    return number(kind, low, high, above=above)


def _widths(text: str) -> tuple[int, int, int]:
    """argparse type of --widths: three whole numbers, each at least 1."""
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        widths = ()
    if len(widths) != 3 or min(widths) < 1 or max(widths) > 4096:
        raise argparse.ArgumentTypeError(f"expected three widths from 1 to 4096, e.g. 64,256,256; got {text!r}")
    return widths


def parse_args(argv=None) -> argparse.Namespace:
    from helpers.cli import number
    from helpers.pytorch.mymodel_config import FastConfig  # no torch: --help answers at once

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for field in dataclasses.fields(FastConfig):
        parser.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, type=_flag_type(field),
                            default=field.default, help=f"FastConfig.{field.name} (default {field.default})")
    parser.add_argument("--widths", type=_widths, default=None,
                        help="MyModel's three group widths, e.g. 64,256,256 (default: MyModel's own)")
    parser.add_argument("--val-size", type=number(int, 1, 49_999), default=5000,
                        help="validation images held out (default 5000)")
    parser.add_argument("--max-train", type=number(int, 1, 49_999), default=None,
                        help="train on only the first N images of the training split (default: all of them), "
                             "to measure on the same validation split what more images buy at equal steps")
    parser.add_argument("--test", action="store_true", help="also measure the test accuracy, once, at the end")
    return parser.parse_args(argv)


def accuracy_by_minute(history: dict) -> list[tuple[int, float]]:
    """``[(minute, best validation accuracy of the epochs ended by then)]`` for each whole minute of training."""
    rows, best = [], None
    ends = list(zip(history["train_time"], history["val_acc"]))
    for minute in range(1, int(ends[-1][0] // 60) + 2):
        reached = [acc for seconds, acc in ends if seconds <= minute * 60]
        if reached:
            best = max(reached)
        rows.append((minute, best))
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from helpers.device import cpu_description, get_device
    from helpers.pytorch.experiments import load_splits
    from helpers.pytorch.models import MyModel
    from helpers.pytorch.mymodel_recipe import FastConfig, mymodel_accuracy, train_mymodel
    from helpers.pytorch.training import minutes_to
    from helpers.runtime import set_threads

    set_threads()
    config = FastConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(FastConfig)})
    device = get_device()
    model = MyModel() if args.widths is None else MyModel(widths=args.widths)
    data = load_splits("cifar10", args.val_size, config.seed, pixels="uint8", max_train=args.max_train)
    if args.max_train is not None and len(data.x_train) < args.max_train:
        print(f"mymodel_time_to_accuracy.py: --max-train {args.max_train:,d} is more than the training split's "
              f"{len(data.x_train):,d} images (--val-size {args.val_size:,d} held out).", file=sys.stderr)
        return 2
    print(data.shapes())
    print(f"MyModel widths {model.widths}, {sum(p.numel() for p in model.parameters()):,d} parameters; {config}")
    print(f"{device}, {torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.2f}", flush=True)
    print(f"CPU: {cpu_description()}", flush=True)
    start = time.time()
    history = train_mymodel(model, data.train, data.val, config, device=device)
    print(f"\ndone in {time.time() - start:.0f} s ({history['train_time'][-1]:.0f} s of training, bfloat16 autocast "
          f"{'on' if history['bf16'] else 'off'}); load average {os.getloadavg()[0]:.2f}")
    print("minute | best validation accuracy so far")
    for minute, acc in accuracy_by_minute(history):
        print(f"{minute:6d} | " + (f"{acc:.4f}" if acc is not None else "(no epoch ended yet)"))
    for target in TARGETS:
        reached = minutes_to(history, target)
        print(f"validation {target:.0%}: " + (f"after {reached:.1f} min" if reached is not None else "not reached"))
    if args.test:
        print(f"test accuracy: {mymodel_accuracy(model, *data.test):.4f} plain, "
              f"{mymodel_accuracy(model, *data.test, tta_level=2):.4f} with flip+shift TTA")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
