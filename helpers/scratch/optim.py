"""First-order update rules (CS231n conventions).

Every rule has the signature ``next_w, config = rule(w, dw, config)``:

- ``w``: the current weights, an array of any shape;
- ``dw``: the gradient of the loss with respect to ``w``, the same shape;
- ``config``: a dict of hyperparameters (learning rate, momentum, ...) and
  of the rule's state (velocity, moments, step count). ``None`` means all
  defaults. The rule fills in missing defaults and returns the updated dict,
  which the caller passes back on the next step (``Solver`` does this for
  every parameter).

The rules return new arrays; they never modify ``w`` or the state arrays
that were passed in.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sgd", "sgd_momentum", "adam"]


def _check(w: np.ndarray, dw: np.ndarray, rule: str) -> None:
    if np.shape(w) != np.shape(dw):
        raise ValueError(f"{rule}: w and dw must have the same shape; got {np.shape(w)} and {np.shape(dw)}.")


def sgd(w: np.ndarray, dw: np.ndarray, config: dict | None = None):
    """Vanilla stochastic gradient descent: ``w - learning_rate * dw``.

    config: ``learning_rate`` (default 1e-2).
    w, dw: arrays of the same shape. Returns ``(next_w, config)``.
    """
    _check(w, dw, "sgd")
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    ### BEGIN SOLUTION
    next_w = w - config["learning_rate"] * dw
    ### END SOLUTION
    return next_w, config


def sgd_momentum(w: np.ndarray, dw: np.ndarray, config: dict | None = None):
    """SGD with momentum: ``v = momentum * v - learning_rate * dw; w = w + v``.

    config: ``learning_rate`` (default 1e-2), ``momentum`` (default 0.9;
    0 gives plain SGD), ``velocity`` (w's shape; starts at zeros).
    w, dw: arrays of the same shape. Returns ``(next_w, config)``.
    """
    _check(w, dw, "sgd_momentum")
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity")
    if v is None:
        v = np.zeros_like(w)
    elif np.shape(v) != np.shape(w):
        raise ValueError(f"sgd_momentum: config['velocity'] has shape {np.shape(v)}, but w has {np.shape(w)}.")
    ### BEGIN SOLUTION
    v = config["momentum"] * v - config["learning_rate"] * dw
    next_w = w + v
    ### END SOLUTION
    config["velocity"] = v
    return next_w, config


def adam(w: np.ndarray, dw: np.ndarray, config: dict | None = None):
    """Adam (Kingma and Ba, 2015): running averages of the gradient and its square, bias-corrected.

    config: ``learning_rate`` (default 1e-3), ``beta1`` (0.9), ``beta2``
    (0.999), ``epsilon`` (1e-8); state ``m`` and ``v`` (w's shape, start at
    zeros) and ``t`` (the step count, starts at 0).
    w, dw: arrays of the same shape. Returns ``(next_w, config)``. The same
    update as ``torch.optim.Adam`` without weight decay.
    """
    _check(w, dw, "adam")
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("t", 0)
    m = config.get("m")
    v = config.get("v")
    m = np.zeros_like(w) if m is None else m
    v = np.zeros_like(w) if v is None else v
    if np.shape(m) != np.shape(w) or np.shape(v) != np.shape(w):
        raise ValueError(f"adam: config['m'] {np.shape(m)} and config['v'] {np.shape(v)} must have w's shape {np.shape(w)}.")
    ### BEGIN SOLUTION
    beta1, beta2, t = config["beta1"], config["beta2"], config["t"] + 1
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw * dw
    m_hat = m / (1 - beta1 ** t)  # undo the bias towards the zero start
    v_hat = v / (1 - beta2 ** t)
    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])
    ### END SOLUTION
    config.update(m=m, v=v, t=t)
    return next_w, config
