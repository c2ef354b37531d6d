"""The inference fast path: blocks of EVAL_ROWS rows without gradients, whole batches otherwise."""

from __future__ import annotations

import pytest
import torch
from captum.attr import DeepLift
from torch import Tensor, nn

from cropviz.errors import ConfigurationError
from cropviz.models import fast, registry
from cropviz.models.fast import EVAL_ROWS, bfloat16_inference, chunked_inference, compiled_inference
from tests.models.test_zoo import TINY
from tests.models.zoo.helpers import randomise_batchnorm

T, D, C = 45, 13, 9
ROWS = 2 * EVAL_ROWS + 3  # two full blocks and a short one


class _Counting(nn.Module):
    """Records the batch size of every call of its (decorated) forward."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(D, C)
        self.calls: list[int] = []

    @chunked_inference
    def forward(self, x: Tensor) -> Tensor:
        self.calls.append(x.shape[0])
        return torch.log_softmax(self.linear(x).mean(dim=1), dim=-1)


def test_blocks_only_without_gradients_in_eval_mode() -> None:
    torch.manual_seed(0)
    model = _Counting().eval()
    x = torch.rand(ROWS, T, D)
    with torch.inference_mode():
        blocked = model(x)
    assert model.calls == [EVAL_ROWS, EVAL_ROWS, 3]
    model.calls.clear()
    with torch.no_grad():
        model(x)
    assert model.calls == [EVAL_ROWS, EVAL_ROWS, 3]
    model.calls.clear()
    whole = model(x)  # autograd on: one call (Captum's hooks must see each module once)
    assert model.calls == [ROWS]
    model.calls.clear()
    model.train()(x)
    assert model.calls == [ROWS]
    torch.testing.assert_close(blocked, whole.detach(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", registry.names(registry.ZOO))
def test_zoo_blocked_inference_equals_whole_batch(name: str) -> None:
    torch.manual_seed(0)
    model = registry.build(name, num_classes=C, input_dim=D, **TINY[name])
    randomise_batchnorm(model)
    model.eval()
    x = torch.rand(ROWS, T, D)
    with torch.inference_mode():
        blocked = model(x)
    with torch.enable_grad():
        whole = model(x.requires_grad_(True)).detach()
    assert blocked.shape == (ROWS, C)
    torch.testing.assert_close(blocked, whole, rtol=0, atol=1e-5)
    assert torch.equal(blocked.argmax(dim=1), whole.argmax(dim=1))


def test_deeplift_on_a_batch_larger_than_a_block() -> None:
    torch.manual_seed(0)
    model = registry.build("transformer", num_classes=C, input_dim=D, **TINY["transformer"]).eval()
    x = torch.rand(EVAL_ROWS + 5, T, D)
    values = DeepLift(model).attribute(x, target=0)
    parts = torch.cat([DeepLift(model).attribute(part, target=0) for part in x.split(EVAL_ROWS)])
    assert values.shape == x.shape
    assert values.abs().sum() > 0
    torch.testing.assert_close(values, parts, rtol=1e-4, atol=1e-6)


def test_compiled_inference_says_why_it_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _Counting()
    monkeypatch.setattr(fast.shutil, "which", lambda name: None)
    with pytest.raises(ConfigurationError, match="needs a C.. compiler"):
        compiled_inference(model)
    monkeypatch.undo()

    def failing_compile(function, **options):
        def compiled(x: Tensor) -> Tensor:
            raise RuntimeError("C++ compile error: cannot find immintrin.h\n(long log)")
        return compiled

    monkeypatch.setattr(torch, "compile", failing_compile)
    run = compiled_inference(model)
    with pytest.raises(ConfigurationError, match=r"could not compile _Counting \(C\+\+ compile error: cannot find "
                                                 r"immintrin.h\); run without --compile"):
        run(torch.rand(3, T, D))


@pytest.mark.parametrize("name", ["transformer", "tempcnn"])
def test_bfloat16_inference_stays_close_to_float32_and_leaves_the_model_alone(name, monkeypatch) -> None:
    from cropviz import devices

    monkeypatch.setattr(devices, "native_bfloat16", lambda device: True)  # emulated here if not native: same values
    torch.manual_seed(0)
    model = registry.build(name, num_classes=C, input_dim=D).eval()
    x = torch.rand(ROWS, T, D)
    with torch.inference_mode():
        exact = model(x)
        lowered = bfloat16_inference(model)(x)
    assert lowered.dtype == torch.float32 and lowered.shape == exact.shape
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the model itself stays float32
    gap = (lowered.exp() - exact.exp()).abs().max().item()
    assert 0 < gap < 0.05  # bfloat16 keeps 8 bits of mantissa: close, not equal
    assert (lowered.argmax(1) == exact.argmax(1)).float().mean().item() >= 0.9


def test_bfloat16_inference_is_refused_where_it_is_not_native(monkeypatch) -> None:
    from cropviz import devices

    monkeypatch.setattr(devices, "native_bfloat16", lambda device: False)
    with pytest.raises(ConfigurationError, match=r"this CPU has no native bfloat16 .*run without --bf16"):
        bfloat16_inference(registry.build("tempcnn", num_classes=C, input_dim=D))
