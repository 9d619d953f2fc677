"""The NumPy wing refuses what it cannot compute right, in one line naming the argument and what it expects.

One table: each of CS231n's layers (``helpers.scratch.layers``) and the classifiers against integer
arrays whose sums would wrap (uint8: 1800 becomes 8), lists, empty batches, the cache of another
layer, a ``dout`` of the wrong shape and float labels. Before, these gave NumPy's or Python's own
words from deep inside (``AttributeError``, ``IndexError``, a reshape error, ``ZeroDivisionError``)
or, worse, a wrong answer. Then: a NaN or infinite loss stops the NumPy network's training before
any hand-in figure is written.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers.scratch import layers as L

RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 3, 4, 4))
W = RNG.standard_normal((2, 3, 3, 3))
B = np.zeros(2)
CONV = {"stride": 1, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}
U8 = np.full((1, 1, 3, 3), 200, dtype=np.uint8)   # 9 products of 200 * 1: 1800, which uint8 wraps to 8


def _cache(forward, *args):
    return forward(*args)[1]


CASES = [
    # integer inputs whose sums would wrap
    ("conv-fast-uint8", lambda: L.conv_forward_fast(U8, np.ones((1, 1, 3, 3), np.uint8), np.zeros(1, np.uint8),
                                                    {"stride": 1, "pad": 0}),
     TypeError, r"conv_forward_fast: the inputs are all integer arrays \(uint8, uint8, uint8\)"),
    ("conv-naive-uint8", lambda: L.conv_forward_naive(U8, np.ones((1, 1, 3, 3), np.uint8), np.zeros(1, np.uint8),
                                                      {"stride": 1, "pad": 0}),
     TypeError, "conv_forward_naive: the inputs are all integer arrays"),
    ("affine-uint8", lambda: L.affine_forward(np.full((1, 9), 200, np.uint8), np.ones((9, 1), np.uint8),
                                              np.zeros(1, np.uint8)),
     TypeError, "affine_forward: the inputs are all integer arrays"),
    # lists
    ("conv-list", lambda: L.conv_forward_fast(X.tolist(), W, B, CONV), TypeError,
     r"conv_forward_fast: x must be a NumPy array of shape \(N, C, H, W\); got a list"),
    ("affine-list-w", lambda: L.affine_forward(np.ones((2, 3)), [[1.0]] * 3, np.zeros(1)), TypeError,
     r"affine_forward: w must be a NumPy array of shape \(D, M\); got a list"),
    ("relu-list", lambda: L.relu_forward([1.0, -1.0]), TypeError, "relu_forward: x must be a NumPy array"),
    ("pool-list", lambda: L.max_pool_forward_fast(X.tolist(), POOL), TypeError,
     "max_pool_forward_fast: x must be a NumPy array"),
    ("softmax-list", lambda: L.softmax_loss([[1.0, 2.0]], np.array([0])), TypeError,
     r"softmax_loss: x must be a NumPy array of shape \(N, C\)"),
    # empty batches
    ("conv-empty", lambda: L.conv_forward_fast(X[:0], W, B, CONV), ValueError,
     r"conv_forward_fast: x must hold at least one example, shape \(N, C, H, W\); got shape \(0, 3, 4, 4\)"),
    ("affine-empty", lambda: L.affine_forward(np.ones((0, 3)), np.ones((3, 2)), np.zeros(2)), ValueError,
     "affine_forward: x must hold at least one example"),
    ("pool-empty", lambda: L.max_pool_forward_naive(X[:0], POOL), ValueError,
     "max_pool_forward_naive: x must hold at least one example"),
    ("softmax-empty", lambda: L.softmax_loss(np.ones((0, 3)), np.zeros(0, np.int64)), ValueError,
     "softmax_loss: x must hold at least one example"),
    # the cache of another layer
    ("conv-fast-gets-naive-cache", lambda: L.conv_backward_fast(np.ones((2, 2, 4, 4)),
                                                                _cache(L.conv_forward_naive, X, W, B, CONV)),
     TypeError, r"conv_backward_fast: cache must be what conv_forward_fast returned"),
    ("conv-naive-gets-fast-cache", lambda: L.conv_backward_naive(np.ones((2, 2, 4, 4)),
                                                                 _cache(L.conv_forward_fast, X, W, B, CONV)),
     TypeError, r"conv_backward_naive: cache must be what conv_forward_naive returned"),
    ("pool-gets-conv-cache", lambda: L.max_pool_backward_fast(np.ones((2, 3, 2, 2)),
                                                              _cache(L.conv_forward_fast, X, W, B, CONV)),
     TypeError, "max_pool_backward_fast: cache must be what max_pool_forward_fast returned"),
    ("affine-gets-relu-cache", lambda: L.affine_backward(np.ones((2, 2)), _cache(L.relu_forward, X)),
     TypeError, r"affine_backward: cache must be what affine_forward returned, \(x, w, b\); got a ndarray"),
    ("sandwich-gets-conv-cache", lambda: L.conv_relu_pool_backward(np.ones((2, 2, 2, 2)),
                                                                   _cache(L.conv_forward_fast, X, W, B, CONV)),
     TypeError, "conv_relu_pool_backward: cache must be what conv_relu_pool_forward returned"),
    # a dout of the wrong shape
    ("affine-wrong-dout", lambda: L.affine_backward(np.ones((2, 5)), _cache(L.affine_forward, np.ones((2, 3)),
                                                                            np.ones((3, 4)), np.zeros(4))),
     ValueError, r"affine_backward: dout must have shape \(N, M\) = \(2, 4\); got shape \(2, 5\)"),
    ("conv-wrong-dout", lambda: L.conv_backward_fast(np.ones((2, 2, 1, 1)), _cache(L.conv_forward_fast, X, W, B, CONV)),
     ValueError, r"= \(2, 2, 4, 4\); got shape \(2, 2, 1, 1\)"),
    # float labels
    ("softmax-float-labels", lambda: L.softmax_loss(np.ones((2, 3)), np.array([0.0, 2.0])), TypeError,
     "softmax_loss needs integer labels y"),
]


def _classifier_cases():
    """The classifiers' rows; each network is built when its row runs (where the classifiers are still to be written, only then)."""
    from helpers.scratch.classifiers import LinearSoftmax, ThreeLayerConvNet, TwoLayerNet, softmax_loss_vectorized

    def net():
        return TwoLayerNet(4, 5, 3)

    def cnn():
        return ThreeLayerConvNet(input_dim=(1, 4, 4), num_filters=2, filter_size=3, hidden_dim=4, num_classes=3, seed=0)

    x, y = np.ones((6, 4)), np.array([0, 1, 2, 0, 1, 2])
    return [
        ("two-layer-float-labels", lambda: net().loss(x, y.astype(float)), TypeError,
         r"y must hold integer class labels, shape \(N,\); got dtype float64"),
        ("two-layer-empty", lambda: net().loss(np.ones((0, 4))), ValueError,
         r"X must hold at least one example, shape \(N, 4\)"),
        ("two-layer-batch-zero", lambda: net().train(x, y, x, y, batch_size=0, num_iters=2), ValueError,
         "batch_size must be a whole number >= 1; got 0"),
        ("two-layer-rate-nan", lambda: net().train(x, y, x, y, learning_rate=float("nan"), num_iters=2), ValueError,
         "learning_rate must be a positive finite number"),
        ("softmax-loss-float-labels", lambda: softmax_loss_vectorized(np.ones((4, 3)), x, y.astype(float), 0.0),
         TypeError, "y must hold integer class labels"),
        ("softmax-loss-empty", lambda: softmax_loss_vectorized(np.ones((4, 3)), np.ones((0, 4)), np.zeros(0, int), 0.0),
         ValueError, "X must hold at least one example"),
        ("linear-softmax-float-labels", lambda: LinearSoftmax().train(x, y.astype(float), num_iters=1), TypeError,
         "y must hold integer class labels"),
        ("linear-softmax-batch-zero", lambda: LinearSoftmax().train(x, y, num_iters=1, batch_size=0), ValueError,
         "batch_size must be a whole number >= 1"),
        ("convnet-list", lambda: cnn().loss(np.ones((2, 1, 4, 4)).tolist()), TypeError,
         r"X must be a NumPy array of shape \(N, 1, 4, 4\); got a list"),
        ("convnet-empty", lambda: cnn().loss(np.ones((0, 1, 4, 4))), ValueError, "with at least one image; got"),
        ("convnet-float-labels", lambda: cnn().loss(np.ones((2, 1, 4, 4)), np.array([0.0, 1.0])), TypeError,
         "softmax_loss needs integer labels y"),
    ]


