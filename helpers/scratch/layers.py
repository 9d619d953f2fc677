"""Modular layers in NumPy, CS231n style: convolution, pooling, affine, ReLU, softmax.

Every layer is a pair of functions. ``*_forward`` takes the inputs (and
parameters) and returns ``(out, cache)``; ``*_backward`` takes the upstream
gradient ``dout`` (the shape of ``out``) and that ``cache`` and returns the
gradients of the inputs, in the order the forward pass took them.

Images are ``(N, C, H, W)`` (batch, channels, height, width) and filters
``(F, C, HH, WW)``, as in CS231n and PyTorch.

Two implementations of convolution and max pooling:

- ``*_naive``: explicit Python loops over every output position, written to
  be read (the exercises: yours to write, without calling the fast versions);
- ``*_fast``: the same maths in pure NumPy without any compiler or build
  step. The input windows are a strided *view*
  (``numpy.lib.stride_tricks.sliding_window_view``), which one matrix product
  (``np.tensordot``) contracts with the filters: "im2col" without a loop.

Parameters whose windows do not tile the (padded) input exactly raise a
``ValueError`` that names the shapes; PyTorch would silently drop the last
rows and columns instead.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss",
    "conv_output_shape", "pool_output_shape",
    "conv_forward_naive", "conv_backward_naive", "conv_forward_fast", "conv_backward_fast",
    "max_pool_forward_naive", "max_pool_backward_naive", "max_pool_forward_fast", "max_pool_backward_fast",
    "conv_relu_forward", "conv_relu_backward", "conv_relu_pool_forward", "conv_relu_pool_backward",
    "affine_relu_forward", "affine_relu_backward",
]


# --------------------------------------------------------------------------- #
# Shape checks (shared by the naive and the fast versions)
# --------------------------------------------------------------------------- #

def _require_ndim(name: str, a: np.ndarray, ndim: int, layout: str) -> None:
    if np.ndim(a) != ndim:
        raise ValueError(f"{name} must have shape {layout}; got shape {np.shape(a)}.")


def _require_shape(name: str, a: np.ndarray, shape: tuple, layout: str) -> None:
    """NumPy would broadcast a wrong shape into a wrong result; refuse it, naming the expected ``layout``."""
    if np.shape(a) != tuple(shape):
        raise ValueError(f"{name} must have shape {layout} = {tuple(shape)}; got shape {np.shape(a)}.")


def _require_array(name: str, a, layout: str) -> np.ndarray:
    """A list or a number has no shape to check and no dtype to keep: refuse it, naming ``layout``."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array of shape {layout}; got a {type(a).__name__} "
                        "(np.asarray(...) makes one).")
    return a


def _require_batch(name: str, x: np.ndarray, layout: str) -> None:
    """An empty batch has no mean and no example to compute: refuse it rather than return NaN or nothing."""
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one example, shape {layout}; got shape {x.shape}.")


def _require_float(name: str, *arrays: np.ndarray) -> None:
    """Sums of integer arrays wrap around (uint8: 1800 becomes 8): at least one input must be floating point."""
    dtype = np.result_type(*arrays)
    if not np.issubdtype(dtype, np.inexact):
        dtypes = ", ".join(str(np.asarray(a).dtype) for a in arrays)
        raise TypeError(f"{name}: the inputs are all integer arrays ({dtypes}), whose sums would wrap around; "
                        "pass floating-point arrays (e.g. x.astype(np.float64)).")


def _require_cache(name: str, cache, kinds: tuple, made_by: str, layout: str = ""):
    """``cache`` as ``made_by`` returns it: a tuple of ``len(kinds)`` items of those types (one line otherwise)."""
    if (not isinstance(cache, tuple) or len(cache) != len(kinds)
            or not all(isinstance(item, kind) for item, kind in zip(cache, kinds))):
        got = (f"a tuple of {len(cache)} items ({', '.join(type(item).__name__ for item in cache)})"
               if isinstance(cache, tuple) else f"a {type(cache).__name__}")
        expected = layout or f"({', '.join(k.__name__ for k in kinds)})"
        raise TypeError(f"{name}: cache must be what {made_by} returned, {expected}; got {got}: pass the cache of "
                        "the matching forward pass.")
    return cache


