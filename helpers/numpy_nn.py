"""A neural network in pure NumPy: the layers of the RPZ lab (the MNIST and Fashion-MNIST years).

This file is a deliverable: an upload system imports it on its own, so it
imports nothing but NumPy. Run as a program (``python -m helpers.numpy_nn``),
it trains the two-digit MNIST classifier and writes ``numpy_nn_training.png``
and ``numpy_nn_classification.png``: that command line is
``helpers.scratch.binary_mnist.main``, which builds its network from these
layers.

Every layer has ``forward`` and ``backward``:

- ``forward(x)`` computes the layer's output and remembers what ``backward``
  needs;
- ``backward(dL_wrt_output)`` takes the gradient of the loss w.r.t. the
  layer's output (same shape as the output) and returns the gradient w.r.t.
  the layer's input (same shape as the input).

``Linear`` is the only layer with parameters. Its ``backward`` also stores
the gradient w.r.t. ``W`` and ``b`` *per sample* of the batch (the update
averages them); ``grads()`` returns them.

Shapes are checked: a wrong shape raises ``ValueError`` naming the expected
and the actual shape instead of broadcasting silently into nonsense.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ReLU", "Linear", "Sigmoid", "Tanh", "SE"]


def _shape_error(what: str, expected: str, actual: tuple) -> ValueError:
    return ValueError(f"{what}: expected shape {expected}, got {tuple(actual)}.")


def _floating(a) -> np.ndarray:
    """``a`` as an array of floats: integer inputs (uint8 pixels, int labels) would wrap around in ``x - y``."""
    a = np.asarray(a)
    return a if np.issubdtype(a.dtype, np.floating) else a.astype(np.float64)


def _forward_first(layer) -> RuntimeError:
    return RuntimeError(f"{type(layer).__name__}.backward() called before forward(): run forward first.")


class ReLU:
    """Rectified linear unit ``f(x) = max(0, x)``, element-wise, for inputs of any shape."""

    def __init__(self):
        self.x = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: array of any shape ``S``. Returns ``max(0, x)``, shape ``S``."""
        x = np.asarray(x)
        self.x = x
        ### BEGIN SOLUTION
        return np.maximum(x, 0)
        ### END SOLUTION

    def backward(self, dL_wrt_output: np.ndarray) -> np.ndarray:
        """dL_wrt_output: shape ``S`` (the forward input's). Returns dL/dx, shape ``S``.

        The gradient passes where the input was positive and is zero elsewhere
        (at exactly 0 we take the subgradient 0, as PyTorch does).
        """
        if self.x is None:
            raise _forward_first(self)
        dL_wrt_output = np.asarray(dL_wrt_output)
        if dL_wrt_output.shape != self.x.shape:
            raise _shape_error("ReLU.backward(dL_wrt_output)", f"{self.x.shape} (the forward input's)", dL_wrt_output.shape)
        ### BEGIN SOLUTION
        # np.where, not a product with the mask: -1 * 0 would print as -0.
        return np.where(self.x > 0, dL_wrt_output, 0.0)
        ### END SOLUTION


class Linear:
    """Fully connected layer ``f(x) = x @ W + b`` (the seed's convention, not ``W x``).

    Parameters: ``W`` of shape ``(input_dim, output_dim)`` and ``b`` of shape
    ``(1, output_dim)``. ``W`` starts with He initialisation
    (``N(0, 2 / input_dim)``), ``b`` with zeros; pass ``rng`` (a
    ``np.random.Generator``) for a private random stream, otherwise NumPy's
    global generator is used.
    """

    def __init__(self, input_dim: int, output_dim: int, rng: np.random.Generator | None = None):
        if int(input_dim) < 1 or int(output_dim) < 1:
            raise ValueError(f"Linear needs positive dimensions; got input_dim={input_dim}, output_dim={output_dim}.")
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        normal = rng.standard_normal if rng is not None else np.random.standard_normal
        self.W = normal((self.input_dim, self.output_dim)) * np.sqrt(2.0 / self.input_dim)
        self.b = np.zeros((1, self.output_dim))
        self.x = None
        self.dL_wrt_W = None
        self.dL_wrt_b = None

    def _check_parameters(self) -> None:
        # W and b are often set by hand (as in the seed's example): check them too.
        if np.shape(self.W) != (self.input_dim, self.output_dim):
            raise _shape_error("Linear.W", f"(input_dim, output_dim) = {(self.input_dim, self.output_dim)}", np.shape(self.W))
        if np.shape(self.b) != (1, self.output_dim):
            raise _shape_error("Linear.b", f"(1, output_dim) = {(1, self.output_dim)}", np.shape(self.b))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: ``(batch, input_dim)``. Returns ``x @ W + b``, shape ``(batch, output_dim)``."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise _shape_error("Linear.forward(x)", f"(batch, input_dim) = (batch, {self.input_dim})", x.shape)
        self._check_parameters()
        self.x = x
        ### BEGIN SOLUTION
        return x @ self.W + self.b
        ### END SOLUTION

    def backward(self, dL_wrt_output: np.ndarray) -> np.ndarray:
        """dL_wrt_output: ``(batch, output_dim)``. Returns dL/dx, ``(batch, input_dim)``.

        Also stores the per-sample parameter gradients:
        ``self.dL_wrt_W`` ``(batch, input_dim, output_dim)`` (sample ``n`` holds
        the outer product ``x[n]^T dL_wrt_output[n]``) and ``self.dL_wrt_b``
        ``(batch, 1, output_dim)``.
        """
        if self.x is None:
            raise _forward_first(self)
        dL_wrt_output = np.asarray(dL_wrt_output)
        expected = (self.x.shape[0], self.output_dim)
        if dL_wrt_output.shape != expected:
            raise _shape_error("Linear.backward(dL_wrt_output)", f"(batch, output_dim) = {expected}", dL_wrt_output.shape)
        ### BEGIN SOLUTION
        self.dL_wrt_W = self.x[:, :, None] * dL_wrt_output[:, None, :]
        self.dL_wrt_b = dL_wrt_output[:, None, :].copy()
        return dL_wrt_output @ self.W.T
        ### END SOLUTION

    def grads(self) -> tuple[np.ndarray, np.ndarray]:
        """The per-sample gradients of the last backward pass: ``(dL_wrt_W, dL_wrt_b)``.

        Shapes ``(batch, input_dim, output_dim)`` and ``(batch, 1, output_dim)``.
        """
        if self.dL_wrt_W is None:
            raise RuntimeError("Linear.grads() called before backward(): run forward and backward first.")
        return self.dL_wrt_W, self.dL_wrt_b


