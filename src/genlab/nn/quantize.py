"""Vector quantization (van den Oord et al. 2017, VQ-VAE §3.1-3.2; EMA codebook from its appendix A.1).

A map of encoder outputs z_e (N, D, H, W) is replaced position by position by its nearest
codebook vector e_k, k = argmin_j ||z_e - e_j||^2. The decoder gets z_q = z_e + sg[e_k - z_e]:
the value e_k forward, and in the backward pass the decoder input's gradient copied to the
encoder unchanged (the straight-through estimator).

Losses, each the squared L2 distance summed over the D channels and over positions, per image:
- `codebook`: ||sg[z_e] - e||^2, which moves the codes (absent with the EMA codebook);
- `commitment`: ||z_e - sg[e]||^2, weighted by beta (0.25 in the paper) in the model's loss.

EMA codebook (`ema=True`, gamma = `decay` 0.99): after every training forward pass, with n_k
the number of positions assigned to code k in the batch and m_k the sum of their z_e,
    N_k <- gamma N_k + (1 - gamma) n_k,    M_k <- gamma M_k + (1 - gamma) m_k,
    N_k <- (N_k + eps) / (sum_j N_j + K eps) * sum_j N_j     (Laplace smoothing, eps 1e-5)
    e_k <- M_k / N_k.
The batch statistics (n_k, m_k) are computed in `batch_statistics` and applied in `ema_update`:
under data parallelism, sum them across ranks between the two (`reduce` hook) and every rank
applies the same update.

Dead-code restart (`restart_dead`, off by default: the paper has none): after an EMA or loss
update, every code whose running usage N_k fell below `restart_below` is moved onto a random
encoder output of the batch. NOTE: an option of later public code (e.g. Jukebox), not of the paper.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


class VectorQuantizer(nn.Module):
    def __init__(self, n_codes: int, dim: int, ema: bool = False, decay: float = 0.99, eps: float = 1e-5,
                 restart_dead: bool = False, restart_below: float = 1e-3):
        super().__init__()
        self.n_codes, self.dim, self.ema = n_codes, dim, ema
        self.decay, self.eps = decay, eps
        self.restart_dead, self.restart_below = restart_dead, restart_below
        init = torch.randn(n_codes, dim)  # N(0, 1) as nn.Embedding; the paper gives none (+-1/K collapsed here)
        if ema:  # updated by moving averages, not by the optimiser
            self.register_buffer("codebook", init)
            self.register_buffer("ema_count", torch.zeros(n_codes))
            self.register_buffer("ema_sum", init.clone())
        else:
            self.codebook = nn.Parameter(init)
        # running usage of each code (the EMA count's rule), kept in both modes: dead-code figures and restarts
        self.register_buffer("usage", torch.zeros(n_codes))
        self.reduce: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None

    # ------------------------------------------------------------------ lookup
    def nearest(self, z_e: torch.Tensor) -> torch.Tensor:
        """Code indices (N, H, W) of the nearest codebook vectors to z_e (N, D, H, W)."""
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, self.dim)
        e = self.codebook
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ e.t() + e.pow(2).sum(1)[None]
        return dist.argmin(1).view(z_e.shape[0], *z_e.shape[2:])

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """Codebook vectors (N, D, H, W) of code indices (N, H, W). F.embedding, not codebook[codes]: on the CPU
        the backward of advanced indexing accumulates in a thread-dependent order (not bit-reproducible), the
        embedding backward does not."""
        return F.embedding(codes, self.codebook).permute(0, 3, 1, 2).contiguous()

    # ------------------------------------------------------------------ EMA
    def batch_statistics(self, z_e: torch.Tensor, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """n_k (K,) and m_k (K, D): positions assigned to each code and the sum of their encoder outputs."""
        flat = z_e.detach().permute(0, 2, 3, 1).reshape(-1, self.dim)
        idx = codes.reshape(-1)
        counts = torch.bincount(idx, minlength=self.n_codes).to(flat.dtype)
        sums = torch.zeros(self.n_codes, self.dim, dtype=flat.dtype, device=flat.device).index_add_(0, idx, flat)
        return counts, sums

    @torch.no_grad()
    def ema_update(self, counts: torch.Tensor, sums: torch.Tensor) -> None:
        """One EMA step of the codebook from (already reduced) batch statistics; see the module docstring."""
        g = self.decay
        self.ema_count.mul_(g).add_(counts, alpha=1 - g)
        self.ema_sum.mul_(g).add_(sums, alpha=1 - g)
        total = self.ema_count.sum()
        smoothed = (self.ema_count + self.eps) / (total + self.n_codes * self.eps) * total
        self.codebook.copy_(self.ema_sum / smoothed[:, None])

    @torch.no_grad()
    def _restart(self, z_e: torch.Tensor) -> None:
        dead = (self.usage < self.restart_below).nonzero().flatten()
        if len(dead) == 0:
            return
        flat = z_e.detach().permute(0, 2, 3, 1).reshape(-1, self.dim)
        pick = flat[torch.randint(len(flat), (len(dead),), device=flat.device)]
        target = self.codebook.data if not self.ema else self.codebook
        target[dead] = pick
        if self.ema:
            self.ema_sum[dead] = pick
            self.ema_count[dead] = 1.0
        self.usage[dead] = 1.0

    # ------------------------------------------------------------------ forward
    def forward(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """z_e (N, D, H, W) -> (z_q with the straight-through gradient, codes (N, H, W), losses per image:
        'codebook' (zero with EMA) and 'commitment')."""
        codes = self.nearest(z_e)
        if self.training:
            counts, sums = self.batch_statistics(z_e, codes)
            if self.reduce is not None:
                counts, sums = self.reduce(counts, sums)
            with torch.no_grad():
                self.usage.mul_(self.decay).add_(counts, alpha=1 - self.decay)
            if self.ema:
                self.ema_update(counts, sums)
        e = self.embed(codes)
        commitment = (z_e - e.detach()).pow(2).flatten(1).sum(1)
        codebook = (z_e.detach() - e).pow(2).flatten(1).sum(1) if not self.ema else torch.zeros_like(commitment)
        z_q = z_e + (e - z_e).detach()
        if self.training and self.restart_dead:
            self._restart(z_e)
        return z_q, codes, {"codebook": codebook, "commitment": commitment}


def usage_figures(codes: torch.Tensor, n_codes: int) -> dict[str, float]:
    """Codebook perplexity exp(H(p)) of the code frequencies p over `codes` (any shape; n_codes when every code
    is used equally, 1 when one code is used), and the fraction of codes never used."""
    p = torch.bincount(codes.reshape(-1), minlength=n_codes).double()
    p = p / p.sum()
    entropy = -(p[p > 0] * p[p > 0].log()).sum().item()
    return {"perplexity": math.exp(entropy), "dead_fraction": float((p == 0).double().mean())}
