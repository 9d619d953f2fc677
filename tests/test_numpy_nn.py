"""Tests of the NumPy layers (helpers/numpy_nn.py, the RPZ deliverable).

- the literal outputs of the RPZ lab's Fashion-MNIST year, to the printed digits;
- numeric gradient checks (float64, central differences) below 1e-8 for every layer and a small stack;
- property tests (hypothesis, random shapes) against PyTorch autograd in float64;
- the shape-error messages;
- the deliverable imports on its own, and its command line (binary_mnist.main) writes both figures.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.numpy_nn import SE, Linear, ReLU, Sigmoid, Tanh
from helpers.scratch.binary_mnist import main
from helpers.scratch.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from tests._checks import assert_outputs_match, by_hand, needs

MODULE = Path(__file__).resolve().parent.parent / "helpers" / "numpy_nn.py"
# The seed prints 8 decimals: agree to half a unit of the last printed digit (plus float noise).
PRINTED = dict(rtol=0, atol=5e-9 + 1e-12)
PRINTED_TOL = dict(tol=PRINTED["atol"], rtol=0)


# Each element-wise layer is its own exercise (helpers/course/exercises.py).
ELEMENTWISE = [pytest.param(ReLU, marks=pytest.mark.relu), pytest.param(Sigmoid, marks=pytest.mark.sigmoid),
               pytest.param(Tanh, marks=pytest.mark.tanh)]


# --- the RPZ lab (Fashion-MNIST year), literally -------------------------------------------------------------------------

def seed_linear():
    input_dim, output_dim, batch_size = 3, 2, 2
    layer = Linear(input_dim, output_dim)
    layer.W = np.linspace(1, -1, input_dim * output_dim).reshape(input_dim, output_dim)
    layer.b = np.linspace(-0.5, 0.5, output_dim).reshape(1, output_dim)
    x = np.linspace(-2, 2, batch_size * input_dim).reshape(batch_size, input_dim)
    dL_wrt_output = np.linspace(1, 2, output_dim * batch_size).reshape(batch_size, output_dim)
    return layer, x, dL_wrt_output


@pytest.mark.linear
def test_seed_linear_forward_backward():
    layer, x, dout = seed_linear()
    out = layer.forward(x)
    dx = layer.backward(dout)
    expected_dW = [[[-2.0, -2.66666667], [-1.2, -1.6], [-0.4, -0.53333333]],
                   [[0.66666667, 0.8], [2.0, 2.4], [3.33333333, 4.0]]]
    assert_outputs_match("the lab's printed example", {
        "out (Linear.forward)": (out, [[-2.5, -0.06], [-1.06, -1.5]]),
        "dL/dx (Linear.backward)": (dx, [[1.8, -0.06666667, -1.93333333], [2.86666667, -0.06666667, -3.0]]),
        "dL_wrt_W (Linear.backward)": (layer.dL_wrt_W, expected_dW),
        "dL_wrt_b (Linear.backward)": (layer.dL_wrt_b, [[[1.0, 1.33333333]], [[1.66666667, 2.0]]]),
    }, **PRINTED_TOL)
    dW, db = layer.grads()
    assert dW is layer.dL_wrt_W and db is layer.dL_wrt_b


@pytest.mark.relu
def test_seed_relu_backward():
    layer = ReLU()
    layer.forward(np.linspace(-1, 1, 9))
    dx = layer.backward(np.linspace(-1, 1, 9))
    # Numerically: a -0. where the gradient is stopped (a product with the mask) is as right as 0.
    assert_outputs_match("the lab's printed example", {"dL/dx (ReLU.backward)": (dx, [0, 0, 0, 0, 0, 0.25, 0.5, 0.75, 1])},
                         **PRINTED_TOL)


@pytest.mark.sigmoid
def test_seed_sigmoid_backward():
    layer = Sigmoid()
    layer.forward(np.linspace(-5, 5, 5))
    dx = layer.backward(np.linspace(-10, 10, 5))
    assert_outputs_match("the lab's printed example", {
        "dL/dx (Sigmoid.backward)": (dx, [-0.06648057, -0.35051858, 0.0, 0.35051858, 0.06648057])}, **PRINTED_TOL)


@pytest.mark.se
def test_seed_se_backward():
    layer = SE()
    x = np.linspace(-5, 5, 9)
    layer.forward(x, 0.5 * x)
    assert_outputs_match("the lab's printed example", {
        "dL/dx (SE.backward)": (layer.backward(), [-5.0, -3.75, -2.5, -1.25, 0.0, 1.25, 2.5, 3.75, 5.0])},
        **PRINTED_TOL)


@pytest.mark.relu
def test_relu_forward_any_rank():
    x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)  # CS231n's relu_forward reference values
    expected = [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.04545455, 0.13636364], [0.22727273, 0.31818182, 0.40909091, 0.5]]
    assert rel_error(ReLU().forward(x), np.array(expected)) < 5e-8
    x4 = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    assert ReLU().forward(x4).shape == x4.shape


@pytest.mark.sigmoid
def test_sigmoid_is_stable_for_large_inputs():
    with np.errstate(over="raise"):  # exp(1000) must not overflow
        out = Sigmoid().forward(np.array([-1000.0, 0.0, 1000.0]))
    assert np.allclose(out, [0.0, 0.5, 1.0])


# --- numeric gradient checks, float64 ------------------------------------------------------------

def away_from_kink(rng, shape):
    """Inputs with |x| >= 0.1, so that +-h never crosses ReLU's kink at 0."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < 0.1, np.sign(x + 1e-12) * 0.1 + x, x)


