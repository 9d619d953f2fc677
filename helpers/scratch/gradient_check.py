"""Numeric gradients by central differences, and the relative error used to compare them.

CS231n's functions with its signatures, so its notebook cells run unchanged:
``eval_numerical_gradient(f, x, verbose=True, h=1e-5)``,
``eval_numerical_gradient_array(f, x, df, h=1e-5)``,
``grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5)`` and ``rel_error(x, y)``.

They run in float64 only: with float32 the rounding error of
``f(x + h) - f(x - h)`` swamps the difference for any useful ``h``. A float32
``x`` is refused with one line saying how to promote it (``x`` is perturbed in
place, and ``f`` often reads it through a model, so a silent copy would check
nothing).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def rel_error(x, y) -> float:
    """Maximum relative error ``max |x - y| / max(1e-8, |x| + |y|)`` (CS231n's definition)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error needs arrays of the same shape; got {x.shape} and {y.shape}.")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _require_float64(x: np.ndarray, what: str) -> None:
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        dtype = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"{what} must be a float64 array for a meaningful numeric gradient; got {dtype}. "
                        f"Check in float64: {what}.astype(np.float64), and models built with dtype=np.float64.")


def _central_differences(f: Callable[[np.ndarray], object], x: np.ndarray, h: float):
    """Yield ``(index, f(x + h e_i), f(x - h e_i))`` for every entry of ``x``, perturbing it in place and restoring it."""
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        plus = np.array(f(x), dtype=np.float64, copy=True)
        x[ix] = old - h
        minus = np.array(f(x), dtype=np.float64, copy=True)
        x[ix] = old
        yield ix, plus, minus
        it.iternext()


def eval_numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, verbose: bool = False,
                            h: float = 1e-5) -> np.ndarray:
    """Numeric gradient of a scalar function ``f`` at ``x`` (central differences).

    ``x`` (any shape, float64) is perturbed in place and restored; returns an
    array of ``x``'s shape. ``verbose`` prints each entry's index and gradient
    (CS231n's default is ``True``; here it is ``False``).
    """
    _require_float64(x, "x")
    grad = np.zeros_like(x)
    for ix, plus, minus in _central_differences(f, x, h):
        grad[ix] = (plus - minus) / (2 * h)
        if verbose:
            print(ix, grad[ix])
    return grad


def eval_numerical_gradient_array(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, df: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Numeric gradient of ``sum(f(x) * df)`` w.r.t. ``x``: what a backward pass returns for upstream ``df``.

    ``x`` (float64, any shape) is perturbed in place and restored; ``df`` has
    ``f(x)``'s shape. Returns an array of ``x``'s shape.
    """
    _require_float64(x, "x")
    grad = np.zeros_like(x)
    for ix, plus, minus in _central_differences(f, x, h):
        grad[ix] = np.sum((plus - minus) * df) / (2 * h)
    return grad


def grad_check_sparse(f: Callable[[np.ndarray], float], x: np.ndarray, analytic_grad: np.ndarray, num_checks: int = 10, h: float = 1e-5, seed: int = 0, verbose: bool = True) -> float:
    """Compare ``analytic_grad`` with central differences at ``num_checks`` random entries of ``x``.

    Cheap enough for big weight matrices. Returns the largest relative error
    found (and prints each comparison when ``verbose``).
    """
    _require_float64(x, "x")
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(num_checks):
        ix = tuple(int(rng.integers(m)) for m in x.shape)
        old = x[ix]
        x[ix] = old + h
        fxph = f(x)
        x[ix] = old - h
        fxmh = f(x)
        x[ix] = old
        numeric = (fxph - fxmh) / (2 * h)
        analytic = analytic_grad[ix]
        err = abs(numeric - analytic) / max(1e-8, abs(numeric) + abs(analytic))
        worst = max(worst, err)
        if verbose:
            print(f"numerical: {numeric:+.6e} analytic: {analytic:+.6e}, relative error: {err:.2e}")
    return worst
