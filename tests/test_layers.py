"""helpers.scratch.layers against PyTorch autograd (float64, 1e-9), the published CS231n values, numeric gradients and bad input."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from helpers.scratch import layers as L
from helpers.scratch.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from tests._checks import assert_outputs_match, by_hand, needs

TOL = 1e-9
PROPERTY = settings(max_examples=25, deadline=None)


def assert_close(actual, expected, tol=TOL):
    """Elementwise |actual - expected| <= tol * (1 + |expected|): relative for large values, absolute near 0."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)


def t64(a, grad=True):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def assert_matches_torch(forward: str, backward: str, ours: tuple, theirs: tuple, names=("out", "dx", "dw", "db"),
                         tol=TOL):
    """Each output of ``forward`` (the first) and of ``backward`` against PyTorch's, named in the failure."""
    labels = [f"{name} ({forward if i == 0 else backward})" for i, name in enumerate(names)]
    assert_outputs_match("compared with PyTorch", dict(zip(labels, zip(ours, theirs))), tol)


# What the workbook gives beside the naive layers: the fast versions, which the naive ones must not call.
FAST = (L.conv_forward_fast, L.conv_backward_fast, L._conv_windows, L.max_pool_forward_fast, L.max_pool_backward_fast,
        L._pool_offsets, L.conv_relu_forward, L.conv_relu_backward, L.conv_relu_pool_forward, L.conv_relu_pool_backward)


# --------------------------------------------------------------------------- #
# Convolution
# --------------------------------------------------------------------------- #

@st.composite
def conv_case(draw, even_output=False):
    """A valid convolution: shapes, stride and pad chosen so that the windows tile the padded input.

    With ``even_output`` the output height and width are even, so that 2x2 pooling can follow.
    """
    N, C, F = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    HH, WW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride, pad = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    sizes = st.sampled_from([2, 4]) if even_output else st.integers(1, 4)
    H_out, W_out = draw(sizes), draw(sizes)
    H, W = (H_out - 1) * stride + HH - 2 * pad, (W_out - 1) * stride + WW - 2 * pad
    assume(H >= 1 and W >= 1)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((F, C, HH, WW))
    b = rng.standard_normal(F)
    dout = rng.standard_normal((N, F, H_out, W_out))
    return x, w, b, {"stride": stride, "pad": pad}, dout


def torch_conv(x, w, b, conv_param, dout):
    xt, wt, bt = t64(x), t64(w), t64(b)
    out = TF.conv2d(xt, wt, bt, stride=conv_param["stride"], padding=conv_param["pad"])
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


@pytest.mark.parametrize("forward, backward", [
    pytest.param(L.conv_forward_naive, L.conv_backward_naive, marks=pytest.mark.conv_naive),
    (L.conv_forward_fast, L.conv_backward_fast),
], ids=["naive", "fast"])
@PROPERTY
@given(case=conv_case())
def test_conv_matches_torch(forward, backward, case):
    x, w, b, conv_param, dout = case
    out, cache = forward(x, w, b, conv_param)
    dx, dw, db = backward(dout, cache)
    assert_matches_torch(forward.__name__, backward.__name__, (out, dx, dw, db), torch_conv(x, w, b, conv_param, dout))


@pytest.mark.conv_naive
def test_conv_naive_is_written_by_hand():
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2)
    conv_param = {"stride": 2, "pad": 1}
    _, cache = by_hand("conv_forward_naive", lambda: L.conv_forward_naive(x, w, b, conv_param), FAST)
    by_hand("conv_backward_naive", lambda: L.conv_backward_naive(rng.standard_normal((2, 2, 3, 3)), cache), FAST)


