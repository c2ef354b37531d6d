"""Where models run: the one device resolver (CUDA when PyTorch sees it, else the CPU)."""

from __future__ import annotations

from pathlib import Path

import torch

#: CPU flags (Linux ``/proc/cpuinfo``) of native bfloat16 arithmetic: AVX512-BF16 and AMX.
BFLOAT16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU; otherwise the named device."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def device_name(device: str | torch.device = "auto") -> str:
    """A readable name of the device ``device`` resolves to (the GPU model, or 'CPU')."""
    resolved = resolve_device(device)
    return torch.cuda.get_device_name(resolved) if resolved.type == "cuda" else "CPU"


def native_bfloat16(device: str | torch.device = "auto", cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether ``device`` computes in bfloat16 natively: a CUDA GPU that supports it, or a CPU with
    AVX512-BF16 or AMX (read from ``cpuinfo`` on Linux; elsewhere oneDNN's own answer). Without it
    PyTorch emulates bfloat16, which is slower than float32."""
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if resolved.type != "cpu":
        return False
    try:
        text = cpuinfo.read_text()
    except OSError:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    flags = {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[1].split()}
    return bool(flags & BFLOAT16_CPU_FLAGS)