@pytest.mark.parametrize("layer_cls", ELEMENTWISE)
def test_elementwise_gradient_check(layer_cls):
    rng = np.random.default_rng(1)
    x = away_from_kink(rng, (4, 3, 5))
    dout = rng.standard_normal(x.shape)
    layer = layer_cls()
    layer.forward(x)
    dx = layer.backward(dout)
    dx_num = eval_numerical_gradient_array(lambda v: layer_cls().forward(v), x.copy(), dout)
    assert rel_error(dx, dx_num) < 1e-8


@pytest.mark.linear
def test_linear_gradient_check():
    rng = np.random.default_rng(2)
    batch, d_in, d_out = 4, 5, 3
    layer = Linear(d_in, d_out, rng=rng)
    layer.b = rng.standard_normal((1, d_out))
    x, dout = rng.standard_normal((batch, d_in)), rng.standard_normal((batch, d_out))
    layer.forward(x)
    dx = layer.backward(dout)
    dW, db = layer.grads()

    def out_with(W=None, b=None):
        probe = Linear(d_in, d_out)
        probe.W = layer.W if W is None else W
        probe.b = layer.b if b is None else b
        return probe

    assert rel_error(dx, eval_numerical_gradient_array(lambda v: out_with().forward(v), x.copy(), dout)) < 1e-8
    # The per-sample gradients summed over the batch are the gradient of the batch's sum ...
    dW_num = eval_numerical_gradient_array(lambda W: out_with(W=W).forward(x), layer.W.copy(), dout)
    db_num = eval_numerical_gradient_array(lambda b: out_with(b=b).forward(x), layer.b.copy(), dout)
    assert rel_error(dW.sum(axis=0), dW_num) < 1e-8
    assert rel_error(db.sum(axis=0), db_num) < 1e-8
    # ... and each one is the gradient of its own sample alone.
    for n in range(batch):
        dW_n = eval_numerical_gradient_array(lambda W, n=n: out_with(W=W).forward(x[n:n + 1]), layer.W.copy(), dout[n:n + 1])
        assert rel_error(dW[n], dW_n) < 1e-8


@pytest.mark.se
def test_se_gradient_check():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((6, 2)), rng.standard_normal((6, 2))
    layer = SE()
    layer.forward(x, y)
    dx_num = eval_numerical_gradient(lambda v: SE().forward(v, y).sum(), x.copy())
    assert rel_error(layer.backward(), dx_num) < 1e-8


