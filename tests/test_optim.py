"""helpers.scratch.optim: CS231n's published sgd_momentum values, and every rule against torch.optim over several steps."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.scratch import optim
from tests._checks import assert_outputs_match, by_hand

pytestmark = pytest.mark.update_rules  # every test here needs this exercise (helpers/course/exercises.py)


def test_sgd_momentum_reference_values():
    N, D = 4, 5
    w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
    dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
    v = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    config = {"learning_rate": 1e-3, "velocity": v}
    next_w, config = optim.sgd_momentum(w, dw, config=config)
    expected_next_w = np.asarray([
        [0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
        [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
        [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
        [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096]])
    expected_velocity = np.asarray([
        [0.5406, 0.55475789, 0.56891579, 0.58307368, 0.59723158],
        [0.61138947, 0.62554737, 0.63970526, 0.65386316, 0.66802105],
        [0.68217895, 0.69633684, 0.71049474, 0.72465263, 0.73881053],
        [0.75296842, 0.76712632, 0.78128421, 0.79544211, 0.8096]])
    assert_outputs_match("CS231n's published values", {"next_w (sgd_momentum)": (next_w, expected_next_w),
                                                       "velocity (sgd_momentum)": (config["velocity"], expected_velocity)},
                         tol=1e-8)


def run_ours(rule, w, grads, config):
    for g in grads:
        w, config = rule(w, g, config)
    return w, config


def run_torch(make_opt, w, grads):
    p = torch.nn.Parameter(torch.tensor(w, dtype=torch.float64))
    opt = make_opt([p])
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    return p.detach().numpy()


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), steps=st.integers(1, 6),
       lr=st.sampled_from([1e-3, 1e-2, 0.3]), seed=st.integers(0, 2**32 - 1))
def test_rules_match_torch_optim(shape, steps, lr, seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(shape)
    grads = [rng.standard_normal(shape) for _ in range(steps)]
    ours, _ = run_ours(optim.sgd, w, grads, {"learning_rate": lr})
    assert_outputs_match(f"compared with torch.optim after {steps} steps",
                         {"w (sgd)": (ours, run_torch(lambda p: torch.optim.SGD(p, lr=lr), w, grads))}, tol=1e-12)
    # torch keeps buf = momentum * buf + g and steps -lr * buf: the same as v = momentum * v - lr * g for a fixed lr.
    ours, _ = run_ours(optim.sgd_momentum, w, grads, {"learning_rate": lr, "momentum": 0.9})
    theirs = run_torch(lambda p: torch.optim.SGD(p, lr=lr, momentum=0.9), w, grads)
    assert_outputs_match(f"compared with torch.optim after {steps} steps", {"w (sgd_momentum)": (ours, theirs)},
                         tol=1e-12, rtol=1e-10)
    ours, config = run_ours(optim.adam, w, grads, {"learning_rate": lr})
    theirs = run_torch(lambda p: torch.optim.Adam(p, lr=lr, betas=(0.9, 0.999), eps=1e-8), w, grads)
    assert_outputs_match(f"compared with torch.optim after {steps} steps", {"w (adam)": (ours, theirs)},
                         tol=1e-12, rtol=1e-10)
    assert config["t"] == steps, f"adam: config['t'] is {config['t']} after {steps} steps"


@pytest.mark.parametrize("rule", [optim.sgd, optim.sgd_momentum, optim.adam])
def test_rules_are_written_in_numpy(rule):
    rng = np.random.default_rng(6)
    w, dw = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    config = by_hand(rule.__name__, lambda: rule(w, dw, None))[1]
    by_hand(rule.__name__, lambda: rule(w, dw, config))


@pytest.mark.parametrize("rule", [optim.sgd, optim.sgd_momentum, optim.adam])
def test_rules_fill_defaults_and_do_not_modify_their_inputs(rule):
    w, dw = np.ones((2, 3)), np.full((2, 3), 0.5)
    w_before = w.copy()
    next_w, config = rule(w, dw, None)
    assert "learning_rate" in config
    assert np.all(next_w < w)  # a positive gradient lowers every weight
    np.testing.assert_array_equal(w, w_before)
    state_before = {k: np.copy(v) for k, v in config.items() if isinstance(v, np.ndarray)}
    rule(next_w, dw, config)
    for k, v in state_before.items():
        assert not np.shares_memory(v, config[k])


@pytest.mark.parametrize("rule", [optim.sgd, optim.sgd_momentum, optim.adam])
def test_rules_reject_mismatched_shapes(rule):
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(3, 2\)"):
        rule(np.zeros((2, 3)), np.zeros((3, 2)), {})


def test_state_of_the_wrong_shape_is_named():
    with pytest.raises(ValueError, match="velocity"):
        optim.sgd_momentum(np.zeros(3), np.zeros(3), {"velocity": np.zeros(4)})
    with pytest.raises(ValueError, match=r"config\['m'\]"):
        optim.adam(np.zeros(3), np.zeros(3), {"m": np.zeros(2)})
