#!/usr/bin/env python
"""How fast is the pure-NumPy convolution? Ratios against PyTorch and the naive loops, and the memory of a training step.

    python benchmarks/conv_speed.py                 # from the repository root
    python benchmarks/conv_speed.py --repeats 20    # steadier minima

For each shape it times one forward plus one backward pass (float32):

- ``conv_forward_fast`` + ``conv_backward_fast`` (helpers.scratch.layers, NumPy only);
- ``torch.nn.functional.conv2d`` forward + autograd backward, with
  ``torch.set_num_threads(--threads)`` (default 2, the course's laptop);
- ``conv_forward_naive`` + ``conv_backward_naive``, timed on ``--naive-images``
  images and scaled to the full batch (its cost is linear in the batch size,
  and the full batch would take minutes).

Every time is the minimum over ``--repeats`` runs, which is the least
disturbed by other programs on the machine. Then, in a fresh subprocess, the
peak memory of one ``ThreeLayerConvNet`` training step (loss, gradients and
Adam updates) on a batch of 64 CIFAR-10-sized images: what NumPy allocated
(tracemalloc) and the process's peak resident size (VmHWM on Linux,
getrusage elsewhere).
Targets: fast within 3x of torch, at least 100x faster than naive, under 500 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))


def _threads_from_argv(argv) -> str:
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return "2"


# NumPy's BLAS gets the same number of threads as torch; it reads this at import.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, _threads_from_argv(sys.argv[1:]))

import numpy as np  # noqa: E402

from helpers.cli import number  # noqa: E402
from helpers.scratch import layer_check, layers  # noqa: E402

# (name, x shape, w shape, stride, pad)
SHAPES = [
    ("CS231n benchmark", (100, 3, 31, 31), (25, 3, 3, 3), 2, 1),
    ("CIFAR-10 training (ConvNet layer 1)", (64, 3, 32, 32), (32, 3, 7, 7), 1, 3),
]

# The ConvNet the notebook trains (05_conv_pool_layers).
CONVNET = dict(input_dim=(3, 32, 32), num_filters=32, filter_size=7, hidden_dim=256, num_classes=10)


def time_numpy(forward, backward, x, w, b, conv_param, dout, repeats):
    def step():
        out, cache = forward(x, w, b, conv_param)
        backward(dout, cache)
    return layer_check.best_time(step, repeats, warm_up=True)


def time_torch(x, w, b, conv_param, dout, repeats):
    import torch
    import torch.nn.functional as F

    xt = torch.from_numpy(x).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    bt = torch.from_numpy(b).requires_grad_()
    dt = torch.from_numpy(dout)

    def step():
        xt.grad = wt.grad = bt.grad = None
        out = F.conv2d(xt, wt, bt, stride=conv_param["stride"], padding=conv_param["pad"])
        out.backward(dt)
    return layer_check.best_time(step, repeats, warm_up=True)


def bench_conv(name, x_shape, w_shape, stride, pad, args) -> dict:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    w = rng.standard_normal(w_shape, dtype=np.float32)
    b = rng.standard_normal(w_shape[0], dtype=np.float32)
    conv_param = {"stride": stride, "pad": pad}
    out_shape = layers.conv_output_shape(x_shape, w_shape, conv_param)
    dout = rng.standard_normal(out_shape, dtype=np.float32)
    fast = time_numpy(layers.conv_forward_fast, layers.conv_backward_fast, x, w, b, conv_param, dout, args.repeats)
    torch_t = time_torch(x, w, b, conv_param, dout, args.repeats)
    n = min(args.naive_images, x_shape[0])
    naive = time_numpy(layers.conv_forward_naive, layers.conv_backward_naive, x[:n], w, b, conv_param, dout[:n],
                       repeats=1) * x_shape[0] / n
    print(f"\n{name}: x {x_shape}, w {w_shape}, stride {stride}, pad {pad} -> out {out_shape}, float32")
    print(f"  fast NumPy forward+backward : {fast * 1e3:9.1f} ms")
    print(f"  torch conv2d ({args.threads} threads)    : {torch_t * 1e3:9.1f} ms")
    print(f"  naive loops (from {n} images): {naive * 1e3:9.1f} ms")
    print(f"  fast / torch  = {fast / torch_t:6.2f}x   (target <= 3x, aim 1.5x)")
    print(f"  naive / fast  = {naive / fast:6.0f}x   (target >= 100x)")
    return {"fast_s": fast, "torch_s": torch_t, "naive_s": naive}


def bench_pool(args) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 32, 32, 32), dtype=np.float32)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    dout = rng.standard_normal((64, 32, 16, 16), dtype=np.float32)

    def run(forward, backward, xs, ds):
        out, cache = forward(xs, pool_param)
        backward(ds, cache)

    fast = layer_check.best_time(lambda: run(layers.max_pool_forward_fast, layers.max_pool_backward_fast, x, dout),
                                 args.repeats, warm_up=True)
    n = min(args.naive_images, 64)
    naive = layer_check.best_time(lambda: run(layers.max_pool_forward_naive, layers.max_pool_backward_naive, x[:n],
                                              dout[:n]), 1, warm_up=True) * 64 / n
    print(f"\nmax pool 2x2 stride 2 on x {x.shape}, float32: fast {fast * 1e3:.1f} ms, "
          f"naive {naive * 1e3:.0f} ms (from {n} images), naive / fast = {naive / fast:.0f}x")


MEMORY_PROBE = r"""
import json, resource, sys, tracemalloc
import numpy as np
sys.path.insert(0, {root!r})
from helpers.scratch.classifiers import ThreeLayerConvNet
from helpers.scratch import optim