def conv_output_shape(x_shape, w_shape, conv_param: dict) -> tuple[int, int, int, int]:
    """Output shape ``(N, F, H_out, W_out)`` of a convolution, after checking the parameters.

    ``x_shape`` is ``(N, C, H, W)``, ``w_shape`` ``(F, C, HH, WW)``, and
    ``conv_param`` holds ``stride`` and ``pad``.
    ``H_out = 1 + (H + 2 * pad - HH) / stride`` (likewise ``W_out``).

    Raises ``ValueError`` naming the shapes when the channels disagree, the
    filter is larger than the padded input, or the filter positions do not
    tile the padded input exactly (``H + 2 * pad - HH`` not divisible by
    ``stride``).
    """
    for key in ("stride", "pad"):
        if key not in conv_param:
            raise ValueError(f"conv_param needs the keys 'stride' and 'pad'; got {sorted(conv_param)}.")
    stride, pad = conv_param["stride"], conv_param["pad"]
    if int(stride) != stride or stride < 1 or int(pad) != pad or pad < 0:
        raise ValueError(f"conv_param needs an integer stride >= 1 and pad >= 0; got stride={stride}, pad={pad}.")
    stride, pad = int(stride), int(pad)
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ValueError(f"convolution needs x (N, C, H, W) and w (F, C, HH, WW); got x {tuple(x_shape)}, w {tuple(w_shape)}.")
    N, C, H, W = x_shape
    F, Cw, HH, WW = w_shape
    if C != Cw:
        raise ValueError(f"x has {C} channels but the filters w expect {Cw}: x {tuple(x_shape)}, w {tuple(w_shape)}.")
    Hp, Wp = H + 2 * pad, W + 2 * pad
    if HH > Hp or WW > Wp:
        raise ValueError(
            f"filter {HH}x{WW} is larger than the padded input {Hp}x{Wp}: x {tuple(x_shape)}, w {tuple(w_shape)}, pad={pad}."
        )
    if (Hp - HH) % stride or (Wp - WW) % stride:
        raise ValueError(
            f"filters of size {HH}x{WW} with stride={stride} do not tile the padded input {Hp}x{Wp} "
            f"(x {tuple(x_shape)}, w {tuple(w_shape)}, pad={pad}): H + 2*pad - HH = {Hp - HH} and "
            f"W + 2*pad - WW = {Wp - WW} must both be divisible by the stride."
        )
    return N, F, 1 + (Hp - HH) // stride, 1 + (Wp - WW) // stride


def pool_output_shape(x_shape, pool_param: dict) -> tuple[int, int, int, int]:
    """Output shape ``(N, C, H_out, W_out)`` of max pooling, after checking the parameters.

    ``pool_param`` holds ``pool_height``, ``pool_width`` and ``stride``;
    ``H_out = 1 + (H - pool_height) / stride`` (likewise ``W_out``). Raises
    ``ValueError`` naming the shapes when the windows do not tile the input.
    """
    for key in ("pool_height", "pool_width", "stride"):
        if key not in pool_param:
            raise ValueError(
                f"pool_param needs the keys 'pool_height', 'pool_width' and 'stride'; got {sorted(pool_param)}."
            )
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    if any(int(v) != v or v < 1 for v in (ph, pw, stride)):
        raise ValueError(f"pool_param values must be integers >= 1; got {pool_param}.")
    ph, pw, stride = int(ph), int(pw), int(stride)
    if len(x_shape) != 4:
        raise ValueError(f"max pooling needs x of shape (N, C, H, W); got {tuple(x_shape)}.")
    N, C, H, W = x_shape
    if ph > H or pw > W:
        raise ValueError(f"pooling window {ph}x{pw} is larger than the input {H}x{W} (x {tuple(x_shape)}).")
    if (H - ph) % stride or (W - pw) % stride:
        raise ValueError(
            f"pooling windows {ph}x{pw} with stride={stride} do not tile the input {H}x{W} "
            f"(x {tuple(x_shape)}): H - pool_height = {H - ph} and W - pool_width = {W - pw} "
            "must both be divisible by the stride."
        )
    return N, C, 1 + (H - ph) // stride, 1 + (W - pw) // stride


# --------------------------------------------------------------------------- #
# Affine, ReLU, softmax
# --------------------------------------------------------------------------- #

