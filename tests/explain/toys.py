"""Small hand-made models the explanation tests attribute: known answers, fast."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

T, D, C = 12, 5, 3


T_STAR = 7


class Planted(nn.Module):
    """Looks only at observation T_STAR: log_softmax(W x[:, T_STAR, :] + b)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(D, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.linear(x[:, T_STAR, :]), dim=-1)


class SmallNet(nn.Module):
    """Nonlinear sequence classifier: per-step MLP, max-pool over time, linear."""

    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        self.inlinear = nn.Linear(D, hidden)
        self.act = nn.Tanh()
        self.hidden = nn.Linear(hidden, hidden)
        self.relu = nn.ReLU()
        self.outlinear = nn.Linear(hidden, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.hidden(self.act(self.inlinear(x))))
        return torch.log_softmax(self.outlinear(h.max(dim=1).values), dim=-1)


class FlatNet(nn.Module):
    """MLP on the flattened sequence (learns date-specific weights)."""

    def __init__(self) -> None:
        super().__init__()
        self.l1 = nn.Linear(T * D, 32)
        self.relu = nn.ReLU()
        self.l2 = nn.Linear(32, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.l2(self.relu(self.l1(x.flatten(1)))), dim=-1)


class CausalSteps(nn.Module):
    """ELECTS stand-in: class log-probs at every step from the running mean up to that step."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(D, C)
        self.stop = nn.Linear(D, 1)

    def forward_steps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        steps = torch.arange(1, x.shape[1] + 1, device=x.device).view(1, -1, 1)
        running = x.cumsum(dim=1) / steps
        return torch.log_softmax(self.linear(running), dim=-1), torch.sigmoid(self.stop(running)).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_steps(x)[0][:, -1]


def seeded(cls: type[nn.Module], seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return cls().eval()


def logp(model: nn.Module, inp: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.as_tensor(inp, dtype=torch.float32)[None])[0].numpy()
