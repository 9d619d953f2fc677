"""Run mode, reproducibility set-up, paths, gradient checks and plotting helpers of the foundation."""

from __future__ import annotations

import random

import numpy as np
import pytest

from helpers import runtime
from helpers.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, grad_check_sparse, rel_error
from helpers.paths import atomic_write_bytes, output_dir


def test_the_test_suite_runs_in_smoke_mode():
    assert runtime.mode() == "smoke" and runtime.is_smoke()
    assert runtime.by_mode(full=20, smoke=1) == 1


def test_mode_switch(monkeypatch):
    monkeypatch.delenv("WORKBOOK_MODE")
    assert runtime.mode() == "full" and runtime.by_mode(full="big", smoke="small") == "big"
    monkeypatch.setenv("WORKBOOK_MODE", " Smoke ")
    assert runtime.is_smoke()
    monkeypatch.setenv("WORKBOOK_MODE", "fast")
    with pytest.raises(ValueError, match="WORKBOOK_MODE='fast'"):
        runtime.mode()


def draw_all():
    import torch

    return random.random(), np.random.rand(4), torch.rand(4).numpy()


def test_setup_makes_every_generator_repeatable(capsys):
    import torch

    runtime.setup(seed=7)
    first = draw_all()
    runtime.setup(seed=7, verbose=False)
    second = draw_all()
    runtime.setup(seed=8, verbose=False)
    third = draw_all()
    assert first[0] == second[0]
    np.testing.assert_array_equal(first[1], second[1])
    np.testing.assert_array_equal(first[2], second[2])
    assert not np.array_equal(first[1], third[1])
    assert torch.are_deterministic_algorithms_enabled()
    assert "mode: smoke | seed: 7" in capsys.readouterr().out


def test_setup_fixes_threads_and_print_precision():
    import torch

    info = runtime.setup(seed=0, num_threads=1, verbose=False)
    assert info["threads"] == 1 and torch.get_num_threads() == 1
    assert np.get_printoptions()["precision"] == runtime.PRINT_PRECISION
    runtime.setup(seed=0, verbose=False)  # back to the default thread count
    assert torch.get_num_threads() >= 1


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "model.pt"
    atomic_write_bytes(target, b"old")


    with pytest.raises(TypeError):
        atomic_write_bytes(target, object())  # fails mid-write
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"], "no temporary file left behind"
    assert (target.stat().st_mode & 0o777) != 0o600, "normal permissions, not mkstemp's private ones"


def test_output_dir_honours_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_OUTPUT", str(tmp_path / "out"))
    assert output_dir("figures") == tmp_path / "out" / "figures"
    assert (tmp_path / "out" / "figures").is_dir()


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


def test_plotting_helpers_check_shapes():
    import matplotlib

    matplotlib.use("Agg")
    from helpers.plotting import filter_grid, image_grid, plot_history

    fig = image_grid(np.zeros((5, 28, 28), np.uint8), labels=[0, 1, 2, 3, 4], highlight=[0, 1, 0, 0, 0])
    assert len([a for a in fig.axes if a.images]) == 5
    fig = filter_grid(np.random.default_rng(0).standard_normal((6, 3, 7, 7)))
    assert len([a for a in fig.axes if a.images]) == 6
    fig = plot_history({"train_loss": [3, 2, 1], "val_acc": [0.1, 0.5]})
    assert len(fig.axes[0].lines) == 1 and len(fig.axes[1].lines) == 1
    with pytest.raises(ValueError, match=r"\(F, C, H, W\)"):
        filter_grid(np.zeros((4, 5, 3, 3)))
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        image_grid(np.zeros((28, 28)))


def test_setup_turns_on_autoreload_in_ipython_and_is_harmless_elsewhere(tmp_path):
    """An edited module takes effect when the next cell runs, without restarting the kernel."""
    import subprocess
    import sys
    import textwrap

    assert runtime.enable_autoreload() is False  # plain pytest: no IPython shell, nothing happens
    (tmp_path / "studentmod.py").write_text("def f():\n    return 1\n")
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from IPython.testing.globalipapp import start_ipython
        shell = start_ipython()
        sys.path.insert(0, {str(tmp_path)!r})
        shell.run_cell("from helpers.runtime import setup; info = setup(verbose=False)")
        shell.run_cell("import studentmod; first = studentmod.f()")
        time.sleep(1.1)  # a newer modification time than the first import
        Path({str(tmp_path / "studentmod.py")!r}).write_text("def f():\\n    return 2\\n")
        shell.run_cell("second = studentmod.f()")
        print("values", shell.user_ns["first"], shell.user_ns["second"])
        shell.run_cell("info = setup(verbose=False)")  # again, as notebooks do: silent
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "values 1 2", result.stdout + result.stderr
