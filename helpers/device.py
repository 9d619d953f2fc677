"""Pick the compute device once: cuda, then mps, then cpu.

Nothing else in the workbook decides where tensors live; code asks
``get_device()`` and moves models and batches there.
"""

from __future__ import annotations

import os
import platform

from helpers.settings import setting

DEVICE_VARIABLE = "WORKBOOK_DEVICE"


def _mps_available() -> bool:
    import torch  # deferred: torch takes seconds to import; base modules load without it

    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def get_device(preferred: str | None = None, verbose: bool = False):
    """Return a ``torch.device``: ``preferred`` or ``$WORKBOOK_DEVICE`` if set, else the best available.

    The best available is a CUDA GPU, else Apple's MPS, else the CPU. With
    ``verbose`` it prints which one it picked (``describe_device``).
    Raises ``ValueError`` if a device is asked for that this machine lacks.
    """
    import torch  # deferred: torch takes seconds to import; base modules load without it

    from_env = not preferred and setting(DEVICE_VARIABLE) is not None
    name = preferred or setting(DEVICE_VARIABLE)
    source = f"{DEVICE_VARIABLE}={name!r}" if from_env else f"device {name!r}"
    if name is None:
        if torch.cuda.is_available():
            name = "cuda"
        elif _mps_available():
            name = "mps"
        else:
            name = "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"{source} is not a device; expected 'cpu', 'cuda', 'cuda:<index>' or 'mps'.") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{source} asked for, but torch sees no CUDA GPU here; use 'cpu'.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"{source} asked for, but there are only {torch.cuda.device_count()} CUDA GPU(s) here.")
    elif device.type == "mps" and not _mps_available():
        raise ValueError(f"{source} asked for, but MPS is not available here; use 'cpu'.")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{source}: the workbook runs on 'cpu', 'cuda' or 'mps', not {device.type!r}.")
    if verbose:
        print(f"Using device: {describe_device(device)}")
    return device


def describe_device(device) -> str:
    """A human-readable name, e.g. ``cuda:0 (NVIDIA H100)`` or ``cpu (2 threads)``."""
    import torch  # deferred: torch takes seconds to import; base modules load without it

    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return str(device)


# The instruction sets that decide how fast the CPU trains (torch's own checks), in the order they build on.
CPU_FEATURES = (("avx2", "_is_avx2_supported"), ("avx512", "_is_avx512_supported"),
                ("avx512_bf16", "_is_avx512_bf16_supported"), ("amx", "_is_amx_tile_supported"))


# oneDNN (torch's convolutions on a CPU) uses no instruction set above ONEDNN_MAX_CPU_ISA when it is set: the
# highest of CPU_FEATURES each of its values allows. Setting it (with ATEN_CPU_CAPABILITY for torch's other
# kernels) makes a machine behave like an older kind, e.g. to time the workbook as an AVX2-only laptop runs it.
ISA_CAP_VARIABLE = "ONEDNN_MAX_CPU_ISA"
ISA_CAPS = {"SSE41": None, "AVX": None, "AVX2": "avx2", "AVX2_VNNI": "avx2", "AVX2_VNNI_2": "avx2",
            "AVX512_CORE": "avx512", "AVX512_CORE_VNNI": "avx512", "AVX512_CORE_BF16": "avx512_bf16",
            "AVX512_CORE_FP16": "avx512_bf16", "AVX10_1_512": "avx512_bf16", "AVX512_CORE_AMX": "amx",
            "AVX10_1_512_AMX": "amx", "AVX512_CORE_AMX_FP16": "amx", "AVX10_1_512_AMX_FP16": "amx",
            "DEFAULT": "amx", "ALL": "amx"}


def isa_cap() -> str | None:
    """The value of ONEDNN_MAX_CPU_ISA when it caps the instruction sets torch's convolutions use, else None."""
    value = os.environ.get(ISA_CAP_VARIABLE, "").strip().upper()
    return value if value and ISA_CAPS.get(value, "amx") != "amx" else None


def cpu_capabilities() -> dict[str, bool]:
    """``{"avx2", "avx512", "avx512_bf16", "amx"}``: which of these instruction sets this CPU has (False if unknown).

    Only those at or below ONEDNN_MAX_CPU_ISA count, when it is set (``ISA_CAPS``).
    """
    import torch  # deferred: torch takes seconds to import; base modules load without it

    cpu = getattr(torch, "cpu", None)
    names = [name for name, _ in CPU_FEATURES]
    cap = isa_cap()
    highest = ISA_CAPS[cap] if cap else names[-1]   # None: not even AVX2
    allowed = names[:names.index(highest) + 1] if highest else []
    return {name: name in allowed and bool(getattr(cpu, check, lambda: False)()) for name, check in CPU_FEATURES}


def cpu_kind() -> str:
    """This CPU's kind as the README's timings name it: "AMX", "AVX-512 BF16", "AVX-512", "AVX2" or "older"."""
    has = cpu_capabilities()
    for name, label in (("amx", "AMX"), ("avx512_bf16", "AVX-512 BF16"), ("avx512", "AVX-512"), ("avx2", "AVX2")):
        if has[name]:
            return label
    return "older"


def cpu_description() -> str:
    """One line: the processor's model name, its kind and core count, e.g. for a benchmark's header."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), model)
    except OSError:   # not Linux
        pass
    has = cpu_capabilities()
    flags = ", ".join(f"{name} {'yes' if on else 'no'}" for name, on in has.items())
    cap = isa_cap()
    capped = f"; capped by {ISA_CAP_VARIABLE}={cap}" if cap else ""
    return f"{model}; {os.cpu_count()} cores; kind {cpu_kind()} ({flags}{capped})"


def bf16_is_fast(device) -> bool:
    """Whether bfloat16 autocast speeds training up on ``device``.

    A CUDA GPU that supports bfloat16; a CPU with AVX-512 BF16 or AMX
    instructions (measured on a 2-core AMD EPYC with AVX-512 BF16: 70 ms
    instead of 125 ms per training step of notebook 06's MyNet). Elsewhere
    bfloat16 is emulated and slower, so the answer is no.
    """
    import torch  # deferred: torch takes seconds to import; base modules load without it

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        has = cpu_capabilities()
        return has["avx512_bf16"] or has["amx"]
    return False
