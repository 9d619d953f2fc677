"""Run mode, reproducibility set-up, paths, gradient checks and plotting helpers of the foundation."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from helpers import runtime
from helpers.paths import REPO_ROOT, atomic_write_bytes, output_dir


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


def test_setup_turns_on_autoreload_in_ipython_and_is_harmless_elsewhere(tmp_path):
    """An edited module takes effect when the next cell runs, without restarting the kernel; a cell that reaches a
    function still to be written stops with one line naming it."""
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
        print("STUB")
        failed = shell.run_cell("raise NotImplementedError('YOUR CODE HERE: Linear.forward (helpers/numpy_nn.py)')")
        print("OTHER", type(failed.error_in_exec).__name__)
        shell.run_cell("raise NotImplementedError('an error of another kind')")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    said = result.stdout + result.stderr
    values, stub, other = said.split("STUB")[0], said.split("STUB")[1].split("OTHER")[0], said.split("OTHER")[1]
    assert values.strip() == "values 1 2", said
    # A call of a function still to be written: one line naming it (the README's promise), and the cell failed.
    assert stub.strip() == ("NotImplementedError: Linear.forward in helpers/numpy_nn.py is not written yet: "
                            "write the code at '# YOUR CODE HERE'."), said
    assert other.startswith(" NotImplementedError\n"), said
    # Any other error keeps its traceback.
    assert "Traceback" in other and "an error of another kind" in other, said


def test_the_thread_policy_runs_blas_on_one_thread_and_torch_on_the_count_asked(monkeypatch):
    from threadpoolctl import threadpool_info

    monkeypatch.delenv(runtime.THREADS_VARIABLE, raising=False)       # the default policy, whatever the shell set
    monkeypatch.delenv(runtime.BLAS_THREADS_VARIABLE, raising=False)
    before = torch.get_num_threads()
    try:
        assert runtime.set_threads(1) == 1 == torch.get_num_threads()
        blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert blas and set(blas) == {runtime.BLAS_THREADS} == {1}
        assert runtime.set_threads() == runtime.cpu_cores() == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def test_torch_threads_restores_the_policy_count_even_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with runtime.torch_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before


def test_nothing_reads_the_load_average():
    """The thread policy is fixed counts (runtime.set_threads): no module decides by how busy the machine is."""
    for path in sorted((REPO_ROOT / "helpers").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "getloadavg" not in text and "/proc/loadavg" not in text, path


def test_the_thread_counts_can_be_overridden_for_a_measurement_and_bad_values_are_named(monkeypatch):
    from threadpoolctl import threadpool_info

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("WORKBOOK_THREADS", "1")
        monkeypatch.setenv("WORKBOOK_BLAS_THREADS", "2")
        assert runtime.set_threads() == 1 == torch.get_num_threads()
        assert {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"} == {2}
        monkeypatch.setenv("WORKBOOK_THREADS", "two")
        with pytest.raises(ValueError, match=r"WORKBOOK_THREADS='two' is not a thread count"):
            runtime.set_threads()
    finally:
        monkeypatch.delenv("WORKBOOK_THREADS")
        monkeypatch.delenv("WORKBOOK_BLAS_THREADS")
        runtime.set_threads()
        torch.set_num_threads(before)


def _a_subnormal_product() -> float:
    """1e-38 * 0.01 in float32: 1e-40, a subnormal float, or 0.0 where subnormals are flushed."""
    return float(np.array([1e-38], dtype=np.float32)[0] * np.float32(0.01))


def test_subnormals_are_flushed_inside_the_block_only():
    assert _a_subnormal_product() > 0
    with runtime.subnormals_flushed():
        assert _a_subnormal_product() == 0.0
        assert float(np.float32(1e-30) * np.float32(0.01)) > 0   # normal floats are untouched
    assert _a_subnormal_product() > 0
    with pytest.raises(RuntimeError), runtime.subnormals_flushed():
        raise RuntimeError("a training step that fails")
    assert _a_subnormal_product() > 0, "the mode is turned off again after an error"