@pytest.fixture(scope="module")
def earlier_layers_written():
    """The stack runs Linear, ReLU and Sigmoid, earlier exercises: their own checks first."""
    needs("linear", test_seed_linear_forward_backward, test_linear_gradient_check)
    needs("relu", test_seed_relu_backward, lambda: test_elementwise_gradient_check(ReLU))
    needs("sigmoid", test_seed_sigmoid_backward, lambda: test_elementwise_gradient_check(Sigmoid))


@pytest.mark.se
def test_stack_gradient_check(earlier_layers_written):
    """Linear -> ReLU -> Linear -> Sigmoid -> SE (summed): gradients w.r.t. the input and both weight matrices."""
    rng = np.random.default_rng(4)
    l1, l2 = Linear(5, 4, rng=rng), Linear(4, 1, rng=rng)
    layers = [l1, ReLU(), l2, Sigmoid()]
    x, y = rng.standard_normal((7, 5)), rng.uniform(size=(7, 1))

    def loss(inputs):
        out = inputs
        for layer in layers:
            out = layer.forward(out)
        return SE().forward(out, y).sum()

    # pre-activations well away from ReLU's kink at this seed, so +-h never crosses it
    assert np.min(np.abs(x @ l1.W + l1.b)) > 1e-3
    dx_num = eval_numerical_gradient(loss, x.copy())
    dW1_num = eval_numerical_gradient(lambda _: loss(x), l1.W)
    dW2_num = eval_numerical_gradient(lambda _: loss(x), l2.W)

    out = x
    for layer in layers:
        out = layer.forward(out)
    se = SE()
    se.forward(out, y)
    grad = se.backward()
    for layer in reversed(layers):
        grad = layer.backward(grad)
    # Four layers deep, the round-off of f(x+h) - f(x-h) is larger relative to the smallest
    # gradient entries (saturated sigmoids): ~1e-8 here, so the stack gets 1e-7 (layers alone: 1e-8).
    assert rel_error(grad, dx_num) < 1e-7
    assert rel_error(l1.grads()[0].sum(axis=0), dW1_num) < 1e-7
    assert rel_error(l2.grads()[0].sum(axis=0), dW2_num) < 1e-7


# --- property tests against PyTorch autograd (float64, random shapes) -----------------------------

shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)
seeds = st.integers(0, 2**32 - 1)
SETTINGS = settings(max_examples=30, deadline=None)
TORCH_ELEMENTWISE = {ReLU: torch.relu, Sigmoid: torch.sigmoid, Tanh: torch.tanh}


def torch_grads(f, *arrays, dout):
    tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    out = f(*tensors)
    out.backward(torch.tensor(dout, dtype=torch.float64))
    return out.detach().numpy(), [t.grad.numpy() for t in tensors]


@pytest.mark.parametrize("layer_cls", ELEMENTWISE)
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_elementwise_matches_torch(layer_cls, shape, seed):
    rng = np.random.default_rng(seed)
    x, dout = 3 * rng.standard_normal(shape), rng.standard_normal(shape)
    layer = layer_cls()
    out = layer.forward(x)
    dx = layer.backward(dout)
    t_out, (t_dx,) = torch_grads(TORCH_ELEMENTWISE[layer_cls], x, dout=dout)
    name = layer_cls.__name__
    assert_outputs_match("compared with PyTorch", {f"out ({name}.forward)": (out, t_out),
                                                   f"dL/dx ({name}.backward)": (dx, t_dx)}, tol=1e-12)


