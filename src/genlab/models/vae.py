"""Variational auto-encoders (Kingma & Welling 2013, arXiv 1312.6114): Bernoulli or discretized-logistic decoder.

`mlp`: seed 002's model (UvA DL 2020, assignment 3): encoder x -> Linear(hidden) -> ReLU
-> (mean, log_std) of a diagonal Gaussian q(z|x); decoder z -> Linear(hidden) -> ReLU ->
Linear(D) -> Bernoulli logits; prior N(0, I); loss = negative ELBO, one reparameterised
sample per image; Adam.

`conv`: a convolutional encoder/decoder (seed 001's "CVAE" read as convolutional VAE):
two stride-2 3x3 convolutions (channels c, 2c) -> Linear -> (mean, log_std); decoder
Linear -> two stride-2 4x4 transposed convolutions (2c -> c -> image channels). Shapes are
derived from the data's image shape (height and width divisible by 4).

NOTE: Kingma & Welling's MNIST experiments use tanh MLPs with Adagrad; we follow seed 002
(ReLU, Adam 1e-3, batch 128), whose bits/dim we compare against. The encoder outputs
log sigma rather than log sigma^2 (the same family, a different parameterisation).
NOTE: binarization is the data's view, chosen per model in params.yaml: `binary_threshold`
(x > 0.5) for seed 002's figure, whose 0.1377 bpd (74.8 nats) no VAE reaches on
stochastically binarized MNIST; `binary_stochastic` (dynamic Bernoulli draws) for the IWAE
paper's protocol.

`likelihood: discretized_logistic` models 8-bit colour images (view `eight_bit`): the
decoder outputs a mean and a log-scale per sub-pixel and p(x|z) is the logistic
distribution's mass on each of the 256 bins (Salimans et al. 2017, one component, no
channel autoregression), so the ELBO bounds the likelihood of the discrete image and
bits/dim compare with the VQ-VAE paper's VAE row (4.51 on CIFAR-10).
NOTE: the VQ-VAE paper does not describe its VAE baseline's decoder; ours is the
convolutional VAE below with that likelihood.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genlab.config import ModelConfigError
from genlab.models.base import GenerativeModel
from genlab.nn.discretized import discretized_logistic_log_prob, sample_discretized_logistic
from genlab.nn.distributions import bernoulli_log_prob, kl_std_normal, normal_log_prob, std_normal_log_prob


def _cat(h: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
    return h if c is None else torch.cat([h, c], dim=1)


class MLPEncoder(nn.Module):
    def __init__(self, n_dims: int, hidden: int, z_dim: int, cond_dim: int = 0):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(n_dims + cond_dim, hidden), nn.ReLU())  # Flatten: checkpoint keys
        self.mean = nn.Linear(hidden, z_dim)
        self.log_std = nn.Linear(hidden, z_dim)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(_cat(x.flatten(1), c))
        return self.mean(h), self.log_std(h)


class MLPDecoder(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int], hidden: int, z_dim: int, cond_dim: int = 0):
        super().__init__()
        self.image_shape = tuple(image_shape)  # (outputs per pixel * C, H, W)
        self.net = nn.Sequential(nn.Linear(z_dim + cond_dim, hidden), nn.ReLU(),
                                 nn.Linear(hidden, math.prod(image_shape)))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(_cat(z, c)).view(-1, *self.image_shape)


class ConvEncoder(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int], channels: int, z_dim: int, cond_dim: int = 0):
        super().__init__()
        c_in, h, w = image_shape
        self.body = nn.Sequential(
            nn.Conv2d(c_in, channels, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(),
        )
        n_flat = 2 * channels * (h // 4) * (w // 4)
        self.mean = nn.Linear(n_flat + cond_dim, z_dim)
        self.log_std = nn.Linear(n_flat + cond_dim, z_dim)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = _cat(self.body(x), c)
        return self.mean(h), self.log_std(h)


class ConvDecoder(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int], channels: int, z_dim: int, cond_dim: int = 0):
        super().__init__()
        c_out, h, w = image_shape
        self.start = (2 * channels, h // 4, w // 4)
        self.fc = nn.Sequential(nn.Linear(z_dim + cond_dim, math.prod(self.start)), nn.ReLU())
        self.body = nn.Sequential(
            nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(channels, c_out, 4, stride=2, padding=1),
        )

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(self.fc(_cat(z, c)).view(-1, *self.start))


class VAE(GenerativeModel):
    """Gaussian q(z|x[,y]), N(0, I) prior, factorised Bernoulli p(x|z[,y]).

    With n_classes > 0 the model is class-conditional (a CVAE, Sohn et al. 2015): the
    one-hot label joins the encoder's features before its Gaussian heads and the decoder's
    input beside z; every method then takes the labels `y`.
    """

    def __init__(self, image_shape: tuple[int, int, int], z_dim: int, arch: str = "mlp",
                 hidden: int = 512, channels: int = 32, n_classes: int = 0, likelihood: str = "bernoulli"):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.z_dim, self.n_classes, self.likelihood = z_dim, n_classes, likelihood
        if likelihood not in ("bernoulli", "discretized_logistic"):
            raise ValueError(f"likelihood {likelihood!r}: expected 'bernoulli' or 'discretized_logistic'")
        c, h, w = image_shape
        out_shape = ((2 if likelihood == "discretized_logistic" else 1) * c, h, w)  # (mean, log-scale) per sub-pixel
        n_dims = math.prod(image_shape)
        if arch == "mlp":
            self.encoder = MLPEncoder(n_dims, hidden, z_dim, n_classes)
            self.decoder = MLPDecoder(out_shape, hidden, z_dim, n_classes)
        elif arch == "conv":
            if h % 4 or w % 4:
                raise ValueError(f"conv VAE needs height and width divisible by 4, got image shape {image_shape}")
            self.encoder = ConvEncoder(self.image_shape, channels, z_dim, n_classes)
            self.decoder = ConvDecoder(out_shape, channels, z_dim, n_classes)
        else:
            raise ValueError(f"arch {arch!r}: expected 'mlp' or 'conv'")

    @property
    def n_dims(self) -> int:
        return math.prod(self.image_shape)

    @property
    def conditional(self) -> bool:
        return self.n_classes > 0

    def _onehot(self, y: torch.Tensor | None, n: int) -> torch.Tensor | None:
        if not self.conditional:
            return None
        if y is None or len(y) != n:
            raise ValueError(f"a class-conditional VAE needs one label per image ({n}), got "
                             f"{None if y is None else len(y)}")
        return F.one_hot(y.long(), self.n_classes).float()

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(x, self._onehot(y, len(x)))

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Parameters of p(x|z[,y]): Bernoulli logits (N, C, H, W), or logistic (mean, log-scale) (N, 2C, H, W)."""
        return self.decoder(z, self._onehot(y, len(z)))

    def log_px_z(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per image (nats) from the decoder's output `out`."""
        if self.likelihood == "bernoulli":
            return bernoulli_log_prob(out, x)
        mean, log_scale = out.chunk(2, dim=1)
        return discretized_logistic_log_prob(x, mean, log_scale)

    def elbo_terms(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image reconstruction NLL and KL (nats), one reparameterised sample of z."""
        mean, log_std = self.encode(x, y)
        z = mean + torch.exp(log_std) * torch.randn_like(mean)
        recon_nll = -self.log_px_z(self.decode(z, y), x)
        return recon_nll, kl_std_normal(mean, log_std)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        recon, kl = self.elbo_terms(x, y)
        nelbo = (recon + kl).mean()
        return nelbo, {"nelbo": nelbo.item(), "recon": recon.mean().item(), "kl": kl.mean().item()}

    def log_weights(self, x: torch.Tensor, k: int, y: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x, z_i[|y]) - log q(z_i|x[,y]) for k samples z_i ~ q(z|x[,y]); shape (k, B)."""
        mean, log_std = self.encode(x, y)
        eps = torch.randn((k,) + mean.shape, device=x.device, dtype=mean.dtype)
        z = mean + torch.exp(log_std) * eps                                    # (k, B, Z)
        out = self.decode(z.flatten(0, 1), None if y is None else y.repeat(k))  # (k*B, C or 2C, H, W)
        log_px_z = self.log_px_z(out, x.repeat(k, 1, 1, 1)).view(k, -1)
        return log_px_z + std_normal_log_prob(z) - normal_log_prob(z, mean, log_std)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None,
               mean: bool = False) -> torch.Tensor:
        """n draws from p(x|z[,y]), z ~ N(0, I), in the model's view: {0, 1} pixels (Bernoulli) or the
        256 levels in [-1, 1] (discretized logistic); `mean=True` gives the decoder's means instead
        (grey levels: the usual sample grids). A conditional model without `labels` draws classes
        0, 1, ..., n_classes - 1, 0, 1, ... (a grid row per class when n_classes divides the row)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.z_dim, generator=generator).to(device)
        if self.conditional and labels is None:
            labels = torch.arange(n) % self.n_classes
        out = self.decode(z, None if labels is None else labels.to(device)).float().cpu()
        if self.likelihood == "bernoulli":
            probs = torch.sigmoid(out)
            return probs if mean else torch.bernoulli(probs, generator=generator)
        loc, log_scale = out.chunk(2, dim=1)
        return loc.clamp(-1, 1) if mean else sample_discretized_logistic(loc, log_scale, generator=generator)

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Samples in the model's view -> [0, 1] for images."""
        return ((x + 1) / 2).clamp(0, 1) if self.likelihood == "discretized_logistic" else x.clamp(0, 1)


def build(cfg, image_shape: tuple[int, ...], n_classes: int = 0) -> VAE:
    """The VAE a params block describes (`model`), for a data set with `n_classes` classes."""
    m = cfg.model
    if m.conditional and n_classes < 2:
        raise ModelConfigError(f"model.conditional = true: a class-conditional VAE needs a data set with classes, "
                               f"this one has {n_classes}")
    return VAE(image_shape, z_dim=m.z_dim, arch=m.arch, hidden=m.hidden, channels=m.channels,
               n_classes=n_classes if m.conditional else 0, likelihood=m.likelihood)
