"""VAE-GAN (Larsen et al. 2015, "Autoencoding beyond pixels using a learned similarity metric").

Three networks: an encoder q(z|x), a decoder that is also the GAN's generator, and a
discriminator whose l-th layer Dis_l(x) is the space reconstructions are measured in.
Per batch X (the paper's Algorithm 1):

    Z ~ q(z|X), X~ = Dec(Z), Z_p ~ N(0, I), X_p = Dec(Z_p)
    L_prior = KL(q(z|X) || N(0, I))                         summed over z, mean over the batch
    L_llike = 1/2 ||Dis_l(X) - Dis_l(X~)||^2               a Gaussian of identity covariance in Dis_l
                                                            (constant dropped), summed over features
    L_GAN   = log Dis(X) + log(1 - Dis(X~)) + log(1 - Dis(X_p))

    encoder       <- grad of L_prior + L_llike
    decoder       <- grad of gamma * L_llike - L_GAN
    discriminator <- grad of -L_GAN

Each player's gradient is taken of its own loss with respect to its own parameters, all
from one forward pass and before any parameter moves (`Optimizers.step_together`): the
GAN error does not reach the encoder, and the discriminator does not learn to shrink
L_llike (the paper's two restrictions). RMSProp, lr 3e-4, batch 64, z 128 (the paper's).

Images are in the `symmetric` view, [-1, 1]; the decoder ends in tanh.

NOTE: the decoder's adversarial term is the non-saturating -log Dis(.) on X~ and X_p
(the paper writes L_GAN in its saturating minimax form).
NOTE: the encoder has k stride-2 5x5 convolutions (64, 128, 256 channels at base 64) and
a 1024-unit layer (the official code's width; the paper's table gives 2048). k follows the
image size: 3 for 64x64 (the paper's CelebA) and 32x32, 2 for 28x28 MNIST, where the
decoder's transposed convolutions are 256 and 32 channels wide (the paper's first and
last) and the encoder's 64 and 128.
NOTE: Dis_l is the output of the discriminator's last convolution block (after batch
norm and ReLU). The discriminator is 5x5 convolutions of 32 channels (stride 1), then k
stride-2 ones of 128, 256, 256 channels, a 512-unit layer and a logit, as in the paper.
NOTE: gamma, the weight of L_llike in the decoder's loss, is ours (`gamma`): the paper
does not give the value it used.
NOTE: X, X~ and X_p pass through the discriminator as three separate batches, so its
batch norm (in training mode) normalises each with its own statistics, as DCGAN code
treats real and fake batches. A consequence: Dis_l(X) and Dis_l(X~) are compared after
per-channel normalisation within each batch, so L_llike does not see a shift of a
channel's batch mean between the two. The paper does not say how it batched them; one
joint batch would be the other reading.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genlab.config import ModelConfigError
from genlab.models.base import GenerativeModel


def stride2_steps(size: int) -> int:
    """k stride-2 steps from `size` down to at least 4 pixels (28 -> 2, to 7; 32 -> 3, to 4; 64 -> 3, to 8 as in
    the paper): size must stay even until then."""
    k = 0
    while size % 2 ** (k + 1) == 0 and size // 2 ** (k + 1) >= 4 and k < 3:
        k += 1
    if k == 0:
        raise ModelConfigError(f"image size {size}: the VAE-GAN needs a size divisible by 2 with at least 4 pixels left")
    return k


def _conv_block(c_in: int, c_out: int, stride: int, batch_norm: bool, bn_momentum: float) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 5, stride, 2),
            *([nn.BatchNorm2d(c_out, momentum=bn_momentum)] if batch_norm else []), nn.ReLU()]


class Encoder(nn.Module):
    """x -> (mu, log variance): k stride-2 5x5 convolutions (base, 2 base, 4 base, ...) with batch norm and ReLU,
    a `hidden`-unit layer with batch norm and ReLU, two linear heads."""

    def __init__(self, image_shape: tuple[int, int, int], z_dim: int, base: int, hidden: int, bn_momentum: float):
        super().__init__()
        c, h, w = image_shape
        k = stride2_steps(h)
        layers, ch = [], c
        for i in range(k):
            layers += _conv_block(ch, base * 2 ** i, 2, True, bn_momentum)
            ch = base * 2 ** i
        s = h // 2 ** k
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(ch * s * s, hidden),
                                 nn.BatchNorm1d(hidden, momentum=bn_momentum), nn.ReLU())
        self.mu, self.logvar = nn.Linear(hidden, z_dim), nn.Linear(hidden, z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net(x)
        return self.mu(h), self.logvar(h)


class Decoder(nn.Module):
    """z -> x: a linear layer to (4 base, s, s) with batch norm and ReLU, k stride-2 5x5 transposed convolutions
    (4 base, 2 base, base/2 channels at k = 3, the paper's 256, 128, 32) with batch norm and ReLU, then a 5x5
    convolution to the image's channels and tanh."""

    def __init__(self, z_dim: int, image_shape: tuple[int, int, int], base: int, bn_momentum: float):
        super().__init__()
        c, h, w = image_shape
        k = stride2_steps(h)
        if stride2_steps(w) != k or h != w:
            raise ModelConfigError(f"image shape {h}x{w}: the VAE-GAN here expects square images")
        s, ch = h // 2 ** k, 4 * base
        widths = {1: [base // 2], 2: [4 * base, base // 2], 3: [4 * base, 2 * base, base // 2]}[k]
        layers = [nn.Linear(z_dim, ch * s * s), nn.Unflatten(1, (ch, s, s)),
                  nn.BatchNorm2d(ch, momentum=bn_momentum), nn.ReLU()]
        for out in widths:
            layers += [nn.ConvTranspose2d(ch, out, 5, 2, 2, output_padding=1),
                       nn.BatchNorm2d(out, momentum=bn_momentum), nn.ReLU()]
            ch = out
        self.net = nn.Sequential(*layers, nn.Conv2d(ch, c, 5, 1, 2), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Discriminator(nn.Module):
    """x -> (Dis_l(x) flattened, logit). Convolutions: base/2 channels at stride 1, then k stride-2 ones of
    2 base, 4 base, 4 base, ... (32, 128, 256, 256 at base 64) with batch norm after all but the first."""

    def __init__(self, image_shape: tuple[int, int, int], base: int, hidden: int, bn_momentum: float):
        super().__init__()
        c, h, w = image_shape
        k = stride2_steps(h)
        layers, ch = _conv_block(c, base // 2, 1, False, bn_momentum), base // 2
        for i in range(k):
            out = base * min(2 ** (i + 1), 4)
            layers += _conv_block(ch, out, 2, True, bn_momentum)
            ch = out
        s = h // 2 ** k
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Sequential(nn.Linear(ch * s * s, hidden), nn.BatchNorm1d(hidden, momentum=bn_momentum),
                                  nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return f, self.head(f).squeeze(1)


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per example, summed over z: 1/2 sum(mu^2 + var - 1 - logvar)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)


def feature_llike(real_features: torch.Tensor, fake_features: torch.Tensor) -> torch.Tensor:
    """L_llike per example: 1/2 ||Dis_l(x) - Dis_l(x~)||^2 (the Gaussian's negative log-likelihood less its
    constant); the real features are a fixed target (no gradient)."""
    return 0.5 * (real_features.detach() - fake_features).pow(2).sum(1)


class VAEGAN(GenerativeModel):
    optimizer_names = ("encoder", "decoder", "discriminator")

    def __init__(self, image_shape: tuple[int, int, int], z_dim: int = 128, enc_base: int = 64,
                 enc_hidden: int = 1024, dec_base: int = 64, dis_base: int = 64, dis_hidden: int = 512,
                 gamma: float = 1e-2, bn_momentum: float = 0.1):
        super().__init__()
        self.image_shape, self.z_dim, self.gamma = tuple(image_shape), z_dim, gamma
        self.encoder = Encoder(self.image_shape, z_dim, enc_base, enc_hidden, bn_momentum)
        self.decoder = Decoder(z_dim, self.image_shape, dec_base, bn_momentum)
        self.discriminator = Discriminator(self.image_shape, dis_base, dis_hidden, bn_momentum)
        self.register_buffer("_device_probe", torch.zeros(()), persistent=False)
        self.to(memory_format=torch.channels_last)   # the same function; convolutions run ~30% faster on the CPU

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.z_dim, generator=generator).to(self._device_probe.device)

    def losses(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        """The three players' losses on batch x (one forward pass) and the batch's figures."""
        x = x.contiguous(memory_format=torch.channels_last)
        mu, logvar = self.encoder(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        x_rec, x_p = self.decoder(z), self.decoder(self.noise(len(x)))
        f_real, logit_real = self.discriminator(x)
        f_rec, logit_rec = self.discriminator(x_rec)
        _, logit_p = self.discriminator(x_p)
        kl = kl_standard_normal(mu, logvar).mean()
        llike = feature_llike(f_real, f_rec).mean()
        ones, zeros = torch.ones_like(logit_real), torch.zeros_like(logit_real)
        # -L_GAN as a sum of BCEs: real labelled 1, both kinds of fakes 0
        dis = (F.binary_cross_entropy_with_logits(logit_real, ones)
               + F.binary_cross_entropy_with_logits(logit_rec, zeros)
               + F.binary_cross_entropy_with_logits(logit_p, zeros))
        gen_gan = (F.binary_cross_entropy_with_logits(logit_rec, ones)
                   + F.binary_cross_entropy_with_logits(logit_p, ones))
        losses = {"encoder": kl + llike, "decoder": self.gamma * llike + gen_gan, "discriminator": dis}
        with torch.no_grad():
            figures = {"kl": kl.item(), "llike": llike.item(), "d_loss": dis.item(), "g_gan": gen_gan.item(),
                       "d_real": torch.sigmoid(logit_real).mean().item(),
                       "d_fake": torch.sigmoid(logit_p).mean().item(),
                       "pixel_mse": ((x_rec - x) / 2).pow(2).mean().item()}  # in [0, 1] units
        return losses, figures

    def loss(self, x: torch.Tensor, *labels: torch.Tensor):
        """The encoder's objective L_prior + L_llike (what validation reports), with the batch's figures."""
        losses, figures = self.losses(x)
        return losses["encoder"], figures

    def training_step(self, batch: tuple[torch.Tensor, ...], step: int, opt) -> dict[str, float]:
        losses, figures = self.losses(batch[0])
        opt.step_together(losses)
        return figures

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None,
               z: torch.Tensor | None = None) -> torch.Tensor:
        """n images in [-1, 1], Dec(z) with z ~ N(0, I) (or the given z), batch norm in evaluation mode."""
        was_training = self.decoder.training
        self.decoder.eval()
        out = self.decoder(self.noise(n, generator) if z is None else z.to(self._device_probe.device))
        self.decoder.train(was_training)
        return out

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Dec(mu(x)) in evaluation mode."""
        was_training = self.training
        self.eval()
        out = self.decoder(self.encoder(x)[0])
        self.train(was_training)
        return out

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + 1) / 2).clamp(0, 1)


def build(cfg, image_shape: tuple[int, ...], n_classes: int = 0) -> VAEGAN:
    m = cfg.model
    return VAEGAN(tuple(image_shape), z_dim=m.z_dim, enc_base=m.enc_base, enc_hidden=m.enc_hidden,
                  dec_base=m.dec_base, dis_base=m.dis_base, dis_hidden=m.dis_hidden, gamma=m.gamma,
                  bn_momentum=m.bn_momentum)
