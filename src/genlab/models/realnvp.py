"""RealNVP (Dinh, Sohl-Dickstein & Bengio 2017, arXiv 1605.08803): exact likelihood by affine coupling.

The data is 8-bit images seen through the `dequantized` view, x = (b + u)/256 with
u ~ U[0, 1), so that a density on [0, 1)^D bounds the probability of the discrete image.
The flow maps x to z in four kinds of invertible steps:

1. the logit transform y = logit(a + (1 - 2a) x) (a = `alpha`), which takes [0, 1) to the
   real line without the boundary effects of [0, 1);
2. affine coupling layers: a binary mask b keeps half of the units,
   y = b * x + (1 - b) * (x * exp(s(b * x)) + t(b * x)), with s = scale * tanh(s_raw) and
   s, t from one ResNet; `checkerboard` masks alternate (i + j) parity, `channel` masks
   alternate halves of the channels;
3. batch normalization of each coupling's output (batch statistics in training, running
   averages in evaluation), itself an invertible affine map with its own log-determinant;
4. squeezing (C, H, W) -> (4C, H/2, W/2) and factoring out half of the channels at each
   scale (they go to the prior directly).

Per scale: three checkerboard couplings, a squeeze, three channel-wise couplings, then
half the channels leave; the last scale has four checkerboard couplings. The prior is
N(0, I). log p(x) = log N(z) + sum of every layer's log|det J| (couplings, batch norm, logit),
and test bits/dim, in the paper's convention for 8-bit data, is

    bpd = ( -log p(x) + D log 256 ) / ( D log 2 ) = -log2 p(x) / D + 8,

the density on [0, 1)^D turned into a density on [0, 256)^D (D = C H W); it bounds the
discrete image's -log2 P(b) / D from above (dequantization; Theis et al. 2016).

NOTE: the paper writes the logit's argument as a + (1 - a) x; we use a + (1 - 2a) x, which
is symmetric about 0.5 (so is the public reference code). `alpha` is a parameter (0.05, the paper's).
NOTE: each s/t ResNet starts with its output convolution's weight-norm scale at zero, so
every coupling is the identity at initialisation (stable first steps); the paper does not
say how it initialises them.
NOTE: batch norm in the flow has no learned affine parameters (the following coupling
scales and shifts); squeezing uses PyTorch's pixel_unshuffle ordering rather than the
paper's pattern (any fixed permutation is a valid flow step with log-determinant 0).
Weight normalization is on every s/t convolution and the L2 penalty (`l2_scale`,
5e-5 in the paper) on their scale parameters g.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from genlab.config import ModelConfigError
from genlab.models.base import GenerativeModel

LOG2 = math.log(2.0)


def bits_per_dim(log_px: torch.Tensor, n_dims: int) -> torch.Tensor:
    """bits/dim of 8-bit data from log p(x) (nats) of its dequantized values in [0, 1)^D."""
    return -log_px / (n_dims * LOG2) + 8.0


def std_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """Sum over all but the first dimension of log N(z; 0, 1)."""
    return (-0.5 * (z ** 2 + math.log(2 * math.pi))).flatten(1).sum(1)


def _wn_conv(c_in: int, c_out: int, kernel: int) -> nn.Module:
    return weight_norm(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.net = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(), _wn_conv(channels, channels, 3),
                                 nn.BatchNorm2d(channels), nn.ReLU(), _wn_conv(channels, channels, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class STNet(nn.Module):
    """The ResNet that gives a coupling's log-scale s and shift t: in conv, residual blocks, out conv."""

    def __init__(self, c_in: int, c_out: int, mid: int, n_blocks: int):
        super().__init__()
        self.body = nn.Sequential(_wn_conv(c_in, mid, 3), *[ResidualBlock(mid) for _ in range(n_blocks)],
                                  nn.BatchNorm2d(mid), nn.ReLU())
        self.out = _wn_conv(mid, 2 * c_out, 3)
        with torch.no_grad():  # identity coupling at initialisation (see the module's NOTE)
            self.out.parametrizations.weight.original0.zero_()
            self.out.bias.zero_()
        self.scale = nn.Parameter(torch.ones(1, c_out, 1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.out(self.body(x)).chunk(2, dim=1)
        return self.scale * torch.tanh(s), t


def checkerboard(h: int, w: int, parity: int, device=None) -> torch.Tensor:
    """(1, 1, h, w) mask: 1 where (i + j + parity) is even (the units a checkerboard coupling keeps)."""
    i = torch.arange(h, device=device).view(-1, 1)
    j = torch.arange(w, device=device).view(1, -1)
    return ((i + j + parity) % 2 == 0).float().view(1, 1, h, w)


class Coupling(nn.Module):
    """An affine coupling layer with a checkerboard or channel-wise mask; parity picks which half is kept."""

    def __init__(self, channels: int, mask: str, parity: int, mid: int, n_blocks: int):
        super().__init__()
        if mask not in ("checkerboard", "channel"):
            raise ValueError(f"mask {mask!r}: expected 'checkerboard' or 'channel'")
        if mask == "channel" and channels % 2:
            raise ValueError(f"a channel-wise coupling needs an even channel count, got {channels}")
        self.mask, self.parity = mask, parity
        c = channels if mask == "checkerboard" else channels // 2
        self.st = STNet(c, c, mid, n_blocks)

    def _split(self, x):
        a, b = x.chunk(2, dim=1)
        return (a, b) if self.parity == 0 else (b, a)

    def _join(self, kept, changed):
        return torch.cat([kept, changed] if self.parity == 0 else [changed, kept], dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.mask == "checkerboard":
            b = checkerboard(x.shape[2], x.shape[3], self.parity, x.device)
            s, t = self.st(x * b)
            s, t = s * (1 - b), t * (1 - b)
            return x * b + (1 - b) * (x * torch.exp(s) + t), s.flatten(1).sum(1)
        kept, other = self._split(x)
        s, t = self.st(kept)
        return self._join(kept, other * torch.exp(s) + t), s.flatten(1).sum(1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        if self.mask == "checkerboard":
            b = checkerboard(y.shape[2], y.shape[3], self.parity, y.device)
            s, t = self.st(y * b)
            s, t = s * (1 - b), t * (1 - b)
            return y * b + (1 - b) * ((y - t) * torch.exp(-s))
        kept, other = self._split(y)
        s, t = self.st(kept)
        return self._join(kept, (other - t) * torch.exp(-s))


class FlowBatchNorm(nn.Module):
    """Per-channel batch normalization as a flow step: y = (x - mean) / sqrt(var + eps).

    Training uses the batch's statistics (and updates running averages); evaluation and the
    inverse use the running averages. log|det J| = -1/2 * H * W * sum_c log(var_c + eps) per
    image, the batch statistics taken as constants (the paper's treatment)."""

    def __init__(self, channels: int, momentum: float = 0.05, eps: float = 1e-4):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.training:
            return self.running_mean, self.running_var
        mean = x.mean(dim=(0, 2, 3))
        var = x.var(dim=(0, 2, 3), unbiased=False)
        with torch.no_grad():
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var, self.momentum)
        return mean, var

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, var = self._stats(x)
        y = (x - mean.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1) + self.eps)
        logdet = -0.5 * torch.log(var + self.eps).sum() * x.shape[2] * x.shape[3]
        return y, logdet.expand(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.sqrt(self.running_var.view(1, -1, 1, 1) + self.eps) + self.running_mean.view(1, -1, 1, 1)


class Squeeze(nn.Module):
    """(C, H, W) -> (4C, H/2, W/2), a permutation: log-determinant 0."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return F.pixel_unshuffle(x, 2), x.new_zeros(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(y, 2)


class FlowSequence(nn.Module):
    """Flow steps in order; forward returns (y, summed log-determinant per image)."""

    def __init__(self, steps: list[nn.Module]):
        super().__init__()
        self.steps = nn.ModuleList(steps)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        total = x.new_zeros(x.shape[0])
        for step in self.steps:
            x, logdet = step(x)
            total = total + logdet
        return x, total

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        for step in reversed(self.steps):
            y = step.inverse(y)
        return y


class LogitTransform(nn.Module):
    """x in [0, 1) -> logit(alpha + (1 - 2 alpha) x), with its log-determinant."""

    def __init__(self, alpha: float):
        super().__init__()
        self.alpha = alpha

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.alpha + (1 - 2 * self.alpha) * x
        y = torch.log(s) - torch.log1p(-s)
        logdet = (math.log(1 - 2 * self.alpha) - torch.log(s) - torch.log1p(-s)).flatten(1).sum(1)
        return y, logdet

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return (torch.sigmoid(y) - self.alpha) / (1 - 2 * self.alpha)


class RealNVP(GenerativeModel):
    """The multi-scale RealNVP over images of `image_shape` (C, H, W) in the dequantized view."""

    def __init__(self, image_shape: tuple[int, int, int], n_scales: int = 2, mid_channels: int = 64,
                 n_blocks: int = 8, alpha: float = 0.05, batch_norm: bool = True, bn_momentum: float = 0.05,
                 l2_scale: float = 5e-5):
        super().__init__()
        c, h, w = image_shape
        if n_scales < 1:
            raise ModelConfigError(f"n_scales = {n_scales}: expected at least 1")
        factor = 2 ** (n_scales - 1)
        if h % factor or w % factor:
            raise ModelConfigError(f"n_scales = {n_scales}: images of {h}x{w} cannot be squeezed {n_scales - 1} "
                                   f"times (height and width must be divisible by {factor})")
        self.image_shape, self.n_dims = (c, h, w), c * h * w
        self.alpha, self.l2_scale = alpha, l2_scale
        self.logit = LogitTransform(alpha)

        def couple(channels, mask, parity):
            steps = [Coupling(channels, mask, parity, mid_channels, n_blocks)]
            return steps + ([FlowBatchNorm(channels, bn_momentum)] if batch_norm else [])

        self.scales = nn.ModuleList()
        self.z_shapes: list[tuple[int, int, int]] = []
        for i in range(n_scales):
            if i == n_scales - 1:  # the last scale: four checkerboard couplings
                steps = [s for k in range(4) for s in couple(c, "checkerboard", k % 2)]
                self.scales.append(FlowSequence(steps))
                self.z_shapes.append((c, h, w))
                break
            steps = [s for k in range(3) for s in couple(c, "checkerboard", k % 2)] + [Squeeze()]
            c, h, w = 4 * c, h // 2, w // 2
            steps += [s for k in range(3) for s in couple(c, "channel", k % 2)]
            self.scales.append(FlowSequence(steps))
            self.z_shapes.append((c // 2, h, w))  # factored out here
            c = c // 2

    # ---------------------------------------------------------------- density
    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """x in [0, 1)^D -> (the latent pieces, one per scale, and log|det dz/dx| per image)."""
        h, total = self.logit(x)
        zs = []
        for i, scale in enumerate(self.scales):
            h, logdet = scale(h)
            total = total + logdet
            if i < len(self.scales) - 1:
                z, h = h.chunk(2, dim=1)
                zs.append(z)
        zs.append(h)
        return zs, total

    def inverse(self, zs: list[torch.Tensor]) -> torch.Tensor:
        h = zs[-1]
        for i in reversed(range(len(self.scales))):
            if i < len(self.scales) - 1:
                h = torch.cat([zs[i], h], dim=1)
            h = self.scales[i].inverse(h)
        return self.logit.inverse(h)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) in nats per image, x in [0, 1)^D."""
        zs, logdet = self(x)
        return sum(std_normal_log_prob(z) for z in zs) + logdet

    def scale_penalty(self) -> torch.Tensor:
        """sum of squares of every weight-norm scale g (the paper's L2 on the scale parameters)."""
        gs = [m.parametrizations.weight.original0 for m in self.modules()
              if hasattr(m, "parametrizations") and hasattr(m.parametrizations, "weight")]
        return sum((g ** 2).sum() for g in gs)

    def loss(self, x: torch.Tensor, *labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        bpd = bits_per_dim(self.log_prob(x), self.n_dims).mean()
        loss = bpd + self.l2_scale * self.scale_penalty() if self.l2_scale else bpd
        return loss, {"bpd": bpd.item()}

    def validation_step(self, batch: tuple[torch.Tensor, ...]) -> dict[str, float]:
        with torch.no_grad():
            bpd = bits_per_dim(self.log_prob(batch[0]), self.n_dims).mean().item()
        return {"loss": bpd, "bpd": bpd}

    # ---------------------------------------------------------------- sampling
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None,
               temperature: float = 1.0) -> torch.Tensor:
        """n images in [0, 1] from z ~ N(0, temperature^2 I), through the inverse flow (running batch-norm
        statistics: call in eval mode)."""
        device = next(self.parameters()).device
        zs = [temperature * torch.randn((n, *shape), generator=generator).to(device) for shape in self.z_shapes]
        return self.inverse(zs).clamp(0, 1)

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(0, 1)


def build(cfg, image_shape: tuple[int, ...], n_classes: int = 0) -> RealNVP:
    m = cfg.model
    train = getattr(cfg, "train", None)  # absent from an evaluate slice; the penalty only matters in training
    return RealNVP(tuple(image_shape), n_scales=m.n_scales, mid_channels=m.mid_channels, n_blocks=m.n_blocks,
                   alpha=m.alpha, batch_norm=m.batch_norm, bn_momentum=m.bn_momentum,
                   l2_scale=train.l2_scale if train is not None else 0.0)
