"""A two-layer fully connected network in NumPy (CS231n / HLCV exercise 2).

Architecture: ``input - fully connected - ReLU - fully connected - softmax``,
trained with the cross-entropy loss plus the L2 term
``reg * (sum(W1**2) + sum(W2**2))`` (no factor 1/2: the seed's toy loss
1.30378789133 holds only so).

Shapes: ``N`` examples, ``D`` input dimensions, ``H`` hidden units, ``C``
classes. The network computes ``scores = relu(X @ W1 + b1) @ W2 + b2``; the
HLCV version returns ``softmax(scores)`` (probabilities) instead of scores,
which changes nothing in training: the loss applies the softmax itself.
"""

from __future__ import annotations

import io
import os

import numpy as np

from helpers.paths import atomic_write_bytes

PARAM_NAMES = ("W1", "b1", "W2", "b2")


def _check_schedule(learning_rate: float, batch_size: int, num_iters: int) -> None:
    """The training settings ``train`` can run with: a positive finite rate, batches of at least one example."""
    if not (np.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a positive finite number; got {learning_rate!r}.")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number >= 1; got {batch_size!r}.")
    if int(num_iters) != num_iters or num_iters < 0:
        raise ValueError(f"num_iters must be a whole number >= 0; got {num_iters!r}.")