@pytest.mark.linear
@SETTINGS
@given(batch=st.integers(1, 6), d_in=st.integers(1, 7), d_out=st.integers(1, 7), seed=seeds)
def test_linear_matches_torch(batch, d_in, d_out, seed):
    rng = np.random.default_rng(seed)
    layer = Linear(d_in, d_out, rng=rng)
    layer.b = rng.standard_normal((1, d_out))
    x, dout = rng.standard_normal((batch, d_in)), rng.standard_normal((batch, d_out))
    out = layer.forward(x)
    dx = layer.backward(dout)
    dW, db = layer.grads()
    t_out, (t_dx, t_dW, t_db) = torch_grads(torch.nn.functional.linear, x, layer.W.T, layer.b, dout=dout)
    assert dW.shape == (batch, d_in, d_out) and db.shape == (batch, 1, d_out), (dW.shape, db.shape)
    # per sample: autograd on sample n alone
    n = int(rng.integers(batch))
    _, (_, t_dW_n, t_db_n) = torch_grads(torch.nn.functional.linear, x[n:n + 1], layer.W.T, layer.b, dout=dout[n:n + 1])
    assert_outputs_match("compared with PyTorch", {
        "out (Linear.forward)": (out, t_out), "dL/dx (Linear.backward)": (dx, t_dx),
        "dL_wrt_W summed over the batch (Linear.backward)": (dW.sum(axis=0), t_dW.T),
        "dL_wrt_b summed over the batch (Linear.backward)": (db.sum(axis=0), t_db),
        f"dL_wrt_W[{n}] (Linear.backward)": (dW[n], t_dW_n.T), f"dL_wrt_b[{n}] (Linear.backward)": (db[n], t_db_n),
    }, tol=1e-12)


@pytest.mark.se
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_se_matches_torch(shape, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(shape), rng.standard_normal(shape)
    layer = SE()
    out = layer.forward(x, y)
    t_out, (t_dx,) = torch_grads(lambda x_: (x_ - torch.tensor(y)) ** 2, x, dout=np.ones(shape))
    assert_outputs_match("compared with PyTorch", {"out (SE.forward)": (out, t_out),
                                                   "dL/dx (SE.backward)": (layer.backward(), t_dx)}, tol=1e-12)
    # SE against torch's own loss: the mean of the element-wise loss is F.mse_loss
    assert np.isclose(out.mean(), torch.nn.functional.mse_loss(torch.tensor(x), torch.tensor(y)).item(), rtol=1e-12)


@pytest.mark.parametrize("make", [pytest.param(lambda: Linear(3, 2), marks=pytest.mark.linear, id="Linear"),
                                  pytest.param(ReLU, marks=pytest.mark.relu, id="ReLU"),
                                  pytest.param(Sigmoid, marks=pytest.mark.sigmoid, id="Sigmoid"),
                                  pytest.param(SE, marks=pytest.mark.se, id="SE"),
                                  pytest.param(Tanh, marks=pytest.mark.tanh, id="Tanh")])
def test_layers_are_written_in_numpy(make):
    """The lab's point is back-propagation by hand: no torch (its autograd), no scipy (its expit) inside."""
    layer, x = make(), np.random.default_rng(5).standard_normal((4, 3))
    name = type(layer).__name__
    if isinstance(layer, SE):
        by_hand(f"{name}.forward", lambda: layer.forward(x, 0.5 * x))
        by_hand(f"{name}.backward", layer.backward)
        return
    out = by_hand(f"{name}.forward", lambda: layer.forward(x))
    by_hand(f"{name}.backward", lambda: layer.backward(np.ones_like(out)))


# --- shape errors --------------------------------------------------------------------------------

@pytest.mark.linear
def test_linear_forward_wrong_shape():
    layer = Linear(3, 2)
    with pytest.raises(ValueError, match=re.escape("expected shape (batch, input_dim) = (batch, 3), got (2, 4)")):
        layer.forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=re.escape("got (3,)")):
        layer.forward(np.zeros(3))  # one sample must still be a (1, 3) batch


@pytest.mark.linear
def test_linear_backward_wrong_shape():
    layer = Linear(3, 2)
    layer.forward(np.zeros((5, 3)))
    with pytest.raises(ValueError, match=re.escape("expected shape (batch, output_dim) = (5, 2), got (5,)")):
        layer.backward(np.zeros(5))