def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray):
    """Affine (fully connected) layer: ``out = x.reshape(N, D) @ w + b``.

    x: ``(N, d_1, ..., d_k)``, each example flattened to ``D = d_1 * ... * d_k``;
    w: ``(D, M)``; b: ``(M,)``.
    Returns ``out`` ``(N, M)`` and ``cache = (x, w, b)``.
    """
    _require_array("affine_forward: x", x, "(N, d_1, ..., d_k)")
    _require_array("affine_forward: w", w, "(D, M)")
    _require_array("affine_forward: b", b, "(M,)")
    _require_batch("affine_forward: x", x, "(N, d_1, ..., d_k)")
    D = int(np.prod(x.shape[1:]))
    if np.ndim(w) != 2 or w.shape[0] != D or np.shape(b) != (w.shape[1],):
        raise ValueError(
            f"affine_forward needs w (D, M) and b (M,) with D = {D} (x {x.shape}); got w {np.shape(w)}, b {np.shape(b)}."
        )
    _require_float("affine_forward", x, w, b)
    ### BEGIN SOLUTION
    out = x.reshape(x.shape[0], D) @ w + b
    ### END SOLUTION
    return out, (x, w, b)


def affine_backward(dout: np.ndarray, cache):
    """Backward pass of ``affine_forward``.

    dout: ``(N, M)``; cache: ``(x, w, b)`` from the forward pass.
    Returns ``dx`` (x's shape ``(N, d_1, ..., d_k)``), ``dw`` ``(D, M)``, ``db`` ``(M,)``.
    """
    x, w, b = _require_cache("affine_backward", cache, (np.ndarray, np.ndarray, np.ndarray), "affine_forward", "(x, w, b)")
    _require_array("affine_backward: dout", dout, "(N, M)")
    _require_shape("affine_backward: dout", dout, (x.shape[0], w.shape[1]), "(N, M)")
    _require_float("affine_backward", dout, x, w)
    ### BEGIN SOLUTION
    x_rows = x.reshape(x.shape[0], -1)
    dx = (dout @ w.T).reshape(x.shape)
    dw = x_rows.T @ dout
    db = dout.sum(axis=0)
    ### END SOLUTION
    return dx, dw, db


def relu_forward(x: np.ndarray):
    """Rectified linear unit ``max(0, x)``, elementwise.

    x: any shape. Returns ``out`` (x's shape) and ``cache = x``.
    """
    _require_array("relu_forward: x", x, "(N, ...)")
    ### BEGIN SOLUTION
    out = np.maximum(x, 0)
    ### END SOLUTION
    return out, x


def relu_backward(dout: np.ndarray, cache):
    """Backward pass of ``relu_forward``: the gradient flows where ``x > 0``.

    dout, cache (the input x): the same shape. Returns ``dx`` of that shape.
    (At ``x == 0`` the gradient is taken as 0, as PyTorch does.)
    """
    x = _require_array("relu_backward: cache", cache, "x's shape (the cache relu_forward returned)")
    _require_array("relu_backward: dout", dout, "x's shape")
    _require_shape("relu_backward: dout", dout, np.shape(x), "x's shape")
    ### BEGIN SOLUTION
    dx = dout * (x > 0)
    ### END SOLUTION
    return dx


def softmax_loss(x: np.ndarray, y: np.ndarray):
    """Softmax cross-entropy loss averaged over the batch, and its gradient.

    x: scores ``(N, C)``; y: labels ``(N,)``, integers in ``[0, C)``.
    Returns ``loss`` (a float) and ``dx`` ``(N, C)``.
    """
    _require_array("softmax_loss: x", x, "(N, C)")
    if np.ndim(x) != 2:
        raise ValueError(f"softmax_loss needs scores x of shape (N, C); got {np.shape(x)}.")
    _require_batch("softmax_loss: x", x, "(N, C)")
    y = np.asarray(y)
    if y.shape != (x.shape[0],):
        raise ValueError(f"softmax_loss needs labels y of shape (N,) = ({x.shape[0]},); got {y.shape}.")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"softmax_loss needs integer labels y (class indices); got dtype {y.dtype}.")
    if y.size and (y.min() < 0 or y.max() >= x.shape[1]):
        raise ValueError(f"labels y must lie in [0, {x.shape[1]}); got values from {y.min()} to {y.max()}.")
    ### BEGIN SOLUTION
    N = x.shape[0]
    shifted = x - x.max(axis=1, keepdims=True)  # exp() of the shifted scores cannot overflow
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(N), y].mean()
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    dx /= N
    ### END SOLUTION
    return float(loss), dx


