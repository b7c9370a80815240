"""Discretized logistic likelihood of 8-bit images (Salimans et al. 2017, PixelCNN++; Kingma et al. 2016, IAF).

A byte b in 0..255 is scaled to x = 2b/255 - 1 in [-1, 1]; its bin is [x - 1/255, x + 1/255],
except that bin 0 takes all mass below and bin 255 all mass above:
    log P(b) = log(sigmoid((x + 1/255 - mean)/s) - sigmoid((x - 1/255 - mean)/s))   0 < b < 255
    log P(0) = log sigmoid((x + 1/255 - mean)/s),  log P(255) = log(1 - sigmoid((x - 1/255 - mean)/s))
with s = exp(log_scale). Every sub-pixel (channel) is independent; the mixture below has no
PixelCNN++ channel autoregression. Log-likelihoods are in nats, summed per image.

NOTE: PixelCNN++ takes the difference of the two sigmoids and, where it falls below 1e-5,
falls back to the log density at the bin centre plus log(bin width). Here the difference
is computed exactly in log space, with a = (x + 1/255 - mean)/s and b = (x - 1/255 - mean)/s:
    sigmoid(a) - sigmoid(b) = sigmoid(a) * sigmoid(-b) * (1 - exp(-(a - b)))
so nothing underflows and no fallback is needed. Like PixelCNN++, log_scale is clamped
from below at -7 (`min_log_scale`); a consequence is that an interior level can get at most
sigmoid(e^7/255) - sigmoid(-e^7/255) = 0.973 of the mass (log-prob >= -0.0272 nats).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

HALF_BIN = 1.0 / 255.0  # half the bin width 2/255 on the [-1, 1] scale
MIN_LOG_SCALE = -7.0  # PixelCNN++'s lower clamp on log_scale
_EDGE = 0.999  # x below -0.999 is level 0, above 0.999 level 255 (as in PixelCNN++)
_SMALL_WIDTH = 1e-3  # below this scaled bin width, log(1 - e^-w) uses its series


def to_symmetric(uint8_images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Bytes 0..255 to levels 2b/255 - 1 in [-1, 1], correctly rounded in `dtype`."""
    if uint8_images.is_floating_point():
        raise TypeError("to_symmetric expects integer bytes 0..255, got a floating-point tensor")
    return (uint8_images.to(dtype) * 2 - 255) / 255  # 2b - 255 is exact: one rounding only


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Levels in [-1, 1] back to uint8 bytes (nearest level)."""
    return torch.round((x.clamp(-1.0, 1.0) + 1.0) * 127.5).to(torch.uint8)


def _log1mexp(width: torch.Tensor, log_width: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(-width)) for width > 0, finite (with finite gradients) even where width underflows."""
    small = width < _SMALL_WIDTH
    # the unused branch of torch.where still gets a gradient, so both inputs are kept finite
    direct = torch.log(-torch.expm1(-width.clamp(min=_SMALL_WIDTH)))
    series = log_width - width / 2 + width.pow(2) / 24  # log w - w/2 + w^2/24 - O(w^4)
    return torch.where(small, series, direct)


def _log_prob_per_subpixel(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor,
                           min_log_scale: float) -> torch.Tensor:
    """log P(level of x) for each sub-pixel, broadcasting x, mean and log_scale."""
    log_scale = log_scale.clamp(min=min_log_scale)
    inv_s = torch.exp(-log_scale)
    centred = x - mean
    a = inv_s * (centred + HALF_BIN)
    b = inv_s * (centred - HALF_BIN)
    log_cdf_upper = F.logsigmoid(a)  # all mass below the upper edge
    log_sf_lower = F.logsigmoid(-b)  # log(1 - sigmoid(b)): all mass above the lower edge
    log_width = math.log(2 * HALF_BIN) - log_scale  # log(a - b), with no underflow of a - b
    log_mass = log_cdf_upper + log_sf_lower + _log1mexp(torch.exp(log_width), log_width)
    return torch.where(x < -_EDGE, log_cdf_upper, torch.where(x > _EDGE, log_sf_lower, log_mass))


def discretized_logistic_log_prob(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor,
                                  min_log_scale: float = MIN_LOG_SCALE) -> torch.Tensor:
    """Per-image log-likelihood (nats) of 8-bit images x (N, C, H, W) in [-1, 1], sub-pixels independent."""
    return _log_prob_per_subpixel(x, mean, log_scale, min_log_scale).flatten(start_dim=1).sum(dim=1)


def discretized_mix_logistic_log_prob(x: torch.Tensor, logit_probs: torch.Tensor, means: torch.Tensor,
                                      log_scales: torch.Tensor,
                                      min_log_scale: float = MIN_LOG_SCALE) -> torch.Tensor:
    """Per-image log-likelihood (nats) of x (N, C, H, W) under a mixture of K discretized logistics
    per sub-pixel; logit_probs, means, log_scales are (N, K, C, H, W)."""
    log_mass = _log_prob_per_subpixel(x.unsqueeze(1), means, log_scales, min_log_scale)
    log_pi = torch.log_softmax(logit_probs, dim=1)
    return torch.logsumexp(log_pi + log_mass, dim=1).flatten(start_dim=1).sum(dim=1)


def sample_discretized_logistic(mean: torch.Tensor, log_scale: torch.Tensor,
                                generator: torch.Generator | None = None,
                                min_log_scale: float = MIN_LOG_SCALE) -> torch.Tensor:
    """Draw levels in [-1, 1] (one of the 256 values 2b/255 - 1) from independent discretized logistics."""
    mean, log_scale = torch.broadcast_tensors(mean, log_scale)
    u = torch.rand(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
    # logit(u) = log u - log(1 - u); u = 0 gives -inf, which the clamp sends to level 0
    x = mean + torch.exp(log_scale.clamp(min=min_log_scale)) * torch.logit(u)
    levels = torch.round((x.clamp(-1.0, 1.0) + 1.0) * 127.5)
    return (levels * 2 - 255) / 255


def sample_discretized_mix_logistic(logit_probs: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor,
                                    generator: torch.Generator | None = None,
                                    min_log_scale: float = MIN_LOG_SCALE) -> torch.Tensor:
    """Draw levels in [-1, 1] (N, C, H, W) from per-sub-pixel mixtures given as (N, K, C, H, W)."""
    u = torch.rand(logit_probs.shape, generator=generator, dtype=logit_probs.dtype, device=logit_probs.device)
    gumbel = -torch.log(-torch.log(u.clamp(min=torch.finfo(u.dtype).tiny)))
    k = torch.argmax(torch.log_softmax(logit_probs, dim=1) + gumbel, dim=1, keepdim=True)
    mean = torch.gather(means, 1, k).squeeze(1)
    log_scale = torch.gather(log_scales, 1, k).squeeze(1)
    return sample_discretized_logistic(mean, log_scale, generator, min_log_scale)
