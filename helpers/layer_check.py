"""Checks the layer notebooks print: relative errors in a stable form, and every layer against PyTorch autograd.

``report(name, err, tol)`` prints a relative error as its order of magnitude
(``< 1e-09``), not its exact digits, and errors at the level of float64
rounding (below ``1e-10``) all as ``< 1e-10``, so that the line reads the
same on every machine and nbval can compare it; it raises
``AssertionError`` when the error exceeds the tolerance.

``convnet_vs_torch(model, X, y)`` does the same for a whole
``ThreeLayerConvNet``: its loss and every parameter's gradient.

``torch_comparison()`` runs every layer of ``helpers.layers`` (naive and
fast) and PyTorch's equivalent with autograd on the same random float64
inputs and returns the relative errors of every output and gradient.
"""

from __future__ import annotations

import math

import numpy as np

from helpers import layers as L
from helpers.gradient_check import rel_error

# Below this, differences are float64 rounding whose exact size depends on the
# machine's BLAS and summation order; they all print alike.
ROUNDING_LEVEL = 1e-10


def magnitude(err: float, floor: float = ROUNDING_LEVEL) -> str:
    """The smallest power of ten above ``err``, as ``"< 1e-09"``; anything below ``floor`` as ``"< 1e-10"``."""
    if not math.isfinite(err):
        return f"= {err}"
    if err < floor:
        return f"< {floor:.0e}"
    return f"< 1e{math.floor(math.log10(err)) + 1:+03d}"


def report(name: str, err: float, tol: float, width: int = 34) -> None:
    """Print ``name  relative error < 1e-09  (tolerance 1e-08)  ok`` and assert ``err <= tol``.

    Returns nothing, so that a notebook cell ending with it shows only the line.
    """
    ok = bool(err <= tol)
    print(f"{name:<{width}s} relative error {magnitude(err):>7s}  (tolerance {tol:.0e})  {'ok' if ok else 'FAILED'}")
    if not ok:
        raise AssertionError(f"{name}: relative error {err:.3e} exceeds the tolerance {tol:.0e}.")


