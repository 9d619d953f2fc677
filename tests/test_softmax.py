"""Softmax loss (naive and vectorised) and the LinearSoftmax classifier."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.scratch.classifiers import LinearSoftmax, softmax_loss_naive, softmax_loss_vectorized
from helpers.scratch.gradient_check import eval_numerical_gradient, rel_error
from tests._checks import assert_outputs_match, by_hand, needs

LOSSES = [pytest.param(softmax_loss_naive, marks=pytest.mark.softmax_naive),
          pytest.param(softmax_loss_vectorized, marks=pytest.mark.softmax_vectorized)]


def _problem(seed, N=7, D=5, C=4, dtype=np.float64):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((D, C)).astype(dtype)
    X = rng.standard_normal((N, D)).astype(dtype)
    y = rng.integers(0, C, size=N)
    return W, X, y


@pytest.mark.parametrize("loss_fn", LOSSES)
def test_small_weights_give_log_C(loss_fn):
    # With W ~ 0 every class has probability 1/C: loss = -log(1/C) (the notebook's sanity check).
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3073))
    y = rng.integers(0, 10, size=50)
    W = 0.0001 * rng.standard_normal((3073, 10))
    loss, _ = loss_fn(W, X, y, 0.0)
    assert abs(loss - (-np.log(0.1))) < 0.05


@pytest.mark.parametrize("loss_fn", LOSSES)
def test_known_value(loss_fn):
    # Hand-computed: scores [[1, 2], [0, 0]] -> loss = mean(-log softmax) + reg * sum(W**2).
    W = np.array([[1.0, 2.0]])
    X = np.array([[1.0], [0.0]])
    y = np.array([0, 1])
    expected = 0.5 * (np.log(1 + np.e) + np.log(2)) + 0.1 * 5.0
    loss, dW = loss_fn(W, X, y, 0.1)
    p = np.exp(1) / (np.exp(1) + np.exp(2))
    expected_dW = np.array([[0.5 * (p - 1), 0.5 * (1 - p)]]) + 0.2 * W
    assert_outputs_match("a value computed by hand", {"loss": (loss, expected), "dW": (dW, expected_dW)}, tol=1e-12)


@pytest.mark.parametrize("loss_fn", LOSSES)
@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_gradient_matches_numeric_float64(loss_fn, reg):
    W, X, y = _problem(1)
    _, dW = loss_fn(W, X, y, reg)
    numeric = eval_numerical_gradient(lambda w: loss_fn(w, X, y, reg)[0], W.copy())
    assert rel_error(dW, numeric) < 1e-7, f"dW differs from the numeric gradient (relative error {rel_error(dW, numeric):.2g})"


@pytest.mark.parametrize("loss_fn", LOSSES)
def test_numerically_stable_for_huge_scores(loss_fn):
    W = np.array([[1000.0, 0.0, -1000.0]])
    X = np.array([[1.0], [-1.0]])
    y = np.array([0, 0])
    loss, dW = loss_fn(W, X, y, 0.0)
    assert np.isfinite(loss) and np.all(np.isfinite(dW))
    assert loss == pytest.approx(1000.0, rel=1e-9)  # example 2: its class scores -1000 against the best +1000


def earlier_loss_written(exercise: str, loss_fn) -> None:
    """A check that runs an earlier exercise's loss: that exercise's own checks first."""
    needs(exercise, lambda: test_known_value(loss_fn), lambda: test_gradient_matches_numeric_float64(loss_fn, 0.7))


@pytest.fixture(scope="module")
def naive_written():
    earlier_loss_written("softmax_naive", softmax_loss_naive)


@pytest.fixture(scope="module")
def vectorized_written():
    earlier_loss_written("softmax_vectorized", softmax_loss_vectorized)


@pytest.mark.softmax_vectorized
@settings(max_examples=30, deadline=None)
@given(N=st.integers(1, 12), D=st.integers(1, 9), C=st.integers(2, 7), reg=st.floats(0, 10), seed=st.integers(0, 2**16))
def test_naive_equals_vectorized(naive_written, N, D, C, reg, seed):
    W, X, y = _problem(seed, N, D, C)
    W *= 3  # scores large enough that the max-shift matters
    loss_n, dW_n = softmax_loss_naive(W, X, y, reg)
    loss_v, dW_v = softmax_loss_vectorized(W, X, y, reg)
    assert_outputs_match("compared with softmax_loss_naive", {"loss (softmax_loss_vectorized)": (loss_v, loss_n),
                                                              "dW (softmax_loss_vectorized)": (dW_v, dW_n)},
                         tol=1e-12, rtol=1e-9)


@pytest.mark.parametrize("loss_fn, given", [
    pytest.param(softmax_loss_naive, (softmax_loss_vectorized,), marks=pytest.mark.softmax_naive, id="naive"),
    pytest.param(softmax_loss_vectorized, (softmax_loss_naive,), marks=pytest.mark.softmax_vectorized, id="vectorized")])
def test_each_loss_is_written_on_its_own(loss_fn, given):
    """The loop version may not call the vectorised one (nor the other way round), nor a library's softmax."""
    W, X, y = _problem(2)
    by_hand(loss_fn.__name__, lambda: loss_fn(W, X, y, 0.1), given)


