"""The one place that knows how many processes train together.

Today genlab trains in one process (`SingleProcess`). Data-parallel training through
torchrun (DDP) changes only this: wrap the model in DistributedDataParallel, give each
rank its shard of every epoch's permutation, all-reduce the summed figures, and let only
rank 0 write checkpoints and logs. The families and the trainer call these methods and
nothing else, so they need no rewrite for it.
"""
from __future__ import annotations

import torch
from torch import nn


class SingleProcess:
    """One process, one device."""

    world_size = 1
    rank = 0

    @property
    def is_main(self) -> bool:
        """Whether this process writes checkpoints, logs and metrics."""
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module whose forward the training step calls (DDP: DistributedDataParallel(model))."""
        return model

    def batches(self, n: int, batch_size: int, generator: torch.Generator) -> list[list[int]]:
        """One epoch's batches of indices into a data set of n items, in an order drawn from `generator`
        (DDP: every rank draws the same permutation and keeps its rank-th share of each batch)."""
        order = torch.randperm(n, generator=generator).tolist()
        return [order[i:i + batch_size] for i in range(0, n, batch_size)]

    def reduce(self, sums: dict[str, float], count: int) -> tuple[dict[str, float], int]:
        """Sums of per-item figures and the item count over all processes (DDP: all_reduce)."""
        return sums, count
