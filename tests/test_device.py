"""helpers.device: a GPU when present (cuda, then mps), else the CPU, and it says which.

This machine has no GPU: the CPU path runs for real, the cuda and mps paths
with torch's availability checks monkeypatched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from helpers.device import DEVICE_VARIABLE, ISA_CAP_VARIABLE, describe_device, get_device
from helpers.paths import REPO_ROOT


@pytest.fixture(autouse=True)
def no_device_variable(monkeypatch):
    monkeypatch.delenv(DEVICE_VARIABLE, raising=False)
    # The instruction-set cap (scripts/as_cpu_kind.sh) of a run under it: each test here sets its own.
    monkeypatch.delenv(ISA_CAP_VARIABLE, raising=False)


@pytest.fixture
def fake_cuda(monkeypatch):
    """Pretend one CUDA GPU is present (nothing is allocated on it)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=None: "Fake GPU 80GB")


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_cpu_when_no_gpu(no_gpu, capsys):
    device = get_device(verbose=True)
    assert device == torch.device("cpu")
    assert describe_device(device) == f"cpu ({torch.get_num_threads()} threads)"
    assert capsys.readouterr().out.strip() == f"Using device: cpu ({torch.get_num_threads()} threads)"


def test_real_machine_picks_what_torch_reports():
    # No monkeypatching: whatever this machine has, the choice follows torch's own checks.
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert get_device().type == expected
    torch.zeros(2, device=get_device())  # the device is usable


def test_cuda_preferred_when_present(fake_cuda, monkeypatch, capsys):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)  # cuda wins over mps
    device = get_device(verbose=True)
    assert device.type == "cuda"
    assert describe_device(device) == "cuda:0 (Fake GPU 80GB)"
    assert "Using device: cuda:0 (Fake GPU 80GB)" in capsys.readouterr().out


def test_mps_when_no_cuda(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    device = get_device(verbose=True)
    assert device.type == "mps"
    assert "Using device: mps (Apple GPU)" in capsys.readouterr().out


def test_variable_and_argument_override(fake_cuda, monkeypatch):
    monkeypatch.setenv(DEVICE_VARIABLE, "cpu")
    assert get_device().type == "cpu"  # the variable beats the GPU
    assert get_device("cuda:0") == torch.device("cuda:0")  # the argument beats the variable


def test_missing_gpu_is_a_clear_error(no_gpu, monkeypatch):
    with pytest.raises(ValueError, match="no CUDA GPU.*'cpu'"):
        get_device("cuda")
    with pytest.raises(ValueError, match="MPS is not available"):
        get_device("mps")
    monkeypatch.setenv(DEVICE_VARIABLE, "cuda")
    with pytest.raises(ValueError, match=f"{DEVICE_VARIABLE}='cuda'"):
        get_device()


def test_bad_names_are_clear_errors(fake_cuda, monkeypatch):
    with pytest.raises(ValueError, match="only 1 CUDA GPU"):
        get_device("cuda:3")
    monkeypatch.setenv(DEVICE_VARIABLE, "gpu")
    with pytest.raises(ValueError, match=f"{DEVICE_VARIABLE}='gpu' is not a device"):
        get_device()


@pytest.mark.parametrize("present, kind, fast", [
    ((), "older", False),
    (("avx2",), "AVX2", False),
    (("avx2", "avx512"), "AVX-512", False),
    (("avx2", "avx512", "avx512_bf16"), "AVX-512 BF16", True),
    (("avx2", "avx512", "avx512_bf16", "amx"), "AMX", True),
])
def test_cpu_kind_names_the_best_instruction_set_and_bf16_follows_it(monkeypatch, present, kind, fast):
    import torch

    from helpers import device as device_module

    for name, check in device_module.CPU_FEATURES:
        monkeypatch.setattr(torch.cpu, check, lambda on=name in present: on, raising=False)
    assert device_module.cpu_capabilities() == {name: name in present for name, _ in device_module.CPU_FEATURES}
    assert device_module.cpu_kind() == kind
    assert device_module.bf16_is_fast("cpu") is fast
    assert f"kind {kind} (" in device_module.cpu_description()


@pytest.mark.parametrize("cap, kind, fast", [
    ("AVX2", "AVX2", False),
    ("avx512_core", "AVX-512", False),
    ("AVX512_CORE_BF16", "AVX-512 BF16", True),
    ("SSE41", "older", False),
    ("AVX10_1_512_AMX", "AMX", True),
    ("ALL", "AMX", True),
])
def test_onednn_isa_cap_makes_an_amx_cpu_count_as_an_older_kind(monkeypatch, cap, kind, fast):
    import torch

    from helpers import device as device_module

    for _name, check in device_module.CPU_FEATURES:
        monkeypatch.setattr(torch.cpu, check, lambda: True, raising=False)
    monkeypatch.setenv(device_module.ISA_CAP_VARIABLE, cap)
    assert device_module.cpu_kind() == kind
    assert device_module.bf16_is_fast("cpu") is fast
    assert ("capped by ONEDNN_MAX_CPU_ISA" in device_module.cpu_description()) is (kind != "AMX")


@pytest.mark.parametrize("kind, cap", [("avx2", "avx2"), ("avx512", "avx512"), ("avx512_bf16", "avx512_bf16")])
def test_as_cpu_kind_runs_a_command_as_an_older_cpu(kind, cap):
    from helpers import device as device_module

    order = [name for name, _ in device_module.CPU_FEATURES]
    has = device_module.cpu_capabilities()
    expected = {name: has[name] and order.index(name) <= order.index(cap) for name in order}
    shown = subprocess.run([str(REPO_ROOT / "scripts" / "as_cpu_kind.sh"), kind, sys.executable, "-c",
                            "import json, torch; from helpers.device import cpu_capabilities; "
                            "print(json.dumps([cpu_capabilities(), torch.backends.cpu.get_cpu_capability()]))"],
                           capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert shown.returncode == 0, shown.stderr
    capabilities, aten = json.loads(shown.stdout)
    assert capabilities == expected
    assert aten in ({"avx2": ("AVX2",)}.get(kind) or ("AVX2", "AVX512"))


def test_as_cpu_kind_refuses_an_unknown_kind_in_one_line():
    refused = subprocess.run([str(REPO_ROOT / "scripts" / "as_cpu_kind.sh"), "amx", "true"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert refused.stderr.strip() == ("scripts/as_cpu_kind.sh: unknown CPU kind 'amx': expected avx2, avx512 or "
                                      "avx512_bf16")