def torch_comparison(seed: int = 0) -> list[tuple[str, str, float]]:
    """Every layer against PyTorch autograd on random float64 inputs.

    Returns rows ``(layer, quantity, relative error)``, quantity being
    ``out``, ``dx``, ``dw``, ``db`` or ``loss``. Shapes: conv x (2, 3, 7, 7),
    w (4, 3, 3, 3), stride 2, pad 1; pooling x (2, 3, 8, 8), 2x2 stride 2
    and 3x3 stride 1 (overlapping windows); affine x (4, 2, 3, 5) -> 6;
    softmax (5, 10).
    """
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(seed)
    rows = []

    def t(a):
        return torch.tensor(a, dtype=torch.float64, requires_grad=True)

    def compare(layer, ours: dict, theirs: dict):
        for key, value in ours.items():
            rows.append((layer, key, rel_error(value, theirs[key])))

    # Convolution
    x, w, b = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    conv_param = {"stride": 2, "pad": 1}
    dout = rng.standard_normal((2, 4, 4, 4))
    xt, wt, bt = t(x), t(w), t(b)
    out_t = F.conv2d(xt, wt, bt, stride=2, padding=1)
    out_t.backward(torch.tensor(dout))
    theirs = {"out": out_t.detach().numpy(), "dx": xt.grad.numpy(), "dw": wt.grad.numpy(), "db": bt.grad.numpy()}
    for kind, fwd, bwd in (("naive", L.conv_forward_naive, L.conv_backward_naive),
                           ("fast", L.conv_forward_fast, L.conv_backward_fast)):
        out, cache = fwd(x, w, b, conv_param)
        dx, dw, db = bwd(dout, cache)
        compare(f"conv ({kind})", {"out": out, "dx": dx, "dw": dw, "db": db}, theirs)

    # Max pooling: the usual tiling 2x2 / 2, and overlapping 3x3 / 1
    x = rng.standard_normal((2, 3, 8, 8))
    for size, stride in ((2, 2), (3, 1)):
        pool_param = {"pool_height": size, "pool_width": size, "stride": stride}
        out_size = (8 - size) // stride + 1
        dout = rng.standard_normal((2, 3, out_size, out_size))
        xt = t(x)
        out_t = F.max_pool2d(xt, size, stride)
        out_t.backward(torch.tensor(dout))
        theirs = {"out": out_t.detach().numpy(), "dx": xt.grad.numpy()}
        for kind, fwd, bwd in (("naive", L.max_pool_forward_naive, L.max_pool_backward_naive),
                               ("fast", L.max_pool_forward_fast, L.max_pool_backward_fast)):
            out, cache = fwd(x, pool_param)
            compare(f"max pool {size}x{size}/{stride} ({kind})", {"out": out, "dx": bwd(dout, cache)}, theirs)

    # Affine and ReLU
    x, w, b = rng.standard_normal((4, 2, 3, 5)), rng.standard_normal((30, 6)), rng.standard_normal(6)
    dout = rng.standard_normal((4, 6))
    xt, wt, bt = t(x), t(w), t(b)
    out_t = xt.reshape(4, -1) @ wt + bt
    out_t.backward(torch.tensor(dout))
    out, cache = L.affine_forward(x, w, b)
    dx, dw, db = L.affine_backward(dout, cache)
    compare("affine", {"out": out, "dx": dx, "dw": dw, "db": db},
            {"out": out_t.detach().numpy(), "dx": xt.grad.numpy(), "dw": wt.grad.numpy(), "db": bt.grad.numpy()})
    x, dout = rng.standard_normal((4, 7)), rng.standard_normal((4, 7))
    xt = t(x)
    out_t = torch.relu(xt)
    out_t.backward(torch.tensor(dout))
    out, cache = L.relu_forward(x)
    compare("relu", {"out": out, "dx": L.relu_backward(dout, cache)}, {"out": out_t.detach().numpy(), "dx": xt.grad.numpy()})

    # Softmax loss
    x, y = rng.standard_normal((5, 10)), rng.integers(0, 10, 5)
    xt = t(x)
    loss_t = F.cross_entropy(xt, torch.tensor(y))
    loss_t.backward()
    loss, dx = L.softmax_loss(x, y)
    compare("softmax_loss", {"loss": loss, "dx": dx}, {"loss": loss_t.item(), "dx": xt.grad.numpy()})

    # Sandwich: conv - relu - pool
    x, w, b = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    dout = rng.standard_normal((2, 4, 4, 4))
    xt, wt, bt = t(x), t(w), t(b)
    out_t = F.max_pool2d(torch.relu(F.conv2d(xt, wt, bt, padding=1)), 2, 2)
    out_t.backward(torch.tensor(dout))
    out, cache = L.conv_relu_pool_forward(x, w, b, {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2})
    dx, dw, db = L.conv_relu_pool_backward(dout, cache)
    compare("conv_relu_pool", {"out": out, "dx": dx, "dw": dw, "db": db},
            {"out": out_t.detach().numpy(), "dx": xt.grad.numpy(), "dw": wt.grad.numpy(), "db": bt.grad.numpy()})
    return rows


def convnet_vs_torch(model, X: np.ndarray, y: np.ndarray) -> list[tuple[str, float]]:
    """A ``ThreeLayerConvNet`` (float64) against the same network written with ``torch.nn.functional``.

    X: ``(N, C, H, W)``; y: ``(N,)``. Returns rows ``(quantity, relative
    error)`` for the scores, the loss (with its ``0.5 * reg * sum(W**2)``
    term) and the gradient of every parameter.
    """
    import torch
    import torch.nn.functional as F

    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in model.params.items()}
    pad = (model.params["W1"].shape[2] - 1) // 2
    h = F.max_pool2d(torch.relu(F.conv2d(torch.tensor(X, dtype=torch.float64), p["W1"], p["b1"], padding=pad)), 2, 2)
    h = torch.relu(h.flatten(1) @ p["W2"] + p["b2"])
    scores = h @ p["W3"] + p["b3"]
    loss = F.cross_entropy(scores, torch.tensor(y)) + 0.5 * model.reg * sum((p[k] ** 2).sum() for k in ("W1", "W2", "W3"))
    loss.backward()
    ours_loss, grads = model.loss(X, y)
    rows = [("scores", rel_error(model.loss(X), scores.detach().numpy())), ("loss", rel_error(ours_loss, loss.item()))]
    rows += [(f"d{k}", rel_error(grads[k], p[k].grad.numpy())) for k in sorted(model.params)]
    return rows