# --------------------------------------------------------------------------- #
# Convolution
# --------------------------------------------------------------------------- #

def _check_conv_inputs(name: str, x, w, b) -> None:
    _require_array(f"{name}: x", x, "(N, C, H, W)")
    _require_array(f"{name}: w", w, "(F, C, HH, WW)")
    _require_array(f"{name}: b", b, "(F,)")
    _require_batch(f"{name}: x", x, "(N, C, H, W)")


def conv_forward_naive(x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict):
    """Convolutional layer, forward pass, with explicit loops.

    x: ``(N, C, H, W)``; w: ``(F, C, HH, WW)``; b: ``(F,)``;
    conv_param: ``stride`` (step between neighbouring windows) and ``pad``
    (zeros added on every side of H and W).
    Returns ``out`` ``(N, F, H_out, W_out)`` with
    ``H_out = 1 + (H + 2 * pad - HH) / stride`` (likewise ``W_out``), and
    ``cache = (x, w, b, conv_param)``.
    """
    _check_conv_inputs("conv_forward_naive", x, w, b)
    N, F, H_out, W_out = conv_output_shape(np.shape(x), np.shape(w), conv_param)
    _require_shape("conv_forward_naive: b", b, (F,), "(F,)")
    _require_float("conv_forward_naive", x, w, b)
    stride, pad = int(conv_param["stride"]), int(conv_param["pad"])
    HH, WW = w.shape[2:]
    ### BEGIN SOLUTION
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, H_out, W_out), dtype=np.result_type(x, w))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    window = x_pad[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    ### END SOLUTION
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout: np.ndarray, cache):
    """Convolutional layer, backward pass, with explicit loops.

    dout: ``(N, F, H_out, W_out)``; cache: ``(x, w, b, conv_param)`` from
    ``conv_forward_naive``. Returns ``dx`` ``(N, C, H, W)``, ``dw``
    ``(F, C, HH, WW)``, ``db`` ``(F,)``.
    """
    x, w, b, conv_param = _require_cache("conv_backward_naive", cache, (np.ndarray, np.ndarray, np.ndarray, dict),
                                         "conv_forward_naive", "(x, w, b, conv_param)")
    N, F, H_out, W_out = conv_output_shape(x.shape, w.shape, conv_param)
    _require_array("conv_backward_naive: dout", dout, "(N, F, H_out, W_out)")
    _require_shape("conv_backward_naive: dout", dout, (N, F, H_out, W_out), "(N, F, H_out, W_out)")
    _require_float("conv_backward_naive", dout, x, w)
    stride, pad = int(conv_param["stride"]), int(conv_param["pad"])
    HH, WW = w.shape[2:]
    H, W = x.shape[2:]
    ### BEGIN SOLUTION
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad = np.zeros_like(x_pad, dtype=np.result_type(x, w, dout))
    dw = np.zeros_like(w, dtype=dx_pad.dtype)
    db = dout.sum(axis=(0, 2, 3))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    rows = slice(i * stride, i * stride + HH)
                    cols = slice(j * stride, j * stride + WW)
                    # Each output was a dot product of one window with one filter.
                    dw[f] += dout[n, f, i, j] * x_pad[n, :, rows, cols]
                    dx_pad[n, :, rows, cols] += dout[n, f, i, j] * w[f]
    dx = dx_pad[:, :, pad:pad + H, pad:pad + W]
    ### END SOLUTION
    return dx, dw, db


def _conv_windows(x: np.ndarray, HH: int, WW: int, stride: int, pad: int) -> np.ndarray:
    """A strided view ``(N, C, H_out, W_out, HH, WW)`` of every window of the padded input (no copy)."""
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    return sliding_window_view(x_pad, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride]


