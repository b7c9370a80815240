"""VQ-VAE (van den Oord et al. 2017) and its hierarchical successor VQ-VAE-2 (Razavi et al. 2019).

Both are kept in this one module because VQ-VAE-2 is built from VQ-VAE's blocks.

VQ-VAE (`levels: 1`): encoder = two stride-2 4x4 convolutions (ReLU), a 3x3 convolution, two
residual blocks (ReLU, 3x3 conv, ReLU, 1x1 conv) of `hidden` (256) channels and a 1x1
convolution to the code dimension D; one `VectorQuantizer` (nn/quantize.py) of K codes;
decoder = the mirror image (3x3 conv, two residual blocks, two stride-2 4x4 transposed
convolutions). MNIST 28x28 -> 7x7 codes, CIFAR-10 32x32 -> 8x8.

VQ-VAE-2 (`levels: 2`): the bottom encoder downsamples by `bottom_stride` (a power of two, 4
in the paper) and the top encoder a further 2; the top codes are decoded to the bottom
resolution and the bottom quantizer sees the bottom features concatenated with them (the
bottom codes are conditioned on the top); the decoder reads the bottom codes and the top
codes upsampled by a stride-2 transposed convolution. Faces 64x64 -> top 8x8, bottom 16x16.
No shape is hard-coded: the code maps follow from the image size and the strides, and an
image size they do not divide is refused with its numbers.

Objective, per image, divided by the number of sub-pixels D_x (nats per dimension):
    L = -log p(x | z_q) + sum_levels [ ||sg[z_e] - e||^2 + beta ||z_e - sg[e]||^2 ]
with p(x | z_q) the discretized logistic of nn/discretized.py on the 8-bit image (view
`eight_bit`), so that the same decoder gives the bits/dim of the likelihood row.

Bits/dim (PAPERS.md §4: VQ-VAE 4.67 on CIFAR-10): with a deterministic one-hot q(z|x), the
ELBO is log p(x|z_q(x)) + log p(z(x)); in bits per sub-pixel
    bpd = ( -log p(x | z_q(x)) - log p(z(x)) ) / (D_x ln 2)
with -log p(z) = n_codes ln K under the uniform prior of training, and the fitted PixelCNN's
NLL of the codes once a prior is fitted (`bits_per_dim`).

NOTE departures: the paper's decoder likelihood for the bits/dim row is not specified
beyond "log p(x|z_q)"; ours is a discretized logistic per sub-pixel (Razavi et al. 2019 use
MSE; we keep one likelihood for both so both have bits/dim). "Latents 8x8x10" of the
bits/dim run is read as an 8x8 map of D = 10-dimensional vectors. The codebook's
initialisation (N(0, 1), as nn.Embedding) is ours; the paper gives none. The residual blocks have
no batch norm, as in the paper.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from genlab.models.base import Trainable
from genlab.nn.discretized import discretized_logistic_log_prob, sample_discretized_logistic
from genlab.nn.quantize import VectorQuantizer


class Residual(nn.Module):
    """x + conv1x1(relu(conv3x3(relu(x)))) (van den Oord et al. 2017)."""

    def __init__(self, channels: int, mid: int):
        super().__init__()
        self.net = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, mid, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(mid, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


def _stack(channels: int, n_res: int, mid: int) -> list[nn.Module]:
    return [Residual(channels, mid) for _ in range(n_res)] + [nn.ReLU()]


def down(c_in: int, hidden: int, stride: int, n_res: int, mid: int) -> nn.Sequential:
    """log2(stride) stride-2 4x4 convolutions, a 3x3 convolution and the residual stack."""
    steps = int(math.log2(stride))
    layers: list[nn.Module] = []
    for i in range(steps):
        layers += [nn.Conv2d(c_in if i == 0 else hidden, hidden, 4, stride=2, padding=1), nn.ReLU()]
    layers += [nn.Conv2d(hidden, hidden, 3, padding=1)] + _stack(hidden, n_res, mid)
    return nn.Sequential(*layers)


def up(c_in: int, hidden: int, c_out: int, stride: int, n_res: int, mid: int) -> nn.Sequential:
    """A 3x3 convolution, the residual stack, and log2(stride) stride-2 4x4 transposed convolutions."""
    steps = int(math.log2(stride))
    layers: list[nn.Module] = [nn.Conv2d(c_in, hidden, 3, padding=1)] + _stack(hidden, n_res, mid)
    for i in range(steps):
        last = i == steps - 1
        layers.append(nn.ConvTranspose2d(hidden, c_out if last else hidden, 4, stride=2, padding=1))
        if not last:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VQVAE(Trainable):
    """One or two levels of codes (see the module docstring); `levels` names them, coarsest first."""

    def __init__(self, image_shape: tuple[int, int, int], levels: int = 1, hidden: int = 256, res_channels: int = 256,
                 n_res: int = 2, n_codes: int = 512, code_dim: int = 64, beta: float = 0.25, stride: int = 4,
                 ema: bool = False, decay: float = 0.99, restart_dead: bool = False):
        super().__init__()
        c, h, w = image_shape
        if levels not in (1, 2):
            raise ValueError(f"levels = {levels}: expected 1 (VQ-VAE) or 2 (VQ-VAE-2)")
        if stride < 2 or stride & (stride - 1):
            raise ValueError(f"stride = {stride}: expected a power of two >= 2")
        total = stride * (2 if levels == 2 else 1)
        if h % total or w % total:
            raise ValueError(f"images of {h}x{w} do not divide into {h}/{total} x {w}/{total} codes (stride {stride}"
                             + (" and the top level's 2" if levels == 2 else "") + ")")
        self.image_shape, self.beta, self.n_codes = (c, h, w), beta, n_codes
        self.levels = ("codes",) if levels == 1 else ("top", "bottom")
        self.code_shapes = ({"codes": (h // stride, w // stride)} if levels == 1 else
                            {"top": (h // total, w // total), "bottom": (h // stride, w // stride)})
        q = dict(ema=ema, decay=decay, restart_dead=restart_dead)
        self.enc = down(c, hidden, stride, n_res, res_channels)
        if levels == 1:
            self.pre_q = nn.Conv2d(hidden, code_dim, 1)
            self.quantizers = nn.ModuleDict({"codes": VectorQuantizer(n_codes, code_dim, **q)})
            self.dec = up(code_dim, hidden, 2 * c, stride, n_res, res_channels)
        else:
            self.enc_top = down(hidden, hidden, 2, n_res, res_channels)
            self.pre_q_top = nn.Conv2d(hidden, code_dim, 1)
            self.dec_top = up(code_dim, hidden, code_dim, 2, n_res, res_channels)
            self.pre_q = nn.Conv2d(hidden + code_dim, code_dim, 1)
            self.quantizers = nn.ModuleDict({"top": VectorQuantizer(n_codes, code_dim, **q),
                                             "bottom": VectorQuantizer(n_codes, code_dim, **q)})
            self.up_top = nn.ConvTranspose2d(code_dim, code_dim, 4, stride=2, padding=1)
            self.dec = up(2 * code_dim, hidden, 2 * c, stride, n_res, res_channels)

    @property
    def n_dims(self) -> int:
        return math.prod(self.image_shape)

    @property
    def n_code_positions(self) -> int:
        return sum(h * w for h, w in self.code_shapes.values())

    # ------------------------------------------------------------------ encoder / quantizers / decoder
    def quantize(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict]:
        """x (N, C, H, W) in [-1, 1] -> (z_q per level, codes per level, quantizer losses per level)."""
        h = self.enc(x)
        if self.levels == ("codes",):
            z_q, codes, losses = self.quantizers["codes"](self.pre_q(h))
            return {"codes": z_q}, {"codes": codes}, {"codes": losses}
        h_top = self.enc_top(h)
        zq_top, codes_top, loss_top = self.quantizers["top"](self.pre_q_top(h_top))
        zq_bot, codes_bot, loss_bot = self.quantizers["bottom"](self.pre_q(torch.cat([h, self.dec_top(zq_top)], 1)))
        return ({"top": zq_top, "bottom": zq_bot}, {"top": codes_top, "bottom": codes_bot},
                {"top": loss_top, "bottom": loss_bot})

    def decode(self, z_q: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantized maps per level -> the decoder's (mean, log_scale), each (N, C, H, W). The mean is not
        squashed into [-1, 1] (a tanh there saturates at the black background of MNIST and stops learning): the
        likelihood's edge bins take any mean, and images show it clamped."""
        if self.levels == ("codes",):
            out = self.dec(z_q["codes"])
        else:
            out = self.dec(torch.cat([z_q["bottom"], self.up_top(z_q["top"])], 1))
        mean, log_scale = out.chunk(2, dim=1)
        return mean, log_scale

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Code maps per level (long, (N, h, w)) of images x in [-1, 1]."""
        return self.quantize(x)[1]

    def decode_codes(self, codes: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decode({k: self.quantizers[k].embed(v) for k, v in codes.items()})

    def log_px_given_codes(self, x: torch.Tensor, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        """log p(x | z_q) in nats per image."""
        mean, log_scale = self.decode_codes(codes)
        return discretized_logistic_log_prob(x, mean, log_scale)

    def sample_image(self, codes: dict[str, torch.Tensor], generator: torch.Generator | None = None,
                     mode: str = "mean") -> torch.Tensor:
        """Images in [-1, 1] decoded from codes: the decoder's mean (`mode='mean'`, as images are usually shown),
        or a draw from its discretized logistic (`'sample'`)."""
        mean, log_scale = self.decode_codes(codes)
        return mean.clamp(-1, 1) if mode == "mean" else sample_discretized_logistic(mean, log_scale, generator)

    # ------------------------------------------------------------------ objective
    def terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-image terms (nats; squared distances): nll, codebook, commitment, and the decoder mean's MSE."""
        z_q, _, losses = self.quantize(x)
        mean, log_scale = self.decode(z_q)
        return {"nll": -discretized_logistic_log_prob(x, mean, log_scale),
                "codebook": sum(v["codebook"] for v in losses.values()),
                "commitment": sum(v["commitment"] for v in losses.values()),
                "mse": (mean.detach().clamp(-1, 1) - x).pow(2).flatten(1).mean(1)}

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        t = self.terms(x)
        d = self.n_dims
        loss = ((t["nll"] + t["codebook"] + self.beta * t["commitment"]) / d).mean()
        # mse is on the [-1, 1] scale; Razavi et al.'s 0.0047 is on [0, 1] images, a quarter of ours
        return loss, {"recon_bpd": (t["nll"].mean() / (d * math.log(2))).item(),
                      "mse_unit": (t["mse"].mean() / 4).item(),
                      "commitment": (t["commitment"].mean() / d).item()}


