"""The interfaces every genlab model shares."""
from __future__ import annotations

import abc

import torch
from torch import nn


class Trainable(nn.Module, abc.ABC):
    """A model the trainer can fit; it owns its training step.

    `loss(*batch)` returns the scalar minimised by the optimiser and a dict of per-batch
    figures (floats, already averaged over the batch). A batch is a tuple (images,) or
    (images, labels). The default `training_step` makes one update of the one optimiser
    `model` on that loss; a model with several optimisers (a GAN's generator and critic)
    names them in `optimizer_names` and overrides `training_step`.
    """

    optimizer_names: tuple[str, ...] = ("model",)

    @abc.abstractmethod
    def loss(self, *batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        ...

    def training_step(self, batch: tuple[torch.Tensor, ...], step: int, opt) -> dict[str, float]:
        """One step: `opt.step(name, loss)` zeroes, back-propagates, clips and steps optimiser `name`."""
        loss, figures = self.loss(*batch)
        opt.step("model", loss)
        return figures

    @torch.no_grad()
    def validation_step(self, batch: tuple[torch.Tensor, ...]) -> dict[str, float]:
        """Figures of one held-out batch (the trainer averages them; `loss` is the objective)."""
        loss, figures = self.loss(*batch)
        return {"loss": loss.item(), **figures}


class GenerativeModel(Trainable):
    """A trainable model that samples images in the view it was trained on."""

    @abc.abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        """n samples (N, C, H, W) in the model's view (labels: one class per sample, conditional models)."""

    @property
    def conditional(self) -> bool:
        return False
