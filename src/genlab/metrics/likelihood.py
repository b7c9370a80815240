"""Likelihood metrics: ELBO and IWAE bounds over a data set, bits/dim (the densities are in genlab.nn.distributions).

Pure functions over tensors. Conventions: log-likelihoods are in nats and per image
(summed over pixels); a *negative* ELBO or IWAE bound is an upper bound on the NLL.
"""
from __future__ import annotations

import math

import torch
from tqdm.auto import tqdm

LN2 = math.log(2.0)
BPD_FORMULA = "bpd = nll_nats / (n_dims * ln 2)"


def nats_to_bpd(nats: float | torch.Tensor, n_dims: int) -> float | torch.Tensor:
    """Bits per dimension from a per-image negative log-likelihood in nats."""
    return nats / (n_dims * LN2)


def bpd_to_nats(bpd: float | torch.Tensor, n_dims: int) -> float | torch.Tensor:
    return bpd * n_dims * LN2


def iwae_bound(log_w: torch.Tensor) -> torch.Tensor:
    """IWAE lower bound on log p(x) from log importance weights of shape (k, B).

    log (1/k) sum_i w_i  (Burda et al. 2016, eq. 8); k = 1 gives the ELBO.
    """
    k = log_w.shape[0]
    return torch.logsumexp(log_w, dim=0) - math.log(k)


def _labels(y: torch.Tensor | None, start: int, stop: int, device) -> torch.Tensor | None:
    return None if y is None else y[start:stop].to(device)


@torch.no_grad()
def dataset_nelbo(model, x: torch.Tensor, batch_size: int, device: torch.device | str = "cpu",
                  y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Per-image reconstruction NLL, KL and negative ELBO (nats) of `model` on `x` (in its view)
    (with labels `y` for a class-conditional model: then the bounds are on log p(x|y))."""
    recon, kl = [], []
    for start in range(0, len(x), batch_size):  # one pass, seconds: no progress bar
        xb, yb = x[start:start + batch_size].to(device), _labels(y, start, start + batch_size, device)
        r, k = model.elbo_terms(xb) if yb is None else model.elbo_terms(xb, yb)
        recon.append(r.cpu())
        kl.append(k.cpu())
    recon_t, kl_t = torch.cat(recon), torch.cat(kl)
    return {"recon": recon_t, "kl": kl_t, "nelbo": recon_t + kl_t}


@torch.no_grad()
def dataset_iwae(model, x: torch.Tensor, k: int, batch_size: int,
                 device: torch.device | str = "cpu", progress: bool = False,
                 y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Per-image negative IWAE bound with k samples, and the negative ELBO averaged over the
    same k samples (so nelbo >= niwae holds image by image, by Jensen's inequality).

    Streams over k in slices of constant size with a running logsumexp, so memory stays
    flat whatever k is (varying-size allocations fragmented the heap to 24 GB at k=5000).
    """
    images = min(len(x), batch_size)
    slice_k = max(1, 4096 // images)  # ~4k decoder passes per call (1.6x faster than 16k on CPU here)
    niwae, nelbo = [], []
    bar = tqdm(total=len(x), desc=f"IWAE k={k}", unit="img", disable=None if progress else True,
               mininterval=2.0)  # disable=None: a bar only on a terminal
    for start in range(0, len(x), images):
        xb = x[start:start + images].to(device)
        yb = _labels(y, start, start + images, device)
        lse = torch.full((len(xb),), -math.inf, device=device)
        total = torch.zeros(len(xb), device=device)
        for done in range(0, k, slice_k):
            kk = min(slice_k, k - done)
            log_w = model.log_weights(xb, kk) if yb is None else model.log_weights(xb, kk, yb)  # (kk, B)
            lse = torch.logaddexp(lse, torch.logsumexp(log_w, dim=0))
            total += log_w.sum(dim=0)
        niwae.append(-(lse - math.log(k)).cpu())
        nelbo.append(-(total / k).cpu())
        bar.update(len(xb))
    bar.close()
    return {"niwae": torch.cat(niwae), "nelbo": torch.cat(nelbo)}
