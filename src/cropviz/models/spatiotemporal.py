"""Spatio-temporal parcel-patch classifiers of seed 004 (spatial vs temporal structure).

Every model takes ``x: N x T x C x P x P`` (C bands, default 10; P = 32 pixel patches, pixels
outside the parcel equal to 0) and returns ``N x num_classes`` log-probabilities. Each model
exposes three parts, ``spatial``, ``temporal`` and ``head`` (``None`` where absent), which
:func:`parameter_counts` uses to reproduce the paper's "Temporal Parameter Ratio".

Design decisions (checked against Table 1 of the paper, 10 bands):

- Per-date CNN block: conv 3x3 without padding (with bias), BatchNorm, ReLU, MaxPool 2; three
  blocks take 32 -> 30 -> 15 -> 13 -> 6 -> 4 -> 2, and the 2 x 2 maps are *flattened*.
- MLP head: Linear + ReLU per hidden layer (no BatchNorm), then Linear + log-softmax. The
  paper's totals add up exactly only when the CNN's head is ``E -> 128 -> 64 -> K`` and the
  recurrent heads are ``H -> 64 -> K`` (the recurrent hidden state taking the place of the
  128-wide layer), with K = 19 outputs (18 classes plus one; with 18 outputs every total is
  65 lower). These are the defaults in :mod:`cropviz.models.registry`; ``head_hidden`` changes them.
- ConvLSTM: the "30:64" kernels are a two-block per-date conv stem (30 and 64 kernels,
  15 x 15 then 6 x 6 maps); the ConvLSTM cell has 64 hidden channels and 1 x 1 gate kernels
  without bias (a 3 x 3 cell with 64 channels alone would hold ~295k parameters, three times
  the budget); the last hidden state is max-pooled 3 x 3 to 2 x 2 and flattened (256) into a
  ``128 -> 64`` head. 95,417 parameters with K = 19 (paper 95,353, +0.07 %).

No module instance is called twice in one forward pass and no operation is in place (Captum
DeepLift): per-date CNNs run once on the ``N*T`` batch; the ConvLSTM cell steps through time
with functional convolutions on its own parameters.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cropviz.errors import ConfigurationError
from cropviz.types import IntArray

__all__ = [
    "MLPHead",
    "PatchCNN",
    "PatchGRU",
    "CNNGRU",
    "ConvLSTMClassifier",
    "ConvLSTMCell",
    "parcel_mean_std",
    "parameter_counts",
]


def _check_patches(x: Tensor, bands: int, patch_size: int, name: str) -> None:
    if x.dim() != 5 or x.shape[2] != bands or x.shape[3] != patch_size or x.shape[4] != patch_size:
        raise ConfigurationError(
            f"{name}: expected input N x T x {bands} x {patch_size} x {patch_size}, "
            f"got {tuple(x.shape)}"
        )
    if x.shape[1] < 1:
        raise ConfigurationError(f"{name}: input has no dates (T = 0)")


class MLPHead(nn.Module):
    """Classifier unit shared by all patch models: (Linear, ReLU) per hidden size, Linear,
    log-softmax. ``forward(z: N x in_dim) -> N x num_classes`` log-probabilities."""

    def __init__(self, in_dim: int, num_classes: int, hidden: IntArray = (128, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = in_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        layers += [nn.Linear(d, num_classes), nn.LogSoftmax(dim=-1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        """Log-probabilities N x num_classes of features N x in_dim."""
        return self.net(z)


def _conv_stem(in_ch: int, kernels: IntArray) -> nn.Sequential:
    """Per-image blocks of conv 3x3 (no padding), BatchNorm, ReLU, MaxPool 2."""
    layers: list[nn.Module] = []
    c = in_ch
    for k in kernels:
        layers += [nn.Conv2d(c, k, kernel_size=3), nn.BatchNorm2d(k), nn.ReLU(), nn.MaxPool2d(2)]
        c = k
    return nn.Sequential(*layers)


def _stem_size(patch_size: int, blocks: int) -> int:
    s = patch_size
    for _ in range(blocks):
        s = (s - 2) // 2
    if s < 1:
        raise ConfigurationError(f"patch size {patch_size} is too small for {blocks} conv blocks")
    return s


class _PerDateCNN(nn.Module):
    """Embeds every date of ``N x T x C x P x P`` independently: ``N x T x (k_last * s * s)``."""

    def __init__(self, bands: int, kernels: IntArray, patch_size: int) -> None:
        super().__init__()
        self.stem = _conv_stem(bands, kernels)
        self.out_size = _stem_size(patch_size, len(kernels))
        self.out_dim = int(kernels[-1]) * self.out_size * self.out_size

    def forward(self, x: Tensor) -> Tensor:
        n, t = x.shape[:2]
        z = self.stem(x.reshape(n * t, *x.shape[2:]))
        return z.reshape(n, t, self.out_dim)


class PatchCNN(nn.Module):
    """Seed 004 CNN: per-date 3-block CNN, flattened 2x2 maps, max over dates (PointNet), MLP."""

    def __init__(
        self,
        input_dim: int = 10,
        num_classes: int = 9,
        kernels: IntArray = (16, 32, 96),
        head_hidden: IntArray = (128, 64),
        patch_size: int = 32,
    ) -> None:
        super().__init__()
        self.input_dim, self.patch_size = input_dim, patch_size
        self.spatial = _PerDateCNN(input_dim, kernels, patch_size)
        self.temporal = None
        self.head = MLPHead(self.spatial.out_dim, num_classes, head_hidden)

    def forward(self, x: Tensor) -> Tensor:
        """Log-probabilities N x C: per-date CNN features, max over dates."""
        _check_patches(x, self.input_dim, self.patch_size, type(self).__name__)
        return self.head(self.spatial(x).amax(dim=1))


def parcel_mean_std(x: Tensor, eps: float = 1e-10) -> Tensor:
    """Per-date mean and standard deviation of each band over the parcel's pixels.

    ``x: N x T x C x H x W`` -> ``N x T x 2C`` (C means, then C standard deviations). The
    parcel footprint is the set of pixels that are non-zero in any band at any date (pixels
    outside the parcel are 0 in every band); statistics use only those pixels. The standard
    deviation is the population one, ``sqrt(var + eps)`` (eps keeps the gradient finite). A
    patch without any non-zero pixel gives zeros (std ``sqrt(eps)``).
    """
    mask = (x != 0).any(dim=2, keepdim=True).any(dim=1, keepdim=True).to(x.dtype)  # N,1,1,H,W
    count = mask.sum(dim=(-2, -1)).clamp_min(1.0)  # N,1,1
    mean = (x * mask).sum(dim=(-2, -1)) / count  # N,T,C
    centred = (x - mean[..., None, None]) * mask
    var = (centred * centred).sum(dim=(-2, -1)) / count
    return torch.cat([mean, torch.sqrt(var + eps)], dim=-1)


class _MeanStd(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return parcel_mean_std(x)


class PatchGRU(nn.Module):
    """Seed 004 GRU: per-date parcel mean and std per band (2C features), GRU, last hidden
    state, MLP."""

    def __init__(
        self,
        input_dim: int = 10,
        num_classes: int = 9,
        hidden_dims: int = 156,
        head_hidden: IntArray = (64,),
        patch_size: int = 32,
    ) -> None:
        super().__init__()
        self.input_dim, self.patch_size = input_dim, patch_size
        self.features = _MeanStd()
        self.spatial = None
        self.temporal = nn.GRU(2 * input_dim, hidden_dims, batch_first=True)
        self.head = MLPHead(hidden_dims, num_classes, head_hidden)

    def forward(self, x: Tensor) -> Tensor:
        """Log-probabilities N x C: a GRU over per-date band statistics."""
        _check_patches(x, self.input_dim, self.patch_size, type(self).__name__)
        _, h_n = self.temporal(self.features(x))
        return self.head(h_n[-1])


class CNNGRU(nn.Module):
    """Seed 004 CNN+GRU: per-date CNN embeddings fed in date order to a GRU, last hidden
    state, MLP."""

    def __init__(
        self,
        input_dim: int = 10,
        num_classes: int = 9,
        kernels: IntArray = (16, 16, 16),
        hidden_dims: int = 128,
        head_hidden: IntArray = (64,),
        patch_size: int = 32,
    ) -> None:
        super().__init__()
        self.input_dim, self.patch_size = input_dim, patch_size
        self.spatial = _PerDateCNN(input_dim, kernels, patch_size)
        self.temporal = nn.GRU(self.spatial.out_dim, hidden_dims, batch_first=True)
        self.head = MLPHead(hidden_dims, num_classes, head_hidden)

    def forward(self, x: Tensor) -> Tensor:
        """Log-probabilities N x C: per-date CNN features, then a GRU over dates."""
        _check_patches(x, self.input_dim, self.patch_size, type(self).__name__)
        _, h_n = self.temporal(self.spatial(x))
        return self.head(h_n[-1])


class ConvLSTMCell(nn.Module):
    """Convolutional LSTM (Shi et al. 2015, without peepholes) run over a whole sequence.

    One convolution of ``[x_t, h_{t-1}]`` gives the input, forget, output and candidate gates;
    ``c_t = f * c_{t-1} + i * g``, ``h_t = o * tanh(c_t)``. States are image-shaped
    (``hidden x H x W``, zero at the start; 'same' padding). ``forward(x: N x T x C x H x W)
    -> (h_T, c_T)``. Uses ``F.conv2d`` on its own parameters so no submodule is called more
    than once per forward pass.
    """

    def __init__(self, in_channels: int, hidden: int, kernel_size: int = 1, bias: bool = False) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ConfigurationError(f"ConvLSTM kernel size must be odd, got {kernel_size}")
        self.hidden, self.padding = hidden, kernel_size // 2
        self.weight = nn.Parameter(torch.empty(4 * hidden, in_channels + hidden, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(4 * hidden)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The last hidden and cell states (N x H x h x w each) after running over the T dates."""
        n, t, _, hgt, wid = x.shape
        h = x.new_zeros(n, self.hidden, hgt, wid)
        c = x.new_zeros(n, self.hidden, hgt, wid)
        for step in range(t):
            gates = F.conv2d(torch.cat([x[:, step], h], dim=1), self.weight, self.bias, padding=self.padding)
            i, f, o, g = torch.split(gates, self.hidden, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class ConvLSTMClassifier(nn.Module):
    """Seed 004 ConvLSTM: per-date conv stem (kernels 30:64), ConvLSTM cell with image-shaped
    states (64 channels), last hidden state max-pooled to ``pooled x pooled``, flattened, MLP."""

    def __init__(
        self,
        input_dim: int = 10,
        num_classes: int = 9,
        kernels: IntArray = (30, 64),
        hidden_dims: int = 64,
        cell_kernel: int = 1,
        cell_bias: bool = False,
        pooled: int = 2,
        head_hidden: IntArray = (128, 64),
        patch_size: int = 32,
    ) -> None:
        super().__init__()
        self.input_dim, self.patch_size = input_dim, patch_size
        self.spatial = _conv_stem(input_dim, kernels)
        size = _stem_size(patch_size, len(kernels))
        if size < pooled:
            raise ConfigurationError(f"ConvLSTM maps of {size} x {size} cannot be pooled to {pooled} x {pooled}")
        self.temporal = ConvLSTMCell(int(kernels[-1]), hidden_dims, cell_kernel, cell_bias)
        self.pool = nn.AdaptiveMaxPool2d(pooled)
        self.head = MLPHead(hidden_dims * pooled * pooled, num_classes, head_hidden)

    def forward(self, x: Tensor) -> Tensor:
        """Log-probabilities N x C: a ConvLSTM over dates, then pooling."""
        _check_patches(x, self.input_dim, self.patch_size, type(self).__name__)
        n, t = x.shape[:2]
        z = self.spatial(x.reshape(n * t, *x.shape[2:]))
        h, _ = self.temporal(z.reshape(n, t, *z.shape[1:]))
        return self.head(self.pool(h).flatten(1))


def _count(module: nn.Module | torch.Tensor | None) -> int:
    if isinstance(module, torch.Tensor):
        return module.numel()
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def parameter_counts(model: nn.Module) -> dict[str, float]:
    """Trainable parameters of a patch model split as in seed 004's Table 1.

    Returns ``{"total", "spatial", "temporal", "head", "temporal_share"}``: ``spatial`` counts
    the per-date convolutional part (convs and BatchNorm affine weights), ``temporal`` the
    recurrent unit (GRU or ConvLSTM cell), ``head`` the MLP classifier, ``total`` all
    parameters. ``temporal_share = temporal / (spatial + temporal)``: the head is left out
    (it is the same classifier unit in every model), so CNN gives 0 and GRU gives 1; 0 when
    both parts are empty. Raises ConfigurationError for a model without these parts.
    """
    if not all(hasattr(model, part) for part in ("spatial", "temporal", "head")):
        raise ConfigurationError(f"{type(model).__name__}: not a patch model (needs spatial, temporal, head)")
    spatial, temporal, head = _count(model.spatial), _count(model.temporal), _count(model.head)
    body = spatial + temporal
    return {
        "total": _count(model),
        "spatial": spatial,
        "temporal": temporal,
        "head": head,
        "temporal_share": temporal / body if body else 0.0,
    }