@pytest.mark.conv_naive
def test_conv_forward_reference_values():
    # CS231n's published expected output of conv_forward_naive (relative error ~2e-8).
    x = np.linspace(-0.1, 0.5, num=2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    w = np.linspace(-0.2, 0.3, num=3 * 3 * 4 * 4).reshape(3, 3, 4, 4)
    b = np.linspace(-0.1, 0.2, num=3)
    correct_out = np.array([[[[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
                             [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
                             [[0.50813986, 0.54309974], [0.64082444, 0.67101435]]],
                            [[[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
                             [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
                             [[2.36270298, 2.36904306], [2.38090835, 2.38247847]]]])
    for forward in (L.conv_forward_naive, L.conv_forward_fast):
        out, _ = forward(x, w, b, {"stride": 2, "pad": 1})
        assert rel_error(out, correct_out) < 1e-7


@pytest.mark.conv_naive
def test_conv_backward_naive_numeric_gradient():
    rng = np.random.default_rng(231)
    x, w, b = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2)
    dout = rng.standard_normal((2, 2, 5, 5))
    conv_param = {"stride": 1, "pad": 1}
    dx, dw, db = L.conv_backward_naive(dout, L.conv_forward_naive(x, w, b, conv_param)[1])
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: L.conv_forward_naive(v, w, b, conv_param)[0], x, dout)) < 1e-8
    assert rel_error(dw, eval_numerical_gradient_array(lambda v: L.conv_forward_naive(x, v, b, conv_param)[0], w, dout)) < 1e-8
    assert rel_error(db, eval_numerical_gradient_array(lambda v: L.conv_forward_naive(x, w, v, conv_param)[0], b, dout)) < 1e-8


@pytest.mark.conv_naive
def test_conv_fast_keeps_float32():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = np.zeros(4, np.float32)
    out, cache = L.conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    dx, dw, db = L.conv_backward_fast(np.ones_like(out), cache)
    assert {a.dtype for a in (out, dx, dw, db)} == {np.dtype(np.float32)}
    assert out.flags.c_contiguous and dx.flags.c_contiguous  # plain arrays the next layer can reshape for free
    ref, _ = L.conv_forward_naive(x.astype(np.float64), w.astype(np.float64), b, {"stride": 1, "pad": 1})
    assert rel_error(out, ref) < 1e-4


@pytest.mark.parametrize("forward", [pytest.param(L.conv_forward_naive, marks=pytest.mark.conv_naive), L.conv_forward_fast])
@pytest.mark.parametrize("x_shape, w_shape, conv_param, words", [
    ((2, 3, 6, 6), (4, 3, 3, 3), {"stride": 2, "pad": 0}, "do not tile"),      # 6 - 3 = 3 not divisible by 2
    ((2, 3, 5, 6), (4, 3, 2, 2), {"stride": 2, "pad": 1}, "do not tile"),      # H tiles, W does not
    ((2, 3, 6, 6), (4, 2, 3, 3), {"stride": 1, "pad": 1}, "channels"),
    ((2, 3, 2, 2), (4, 3, 5, 5), {"stride": 1, "pad": 0}, "larger than the padded input"),
    ((2, 3, 6, 6), (4, 3, 3, 3), {"stride": 1}, "'stride' and 'pad'"),
    ((2, 3, 6, 6), (4, 3, 3, 3), {"stride": 0, "pad": 1}, "stride >= 1"),
])
def test_conv_bad_parameters_raise(forward, x_shape, w_shape, conv_param, words):
    x, w, b = np.zeros(x_shape), np.zeros(w_shape), np.zeros(w_shape[0])
    with pytest.raises(ValueError, match=words) as info:
        forward(x, w, b, conv_param)
    if words == "do not tile":
        assert str(x_shape) in str(info.value) and str(w_shape) in str(info.value)


# --------------------------------------------------------------------------- #
# Max pooling
# --------------------------------------------------------------------------- #

@st.composite
def pool_case(draw, tiling=False, ties=False):
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    if tiling:
        ph = pw = stride = draw(st.integers(1, 3))
    else:
        ph, pw, stride = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H_out, W_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    H, W = (H_out - 1) * stride + ph, (W_out - 1) * stride + pw
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # With ties, few distinct values: windows often hold several equal maxima.
    x = rng.integers(0, 3, (N, C, H, W)).astype(np.float64) if ties else rng.standard_normal((N, C, H, W))
    dout = rng.standard_normal((N, C, H_out, W_out))
    return x, {"pool_height": ph, "pool_width": pw, "stride": stride}, dout


def torch_pool(x, pool_param, dout):
    xt = t64(x)
    out = TF.max_pool2d(xt, (pool_param["pool_height"], pool_param["pool_width"]), stride=pool_param["stride"])
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), xt.grad.numpy()


POOLS = pytest.mark.parametrize("forward, backward", [
    pytest.param(L.max_pool_forward_naive, L.max_pool_backward_naive, marks=pytest.mark.max_pool_naive),
    (L.max_pool_forward_fast, L.max_pool_backward_fast),
], ids=["naive", "fast"])


def check_pool_against_torch(forward, backward, case):
    """Forward and backward of a max-pool implementation equal torch's on ``case``."""
    x, pool_param, dout = case
    out, cache = forward(x, pool_param)
    assert_matches_torch(forward.__name__, backward.__name__, (out, backward(dout, cache)),
                         torch_pool(x, pool_param, dout), names=("out", "dx"))


@pytest.mark.max_pool_naive
def test_max_pool_naive_is_written_by_hand():
    x = np.random.default_rng(8).standard_normal((2, 3, 4, 6))
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = by_hand("max_pool_forward_naive", lambda: L.max_pool_forward_naive(x, pool_param), FAST)
    by_hand("max_pool_backward_naive", lambda: L.max_pool_backward_naive(np.ones_like(out), cache), FAST)


@POOLS
@PROPERTY
@given(case=pool_case())
def test_max_pool_matches_torch(forward, backward, case):
    check_pool_against_torch(forward, backward, case)


@POOLS
@PROPERTY
@given(case=pool_case(tiling=True))
def test_max_pool_tiling_matches_torch(forward, backward, case):
    # pool_height == pool_width == stride: the reshape path of the fast version.
    check_pool_against_torch(forward, backward, case)


@POOLS
@PROPERTY
@given(case=pool_case(ties=True))
def test_max_pool_ties_go_to_first_maximum_like_torch(forward, backward, case):
    check_pool_against_torch(forward, backward, case)


def test_max_pool_fast_reshape_path_on_a_non_contiguous_input():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 8, 4)).transpose(0, 1, 3, 2)  # (2, 3, 4, 8), not C-contiguous
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    dout = rng.standard_normal((2, 3, 2, 4))
    out, cache = L.max_pool_forward_fast(x, pool_param)
    t_out, t_dx = torch_pool(np.ascontiguousarray(x), pool_param, dout)
    assert_close(out, t_out)
    assert_close(L.max_pool_backward_fast(dout, cache), t_dx)


@pytest.mark.max_pool_naive
def test_max_pool_forward_reference_values():
    # CS231n's published expected output of max_pool_forward_naive (relative error ~4e-8).
    x = np.linspace(-0.3, 0.4, num=2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    correct_out = np.array([[[[-0.26315789, -0.24842105], [-0.20421053, -0.18947368]],
                             [[-0.14526316, -0.13052632], [-0.08631579, -0.07157895]],
                             [[-0.02736842, -0.01263158], [0.03157895, 0.04631579]]],
                            [[[0.09052632, 0.10526316], [0.14947368, 0.16421053]],
                             [[0.20842105, 0.22315789], [0.26736842, 0.28210526]],
                             [[0.32631579, 0.34105263], [0.38526316, 0.4]]]])
    for forward in (L.max_pool_forward_naive, L.max_pool_forward_fast):
        out, _ = forward(x, {"pool_width": 2, "pool_height": 2, "stride": 2})
        assert rel_error(out, correct_out) < 1e-7


@pytest.mark.max_pool_naive
def test_max_pool_backward_naive_numeric_gradient():
    x = np.random.default_rng(1).standard_normal((3, 2, 8, 8))
    dout = np.random.default_rng(2).standard_normal((3, 2, 4, 4))
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    dx_num = eval_numerical_gradient_array(lambda v: L.max_pool_forward_naive(v, pool_param)[0], x, dout)
    dx = L.max_pool_backward_naive(dout, L.max_pool_forward_naive(x, pool_param)[1])
    assert rel_error(dx, dx_num) < 1e-8


@pytest.mark.parametrize("forward", [pytest.param(L.max_pool_forward_naive, marks=pytest.mark.max_pool_naive), L.max_pool_forward_fast])
@pytest.mark.parametrize("x_shape, pool_param, words", [
    ((2, 3, 5, 4), {"pool_height": 2, "pool_width": 2, "stride": 2}, "do not tile"),
    ((2, 3, 4, 7), {"pool_height": 3, "pool_width": 3, "stride": 2}, "do not tile"),
    ((2, 3, 2, 2), {"pool_height": 3, "pool_width": 2, "stride": 1}, "larger than the input"),
    ((2, 3, 4, 4), {"pool_height": 2, "stride": 2}, "pool_width"),
    ((3, 4, 4), {"pool_height": 2, "pool_width": 2, "stride": 2}, r"\(N, C, H, W\)"),
])
def test_max_pool_bad_parameters_raise(forward, x_shape, pool_param, words):
    with pytest.raises(ValueError, match=words) as info:
        forward(np.zeros(x_shape), pool_param)
    if words == "do not tile":
        assert str(x_shape) in str(info.value)


# --------------------------------------------------------------------------- #
# Affine, ReLU, softmax
# --------------------------------------------------------------------------- #

@pytest.mark.affine
@PROPERTY
@given(N=st.integers(1, 4), dims=st.lists(st.integers(1, 4), min_size=1, max_size=3), M=st.integers(1, 5),
       seed=st.integers(0, 2**32 - 1))
def test_affine_matches_torch(N, dims, M, seed):
    check_affine_against_torch(N, dims, M, seed)


def check_affine_against_torch(N, dims, M, seed):
    rng = np.random.default_rng(seed)
    D = int(np.prod(dims))
    x, w, b = rng.standard_normal((N, *dims)), rng.standard_normal((D, M)), rng.standard_normal(M)
    dout = rng.standard_normal((N, M))
    out, cache = L.affine_forward(x, w, b)
    dx, dw, db = L.affine_backward(dout, cache)
    xt, wt, bt = t64(x), t64(w), t64(b)
    t_out = TF.linear(xt.flatten(1), wt.T, bt)
    t_out.backward(torch.tensor(dout))
    theirs = [t.detach().numpy() for t in (t_out, xt.grad, wt.grad, bt.grad)]
    assert_matches_torch("affine_forward", "affine_backward", (out, dx, dw, db), theirs)


@pytest.mark.affine
def test_affine_forward_reference_values():
    num_inputs, input_shape, output_dim = 2, (4, 5, 6), 3
    x = np.linspace(-0.1, 0.5, num=num_inputs * np.prod(input_shape)).reshape(num_inputs, *input_shape)
    w = np.linspace(-0.2, 0.3, num=np.prod(input_shape) * output_dim).reshape(np.prod(input_shape), output_dim)
    b = np.linspace(-0.3, 0.1, num=output_dim)
    correct_out = np.array([[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.5141327, 3.77273342]])
    out, _ = L.affine_forward(x, w, b)
    assert rel_error(out, correct_out) < 1e-8


@pytest.mark.parametrize("exercise, run", [
    pytest.param("affine", lambda x, dout, y: L.affine_backward(dout, L.affine_forward(x, np.ones((12, 4)), np.zeros(4))[1]),
                 marks=pytest.mark.affine),
    pytest.param("relu_layer", lambda x, dout, y: L.relu_backward(dout, L.relu_forward(x)[1]), marks=pytest.mark.relu_layer),
    pytest.param("softmax_loss", lambda x, dout, y: L.softmax_loss(dout, y), marks=pytest.mark.softmax_loss),
])
def test_layers_are_written_in_numpy(exercise, run):
    rng = np.random.default_rng(9)
    x, dout, y = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4)), np.array([1, 3])
    by_hand(exercise, lambda: run(x if exercise == "affine" else dout, dout, y))


