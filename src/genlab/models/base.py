"""The interfaces every genlab model shares."""
from __future__ import annotations

import abc

import torch
from torch import nn


class Trainable(nn.Module, abc.ABC):
    """A model the training loop can fit.

    `loss(*batch)` returns the scalar minimised by the optimiser and a dict of per-batch
    figures (floats, already averaged over the batch) to log beside it. A batch is one
    tensor (images) or a tuple (images, labels).
    """

    @abc.abstractmethod
    def loss(self, *batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        ...


class GenerativeModel(Trainable):
    """A trainable model the evaluate stage can sample."""

    @abc.abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images in [0, 1] with the data's shape."""