class Sigmoid:
    """Logistic sigmoid ``f(x) = 1 / (1 + exp(-x))``, element-wise, for inputs of any shape."""

    def __init__(self):
        self.output = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: array of any shape ``S``. Returns ``sigmoid(x)`` in (0, 1), shape ``S``."""
        x = np.asarray(x, dtype=np.result_type(np.asarray(x).dtype, np.float32))
        ### BEGIN SOLUTION
        # exp(-logaddexp(0, -x)) = 1 / (1 + exp(-x)) without overflow for very negative x.
        self.output = np.exp(-np.logaddexp(0, -x))
        return self.output
        ### END SOLUTION

    def backward(self, dL_wrt_output: np.ndarray) -> np.ndarray:
        """dL_wrt_output: shape ``S`` (the forward input's). Returns dL/dx, shape ``S``.

        Uses ``sigmoid'(x) = sigmoid(x) * (1 - sigmoid(x))``.
        """
        if self.output is None:
            raise _forward_first(self)
        dL_wrt_output = np.asarray(dL_wrt_output)
        if dL_wrt_output.shape != self.output.shape:
            raise _shape_error("Sigmoid.backward(dL_wrt_output)", f"{self.output.shape} (the forward input's)", dL_wrt_output.shape)
        ### BEGIN SOLUTION
        return dL_wrt_output * self.output * (1 - self.output)
        ### END SOLUTION


class Tanh:
    """Hyperbolic tangent, element-wise, for inputs of any shape (an extra non-linearity to try)."""

    def __init__(self):
        self.output = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: array of any shape ``S``. Returns ``tanh(x)`` in (-1, 1), shape ``S``."""
        ### BEGIN SOLUTION
        self.output = np.tanh(x)
        return self.output
        ### END SOLUTION

    def backward(self, dL_wrt_output: np.ndarray) -> np.ndarray:
        """dL_wrt_output: shape ``S``. Returns dL/dx, shape ``S`` (``tanh' = 1 - tanh^2``)."""
        if self.output is None:
            raise _forward_first(self)
        dL_wrt_output = np.asarray(dL_wrt_output)
        if dL_wrt_output.shape != self.output.shape:
            raise _shape_error("Tanh.backward(dL_wrt_output)", f"{self.output.shape} (the forward input's)", dL_wrt_output.shape)
        ### BEGIN SOLUTION
        return dL_wrt_output * (1 - self.output**2)
        ### END SOLUTION


class SE:
    """Squared error loss ``(x - y)**2``, element-wise (no sum, no mean).

    The training loop averages it over the batch; ``backward`` returns the
    gradient of the element-wise loss w.r.t. ``x`` (as if each element's loss
    were summed), so it has no upstream gradient argument.
    """

    def __init__(self):
        self.x = None
        self.y = None

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """x: predictions, shape ``S``; y: targets, the same shape ``S``. Returns ``(x - y)**2``, shape ``S``.

        ``y`` must have exactly ``x``'s shape: a ``(batch,)`` target against
        ``(batch, 1)`` predictions would otherwise broadcast to ``(batch, batch)``.
        """
        x, y = _floating(x), _floating(y)
        if x.shape != y.shape:
            raise _shape_error("SE.forward(x, y): y", f"{x.shape} (the shape of x)", y.shape)
        self.x, self.y = x, y
        ### BEGIN SOLUTION
        return (x - y) ** 2
        ### END SOLUTION

    def backward(self) -> np.ndarray:
        """Returns d(x - y)**2 / dx, shape ``S`` (the forward input's)."""
        if self.x is None:
            raise _forward_first(self)
        ### BEGIN SOLUTION
        return 2 * (self.x - self.y)
        ### END SOLUTION


if __name__ == "__main__":
    # `python -m helpers.numpy_nn` trains the two-digit classifier, as the lab asks of this file. The command line
    # lives with the two-digit network (helpers.scratch.binary_mnist), above this file: run as a program, not
    # imported, so the deliverable still imports nothing but NumPy.
    import runpy

    runpy.run_module("helpers.scratch.binary_mnist", run_name="__main__", alter_sys=True)
