"""Log-densities the models are trained with: Gaussian KL and log-densities, Bernoulli pixels.

Conventions: log-likelihoods are in nats and per item (summed over all but the batch axis
for images, over the last axis for latent vectors).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def kl_std_normal(mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, diag(exp(log_std)^2)) || N(0, I)), summed over the last axis.

    Closed form: 0.5 * sum(sigma^2 + mu^2 - 1 - log sigma^2).
    """
    return 0.5 * (torch.exp(2 * log_std) + mean.pow(2) - 1.0 - 2 * log_std).sum(dim=-1)


def bernoulli_log_prob(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | logits) of independent Bernoulli pixels, summed over all but the first axis."""
    ll = -F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return ll.flatten(start_dim=1).sum(dim=1)


def std_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I), summed over the last axis."""
    return -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(dim=-1)


def normal_log_prob(z: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, diag(exp(log_std)^2)), summed over the last axis."""
    return (-0.5 * ((z - mean) * torch.exp(-log_std)).pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(dim=-1)
