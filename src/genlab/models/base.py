"""The interface every genlab model shares."""
from __future__ import annotations

import abc

import torch
from torch import nn


class GenerativeModel(nn.Module, abc.ABC):
    """A model the training loop can fit and the evaluate stage can sample.

    `loss(x)` returns the scalar minimised by the optimiser and a dict of per-batch
    figures (floats, already averaged over the batch) to log beside it.
    """

    @abc.abstractmethod
    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        ...

    @abc.abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images in [0, 1] with the data's shape."""
