"""Checks the layer notebooks print: relative errors in a stable form, and every layer against PyTorch autograd.

``report(name, err, tol)`` prints a relative error as its order of magnitude
(``< 1e-09``), not its exact digits, and errors at the level of float64
rounding (below ``1e-10``) all as ``< 1e-10``, so that the line reads the
same on every machine and nbval can compare it; it raises
``AssertionError`` when the error exceeds the tolerance.

``convnet_vs_torch(model, X, y)`` does the same for a whole
``ThreeLayerConvNet``: its loss and every parameter's gradient.

``torch_comparison()`` runs every layer of ``helpers.scratch.layers`` (naive and
fast) and PyTorch's equivalent with autograd on the same random float64
inputs and returns the relative errors of every output and gradient.

``numpy_nn_gradient_errors()`` and ``numpy_nn_vs_torch()`` do the same for the
RPZ layers of ``helpers.numpy_nn`` (notebook 01): numeric gradients of every
layer and of a small stack, and the lab's examples through autograd.
Every check prints through ``report``: one format in notebooks 01 to 05.

``best_time(fn, repeats)`` is the least wall-clock time of a few runs
(``benchmarks/conv_speed.py`` times the layers with it); ``naive_vs_fast``
prints notebook 05's speed-ups of the fast layers over the naive ones.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from helpers.scratch import layers as L
from helpers.scratch.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error

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
    # deferred (both): torch takes seconds to import, and the NumPy notebooks' checks run without it
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
    # deferred (both): torch takes seconds to import, and the NumPy notebooks' checks run without it
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


def _forward_through(layers, x):
    out = x
    for layer in layers:
        out = layer.forward(out)
    return out


def _small_stack(rng):
    """``([Linear(5, 4), ReLU, Linear(4, 1), Sigmoid], x (7, 5), y (7, 1))`` with random weights and biases."""
    # here, not at the top: numpy_nn is the student's file, run only by the checks of it
    from helpers.numpy_nn import Linear, ReLU, Sigmoid

    l1, l2 = Linear(5, 4, rng=rng), Linear(4, 1, rng=rng)
    l1.b, l2.b = rng.standard_normal((1, 4)), rng.standard_normal((1, 1))
    return [l1, ReLU(), l2, Sigmoid()], rng.standard_normal((7, 5)), rng.uniform(size=(7, 1))


def _stack_gradients(stack, xs, ys) -> dict:
    """Back-propagation through ``_small_stack``'s layers and SE: the input's gradient and each parameter's, batch-summed."""
    # here, not at the top: numpy_nn is the student's file, run only by the checks of it
    from helpers.numpy_nn import SE

    loss_layer = SE()
    loss_layer.forward(_forward_through(stack, xs), ys)
    grad = loss_layer.backward()
    for layer in reversed(stack):
        grad = layer.backward(grad)
    l1, l2 = stack[0], stack[2]
    return {"x": grad, "W1": l1.grads()[0].sum(0), "b1": l1.grads()[1].sum(0),
            "W2": l2.grads()[0].sum(0), "b2": l2.grads()[1].sum(0)}


