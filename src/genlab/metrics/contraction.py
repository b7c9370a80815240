"""Figures of an encoder's local geometry (Rifai et al. 2011, Table 1 and the contraction curve).

Pure functions over tensors; `encode` maps a batch of inputs (N, ...) to features (N, H).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

Encoder = Callable[[torch.Tensor], torch.Tensor]


def saturation(h: torch.Tensor, threshold: float) -> torch.Tensor:
    """Fraction of sigmoid activations within `threshold` of 0 or 1, per example: (N,)."""
    return ((h < threshold) | (h > 1 - threshold)).float().mean(dim=1)


@torch.no_grad()
def contraction_ratios(encode: Encoder, x: torch.Tensor, radii: Sequence[float],
                       generator: torch.Generator) -> torch.Tensor:
    """||f(x + r u) - f(x)|| / r for a random unit direction u per point and radius: (len(radii), N).

    The paper's contraction curve averages this ratio over test points at each input-space
    distance r: below 1 the encoder contracts the neighbourhood, above 1 it expands it.
    """
    flat = x.flatten(1)
    h0 = encode(x)
    out = torch.empty(len(radii), len(x))
    for i, r in enumerate(radii):
        u = torch.randn(flat.shape, generator=generator).to(flat.device)
        u = u / u.norm(dim=1, keepdim=True)
        h = encode((flat + r * u).view_as(x))
        out[i] = ((h - h0).norm(dim=1) / r).cpu()
    return out


def batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int,
            device: torch.device | str = "cpu") -> torch.Tensor:
    """fn over x in batches on `device`, results concatenated on the CPU."""
    with torch.no_grad():
        return torch.cat([fn(x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])