def conv_forward_fast(x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict):
    """Convolutional layer, forward pass, vectorised (pure NumPy, no build step).

    The same inputs, outputs and ``ValueError`` s as ``conv_forward_naive``:
    x ``(N, C, H, W)``, w ``(F, C, HH, WW)``, b ``(F,)`` ->
    out ``(N, F, H_out, W_out)``. The cache holds the window matrix
    ``(C * HH * WW, N * H_out * W_out)`` ("im2col", one column per output
    position) for the backward pass.
    """
    _check_conv_inputs("conv_forward_fast", x, w, b)
    N, F, H_out, W_out = conv_output_shape(np.shape(x), np.shape(w), conv_param)
    _require_shape("conv_forward_fast: b", b, (F,), "(F,)")
    _require_float("conv_forward_fast", x, w, b)
    stride, pad = int(conv_param["stride"]), int(conv_param["pad"])
    C, HH, WW = w.shape[1:]
    windows = _conv_windows(x, HH, WW, stride, pad)  # (N, C, H_out, W_out, HH, WW), a view
    # One copy turns the view into the im2col matrix. The order (C, HH, WW, N,
    # H_out, W_out) keeps the innermost copy loop running along image rows,
    # which is much faster than copying 7-element filter rows.
    cols = np.ascontiguousarray(windows.transpose(1, 4, 5, 0, 2, 3)).reshape(C * HH * WW, N * H_out * W_out)
    # A single matrix product computes every dot product of a filter with a window.
    out = w.reshape(F, -1) @ cols  # (F, N * H_out * W_out)
    # Back to (N, F, H_out, W_out), C-contiguous, with the bias added on the way.
    out = np.add(out.reshape(F, N, H_out, W_out).transpose(1, 0, 2, 3), b.reshape(1, F, 1, 1),
                 out=np.empty((N, F, H_out, W_out), dtype=np.result_type(out, b)))
    return out, (x.shape, w, cols, conv_param)


def conv_backward_fast(dout: np.ndarray, cache, need_dx: bool = True):
    """Convolutional layer, backward pass, vectorised (pure NumPy).

    dout: ``(N, F, H_out, W_out)``; cache from ``conv_forward_fast``.
    Returns ``dx`` ``(N, C, H, W)``, ``dw`` ``(F, C, HH, WW)``, ``db`` ``(F,)``.
    With ``need_dx=False`` (a first layer, whose input is the data) ``dx`` is
    ``None`` and its cost, a third of the work, is saved.
    """
    x_shape, w, cols, conv_param = _require_cache("conv_backward_fast", cache, (tuple, np.ndarray, np.ndarray, dict),
                                                  "conv_forward_fast", "(x.shape, w, cols, conv_param)")
    N, C, H, W = x_shape
    F, _, HH, WW = w.shape
    _, _, H_out, W_out = conv_output_shape(x_shape, w.shape, conv_param)
    _require_array("conv_backward_fast: dout", dout, "(N, F, H_out, W_out)")
    _require_shape("conv_backward_fast: dout", dout, (N, F, H_out, W_out), "(N, F, H_out, W_out)")
    _require_float("conv_backward_fast", dout, cols, w)
    stride, pad = int(conv_param["stride"]), int(conv_param["pad"])
    dout_cols = np.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(F, N * H_out * W_out)
    db = dout_cols.sum(axis=1)
    dw = (dout_cols @ cols.T).reshape(w.shape)
    if not need_dx:
        return None, dw, db
    # Gradient of every window, then "col2im": add each of the HH * WW window
    # offsets back into the padded input, one strided slice per offset.
    dcols = (w.reshape(F, -1).T @ dout_cols).reshape(C, HH, WW, N, H_out, W_out)
    dx_pad = np.zeros((C, N, H + 2 * pad, W + 2 * pad), dtype=dcols.dtype)
    for di in range(HH):
        for dj in range(WW):
            dx_pad[:, :, di:di + stride * H_out:stride, dj:dj + stride * W_out:stride] += dcols[:, di, dj]
    dx = dx_pad[:, :, pad:pad + H, pad:pad + W].transpose(1, 0, 2, 3)
    return np.ascontiguousarray(dx), dw, db


# --------------------------------------------------------------------------- #
# Max pooling
# --------------------------------------------------------------------------- #

def max_pool_forward_naive(x: np.ndarray, pool_param: dict):
    """Max pooling, forward pass, with explicit loops.

    x: ``(N, C, H, W)``; pool_param: ``pool_height``, ``pool_width``, ``stride``.
    Returns ``out`` ``(N, C, H_out, W_out)`` with
    ``H_out = 1 + (H - pool_height) / stride`` (likewise ``W_out``), and
    ``cache = (x, pool_param)``.
    """
    _require_array("max_pool_forward_naive: x", x, "(N, C, H, W)")
    _require_batch("max_pool_forward_naive: x", x, "(N, C, H, W)")
    N, C, H_out, W_out = pool_output_shape(np.shape(x), pool_param)
    ph, pw, stride = int(pool_param["pool_height"]), int(pool_param["pool_width"]), int(pool_param["stride"])
    ### BEGIN SOLUTION
    out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    out[n, c, i, j] = x[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw].max()
    ### END SOLUTION
    return out, (x, pool_param)