@pytest.mark.parametrize("loss_fn", LOSSES)
def test_bad_shapes_raise_clear_errors(loss_fn):
    W, X, y = _problem(0)
    with pytest.raises(ValueError, match=r"X must have shape \(N, D\)"):
        loss_fn(W, X[:, :-1], y, 0.0)
    with pytest.raises(ValueError, match=r"y must have shape \(N,\)"):
        loss_fn(W, X, y[:-1], 0.0)
    with pytest.raises(ValueError, match="labels y must lie in"):
        loss_fn(W, X, np.full_like(y, W.shape[1]), 0.0)


@pytest.mark.linear_softmax
def test_linear_softmax_learns_separable_data(vectorized_written):
    rng = np.random.default_rng(0)
    centers = 4 * rng.standard_normal((3, 5))
    y = rng.integers(0, 3, size=300)
    X = centers[y] + rng.standard_normal((300, 5))
    X = np.hstack([X, np.ones((300, 1))])  # bias trick
    np.random.seed(0)
    clf = LinearSoftmax()
    history = clf.train(X, y, learning_rate=1e-1, reg=1e-4, num_iters=300, batch_size=50)
    assert len(history) == 300
    assert np.mean(history[-20:]) < 0.5 * history[0]
    assert clf.W.shape == (6, 3)
    assert (clf.predict(X) == y).mean() > 0.9


@pytest.mark.linear_softmax
def test_linear_softmax_step_is_plain_sgd(vectorized_written):
    # One step on the batch the same seed draws: W <- W - lr * dW.
    W, X, y = _problem(3)
    clf = LinearSoftmax()
    clf.W = W.copy()
    np.random.seed(0)
    idx = np.random.choice(len(X), 4, replace=True)
    _, dW = softmax_loss_vectorized(W, X[idx], y[idx], 0.5)
    np.random.seed(0)
    clf.train(X, y, learning_rate=0.3, reg=0.5, num_iters=1, batch_size=4)
    np.testing.assert_allclose(clf.W, W - 0.3 * dW, rtol=1e-12)


@pytest.mark.linear_softmax
def test_linear_softmax_is_written_in_numpy(vectorized_written):
    W, X, y = _problem(4)
    clf = LinearSoftmax()
    clf.W = W.copy()
    by_hand("LinearSoftmax.train", lambda: clf.train(X, y, learning_rate=0.1, num_iters=2, batch_size=3))
    by_hand("LinearSoftmax.predict", lambda: clf.predict(X))


@pytest.mark.linear_softmax
def test_linear_softmax_errors(vectorized_written):
    clf = LinearSoftmax()
    with pytest.raises(ValueError, match="call train"):
        clf.predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"y must have shape \(N,\)"):
        clf.train(np.zeros((4, 3)), np.zeros(3, dtype=int))


def test_with_bias_column():
    from helpers.scratch.classifiers.softmax import with_bias_column

    X = np.arange(24, dtype=np.float32).reshape(2, 2, 2, 3)
    Xb = with_bias_column(X)
    assert Xb.shape == (2, 13) and Xb.dtype == np.float32
    np.testing.assert_array_equal(Xb[:, :-1], X.reshape(2, -1))
    np.testing.assert_array_equal(Xb[:, -1], 1)
    with pytest.raises(ValueError, match=r"\(N, \.\.\.\)"):
        with_bias_column(np.zeros(3))
