"""helpers.scratch.layer_check (the stable printing of relative errors, the PyTorch comparison) and Solver's plot."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from helpers.scratch.classifiers import ThreeLayerConvNet
from helpers.scratch.layer_check import best_time, convnet_vs_torch, magnitude, naive_vs_fast, report, torch_comparison


@pytest.mark.parametrize("err, text", [
    (3.2e-10, "< 1e-09"), (1e-9, "< 1e-08"), (9.99e-9, "< 1e-08"), (0.5, "< 1e+00"), (2.0, "< 1e+01"),
    (0.0, "< 1e-10"), (4e-15, "< 1e-10"), (2.5e-12, "< 1e-10"), (2e-10, "< 1e-09"), (float("nan"), "= nan"),
])
def test_magnitude(err, text):
    assert magnitude(err) == text


def test_report_prints_and_asserts(capsys):
    assert report("layer dx", 3e-10, 1e-8) is None
    line = capsys.readouterr().out
    assert "layer dx" in line and "< 1e-09" in line and "tolerance 1e-08" in line and line.rstrip().endswith("ok")
    with pytest.raises(AssertionError, match="2.000e-06 exceeds the tolerance 1e-08"):
        report("layer dw", 2e-6, 1e-8)
    assert "FAILED" in capsys.readouterr().out


def test_torch_comparison_covers_every_layer_and_agrees():
    rows = torch_comparison(seed=3)
    layers = {layer for layer, _, _ in rows}
    assert {"conv (naive)", "conv (fast)", "affine", "relu", "softmax_loss", "conv_relu_pool"} <= layers
    assert any("3x3/1 (fast)" in layer for layer in layers)  # overlapping windows
    assert all(err < 1e-9 for _, _, err in rows), [r for r in rows if r[2] >= 1e-9]


def test_convnet_vs_torch_agrees_and_detects_a_wrong_gradient():
    model = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=3, filter_size=3, hidden_dim=5, weight_scale=0.1,
                              reg=0.2, dtype=np.float64, seed=0)
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((3, 3, 8, 8)), rng.integers(0, 10, 3)
    rows = dict(convnet_vs_torch(model, X, y))
    assert set(rows) == {"scores", "loss", "dW1", "db1", "dW2", "db2", "dW3", "db3"}
    assert max(rows.values()) < 1e-9

    class Broken(ThreeLayerConvNet):
        def loss(self, X, y=None):
            out = super().loss(X, y)
            if y is not None:
                out[1]["W2"] = out[1]["W2"] * 1.001
            return out

    broken = Broken(input_dim=(3, 8, 8), num_filters=3, filter_size=3, hidden_dim=5, weight_scale=0.1, dtype=np.float64, seed=0)
    assert dict(convnet_vs_torch(broken, X, y))["dW2"] > 1e-4


def test_numpy_nn_checks_pass_for_the_layers_and_catch_a_wrong_backward(monkeypatch):
    """Notebook 01's checks: every RPZ layer against central differences and against autograd."""
    from helpers import numpy_nn
    from helpers.scratch.layer_check import numpy_nn_gradient_errors, numpy_nn_vs_torch

    numeric, autograd = numpy_nn_gradient_errors(seed=0), numpy_nn_vs_torch(seed=0)
    assert {"Linear dL/dW (per sample)", "ReLU dL/dx", "Sigmoid dL/dx", "SE dL/dx", "stack dL/db2"} <= set(numeric)
    assert max(numeric.values()) < 1e-7 and max(autograd.values()) < 1e-10
    monkeypatch.setattr(numpy_nn.Sigmoid, "backward", lambda self, d: d)   # forgets the derivative
    wrong = numpy_nn_gradient_errors(seed=0)
    assert wrong["Sigmoid dL/dx"] > 1e-2 and wrong["stack dL/dW1"] > 1e-2 and wrong["ReLU dL/dx"] < 1e-8
    assert numpy_nn_vs_torch(seed=0)["Sigmoid dL/dx"] > 1e-2


class _Clock:
    """A stand-in for the ``time`` module whose ``perf_counter`` moves only when ``spend`` says: timing tests
    that do not depend on how busy the machine is."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def spend(self, seconds: float) -> None:
        self.now += seconds


def test_best_time_is_the_least_of_its_runs(monkeypatch):
    from helpers.scratch import layer_check

    clock = _Clock()
    monkeypatch.setattr(layer_check, "time", clock)
    durations = iter([0.03, 0.01, 0.02])
    assert best_time(lambda: clock.spend(next(durations)), repeats=3) == pytest.approx(0.01)


def test_naive_vs_fast_times_each_pass_and_lines_up_its_two_lines(monkeypatch):
    """Notebook 05's speed-ups: a naive layer that takes 20/40 ms against a fast one that takes 1/2 ms."""
    from helpers.scratch import layer_check

    clock = _Clock()
    monkeypatch.setattr(layer_check, "time", clock)
    calls = []

    def layer(forward_s, backward_s, kind):
        def forward(x, scale):
            calls.append(f"{kind} forward")
            clock.spend(forward_s)
            return x * scale, (x, scale)

        def backward(dout, cache):
            calls.append(f"{kind} backward")
            clock.spend(backward_s)
            return dout * cache[1], None
        return forward, backward

    x = np.ones((4, 3, 8, 8))
    text = naive_vs_fast("toy", layer(0.02, 0.04, "naive"), layer(0.001, 0.002, "fast"), (x, 2.0), np.ones_like(x))
    first, second = text.splitlines()
    assert first.startswith("toy, x (4, 3, 8, 8):  forward  naive ") and second.lstrip().startswith("backward naive ")
    assert first.index("naive") == second.index("naive") and first.index("speed-up") == second.index("speed-up")
    forward_speedup, backward_speedup = (float(line.split("speed-up")[1].rstrip("x")) for line in (first, second))
    assert forward_speedup == backward_speedup == 20, text
    # The naive layer runs once to make its cache and once timed; the fast one once and then three times.
    assert calls.count("naive forward") == 2 and calls.count("naive backward") == 1
    assert calls.count("fast forward") == 4 and calls.count("fast backward") == 3