@torch.no_grad()
def recon_pairs(model: VQVAE, x: torch.Tensor, n: int) -> torch.Tensor:
    """The first n // 2 images x (in [-1, 1]) and their reconstructions (decoder means), interleaved, in [0, 1]."""
    x = x[: n // 2]
    r = model.sample_image(model.encode(x))
    return ((torch.stack([x, r], 1).flatten(0, 1) + 1) / 2).clamp(0, 1)


def bits_per_dim(nll_x_given_z: torch.Tensor, nll_codes: torch.Tensor, n_dims: int) -> torch.Tensor:
    """Per-image bits/dim of the VQ-VAE's bound: (-log p(x|z_q) - log p(z)) / (D ln 2), both NLLs in nats."""
    return (nll_x_given_z + nll_codes) / (n_dims * math.log(2))


def build(cfg, image_shape: tuple[int, ...], n_classes: int = 0) -> VQVAE:
    m = cfg.model
    if cfg.view != "eight_bit":
        raise ValueError(f"view {cfg.view!r}: the VQ-VAE's discretized logistic decoder needs 'eight_bit'")
    return VQVAE(tuple(image_shape), levels=m.levels, hidden=m.hidden, res_channels=m.res_channels, n_res=m.n_res,
                 n_codes=m.n_codes, code_dim=m.code_dim, beta=m.beta, stride=m.stride, ema=m.ema, decay=m.decay,
                 restart_dead=m.restart_dead)
