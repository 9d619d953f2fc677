"""Softmax (multinomial logistic) regression, CS231n style.

Shapes: ``D`` input dimensions (the bias is folded into ``W`` by appending a
column of ones to ``X``: the *bias trick*), ``C`` classes, ``N`` examples.

- ``W``: ``(D, C)`` weights, ``X``: ``(N, D)`` data, ``y``: ``(N,)`` labels in ``0..C-1``.
- Loss: mean cross-entropy of ``softmax(X @ W)`` plus ``reg * sum(W**2)``
  (no factor 1/2, as CS7643 writes ``R(W)``).

Both loss functions subtract each row's largest score before exponentiating,
which leaves the softmax unchanged and keeps ``exp`` from overflowing.
"""

from __future__ import annotations

import numpy as np


def with_bias_column(X: np.ndarray) -> np.ndarray:
    """Flatten ``X`` ``(N, ...)`` to rows and append a column of ones: ``(N, D + 1)``, same dtype.

    The bias trick: with this column, ``X @ W`` with ``W`` ``(D + 1, C)``
    computes ``x @ W[:-1] + W[-1]``, so the bias is just the last row of ``W``.
    """
    X = np.asarray(X)
    if X.ndim < 2:
        raise ValueError(f"X must have shape (N, ...) with one row per example; got {X.shape}.")
    rows = X.reshape(X.shape[0], -1)
    return np.hstack([rows, np.ones((X.shape[0], 1), dtype=rows.dtype)])


def check_labels(name: str, y: np.ndarray) -> None:
    """Labels index the classes: float labels (``3.0``) cannot, and would fail deep inside NumPy; refuse them here."""
    if not np.issubdtype(np.asarray(y).dtype, np.integer):
        raise TypeError(f"{name} must hold integer class labels, shape (N,); got dtype {np.asarray(y).dtype} "
                        f"(use {name}.astype(np.int64) if the values are whole numbers).")


def _check_inputs(W: np.ndarray, X: np.ndarray, y: np.ndarray) -> None:
    """Raise a ``ValueError`` naming the expected shapes when they do not fit."""
    if np.ndim(W) != 2:
        raise ValueError(f"W must have shape (D, C); got {np.shape(W)}.")
    if np.ndim(X) != 2 or X.shape[1] != W.shape[0]:
        raise ValueError(f"X must have shape (N, D) = (N, {W.shape[0]}) to match W {W.shape}; got {np.shape(X)}.")
    if X.shape[0] == 0:
        raise ValueError(f"X must hold at least one example, shape (N, D) = (N, {W.shape[0]}); got {X.shape}.")
    if np.ndim(y) != 1 or len(y) != X.shape[0]:
        raise ValueError(f"y must have shape (N,) = ({X.shape[0]},) to match X; got {np.shape(y)}.")
    check_labels("y", y)
    if len(y) and (np.min(y) < 0 or np.max(y) >= W.shape[1]):
        raise ValueError(f"labels y must lie in 0..{W.shape[1] - 1} (C = {W.shape[1]} columns of W).")


def softmax_loss_naive(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float):
    """Softmax loss and gradient with explicit loops (the teaching version).

    Inputs:
    - W: ``(D, C)`` weights.
    - X: ``(N, D)`` minibatch of data.
    - y: ``(N,)`` integer labels, ``y[i] = c`` means ``X[i]`` has label ``c``.
    - reg: regularisation strength (float).

    Returns ``(loss, dW)``: the loss (float) and its gradient ``dW``, ``(D, C)``.
    """
    W, X, y = np.asarray(W), np.asarray(X), np.asarray(y)
    _check_inputs(W, X, y)
    loss = 0.0
    dW = np.zeros_like(W)
    ### BEGIN SOLUTION
    num_train, num_classes = X.shape[0], W.shape[1]
    for i in range(num_train):
        scores = X[i].dot(W)
        scores -= np.max(scores)  # stability: softmax is shift-invariant
        exp_scores = np.exp(scores)
        total = 0.0
        for j in range(num_classes):
            total += exp_scores[j]
        loss += -scores[y[i]] + np.log(total)
        for j in range(num_classes):
            p = exp_scores[j] / total
            dW[:, j] += (p - (j == y[i])) * X[i]
    loss /= num_train
    dW /= num_train
    loss += reg * np.sum(W * W)
    dW += 2 * reg * W
    ### END SOLUTION
    return float(loss), dW


