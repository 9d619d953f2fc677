#!/usr/bin/env python
"""Time minibatch training steps of the NumPy network with BLAS's default thread count and with one thread.

    python benchmarks/numpy_nn_threads.py [--steps 200] [--batch-size 32] [--hidden-units 128]

helpers.runtime.set_threads (the one thread policy) runs BLAS on one thread because the
matrices are small; this prints the milliseconds per step of both settings and
their ratio, so that the choice can be re-checked on another machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.cli import number  # noqa: E402
from helpers.numpy_nn import SE  # noqa: E402
from helpers.scratch import binary_mnist as bm  # noqa: E402


def ms_per_step(model, X, y, steps: int) -> float:
    loss = SE()
    start = time.perf_counter()
    for _ in range(steps):
        p = bm.forward(model, X)
        loss.forward(p, y)
        bm.backward(model, loss.backward())
        bm.sgd_step(model, 1e-3)
    return 1000 * (time.perf_counter() - start) / steps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=number(int, 1, 1_000_000), default=200)
    parser.add_argument("--batch-size", type=number(int, 1, 100_000), default=32)
    parser.add_argument("--hidden-units", type=number(int, 1, 100_000), default=128)
    args = parser.parse_args(argv)
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        print("threadpoolctl is not installed: nothing to compare (pip install threadpoolctl).")
        return 1
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(args.batch_size, 784))
    y = (rng.uniform(size=(args.batch_size, 1)) > 0.5).astype(np.float64)
    model = bm.build_network(784, args.hidden_units, 1)
    default_threads = max((i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"), default=1)
    ms_per_step(model, X, y, 10)  # warm-up
    t_default = ms_per_step(model, X, y, args.steps)
    with threadpool_limits(limits=1, user_api="blas"):
        t_one = ms_per_step(model, X, y, args.steps)
    print(f"batch {args.batch_size}, hidden units {args.hidden_units}, {args.steps} steps")
    print(f"BLAS default ({default_threads} threads): {t_default:.2f} ms/step")
    print(f"BLAS 1 thread:              {t_one:.2f} ms/step")
    print(f"ratio default / one thread: {t_default / t_one:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