def max_pool_backward_naive(dout: np.ndarray, cache):
    """Max pooling, backward pass, with explicit loops.

    dout: ``(N, C, H_out, W_out)``; cache: ``(x, pool_param)``.
    Returns ``dx`` ``(N, C, H, W)``: each window's gradient goes to its
    maximum (the first one, in row-major order, if several are equal, as in
    PyTorch).
    """
    x, pool_param = _require_cache("max_pool_backward_naive", cache, (np.ndarray, dict),
                                   "max_pool_forward_naive", "(x, pool_param)")
    N, C, H_out, W_out = pool_output_shape(x.shape, pool_param)
    _require_array("max_pool_backward_naive: dout", dout, "(N, C, H_out, W_out)")
    _require_shape("max_pool_backward_naive: dout", dout, (N, C, H_out, W_out), "(N, C, H_out, W_out)")
    ph, pw, stride = int(pool_param["pool_height"]), int(pool_param["pool_width"]), int(pool_param["stride"])
    ### BEGIN SOLUTION
    dx = np.zeros_like(x, dtype=np.result_type(x, dout))
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw]
                    di, dj = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * stride + di, j * stride + dj] += dout[n, c, i, j]
    ### END SOLUTION
    return dx


def _pool_offsets(ph: int, pw: int, stride: int, H_out: int, W_out: int, reshape_path: bool):
    """Yield, for every offset ``(di, dj)`` inside the pooling window in row-major order, an index.

    Applied to x (``reshape_path`` False) or to x reshaped as
    ``(N, C, H_out, ph, W_out, pw)`` (``reshape_path`` True, the windows tile
    x exactly), the index selects, for every window, its element at that
    offset: a ``(N, C, H_out, W_out)`` view. Without the reshape the views
    are strided slices, and neighbouring windows may overlap.
    """
    for di in range(ph):
        for dj in range(pw):
            if reshape_path:
                yield (slice(None), slice(None), slice(None), di, slice(None), dj)
            else:
                yield (slice(None), slice(None), slice(di, di + stride * H_out, stride),
                       slice(dj, dj + stride * W_out, stride))


def max_pool_forward_fast(x: np.ndarray, pool_param: dict):
    """Max pooling, forward pass, vectorised (pure NumPy).

    The same inputs, outputs and ``ValueError`` s as ``max_pool_forward_naive``:
    x ``(N, C, H, W)`` -> out ``(N, C, H_out, W_out)``. Instead of a loop
    over the ``H_out * W_out`` windows, a loop over the ``pool_height *
    pool_width`` positions inside a window keeps a running maximum of whole
    ``(N, C, H_out, W_out)`` slices, and the position where each window's
    maximum was found (the cache). When the windows tile the input exactly
    (``pool_height == pool_width == stride``, the usual 2x2 / stride 2
    pooling) the slices come from a plain reshape of x.
    """
    _require_array("max_pool_forward_fast: x", x, "(N, C, H, W)")
    _require_batch("max_pool_forward_fast: x", x, "(N, C, H, W)")
    N, C, H_out, W_out = pool_output_shape(np.shape(x), pool_param)
    ph, pw, stride = int(pool_param["pool_height"]), int(pool_param["pool_width"]), int(pool_param["stride"])
    # pool_output_shape checked the divisibility, so equal sizes mean exact tiling.
    reshape_path = ph == pw == stride and x.flags.c_contiguous
    source = x.reshape(N, C, H_out, ph, W_out, pw) if reshape_path else x
    index_type = np.min_scalar_type(ph * pw - 1)
    out = None
    argmax = np.zeros((N, C, H_out, W_out), dtype=index_type)
    scratch = np.empty_like(argmax)
    for k, index in enumerate(_pool_offsets(ph, pw, stride, H_out, W_out, reshape_path)):
        view = source[index]
        if out is None:
            out = view.copy()
            continue
        # Strictly greater: with equal values the first maximum wins, as in PyTorch.
        better = np.greater(view, out)
        np.maximum(out, view, out=out)
        # Where this offset is better, it is also the largest offset seen so
        # far, so argmax = max(argmax, better * k) records it. (Arithmetic on
        # whole arrays: much faster than a masked assignment.)
        np.multiply(better, index_type.type(k), out=scratch)
        np.maximum(argmax, scratch, out=argmax)
    return out, (x.shape, x.dtype, argmax, pool_param, reshape_path)


