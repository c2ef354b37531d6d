"""The one device resolver."""

from __future__ import annotations

import torch

from cropviz.devices import device_name, resolve_device


def test_auto_is_cuda_when_torch_sees_it_else_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu") and device_name("auto") == "CPU"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cpu") == torch.device("cpu") and resolve_device(torch.device("cpu")).type == "cpu"