@pytest.mark.affine
def test_affine_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"D = 6"):
        L.affine_forward(np.zeros((2, 2, 3)), np.zeros((5, 4)), np.zeros(4))
    with pytest.raises(ValueError, match=r"b \(M,\)"):
        L.affine_forward(np.zeros((2, 6)), np.zeros((6, 4)), np.zeros(3))


@pytest.mark.relu_layer
@PROPERTY
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), seed=st.integers(0, 2**32 - 1))
def test_relu_matches_torch(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    x[rng.random(shape) < 0.2] = 0.0  # exact zeros: the gradient there is 0, as in torch
    dout = rng.standard_normal(shape)
    out, cache = L.relu_forward(x)
    xt = t64(x)
    t_out = torch.relu(xt)
    t_out.backward(torch.tensor(dout))
    assert_matches_torch("relu_forward", "relu_backward", (out, L.relu_backward(dout, cache)),
                         (t_out.detach().numpy(), xt.grad.numpy()), names=("out", "dx"))


@pytest.mark.relu_layer
def test_relu_forward_reference_values():
    x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
    correct_out = np.array([[0., 0., 0., 0.], [0., 0., 0.04545455, 0.13636364], [0.22727273, 0.31818182, 0.40909091, 0.5]])
    out, _ = L.relu_forward(x)
    assert rel_error(out, correct_out) < 1e-7


@pytest.mark.softmax_loss
@PROPERTY
@given(N=st.integers(1, 6), C=st.integers(2, 8), scale=st.sampled_from([1.0, 10.0, 1000.0]), seed=st.integers(0, 2**32 - 1))
def test_softmax_loss_matches_torch(N, C, scale, seed):
    rng = np.random.default_rng(seed)
    x = scale * rng.standard_normal((N, C))  # large scores: the shift keeps exp() finite
    y = rng.integers(0, C, N)
    loss, dx = L.softmax_loss(x, y)
    xt = t64(x)
    t_loss = TF.cross_entropy(xt, torch.tensor(y))
    t_loss.backward()
    assert_outputs_match("compared with PyTorch", {"loss (softmax_loss)": (loss, t_loss.item()),
                                                   "dx (softmax_loss)": (dx, xt.grad.numpy())}, TOL)


@pytest.mark.softmax_loss
def test_softmax_loss_numeric_gradient_and_chance_level():
    rng = np.random.default_rng(0)
    x, y = 0.001 * rng.standard_normal((50, 10)), rng.integers(10, size=50)
    loss, dx = L.softmax_loss(x, y)
    assert abs(loss - np.log(10)) < 1e-2  # small random scores: about -log(1/10)
    dx_num = eval_numerical_gradient(lambda v: L.softmax_loss(v, y)[0], x, h=1e-5)
    assert rel_error(dx, dx_num) < 1e-7


@pytest.mark.softmax_loss
def test_softmax_loss_bad_input_raises():
    with pytest.raises(ValueError, match=r"\(N,\) = \(3,\)"):
        L.softmax_loss(np.zeros((3, 4)), np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        L.softmax_loss(np.zeros((3, 4)), np.array([0, 1, 4]))
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        L.softmax_loss(np.zeros(3), np.zeros(3, dtype=int))


# --------------------------------------------------------------------------- #
# Sandwich layers
# --------------------------------------------------------------------------- #

@pytest.mark.relu_layer
@PROPERTY
@given(case=conv_case(even_output=True), seed=st.integers(0, 2**32 - 1))
def test_conv_relu_pool_matches_torch(case, seed):
    x, w, b, conv_param, _ = case
    N, F, H_out, W_out = L.conv_output_shape(x.shape, w.shape, conv_param)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    dout = np.random.default_rng(seed).standard_normal((N, F, H_out // 2, W_out // 2))
    out, cache = L.conv_relu_pool_forward(x, w, b, conv_param, pool_param)
    grads = L.conv_relu_pool_backward(dout, cache)
    xt, wt, bt = t64(x), t64(w), t64(b)
    t_out = TF.max_pool2d(torch.relu(TF.conv2d(xt, wt, bt, stride=conv_param["stride"], padding=conv_param["pad"])), 2, 2)
    t_out.backward(torch.tensor(dout))
    assert_matches_torch("conv_relu_pool_forward", "conv_relu_pool_backward", (out, *grads), [t.detach().numpy() for t in (t_out, xt.grad, wt.grad, bt.grad)])


@pytest.mark.relu_layer
@PROPERTY
@given(case=conv_case())
def test_conv_relu_matches_torch(case):
    x, w, b, conv_param, dout = case
    out, cache = L.conv_relu_forward(x, w, b, conv_param)
    grads = L.conv_relu_backward(dout, cache)
    xt, wt, bt = t64(x), t64(w), t64(b)
    t_out = torch.relu(TF.conv2d(xt, wt, bt, stride=conv_param["stride"], padding=conv_param["pad"]))
    t_out.backward(torch.tensor(dout))
    assert_matches_torch("conv_relu_forward", "conv_relu_backward", (out, *grads), [t.detach().numpy() for t in (t_out, xt.grad, wt.grad, bt.grad)])


@pytest.fixture(scope="module")
def affine_written():
    """The affine-ReLU sandwich runs affine, an earlier exercise: its own checks first."""
    needs("affine", test_affine_forward_reference_values, lambda: check_affine_against_torch(3, [2, 3], 4, seed=0))


@pytest.mark.relu_layer
@PROPERTY
@given(N=st.integers(1, 4), D=st.integers(1, 6), M=st.integers(1, 5), seed=st.integers(0, 2**32 - 1))
def test_affine_relu_matches_torch(affine_written, N, D, M, seed):
    rng = np.random.default_rng(seed)
    x, w, b, dout = rng.standard_normal((N, D)), rng.standard_normal((D, M)), rng.standard_normal(M), rng.standard_normal((N, M))
    out, cache = L.affine_relu_forward(x, w, b)
    grads = L.affine_relu_backward(dout, cache)
    xt, wt, bt = t64(x), t64(w), t64(b)
    t_out = torch.relu(xt @ wt + bt)
    t_out.backward(torch.tensor(dout))
    assert_matches_torch("affine_relu_forward", "affine_relu_backward", (out, *grads), [t.detach().numpy() for t in (t_out, xt.grad, wt.grad, bt.grad)])