def softmax_loss_vectorized(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float):
    """Softmax loss and gradient without explicit loops.

    Same inputs and outputs as :func:`softmax_loss_naive`: ``W`` ``(D, C)``,
    ``X`` ``(N, D)``, ``y`` ``(N,)``; returns ``(loss, dW)`` with ``dW``
    ``(D, C)``.
    """
    W, X, y = np.asarray(W), np.asarray(X), np.asarray(y)
    _check_inputs(W, X, y)
    ### BEGIN SOLUTION
    num_train = X.shape[0]
    scores = X.dot(W)
    scores -= scores.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(scores).sum(axis=1, keepdims=True))
    log_probs = scores - log_norm
    rows = np.arange(num_train)
    loss = -log_probs[rows, y].mean() + reg * np.sum(W * W)
    dscores = np.exp(log_probs)
    dscores[rows, y] -= 1
    dscores /= num_train
    dW = X.T.dot(dscores) + 2 * reg * W
    ### END SOLUTION
    return float(loss), dW


class LinearSoftmax:
    """A linear classifier ``scores = X @ W`` trained with the softmax loss by minibatch SGD.

    ``W`` ``(D, C)`` is created on the first call to :meth:`train` (D from the
    data, C = ``max(y) + 1``) as ``0.001 * randn``; minibatches are drawn with
    replacement from NumPy's global generator, so ``setup(seed)`` makes runs
    repeatable.
    """

    def __init__(self):
        self.W: np.ndarray | None = None

    def loss(self, X_batch: np.ndarray, y_batch: np.ndarray, reg: float):
        """Loss and gradient on a minibatch: ``X_batch`` ``(N, D)``, ``y_batch`` ``(N,)``; returns ``(loss, dW)``."""
        return softmax_loss_vectorized(self.W, X_batch, y_batch, reg)

    def train(self, X: np.ndarray, y: np.ndarray, learning_rate: float = 1e-3, reg: float = 1e-5,
              num_iters: int = 100, batch_size: int = 200, verbose: bool = False) -> list[float]:
        """Minibatch SGD on the softmax loss.

        Inputs:
        - X: ``(N, D)`` training data (with the bias column if you use the bias trick).
        - y: ``(N,)`` integer labels in ``0..C-1``.
        - learning_rate, reg: step size and L2 strength.
        - num_iters: number of SGD steps; batch_size: examples per step.
        - verbose: print the loss every 100 steps.

        Returns the loss of every step (list of ``num_iters`` floats).
        """
        X, y = np.asarray(X), np.asarray(y)
        if X.ndim != 2:
            raise ValueError(f"X must have shape (N, D); got {X.shape}.")
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must have shape (N,) = ({X.shape[0]},); got {y.shape}.")
        if X.shape[0] == 0:
            raise ValueError(f"X must hold at least one example, shape (N, D); got {X.shape}.")
        check_labels("y", y)
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a whole number >= 1; got {batch_size!r}.")
        if not np.issubdtype(X.dtype, np.floating):
            X = X.astype(np.float64)  # integer pixels: W (created in X's dtype) would round to 0
        num_train, dim = X.shape
        num_classes = int(np.max(y)) + 1
        if self.W is None:
            self.W = 0.001 * np.random.randn(dim, num_classes).astype(X.dtype, copy=False)
        elif self.W.shape[0] != dim:
            raise ValueError(f"X has {dim} columns but the trained W has shape {self.W.shape}.")
        loss_history = []
        for it in range(num_iters):
            idx = np.random.choice(num_train, batch_size, replace=True)
            loss, grad = self.loss(X[idx], y[idx], reg)
            loss_history.append(loss)
            ### BEGIN SOLUTION
            self.W -= learning_rate * grad
            ### END SOLUTION
            if verbose and it % 100 == 0:
                print(f"iteration {it} / {num_iters}: loss {loss:.6f}")
        return loss_history

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels ``(N,)`` for data ``X`` ``(N, D)``: the class with the largest score."""
        if self.W is None:
            raise ValueError("The classifier has no weights yet: call train() first.")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.W.shape[0]:
            raise ValueError(f"X must have shape (N, {self.W.shape[0]}); got {X.shape}.")
        ### BEGIN SOLUTION
        return np.argmax(X.dot(self.W), axis=1)
        ### END SOLUTION
