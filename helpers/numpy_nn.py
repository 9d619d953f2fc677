"""A neural network in pure NumPy: the layers of the RPZ lab (the MNIST and Fashion-MNIST years).

This file is a deliverable: an upload system imports it on its own, so it
imports nothing but NumPy at module level. ``main()`` (run it with
``python -m helpers.numpy_nn``) trains the two-digit MNIST classifier and
writes ``numpy_nn_training.png`` and ``numpy_nn_classification.png``; only
that function reaches for matplotlib and the workbook's helpers.

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

__all__ = ["ReLU", "Linear", "Sigmoid", "Tanh", "SE", "main"]


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


def main(argv=None) -> dict:
    """Train the two-digit MNIST classifier and write the two figures the lab asks for.

    ``python -m helpers.numpy_nn --help`` lists the options (digit pair,
    architecture, learning rate, batch size, epochs, output folder). The
    figures go to ``--out`` or, by default, the workbook's output folder.
    Returns a dict with the test accuracy, the history and the figure paths.
    Settings that cannot train (a NaN or negative rate, equal digits, an
    ``--out`` that is a file) exit with status 2 and one line; a run that
    fails (no data, a loss that became NaN) with status 1 and one line,
    before any figure is written.
    """
    import argparse
    from pathlib import Path

    from helpers.paths import OutputClash, output_dir, output_lock, writable_folder_problem
    from helpers.runtime import by_mode, setup

    # Lazy imports: the deliverable itself stays numpy-only.
    from helpers.scratch import binary_mnist as bm

    d = bm.DEFAULT_CONFIG
    parser = argparse.ArgumentParser(prog="python -m helpers.numpy_nn",
                                     description="Train the NumPy network on two MNIST digits and save the figures.")
    parser.add_argument("--digits", type=int, nargs=2, default=list(d["digits"]), metavar=("NEG", "POS"))
    parser.add_argument("--hidden-units", type=int, default=d["hidden_units"])
    parser.add_argument("--depth", type=int, default=d["depth"], help="number of hidden layers")
    parser.add_argument("--activation", choices=bm.ACTIVATIONS, default=d["activation"])
    parser.add_argument("--learning-rate", type=float, default=d["learning_rate"])
    parser.add_argument("--batch-size", type=int, default=d["batch_size"])
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"default: {d['epochs']} (full mode) / {bm.SMOKE_EPOCHS} (smoke mode)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", type=Path, default=None, help="data root (default: $WORKBOOK_DATA, see helpers.data)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: the workbook's outputs/)")
    args = parser.parse_args(argv)

    config = dict(digits=tuple(args.digits), hidden_units=args.hidden_units, depth=args.depth,
                  activation=args.activation, learning_rate=args.learning_rate, batch_size=args.batch_size,
                  epochs=args.epochs if args.epochs is not None else by_mode(full=d["epochs"], smoke=bm.SMOKE_EPOCHS))
    try:
        bm.check_config(config, name=lambda key: "--" + key.replace("_", "-"))
    except ValueError as err:
        parser.error(str(err))
    if not 0 <= args.seed < 2**32:
        parser.error(f"--seed must be in [0, 2**32); got {args.seed}.")
    if args.data_root is not None and args.data_root.exists() and not args.data_root.is_dir():
        parser.error(f"--data-root {args.data_root} is a file; give the folder that holds the data sets.")
    if args.out is not None and (why := writable_folder_problem(args.out)):
        parser.error(f"--out {args.out}: {why}")

    setup(seed=args.seed)
    out = Path(args.out) if args.out is not None else output_dir()
    try:
        with output_lock(out):   # held from the start: a second writer there is refused before any training
            data = bm.load_two_digits(config["digits"], seed=args.seed, root=args.data_root)
            print(f"digits {config['digits']}: {len(data['X_train'])} train, {len(data['X_val'])} val, "
                  f"{len(data['X_test'])} test")
            result = bm.run(config, data, seed=args.seed, verbose=True)
            paths = bm.save_figures(result, data, out)
    except OutputClash as err:
        parser.exit(2, f"{parser.prog}: refused: --out {err}\n")
    except (OSError, ValueError, RuntimeError, FloatingPointError) as err:  # no data, a NaN loss, a full disk
        parser.exit(1, f"{parser.prog}: failed, nothing written: {type(err).__name__}: {err}\n")
    print(f"test accuracy: {result['test_acc']:.4f}")
    for p in paths.values():
        print(f"wrote {p}")
    print(f"and beside them {bm.NETWORK_FILE}, the network they show (collect_submission.sh checks them against it)")
    return {"test_acc": result["test_acc"], "history": result["history"], "paths": paths}


if __name__ == "__main__":
    main()