class TwoLayerNet:
    """Two-layer fully connected network with a ReLU hidden layer and a softmax loss.

    ``params`` holds
    - ``W1``: first layer weights ``(D, H)``; ``b1``: first layer biases ``(H,)``;
    - ``W2``: second layer weights ``(H, C)``; ``b2``: second layer biases ``(C,)``.

    Weights are ``std * randn`` (``W1`` first, then ``W2``, from NumPy's
    global generator, so ``np.random.seed`` fixes them), biases zero.
    ``dtype`` (keyword only) is float64 by default, as gradient checks need;
    float32 trains on CIFAR-10 about twice as fast.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int, std: float = 1e-4, *,
                 dtype=np.float64):
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("output_size", output_size)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        self.params = {
            "W1": (std * np.random.randn(input_size, hidden_size)).astype(dtype),
            "b1": np.zeros(hidden_size, dtype=dtype),
            "W2": (std * np.random.randn(hidden_size, output_size)).astype(dtype),
            "b2": np.zeros(output_size, dtype=dtype),
        }

    # ------------------------------------------------------------------ shapes
    @property
    def sizes(self) -> tuple[int, int, int]:
        """``(D, H, C)``: input, hidden and output sizes."""
        D, H = self.params["W1"].shape
        return D, H, self.params["W2"].shape[1]

    def _check_X(self, X: np.ndarray, name: str = "X") -> None:
        D = self.params["W1"].shape[0]
        if X.ndim != 2 or X.shape[1] != D:
            raise ValueError(f"{name} must have shape (N, D) = (N, {D}); got {X.shape}. Flatten images first.")
        if X.shape[0] == 0:
            raise ValueError(f"{name} must hold at least one example, shape (N, {D}); got {X.shape}.")
        if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
            raise TypeError(f"{name} must hold real numbers, shape (N, {D}); got dtype {X.dtype}.")

    def _check_y(self, X: np.ndarray, y: np.ndarray, name: str = "y") -> None:
        # here, not at the top: softmax.py is another exercise's file, and a mistake in it must not stop this one
        # from importing (the package imports each model file only when it is used)
        from helpers.scratch.classifiers.softmax import check_labels

        C = self.params["W2"].shape[1]
        if y.shape != (X.shape[0],):
            raise ValueError(f"{name} must have shape (N,) = ({X.shape[0]},) to match X; got {y.shape}.")
        check_labels(name, y)
        if len(y) and (y.min() < 0 or y.max() >= C):
            raise ValueError(f"labels y must lie in 0..{C - 1} (output_size C = {C}).")

    # -------------------------------------------------------------- forward/backward
    def loss(self, X: np.ndarray, y: np.ndarray | None = None, reg: float = 0.0):
        """Scores, or loss and gradients, for a minibatch.

        Inputs:
        - X: ``(N, D)`` input data.
        - y: ``(N,)`` integer labels in ``0..C-1``, or ``None``.
        - reg: L2 regularisation strength.

        Returns:
        - if ``y`` is ``None``: ``scores`` ``(N, C)``, ``scores[i, c]`` the score of class ``c`` for ``X[i]``;
        - otherwise ``(loss, grads)``: the loss (float: mean cross-entropy +
          ``reg * (sum(W1**2) + sum(W2**2))``) and a dict with the gradient of
          the loss for each key of ``params``, of the same shape.
        """
        X = np.asarray(X)
        self._check_X(X)
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]
        N = X.shape[0]

        # Forward pass: fully connected, ReLU, fully connected.
        scores = None
        ### BEGIN SOLUTION
        hidden_pre = X.dot(W1) + b1
        hidden = np.maximum(0, hidden_pre)
        scores = hidden.dot(W2) + b2
        ### END SOLUTION
        if y is None:
            return scores

        y = np.asarray(y)
        self._check_y(X, y)
        loss = None
        grads = {}
        ### BEGIN SOLUTION
        # Softmax cross-entropy, shifted by the row maximum for stability.
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        rows = np.arange(N)
        loss = -log_probs[rows, y].mean() + reg * (np.sum(W1 * W1) + np.sum(W2 * W2))

        # Backward pass: dJ/dscores = (softmax - one_hot(y)) / N (HLCV exercise 2, Eq. 16).
        dscores = np.exp(log_probs)
        dscores[rows, y] -= 1
        dscores /= N
        grads["W2"] = hidden.T.dot(dscores) + 2 * reg * W2
        grads["b2"] = dscores.sum(axis=0)
        dhidden = dscores.dot(W2.T)
        dhidden[hidden_pre <= 0] = 0  # ReLU passes gradient only where it was active
        grads["W1"] = X.T.dot(dhidden) + 2 * reg * W1
        grads["b1"] = dhidden.sum(axis=0)
        ### END SOLUTION
        return float(loss), grads

    # ------------------------------------------------------------------ training
    def train(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray,
              learning_rate: float = 1e-3, learning_rate_decay: float = 0.95, reg: float = 5e-6,
              num_iters: int = 100, batch_size: int = 200, momentum: float = 0.0,
              verbose: bool = False) -> dict:
        """Train by minibatch SGD with momentum (HLCV exercise 2, Algorithm 1).

        Each step draws ``batch_size`` examples (with replacement, NumPy's
        global generator), computes the gradient ``g`` of the regularised
        loss and updates every parameter ``theta`` with its velocity ``v``
        (zero at the start): ``v <- momentum * v - learning_rate * g``;
        ``theta <- theta + v``. With ``momentum=0`` this is plain SGD. After
        every epoch (``max(N / batch_size, 1)`` steps) the training-batch and
        validation accuracies are recorded and the learning rate is
        multiplied by ``learning_rate_decay``.

        Inputs: ``X`` ``(N, D)``, ``y`` ``(N,)``, ``X_val`` ``(N_val, D)``,
        ``y_val`` ``(N_val,)``.

        Returns a dict with ``loss_history`` (one float per step),
        ``train_acc_history`` and ``val_acc_history`` (one float per epoch).
        """
        X, y, X_val, y_val = map(np.asarray, (X, y, X_val, y_val))
        self._check_X(X)
        self._check_y(X, y)
        self._check_X(X_val, "X_val")
        self._check_y(X_val, y_val, "y_val")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1); got {momentum!r}.")
        _check_schedule(learning_rate, batch_size, num_iters)
        num_train = X.shape[0]
        iterations_per_epoch = max(num_train / batch_size, 1)
        velocity = {name: np.zeros_like(p) for name, p in self.params.items()}

        loss_history, train_acc_history, val_acc_history = [], [], []
        for it in range(num_iters):
            idx = np.random.choice(num_train, batch_size, replace=True)
            X_batch, y_batch = X[idx], y[idx]
            loss, grads = self.loss(X_batch, y=y_batch, reg=reg)
            loss_history.append(loss)

            ### BEGIN SOLUTION
            for name, param in self.params.items():
                velocity[name] = momentum * velocity[name] - learning_rate * grads[name]
                param += velocity[name]  # in place: params keeps the same arrays
            ### END SOLUTION

            if verbose and it % 100 == 0:
                print(f"iteration {it} / {num_iters}: loss {loss:.6f}")

            # Once per epoch: record accuracies and decay the learning rate.
            if int((it + 1) / iterations_per_epoch) > int(it / iterations_per_epoch):
                train_acc_history.append(float((self.predict(X_batch) == y_batch).mean()))
                val_acc_history.append(float((self.predict(X_val) == y_val).mean()))
                learning_rate *= learning_rate_decay

        return {"loss_history": loss_history, "train_acc_history": train_acc_history,
                "val_acc_history": val_acc_history}

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels ``(N,)`` for ``X`` ``(N, D)``: the class with the largest score."""
        ### BEGIN SOLUTION
        return np.argmax(self.loss(X), axis=1)
        ### END SOLUTION

    # ------------------------------------------------------------- save / load
    def save(self, path: str | os.PathLike) -> None:
        """Write ``params`` to an ``.npz`` file atomically (keys ``W1``, ``b1``, ``W2``, ``b2``)."""
        buf = io.BytesIO()
        np.savez(buf, **self.params)
        atomic_write_bytes(path, buf.getvalue(), hold_folder=True)

    @classmethod
    def load(cls, path: str | os.PathLike) -> TwoLayerNet:
        """A network with the parameters stored by :meth:`save` in ``path``."""
        with np.load(path) as data:
            missing = [k for k in PARAM_NAMES if k not in data]
            if missing:
                raise ValueError(f"{path} lacks the arrays {missing}; expected {PARAM_NAMES} as written by save().")
            params = {k: data[k] for k in PARAM_NAMES}
        D, H = params["W1"].shape
        C = params["W2"].shape[1]
        if params["b1"].shape != (H,) or params["W2"].shape[0] != H or params["b2"].shape != (C,):
            raise ValueError(f"{path}: inconsistent shapes {[(k, v.shape) for k, v in params.items()]}.")
        net = cls(D, H, C, std=0.0, dtype=params["W1"].dtype)
        net.params = params
        return net
