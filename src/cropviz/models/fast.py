"""Inference fast path shared by the zoo models: cache-sized row blocks.

On the CPU the zoo models are bound by memory traffic, not arithmetic, once a batch's
activations outgrow the cache: a transformer layer's q/k/v activations for 1024 parcels are
1024 x 45 x 192 floats (35 MB), for 128 parcels 4.4 MB. :func:`chunked_inference` therefore runs
a forward pass without gradients in blocks of :data:`EVAL_ROWS` rows and concatenates the
outputs (rows are independent in eval mode, so the result is the same up to float rounding).
Training, anything that records gradients (the explanations, whose hooks must see one call per
module) and GPU inputs run the batch whole, as before.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import Tensor, nn

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
