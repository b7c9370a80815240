"""The one place that knows how many processes train together.

Today genlab trains in one process (`SingleProcess`). Data-parallel training through
torchrun (DDP) adds a class with the same methods: each rank's share of every epoch's
permutation (`batches`), all-reduced figures (`reduce`), checkpoints and logs from rank 0
only (`is_main`), and the model wrapped in DistributedDataParallel (`wrap`). The trainer
already calls the first three. NOTE: `wrap` is not called yet: a model-owned
`training_step` runs its own forward passes, so under DDP it must run them through the
wrapped module (e.g. the trainer hands the step `net = parallel.wrap(model)` and the
step calls `net(...)`); GAN steps with several backward passes per step also need
DDP's `no_sync` or one wrapper per player. That is the part to write with the first
multi-GPU run.
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