def max_pool_backward_fast(dout: np.ndarray, cache):
    """Max pooling, backward pass, vectorised (pure NumPy).

    dout: ``(N, C, H_out, W_out)``; cache from ``max_pool_forward_fast``.
    Returns ``dx`` ``(N, C, H, W)``: each window's gradient goes to its first
    maximum in row-major order, as in ``max_pool_backward_naive`` and PyTorch.
    """
    x_shape, x_dtype, argmax, pool_param, reshape_path = _require_cache(
        "max_pool_backward_fast", cache, (tuple, np.dtype, np.ndarray, dict, bool),
        "max_pool_forward_fast", "(x.shape, x.dtype, argmax, pool_param, reshape_path)")
    N, C, H, W = x_shape
    _, _, H_out, W_out = argmax.shape
    _require_array("max_pool_backward_fast: dout", dout, "(N, C, H_out, W_out)")
    _require_shape("max_pool_backward_fast: dout", dout, argmax.shape, "(N, C, H_out, W_out)")
    ph, pw, stride = int(pool_param["pool_height"]), int(pool_param["pool_width"]), int(pool_param["stride"])
    dtype = np.result_type(x_dtype, dout)
    # On the reshape path every element of x lies in exactly one window, so each
    # is written exactly once (no zero fill, no accumulation). Otherwise windows
    # may overlap and their gradients add up.
    if reshape_path:
        dx = np.empty(x_shape, dtype=dtype)
        target = dx.reshape(N, C, H_out, ph, W_out, pw)
    else:
        dx = target = np.zeros(x_shape, dtype=dtype)
    for k, index in enumerate(_pool_offsets(ph, pw, stride, H_out, W_out, reshape_path)):
        routed = dout * (argmax == k)
        if reshape_path:
            target[index] = routed
        else:
            target[index] += routed
    return dx


# --------------------------------------------------------------------------- #
# Sandwich layers: common combinations in one call
# --------------------------------------------------------------------------- #

def conv_relu_forward(x, w, b, conv_param):
    """Convolution (fast) followed by ReLU. x ``(N, C, H, W)`` -> out ``(N, F, H_out, W_out)``."""
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout, cache):
    """Backward pass of ``conv_relu_forward``. Returns ``dx, dw, db``."""
    conv_cache, relu_cache = _require_cache("conv_relu_backward", cache, (tuple, np.ndarray), "conv_relu_forward")
    return conv_backward_fast(relu_backward(dout, relu_cache), conv_cache)


def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    """Convolution, ReLU, max pooling (fast versions).

    x ``(N, C, H, W)``, w ``(F, C, HH, WW)``, b ``(F,)`` -> out
    ``(N, F, H_pool, W_pool)``; returns ``(out, cache)``.
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    s, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_fast(s, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dout, cache, need_dx: bool = True):
    """Backward pass of ``conv_relu_pool_forward``. Returns ``dx, dw, db`` (``dx`` None unless ``need_dx``)."""
    conv_cache, relu_cache, pool_cache = _require_cache("conv_relu_pool_backward", cache, (tuple, np.ndarray, tuple),
                                                        "conv_relu_pool_forward")
    ds = max_pool_backward_fast(dout, pool_cache)
    da = relu_backward(ds, relu_cache)
    return conv_backward_fast(da, conv_cache, need_dx=need_dx)


def affine_relu_forward(x, w, b):
    """Affine layer followed by ReLU: x ``(N, d_1, ..., d_k)`` -> out ``(N, M)``."""
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache):
    """Backward pass of ``affine_relu_forward``. Returns ``dx, dw, db``."""
    fc_cache, relu_cache = _require_cache("affine_relu_backward", cache, (tuple, np.ndarray), "affine_relu_forward")
    return affine_backward(relu_backward(dout, relu_cache), fc_cache)
