#!/usr/bin/env python
"""Train the challenge model (MyModel) with the fast recipe, as notebook 07 does, and save its weights.

    WORKBOOK_DATA=../shared/data python scripts/train_mymodel.py            # full CIFAR-10
    WORKBOOK_MODE=smoke python scripts/train_mymodel.py --epochs 1          # quick check

Writes ``outputs/models/cifar10_mymodel.pt`` and ``outputs/mymodel.log``
(one line per epoch, then the test accuracy). Copy the weights to
``assets/models/`` by hand when they meet the target (>= 90% plain accuracy).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None) -> int:
    from helpers.cifar_fast import FastConfig, cifar_uint8, evaluate, save_state_dict, train_fast
    from helpers.data import load_dataset
    from helpers.device import get_device
    from helpers.paths import output_dir
    from helpers.runtime import setup
    from helpers.torch_models import MyModel

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=float, default=FastConfig.epochs)
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    args = parser.parse_args(argv)

    setup(seed=0)
    device = get_device(verbose=True)
    X, y = load_dataset("cifar10", "train")
    X_test, y_test = load_dataset("cifar10", "test")
    X, X_test = cifar_uint8(X), cifar_uint8(X_test)
    log_path = output_dir() / "mymodel.log"
    with open(log_path, "w") as log_file:
        def log(line):
            print(line, flush=True)
            log_file.write(line + "\n")
            log_file.flush()

        config = FastConfig(epochs=args.epochs, bf16=args.bf16)
        log(f"config: {config}")
        model = MyModel().to(device)
        history = train_fast(model, X, y, config, X_test[:2000], y_test[:2000], device=device, log=log)
        plain = evaluate(model, X_test, y_test)
        tta = evaluate(model, X_test, y_test, tta_level=2)
        log(f"training time {history['train_time']:.0f} s; cpu time {sum(history['cpu_time']):.0f} s")
        log(f"test accuracy (plain argmax): {plain:.4f}; with flip+shift TTA: {tta:.4f}")
    save_state_dict(model, output_dir("models") / "cifar10_mymodel.pt")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
