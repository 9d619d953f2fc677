"""helpers.scratch.gradient_check: numeric gradients in float64, with CS231n's signatures."""

import numpy as np
import pytest

from helpers.scratch.gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
    rel_error,
)


def test_numeric_gradients_match_analytic_ones():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    grad = eval_numerical_gradient(lambda v: float(np.sum(np.sin(v))), x)
    assert rel_error(grad, np.cos(x)) < 1e-8
    df = rng.standard_normal((3, 4))
    grad = eval_numerical_gradient_array(np.tanh, x, df)
    assert rel_error(grad, df * (1 - np.tanh(x) ** 2)) < 1e-8
    assert grad_check_sparse(lambda v: float(np.sum(v**2)), x, 2 * x, num_checks=5, verbose=False) < 1e-8
    assert rel_error(grad, grad + 1.0) > 1e-3  # a wrong gradient is caught


def test_numeric_gradients_refuse_float32():
    with pytest.raises(TypeError, match="float64"):
        eval_numerical_gradient(lambda v: float(v.sum()), np.ones(3, dtype=np.float32))
    with pytest.raises(ValueError, match="same shape"):
        rel_error(np.ones(3), np.ones(4))


def test_cs231n_calls_run_unchanged(capsys):
    """CS231n's cells call eval_numerical_gradient(f, x, verbose=False) and positionally (f, x, False, h)."""
    x = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
    quiet = eval_numerical_gradient(lambda v: float(np.sum(v**3)), x, verbose=False)
    positional = eval_numerical_gradient(lambda v: float(np.sum(v**3)), x, False, 1e-6)
    assert rel_error(quiet, 3 * x**2) < 1e-8 and rel_error(positional, 3 * x**2) < 1e-7
    assert capsys.readouterr().out == ""
    eval_numerical_gradient(lambda v: float(np.sum(v)), x[:1, :2].copy(), verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert [line.rsplit(" ", 1)[0] for line in lines] == ["(0, 0)", "(0, 1)"]   # CS231n's "index gradient" lines
    assert all(abs(float(line.rsplit(" ", 1)[1]) - 1.0) < 1e-8 for line in lines)


def test_float32_is_refused_with_how_to_promote_it():
    for check in (lambda x: eval_numerical_gradient(lambda v: float(v.sum()), x),
                  lambda x: eval_numerical_gradient_array(np.tanh, x, np.ones_like(x)),
                  lambda x: grad_check_sparse(lambda v: float(v.sum()), x, np.ones_like(x), verbose=False)):
        with pytest.raises(TypeError, match=r"got float32\. Check in float64: x\.astype\(np\.float64\)"):
            check(np.ones(3, dtype=np.float32))