@pytest.mark.linear
def test_linear_parameters_wrong_shape():
    layer = Linear(3, 2)
    layer.W = np.zeros((2, 3))  # transposed: the classic mistake
    with pytest.raises(ValueError, match=re.escape("Linear.W: expected shape (input_dim, output_dim) = (3, 2), got (2, 3)")):
        layer.forward(np.zeros((1, 3)))
    layer = Linear(3, 2)
    layer.b = np.zeros(2)
    with pytest.raises(ValueError, match=re.escape("Linear.b: expected shape (1, output_dim) = (1, 2), got (2,)")):
        layer.forward(np.zeros((1, 3)))


@pytest.mark.parametrize("layer_cls", ELEMENTWISE)
def test_elementwise_backward_wrong_shape(layer_cls):
    layer = layer_cls()
    layer.forward(np.zeros((4, 1)))
    with pytest.raises(ValueError, match=re.escape("expected shape (4, 1) (the forward input's), got (4,)")):
        layer.backward(np.zeros(4))


@pytest.mark.se
def test_se_target_shape_mismatch():
    # (batch,) targets against (batch, 1) predictions would broadcast to (batch, batch)
    with pytest.raises(ValueError, match=re.escape("expected shape (4, 1) (the shape of x), got (4,)")):
        SE().forward(np.zeros((4, 1)), np.zeros(4))


# Every case also calls SE().backward(): the exercise SE, or Tanh's, which comes after it.
@pytest.mark.parametrize("layer", [pytest.param(ReLU(), marks=pytest.mark.se), pytest.param(Sigmoid(), marks=pytest.mark.se),
                                   pytest.param(Tanh(), marks=pytest.mark.tanh),
                                   pytest.param(Linear(2, 2), marks=pytest.mark.se)])
def test_backward_before_forward(layer):
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros((1, 2)))
    with pytest.raises(RuntimeError, match="before forward"):
        SE().backward()


@pytest.mark.linear
def test_linear_grads_before_backward():
    with pytest.raises(RuntimeError, match="before backward"):
        Linear(2, 2).grads()


# --- the deliverable file ------------------------------------------------------------------------

def test_deliverable_imports_alone_with_numpy_only(tmp_path):
    """As the upload system does: numpy_nn.py alone in a folder, no workbook on the path."""
    shutil.copy(MODULE, tmp_path / "numpy_nn.py")
    code = ("import sys, numpy_nn\n"
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'matplotlib', 'helpers', 'scipy'})\n"
            "print(heavy, [n for n in ('ReLU', 'Linear', 'Sigmoid', 'SE') if hasattr(numpy_nn, n)])")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ""}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] ['ReLU', 'Linear', 'Sigmoid', 'SE']"


def assert_png(path):
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path


def test_main_writes_both_figures(tmp_path, capsys):
    result = main(["--out", str(tmp_path), "--epochs", "2", "--hidden-units", "16"])
    made = {"numpy_nn_training.png", "numpy_nn_classification.png", "numpy_nn_network.npz"}
    assert {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")} == made | {
        name + ".provenance.json" for name in made}
    for key in ("training", "classification"):
        assert_png(result["paths"][key])
    assert len(result["history"]["val_acc"]) == 2
    # smoke data, 2 epochs: still far better than chance on two digits
    assert result["test_acc"] > 0.8
    assert "test accuracy" in capsys.readouterr().out


def test_module_runs_from_command_line():
    """``python -m helpers.numpy_nn`` reaches the command line (a full run is test_main_writes_both_figures)."""
    repo = MODULE.parent.parent
    result = subprocess.run([sys.executable, "-m", "helpers.numpy_nn", "--help"], cwd=repo, capture_output=True,
                            text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(repo)})
    assert result.returncode == 0, result.stderr
    for option in ("--digits", "--hidden-units", "--depth", "--activation", "--learning-rate", "--batch-size",
                   "--epochs", "--out"):
        assert option in result.stdout