def _ids(cases):
    return [case[0] for case in cases]


ALL_CASES = CASES + _classifier_cases()


@pytest.mark.parametrize("name, call, error, words", ALL_CASES, ids=_ids(ALL_CASES))
def test_refused_in_one_line_naming_the_argument(name, call, error, words):
    with pytest.raises(error, match=words) as raised:
        call()
    assert len(str(raised.value).splitlines()) == 1, str(raised.value)


def test_uint8_convolution_would_have_wrapped():
    """Why integer inputs are refused: the same convolution in uint8 gives 8 where the answer is 1800."""
    x, w = U8.astype(np.int64), np.ones((1, 1, 3, 3), np.int64)
    assert (x * w).sum() == 1800 and np.uint8((U8.astype(np.uint8) * np.uint8(1)).sum(dtype=np.uint8)) == 8
    out, _ = L.conv_forward_fast(U8.astype(np.float64), w.astype(np.float64), np.zeros(1), {"stride": 1, "pad": 0})
    assert out.item() == 1800.0
    # Integer images with float filters are fine: the sums are float.
    out, _ = L.conv_forward_fast(U8, w.astype(np.float32), np.zeros(1, np.float32), {"stride": 1, "pad": 0})
    assert out.item() == 1800.0


def test_a_nan_loss_stops_the_numpy_network_before_any_figure(tmp_path, capsys):
    """Weights that overflow to NaN stop the run with one line and write no hand-in PNG; --learning-rate nan is refused."""
    from helpers.scratch.binary_mnist import main

    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["--learning-rate", "1e308", "--out", str(out)])   # finite, but the weights overflow to inf and NaN
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "loss became nan in epoch 1" in err[0] and "lower the learning rate" in err[0], err
    assert not [p for p in out.iterdir() if not p.name.startswith(".")], "nothing handed in is written"
    with pytest.raises(SystemExit) as exit_info:
        main(["--learning-rate", "nan", "--out", str(out)])
    assert exit_info.value.code == 2


def test_binary_mnist_training_raises_on_an_infinite_loss():
    from helpers.scratch import binary_mnist as bm

    rng = np.random.default_rng(0)
    data = {"X_train": rng.random((32, 4)), "y_train": rng.integers(0, 2, (32, 1)).astype(float),
            "X_val": rng.random((8, 4)), "y_val": rng.integers(0, 2, (8, 1)).astype(float)}
    model = bm.build_network(4, 3, 1)
    model[0].W[:] = np.inf
    with pytest.raises(FloatingPointError, match="the train loss became nan in epoch 1"):
        bm.train(model, data, learning_rate=0.1, batch_size=8, epochs=2)
