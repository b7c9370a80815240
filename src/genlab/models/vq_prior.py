"""Stage 2 of the VQ models: the code prior (one gated PixelCNN per level) and the sampler that decodes its codes.

`CodePrior` is what `fit_prior@<prior>` trains: for VQ-VAE one PixelCNN over the code map;
for VQ-VAE-2 a top PixelCNN (with self-attention) and a bottom PixelCNN conditioned on the
top codes (Razavi et al. 2019), both class-conditional when the prior is. Its loss is the sum
of the levels' NLLs over all code positions, in nats per code; the levels have disjoint
parameters, so training them together under Adam is training each on its own.

`VQPriorSampler` (family `vq_prior`) holds a trained VQ model and its prior: sample@<prior>
builds it from the prior's checkpoint, which carries both (a self-contained generator). A
sample is: codes drawn ancestrally from the prior (top, then bottom given top), decoded to
the decoder's mean image in [-1, 1] (the 'eight_bit' view's scale).
"""
from __future__ import annotations

import math

import torch

from genlab.config import ModelConfigError
from genlab.models.base import GenerativeModel, Trainable
from genlab.models.pixelcnn import GatedPixelCNN
from genlab.models.vqvae import VQVAE
from genlab.models.vqvae import build as build_vq


class CodePrior(Trainable):
    """PixelCNNs over the code maps of the `levels` (coarsest first) of a VQ model."""

    def __init__(self, levels: tuple[str, ...], code_shapes: dict[str, tuple[int, int]], n_codes: int,
                 arch: dict, n_classes: int = 0):
        super().__init__()
        self.levels, self.code_shapes, self.n_classes = tuple(levels), dict(code_shapes), n_classes
        nets = {}
        for i, level in enumerate(self.levels):
            a = arch[level]
            above = self.levels[i - 1] if i else None
            nets[level] = GatedPixelCNN(n_codes, code_shapes[level], channels=a["channels"], n_layers=a["n_layers"],
                                        kernel=a["kernel"], attention_every=a["attention_every"], heads=a["heads"],
                                        n_classes=n_classes, cond_codes=n_codes if above else 0,
                                        cond_shape=code_shapes[above] if above else None)
        self.nets = torch.nn.ModuleDict(nets)

    @property
    def n_positions(self) -> int:
        return sum(h * w for h, w in self.code_shapes.values())

    def split(self, batch: tuple[torch.Tensor, ...]) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """A batch (codes of each level, then labels when conditional) -> (codes by level, labels)."""
        codes = dict(zip(self.levels, batch[:len(self.levels)]))
        return codes, (batch[len(self.levels)] if self.n_classes else None)

    def nll(self, codes: dict[str, torch.Tensor], labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """-log p of each level's map (nats per map, (N,)); the bottom given the top."""
        out = {}
        for i, level in enumerate(self.levels):
            cond = codes[self.levels[i - 1]] if i else None
            out[level] = self.nets[level].nll(codes[level], labels, cond)
        return out

    def loss(self, *batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        codes, labels = self.split(batch)
        nll = self.nll(codes, labels)
        total = sum(nll.values())
        figures = {"bits_per_code": (total.mean() / (self.n_positions * math.log(2))).item(), **{f"{level}_bits_per_code": (v.mean() / (self.code_shapes[level][0] * self.code_shapes[level][1]
                                                          * math.log(2))).item() for level, v in nll.items()}}
        return total.mean() / self.n_positions, figures

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None,
               naive: bool = False) -> dict[str, torch.Tensor]:
        codes: dict[str, torch.Tensor] = {}
        for i, level in enumerate(self.levels):
            cond = codes[self.levels[i - 1]] if i else None
            codes[level] = self.nets[level].sample(n, generator, labels, cond, naive=naive)
        return codes


def build_prior(sampler_cfg, vq: VQVAE, n_classes: int) -> CodePrior:
    """The CodePrior a prior's resolved `sampler` block describes, for the VQ model `vq`."""
    if sampler_cfg["conditional"] and not n_classes:
        raise ModelConfigError(f"priors.{sampler_cfg.get('name', '')}: conditional = true, but the data set of "
                               f"{sampler_cfg['vq_model']} has no classes")
    return CodePrior(vq.levels, vq.code_shapes, vq.n_codes, sampler_cfg["prior"],
                     n_classes if sampler_cfg["conditional"] else 0)


class VQPriorSampler(GenerativeModel):
    """A VQ model and its fitted prior: samples are decoded prior samples."""

    def __init__(self, vq: VQVAE, prior: CodePrior):
        super().__init__()
        self.vq, self.prior = vq, prior

    @property
    def conditional(self) -> bool:
        return self.prior.n_classes > 0

    def loss(self, *batch):
        raise TypeError("VQPriorSampler is not trained: train@<vq model> fits the VQ model, fit_prior@<prior> "
                        "the prior")

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None,
               naive: bool = False) -> torch.Tensor:
        if self.conditional and labels is None:  # a grid of classes 0, 1, ..., as the other conditional models
            labels = torch.arange(n) % self.prior.n_classes
        device = next(self.parameters()).device
        codes = self.prior.sample(n, generator, None if labels is None else labels.to(device), naive=naive)
        return self.vq.sample_image(codes)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The VQ model's reconstructions (decoder means, [-1, 1]) of images x in the eight_bit view."""
        return self.vq.sample_image(self.vq.encode(x))

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + 1) / 2).clamp(0, 1)


def build(cfg, image_shape: tuple[int, ...], n_classes: int = 0) -> VQPriorSampler:
    vq = build_vq(cfg.vq, image_shape, n_classes)
    return VQPriorSampler(vq, build_prior(cfg, vq, n_classes))
