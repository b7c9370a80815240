"""One-hidden-layer auto-encoders and their regularisers (Rifai et al. 2011, ICML,
"Contractive Auto-Encoders: Explicit Invariance During Feature Extraction").

Encoder f(x) = sigmoid(W x + b_h), decoder g(h) = sigmoid(W' h + b_r) with tied weights
W' = W^T by default (the paper's choice; `tied_weights: false` gives an independent W'),
and the cross-entropy reconstruction L(x, g(f(x))) = -sum_i [x_i log y_i + (1 - x_i) log(1 - y_i)]
on pixel intensities in [0, 1]. Five objectives from one module, per example:

- `ae`    : L(x, g(f(x)))
- `ae_wd` : L + weight_decay * ||W||^2          (biases not decayed)
- `dae_g` : L(x, g(f(x~))), x~ = x + N(0, noise_level^2 I)   (isotropic Gaussian noise)
- `dae_b` : L(x, g(f(x~))), x~ = x with each pixel set to 0 with probability noise_level
- `cae`   : L + contraction * ||J_f(x)||_F^2, with the sigmoid encoder's closed form
            ||J_f(x)||_F^2 = sum_j (h_j (1 - h_j))^2 sum_i W_ji^2.

The losses are averaged over a minibatch; the paper writes them summed over the data set,
which rescales the learning rate only.

NOTE: the paper selects noise levels, lambda and weight decay on the validation set but
does not print the chosen values; params.yaml says where ours come from.
NOTE: the encoder's Jacobian and saturation figures are measured on the pretrained encoder,
before fine-tuning, as in the paper's Table 1.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genlab.models.base import Trainable

NOISES = ("none", "gaussian", "masking")


def sigmoid_jacobian_sq_norm(h: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """||J_f(x)||_F^2 per example for f(x) = sigmoid(W x + b): sum_j (h_j(1-h_j))^2 sum_i W_ji^2.

    h: (N, hidden) encoder outputs; weight: (hidden, n_in). Returns (N,).
    """
    return ((h * (1 - h)) ** 2) @ (weight ** 2).sum(dim=1)


class AutoEncoder(Trainable):
    """A sigmoid auto-encoder with one hidden layer and one of the paper's regularisers."""

    def __init__(self, n_in: int, hidden: int, *, tied_weights: bool = True, noise: str = "none",
                 noise_level: float = 0.0, contraction: float = 0.0, weight_decay: float = 0.0):
        super().__init__()
        if noise not in NOISES:
            raise ValueError(f"noise {noise!r}: expected one of {NOISES}")
        self.n_in, self.hidden = n_in, hidden
        self.noise, self.noise_level = noise, noise_level
        self.contraction, self.weight_decay = contraction, weight_decay
        # uniform(+-4 sqrt(6 / (fan_in + fan_out))): the usual initialisation for sigmoid layers
        bound = 4 * math.sqrt(6.0 / (n_in + hidden))
        self.weight = nn.Parameter(torch.empty(hidden, n_in).uniform_(-bound, bound))
        self.bias_hidden = nn.Parameter(torch.zeros(hidden))
        self.bias_visible = nn.Parameter(torch.zeros(n_in))
        self.decoder_weight = None if tied_weights else nn.Parameter(
            torch.empty(n_in, hidden).uniform_(-bound, bound))

    @property
    def tied_weights(self) -> bool:
        return self.decoder_weight is None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """h = sigmoid(W x + b_h) for images or flat vectors; (N, hidden)."""
        return torch.sigmoid(F.linear(x.flatten(1), self.weight, self.bias_hidden))

    def decode_logits(self, h: torch.Tensor) -> torch.Tensor:
        w = self.weight.t() if self.tied_weights else self.decoder_weight
        return F.linear(h, w, self.bias_visible)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(self.encode(x))).view_as(x)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x~ for the denoising objectives (the input unchanged for the others)."""
        if self.noise == "gaussian":
            return x + self.noise_level * torch.randn(x.shape, generator=generator, device=x.device)
        if self.noise == "masking":
            keep = torch.rand(x.shape, generator=generator, device=x.device) >= self.noise_level
            return x * keep
        return x

    def jacobian_sq_norm(self, x: torch.Tensor) -> torch.Tensor:
        """||J_f(x)||_F^2 per example (N,)."""
        return sigmoid_jacobian_sq_norm(self.encode(x), self.weight)

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        target = x.flatten(1)
        x_in = self.corrupt(x) if self.training else x
        h = self.encode(x_in)
        recon = F.binary_cross_entropy_with_logits(self.decode_logits(h), target, reduction="none").sum(1).mean()
        total = recon
        figures = {"recon": recon.item()}
        if self.contraction > 0:
            jac = sigmoid_jacobian_sq_norm(h, self.weight).mean()
            total = total + self.contraction * jac
            figures["jacobian_sq"] = jac.item()
        if self.weight_decay > 0:
            wd = (self.weight ** 2).sum() + (0 if self.tied_weights else (self.decoder_weight ** 2).sum())
            total = total + self.weight_decay * wd
            figures["weight_sq"] = wd.item()
        figures["loss"] = total.item()
        return total, figures


class FineTunedMLP(Trainable):
    """The paper's classifier: the pretrained encoder layer (sigmoid) + a softmax output layer,
    every weight trained on the labels (supervised fine-tuning)."""

    def __init__(self, encoder: AutoEncoder, n_classes: int = 10):
        super().__init__()
        self.hidden = nn.Linear(encoder.n_in, encoder.hidden)
        with torch.no_grad():
            self.hidden.weight.copy_(encoder.weight)
            self.hidden.bias.copy_(encoder.bias_hidden)
        self.out = nn.Linear(encoder.hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.sigmoid(self.hidden(x.flatten(1))))

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        return loss, {"loss": loss.item(), "error": (logits.argmax(1) != y).float().mean().item()}


def filters(weight: torch.Tensor, image_shape: tuple[int, ...], n: int) -> torch.Tensor:
    """The first n rows of a (hidden, D) weight matrix as images, each scaled to [0, 1]."""
    w = weight[:n].detach().cpu().float()
    lo, hi = w.min(dim=1, keepdim=True).values, w.max(dim=1, keepdim=True).values
    return ((w - lo) / (hi - lo).clamp_min(1e-12)).view(n, *image_shape)


def build(cfg, image_shape: tuple[int, ...], n_classes: int = 0) -> AutoEncoder:
    """The auto-encoder a params block describes (`model`, `objective`)."""
    o = cfg.objective
    return AutoEncoder(math.prod(image_shape), cfg.model.hidden, tied_weights=cfg.model.tied_weights, noise=o.noise,
                       noise_level=o.noise_level, contraction=o.contraction, weight_decay=o.weight_decay)