def numpy_nn_gradient_errors(seed: int = 0) -> dict[str, float]:
    """Relative errors of ``helpers.numpy_nn``'s backward passes against central differences, in float64.

    - ``Linear`` (4 x 5 -> 3): w.r.t. the input, W and b summed over the batch, and W per sample
      (each sample's own gradient against the numeric gradient of that sample alone);
    - ``ReLU`` and ``Sigmoid`` on a (3, 4, 5) input kept at least 0.1 from ReLU's kink;
    - ``SE`` w.r.t. its prediction (6, 1);
    - the stack ``Linear(5, 4) -> ReLU -> Linear(4, 1) -> Sigmoid -> SE`` (loss summed over 7
      examples): the input and every parameter.

    Returns ``{name: relative error}``, e.g. ``"Linear dL/dW (per sample)"``, ``"stack dL/dW1"``.
    """
    # here, not at the top: numpy_nn is the student's file, run only by the checks of it
    from helpers.numpy_nn import SE, Linear, ReLU, Sigmoid

    rng = np.random.default_rng(seed)
    errors = {}
    batch, d_in, d_out = 4, 5, 3
    lin = Linear(d_in, d_out, rng=rng)
    lin.b = rng.standard_normal((1, d_out))
    x, dout = rng.standard_normal((batch, d_in)), rng.standard_normal((batch, d_out))
    lin.forward(x)
    dx = lin.backward(dout)
    dW, db = lin.grads()
    W, b = lin.W.copy(), lin.b.copy()

    def linear_with(W_=W, b_=b):
        probe = Linear(d_in, d_out)
        probe.W, probe.b = W_, b_
        return probe

    errors["Linear dL/dx"] = rel_error(dx, eval_numerical_gradient_array(lambda v: linear_with().forward(v),
                                                                        x.copy(), dout))
    errors["Linear dL/dW (batch sum)"] = rel_error(dW.sum(axis=0), eval_numerical_gradient_array(
        lambda v: linear_with(W_=v).forward(x), W.copy(), dout))
    errors["Linear dL/db (batch sum)"] = rel_error(db.sum(axis=0), eval_numerical_gradient_array(
        lambda v: linear_with(b_=v).forward(x), b.copy(), dout))
    errors["Linear dL/dW (per sample)"] = max(
        rel_error(dW[n], eval_numerical_gradient_array(lambda v, n=n: linear_with(W_=v).forward(x[n:n + 1]),
                                                       W.copy(), dout[n:n + 1]))
        for n in range(batch))

    x3 = rng.standard_normal((3, 4, 5))
    x3 = np.where(np.abs(x3) < 0.1, 0.1 * np.sign(x3) + x3, x3)   # |x| >= 0.1: no kink within +-h
    dout3 = rng.standard_normal(x3.shape)
    for layer_cls in (ReLU, Sigmoid):
        layer = layer_cls()
        layer.forward(x3)
        numeric = eval_numerical_gradient_array(lambda v, cls=layer_cls: cls().forward(v), x3.copy(), dout3)
        errors[f"{layer_cls.__name__} dL/dx"] = rel_error(layer.backward(dout3), numeric)

    pred, target = rng.standard_normal((6, 1)), rng.uniform(size=(6, 1))
    se = SE()
    se.forward(pred, target)
    errors["SE dL/dx"] = rel_error(se.backward(), eval_numerical_gradient(lambda v: SE().forward(v, target).sum(),
                                                                          pred.copy()))

    stack, xs, ys = _small_stack(rng)
    l1, l2 = stack[0], stack[2]
    if np.min(np.abs(xs @ l1.W + l1.b)) <= 1e-3:
        raise ValueError(f"seed {seed}: a pre-activation sits on ReLU's kink; choose another seed.")

    def stack_loss(inputs=xs):
        return SE().forward(_forward_through(stack, inputs), ys).sum()

    numeric = {"x": eval_numerical_gradient(stack_loss, xs.copy())}
    for name, param in (("W1", l1.W), ("b1", l1.b), ("W2", l2.W), ("b2", l2.b)):
        numeric[name] = eval_numerical_gradient(lambda _: stack_loss(), param)   # perturbs param in place
    analytic = _stack_gradients(stack, xs, ys)
    for name in analytic:
        errors[f"stack dL/d{name}"] = rel_error(analytic[name], numeric[name])
    return errors


