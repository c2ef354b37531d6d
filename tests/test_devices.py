"""The one device resolver."""

from __future__ import annotations

import torch

from cropviz.devices import device_name, native_bfloat16, resolve_device


def test_auto_is_cuda_when_torch_sees_it_else_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu") and device_name("auto") == "CPU"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cpu") == torch.device("cpu") and resolve_device(torch.device("cpu")).type == "cpu"


def test_bfloat16_is_native_only_on_cpus_with_avx512_bf16_or_amx(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw\n\nprocessor\t: 1\n")
    assert not native_bfloat16("cpu", cpuinfo)  # AVX-512 alone emulates bfloat16
    for flag in ("avx512_bf16", "amx_bf16"):
        cpuinfo.write_text(f"processor\t: 0\nflags\t\t: fpu avx2 avx512f {flag} amx_tile\n")
        assert native_bfloat16("cpu", cpuinfo)
    cpuinfo.write_text("model name\t: a CPU whose name says amx_bf16\nflags\t\t: fpu avx2\n")
    assert not native_bfloat16("cpu", cpuinfo)  # only the flags line counts