def peak_rss_mb():
    # VmHWM belongs to this process's own address space; ru_maxrss on Linux
    # also counts the parent's peak from before the exec, so use it only elsewhere.
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale

baseline = peak_rss_mb()
model = ThreeLayerConvNet(**{convnet!r}, weight_scale=1e-3, reg=1e-3, dtype=np.float32, seed=0)
configs = {{k: {{"learning_rate": 1e-3}} for k in model.params}}
rng = np.random.default_rng(0)
X = rng.standard_normal((64, 3, 32, 32), dtype=np.float32)
y = rng.integers(0, 10, 64)
def step():
    loss, grads = model.loss(X, y)
    for k in model.params:
        model.params[k], configs[k] = optim.adam(model.params[k], grads[k], configs[k])
step()  # the Adam state exists from now on, as in training
tracemalloc.start()
step()
current, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
print(json.dumps({{"traced_peak_mb": peak / 2**20, "peak_rss_mb": peak_rss_mb(), "baseline_rss_mb": baseline}}))
"""


def bench_memory() -> None:
    code = MEMORY_PROBE.format(root=str(REPO_ROOT), convnet=CONVNET)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    info = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"\nmemory of one ThreeLayerConvNet training step ({CONVNET}), batch of 64, float32, fresh process:")
    print(f"  NumPy allocations during the step (tracemalloc peak): {info['traced_peak_mb']:7.1f} MB")
    print(f"  process peak resident size (whole process)          : {info['peak_rss_mb']:7.1f} MB "
          f"(target < 500 MB; Python + NumPy + helpers alone: {info['baseline_rss_mb']:.1f} MB)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=number(int, 1, 10_000), default=10,
                        help="timed runs per measurement; the minimum is reported")
    parser.add_argument("--threads", type=number(int, 1, 1024), default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--naive-images", type=number(int, 1, 64), default=4,
                        help="images the naive loops are timed on")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory probe")
    args = parser.parse_args(argv)

    if not args.no_memory:
        bench_memory()  # first, from a parent that has not yet imported torch

    import torch

    torch.set_num_threads(args.threads)
    print(f"numpy {np.__version__}, torch {torch.__version__} ({args.threads} threads), "
          f"{os.cpu_count()} CPUs visible, best of {args.repeats}")
    for shape in SHAPES:
        bench_conv(*shape, args)
    bench_pool(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
