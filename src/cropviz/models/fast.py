"""Inference fast path shared by the zoo models: cache-sized row blocks.

On the CPU the zoo models are bound by memory traffic, not arithmetic, once a batch's
activations outgrow the cache: a transformer layer's q/k/v activations for 1024 parcels are
1024 x 45 x 192 floats (35 MB), for 128 parcels 4.4 MB. :func:`chunked_inference` therefore runs
a forward pass without gradients in blocks of :data:`EVAL_ROWS` rows and concatenates the
outputs (rows are independent in eval mode, so the result is the same up to float rounding).
Training, anything that records gradients (the explanations, whose hooks must see one call per
module) and GPU inputs run the batch whole, as before.

:func:`compiled_inference` is an optional backend for whole-region inference on the CPU
(``cropviz precompute --compile``): the same blocks through TorchInductor with the weights frozen
into the graph (oneDNN linear layers with their bias fused, elementwise work fused into C++
loops). It costs a compilation per process (about 10 s of CPU and a C++ compiler), so the app does
not use it.

:func:`bfloat16_inference` (``cropviz precompute --bf16``, with or without ``--compile``) runs a
bfloat16 copy of the model, for CPUs with AVX512-BF16 or AMX and for GPUs
(:func:`cropviz.devices.native_bfloat16`). Its class probabilities differ from float32 by up to a
few hundredths, so a few parcels in a thousand change class: ``bench/bench_inference.py --bf16
--demo`` reports the agreement and the change of accuracy per shipped model. The app keeps float32,
so that its explanations and predictions agree to the digit.
"""

from __future__ import annotations

import copy
import functools
import inspect
import shutil
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import Tensor, nn

from cropviz.errors import ConfigurationError

#: Rows per block of a forward pass without gradients. On this project's 2-core AMD EPYC (AVX2,
#: 512 KiB L2 per core, 32 MB L3 shared) blocks of 64, 128 and 256 rows ran within the noise of a
#: shared machine for the transformer, and 64-128 beat 256 for the LSTM; whole batches of 1024 ran
#: 1.1-1.35x slower for the transformer, 1.4x for the LSTM (``bench/bench_inference.py``).
EVAL_ROWS = 128

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def chunked_inference(forward: Callable[[ModuleT, Tensor], Tensor]) -> Callable[[ModuleT, Tensor], Tensor]:
    """Decorate a model's ``forward(x)`` to run blocks of :data:`EVAL_ROWS` rows without gradients.

    Applies to CPU inputs in eval mode when autograd is off (``torch.inference_mode`` or
    ``torch.no_grad``); otherwise (training, gradients, a GPU, which wants large batches) calls
    ``forward`` on the whole batch.
    """

    @functools.wraps(forward)
    def blocked(self: ModuleT, x: Tensor) -> Tensor:
        if self.training or torch.is_grad_enabled() or x.device.type != "cpu" or x.shape[0] <= EVAL_ROWS:
            return forward(self, x)
        return torch.cat([forward(self, part) for part in x.split(EVAL_ROWS)])

    return blocked


def bfloat16_inference(model: nn.Module, compiled: bool = False) -> Callable[[Tensor], Tensor]:
    """``model``'s eval forward pass (no gradients) on a bfloat16 copy of it, ``compiled`` with
    TorchInductor or eager (in blocks of :data:`EVAL_ROWS` rows on the CPU); ``model`` itself stays
    float32. Returns a function of float32 ``x`` -> float32 output, close to ``model(x)`` (class
    probabilities within a few hundredths). Raises ConfigurationError where the model's device has
    no native bfloat16 (:func:`cropviz.devices.native_bfloat16`): emulated, it is slower than float32.
    """
    from cropviz.devices import native_bfloat16

    device = next(model.parameters()).device
    if not native_bfloat16(device):
        raise ConfigurationError(f"{'this CPU' if device.type == 'cpu' else device} has no native bfloat16 "
                                 "(AVX512-BF16 or AMX on a CPU), where it would be slower than float32; "
                                 "run without --bf16")
    lowered = copy.deepcopy(model).eval().to(torch.bfloat16)
    forward = compiled_inference(lowered) if compiled else lowered

    def run(x: Tensor) -> Tensor:
        with torch.no_grad():
            return forward(x.to(torch.bfloat16)).float()

    return run


def compiled_inference(model: nn.Module) -> Callable[[Tensor], Tensor]:
    """``model``'s eval forward pass (no gradients, CPU) compiled once by TorchInductor with frozen
    weights, run in blocks of :data:`EVAL_ROWS` rows; the last block is padded with zeros so that
    one compiled graph serves every batch size (rows are independent in eval mode).

    Returns a function of ``x`` (N x ...) -> the model's output for ``x``, equal to ``model(x)``
    up to float rounding. Raises ConfigurationError when no C++ compiler is found (Inductor
    writes C++ for the CPU) or, on the first call, when the compilation fails.
    """
    if shutil.which("g++") is None and shutil.which("c++") is None:
        raise ConfigurationError("compiled inference needs a C++ compiler (g++), none found on the PATH; "
                                 "run without --compile")
    import torch._inductor.config as inductor_config

    forward = inspect.unwrap(type(model).forward)  # the body, without the block loop of chunked_inference
    block = torch.compile(functools.partial(forward, model), dynamic=False)
    model.eval()
    compiled = False

    def run_block(part: Tensor) -> Tensor:
        nonlocal compiled
        if compiled:
            return block(part)
        try:  # the first call compiles
            out = block(part)
        except Exception as error:  # Inductor's failures come in many types; say which model and why
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ConfigurationError(f"TorchInductor could not compile {type(model).__name__} ({reason}); "
                                     "run without --compile") from error
        compiled = True
        return out

    def run(x: Tensor) -> Tensor:
        parts = []
        with torch.no_grad(), inductor_config.patch(freezing=True):
            for part in x.split(EVAL_ROWS):
                rows = part.shape[0]
                if rows < EVAL_ROWS:
                    part = torch.cat([part, part.new_zeros(EVAL_ROWS - rows, *part.shape[1:])])
                parts.append(run_block(part)[:rows])
            return torch.cat(parts) if parts else forward(model, x)

    return run