def numpy_nn_vs_torch(seed: int = 0) -> dict[str, float]:
    """Relative errors of ``helpers.numpy_nn`` against PyTorch autograd on the same float64 numbers.

    The lab's examples (notebook 01: the Linear layer's forward and backward, the ReLU,
    Sigmoid and SE backward passes), then a random ``Linear -> ReLU -> Linear -> Sigmoid -> SE``
    stack: the input and every parameter. Our per-sample weight gradients, summed over the
    batch, must equal autograd's gradient of the batch. Returns ``{name: relative error}``.
    """
    # deferred (both): torch takes seconds to import, and the NumPy notebooks' checks run without it
    import torch
    import torch.nn.functional as F

    # here, not at the top: numpy_nn is the student's file, run only by the checks of it
    from helpers.numpy_nn import SE, Linear, ReLU, Sigmoid

    def t64(a):
        return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)

    errors = {}
    lin = Linear(3, 2)
    lin.W = np.linspace(1, -1, 6).reshape(3, 2)
    lin.b = np.linspace(-0.5, 0.5, 2).reshape(1, 2)
    x = np.linspace(-2, 2, 6).reshape(2, 3)
    dout = np.linspace(1, 2, 4).reshape(2, 2)
    W_t, b_t, x_t = t64(lin.W), t64(lin.b), t64(x)
    out_t = x_t @ W_t + b_t
    out_t.backward(torch.tensor(dout))
    errors["Linear forward"] = rel_error(lin.forward(x), out_t.detach().numpy())
    errors["Linear dL/dx"] = rel_error(lin.backward(dout), x_t.grad.numpy())
    errors["Linear dL/dW (batch sum)"] = rel_error(lin.dL_wrt_W.sum(0), W_t.grad.numpy())
    errors["Linear dL/db (batch sum)"] = rel_error(lin.dL_wrt_b.sum(0), b_t.grad.numpy())
    for name, layer, fn, xv, dv in (("ReLU", ReLU(), torch.relu, np.linspace(-1, 1, 9), np.linspace(-1, 1, 9)),
                                    ("Sigmoid", Sigmoid(), torch.sigmoid, np.linspace(-5, 5, 5),
                                     np.linspace(-10, 10, 5))):
        xt = t64(xv)
        fn(xt).backward(torch.tensor(dv))
        layer.forward(xv)
        errors[f"{name} dL/dx"] = rel_error(layer.backward(dv), xt.grad.numpy())
    x_se = np.linspace(-5, 5, 9)
    xt = t64(x_se)
    F.mse_loss(xt, torch.tensor(0.5 * x_se), reduction="sum").backward()   # sum of (x - y)^2
    se = SE()
    se.forward(x_se, 0.5 * x_se)
    errors["SE dL/dx"] = rel_error(se.backward(), xt.grad.numpy())

    stack, xs, ys = _small_stack(np.random.default_rng(seed))
    l1, l2 = stack[0], stack[2]
    ours = _stack_gradients(stack, xs, ys)
    p = {"x": t64(xs), "W1": t64(l1.W), "b1": t64(l1.b), "W2": t64(l2.W), "b2": t64(l2.b)}
    prob = torch.sigmoid(torch.relu(p["x"] @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"])
    F.mse_loss(prob, torch.tensor(ys), reduction="sum").backward()
    for name, tensor in p.items():
        errors[f"stack dL/d{name}"] = rel_error(ours[name], tensor.grad.numpy())
    return errors


def best_time(fn: Callable[[], object], repeats: int = 3, warm_up: bool = False) -> float:
    """The least wall-clock seconds of ``fn()`` over ``repeats`` runs (after one untimed run if ``warm_up``): the
    least disturbed by other programs on the machine."""
    if warm_up:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def naive_vs_fast(name: str, naive: tuple[Callable, Callable], fast: tuple[Callable, Callable], inputs: tuple,
                  dout: np.ndarray, repeats: int = 3) -> str:
    """How much faster the fast layer is than the naive one, forward and backward, on the same ``inputs``.

    ``naive`` and ``fast`` are (forward, backward) pairs with the layers' signatures: ``forward(*inputs)``
    returns ``(out, cache)`` and ``backward(dout, cache)`` the gradients, ``dout`` of ``out``'s shape; the
    first input is ``x`` (N, C, H, W). The naive layer is timed once (it takes seconds), the fast one
    ``repeats`` times (``best_time``). Returns two lines, as notebook 05 prints them::

        conv, x (100, 3, 31, 31):  forward  naive   4.475 s  fast   15.2 ms  speed-up   295x
                                   backward naive   7.608 s  fast   11.7 ms  speed-up   651x
    """
    seconds = {}
    for kind, (forward, backward), runs in (("naive", naive, 1), ("fast", fast, repeats)):
        cache = forward(*inputs)[1]
        seconds[kind] = (best_time(partial(forward, *inputs), runs), best_time(partial(backward, dout, cache), runs))
    head = f"{name}, x {inputs[0].shape}:  "
    lines = []
    for i, step in enumerate(("forward ", "backward")):
        slow, quick = seconds["naive"][i], seconds["fast"][i]
        lines.append(f"{head if i == 0 else ' ' * len(head)}{step} naive {slow:7.3f} s  fast {quick * 1e3:6.1f} ms  "
                     f"speed-up {slow / quick:5.0f}x")
    return "\n".join(lines)
