"""GANs: the MLP GAN of seed 002, DCGAN (Radford et al. 2015) and WGAN (Arjovsky et al. 2017).

One model class, two choices: the architecture (`mlp` or `dcgan` networks for both
players, or `g_arch` for a generator unlike its critic) and the objective.

- `gan` (Goodfellow et al. 2014 with the non-saturating generator loss, seed 002 eq. 7):
  the discriminator outputs a logit; its loss is the mean of BCE-with-logits on real
  images labelled 1 and on generated ones labelled 0; the generator minimises BCE of
  D(G(z)) against label 1, i.e. maximises log D(G(z)). One discriminator update, then
  one generator update, per batch.
- `wgan` (Arjovsky et al. 2017, Algorithm 1): the critic f has no sigmoid. The critic
  minimises mean f(G(z)) - mean f(x) (it maximises the Earth-Mover estimate
  mean f(x) - mean f(G(z))), and its weights are clipped to [-c, c] at construction and
  after every update, so every critic the generator or a critic step sees is clipped.
  The generator minimises -mean f(G(z)) after every n_critic critic updates; as in the
  reference code, the critic makes `warmup_critic_iters` (100) updates per generator
  update for the first `warmup_generator_iters` (25) generator updates and at every
  `warmup_every`-th (500th). Each critic update takes the trainer's next real batch.

Images are in the `symmetric` view, [-1, 1]. The DCGAN generator ends in tanh; the MLP
generator ends in tanh (`g_output: tanh`, seed 002) or in its last linear layer
(`g_output: linear`, the WGAN reference's MLP_G), and its hidden units are LeakyReLU(0.2)
(`g_activation: leaky_relu`, seed 002) or ReLU (`relu`, the reference's). Samples are
clamped to [-1, 1] when turned into images (`to_unit`); the critic sees them unclamped.

NOTE: the stability matrix's MLP generator (params.yaml `stability`) is the WGAN reference
code's MLP_G: 3 hidden ReLU layers of 512 and a linear output ("4-layer ReLU-MLP with 512
hidden units", counting the output layer), no batch norm, no dropout. An earlier version
of the matrix used seed 002's LeakyReLU and tanh with 4 hidden layers; under the WGAN
objective its tanh saturated (after 25 epochs 94% of the output pixels were beyond
+-0.99 and the pre-activations ~11), so the generator's gradient vanished and every z
gave the same image: a failure of our departure, not of the objective.

NOTE: seed 002 gives the MLP GAN's layer count (4 hidden layers in G, 2 in D), LeakyReLU
0.2, dropout 0.2 and a tanh output, not the widths; ours are those of its course's
template (G 128-256-512-1024, D 512-256), z_dim 100, Adam 2e-4 with beta1 0.5 (DCGAN's).
NOTE: clipping applies to the critic's convolution and linear parameters. Batch-norm
parameters are not clipped (the reference code clamps every critic parameter, batch
norm's too, which pins every BN scale near 0.01). Our WGAN critic has no batch norm by
default (`d_batch_norm: false`, a departure from the reference's DCGAN critic): with
batch norm, the batch statistics rescale the activations and undo the Lipschitz bound
the clipping buys.
NOTE: batch norm in the generator runs in evaluation mode whenever images are sampled
(samples do not depend on the batch they are drawn in; a known bug of public DCGAN code).

Initialisation: the DCGAN networks (and so the WGAN critic and DCGAN generator) start as
Radford et al. §4 give it, every convolution and linear weight from N(0, `init_std` =
0.02) and biases at 0; batch-norm scales from N(1, 0.02) and shifts at 0, as the
DCGAN and WGAN reference code do. `init_std: null` keeps PyTorch's default
initialisation. The MLP networks keep PyTorch's default (seed 002 gives none).

The WGAN's critic estimate is also kept at every generator update
(`pop_step_records`: the update's number, the Earth-Mover estimate of the critic step
just before it and the generator's loss), the curve the WGAN paper plots; the trainer
stores it in the checkpoint and logs it to MLflow as `update_em_estimate`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genlab.config import ModelConfigError
from genlab.models.base import GenerativeModel


# --------------------------------------------------------------------------- networks
class MLPGenerator(nn.Module):
    """z -> hidden linear layers with `activation` ('leaky_relu': LeakyReLU(0.2), seed 002; 'relu': the WGAN
    reference's) and dropout -> a linear layer to the image, then tanh (`output` 'tanh') or nothing ('linear')."""

    def __init__(self, z_dim: int, image_shape: tuple[int, int, int], hidden: tuple[int, ...], dropout: float,
                 activation: str = "leaky_relu", output: str = "tanh"):
        super().__init__()
        acts = {"leaky_relu": lambda: nn.LeakyReLU(0.2), "relu": nn.ReLU}
        outs = {"tanh": [nn.Tanh()], "linear": []}
        if activation not in acts:
            raise ModelConfigError(f"g_activation = {activation!r}: expected one of {sorted(acts)}")
        if output not in outs:
            raise ModelConfigError(f"g_output = {output!r}: expected one of {sorted(outs)}")
        layers, width = [], z_dim
        for h in hidden:
            layers += [nn.Linear(width, h), acts[activation](), nn.Dropout(dropout)]
            width = h
        self.net = nn.Sequential(*layers, nn.Linear(width, math.prod(image_shape)), *outs[output])
        self.image_shape = tuple(image_shape)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.image_shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int], hidden: tuple[int, ...]):
        super().__init__()
        layers, width = [nn.Flatten()], math.prod(image_shape)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
            width = h
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def upsamplings(size: int) -> int:
    """How many stride-2 steps lead from a start of at least 4 pixels to `size` (28 -> 2 from 7, 32 -> 3 from 4)."""
    k = 0
    while size % (2 ** (k + 1)) == 0 and size // 2 ** (k + 1) >= 4:
        k += 1
    if k == 0:
        raise ModelConfigError(f"image size {size}: DCGAN needs a size divisible by 2 with at least 4 pixels left")
    return k


class DCGANGenerator(nn.Module):
    """z -> Linear -> (c * 2^(k-1), s, s) -> k stride-2 4x4 transposed convolutions -> tanh; batch norm and
    ReLU after every layer but the last (Radford et al. 2015)."""

    def __init__(self, z_dim: int, image_shape: tuple[int, int, int], base: int, batch_norm: bool,
                 bn_momentum: float):
        super().__init__()
        c, h, w = image_shape
        k = upsamplings(h)
        if upsamplings(w) != k or h != w:
            raise ModelConfigError(f"image shape {h}x{w}: DCGAN here expects square images")
        s, ch = h // 2 ** k, base * 2 ** (k - 1)

        def norm(n):
            return [nn.BatchNorm2d(n, momentum=bn_momentum)] if batch_norm else []

        self.project = nn.Sequential(nn.Linear(z_dim, ch * s * s), nn.Unflatten(1, (ch, s, s)), *norm(ch), nn.ReLU())
        layers = []
        for i in range(k - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1), *norm(ch // 2), nn.ReLU()]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, c, 4, 2, 1), nn.Tanh()]  # no batch norm on the output
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.project(z))


class DCGANDiscriminator(nn.Module):
    """k stride-2 4x4 convolutions with LeakyReLU 0.2 (batch norm after all but the first) -> Linear -> 1."""

    def __init__(self, image_shape: tuple[int, int, int], base: int, batch_norm: bool, bn_momentum: float):
        super().__init__()
        c, h, w = image_shape
        k = upsamplings(h)
        layers, ch = [nn.Conv2d(c, base, 4, 2, 1), nn.LeakyReLU(0.2)], base  # no batch norm on the input layer
        for i in range(k - 1):
            layers += [nn.Conv2d(ch, 2 * ch, 4, 2, 1)]
            layers += [nn.BatchNorm2d(2 * ch, momentum=bn_momentum)] if batch_norm else []
            layers += [nn.LeakyReLU(0.2)]
            ch *= 2
        s = h // 2 ** k
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(ch * s * s, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def dcgan_init(module: nn.Module, std: float) -> None:
    """Radford et al.'s initialisation: convolution and linear weights ~ N(0, std), biases 0, batch-norm scales
    ~ N(1, std) and shifts 0."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, std)
                nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------- the model
def clip_weights(module: nn.Module, c: float) -> None:
    """Clamp every convolution and linear parameter of `module` to [-c, c]; batch norm is left alone."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                for p in m.parameters(recurse=False):
                    p.clamp_(-c, c)


class GAN(GenerativeModel):
    def __init__(self, image_shape: tuple[int, int, int], arch: str = "dcgan", objective: str = "gan",
                 z_dim: int = 100, g_arch: str | None = None, g_hidden: tuple[int, ...] = (128, 256, 512, 1024),
                 g_activation: str = "leaky_relu", g_output: str = "tanh",
                 d_hidden: tuple[int, ...] = (512, 256), dropout: float = 0.2, base_channels: int = 64,
                 g_batch_norm: bool = True, d_batch_norm: bool = True, bn_momentum: float = 0.1,
                 init_std: float | None = 0.02, n_critic: int = 5, clip: float = 0.01, warmup_generator_iters: int = 25,
                 warmup_critic_iters: int = 100, warmup_every: int = 500):
        super().__init__()
        if objective not in ("gan", "wgan"):
            raise ModelConfigError(f"objective = {objective!r}: expected 'gan' or 'wgan'")
        self.image_shape, self.objective, self.z_dim = tuple(image_shape), objective, z_dim
        for name, value in (("arch", arch), ("g_arch", g_arch or arch)):
            if value not in ("mlp", "dcgan"):
                raise ModelConfigError(f"{name} = {value!r}: expected 'mlp' or 'dcgan'")
        # the generator's architecture may differ from the critic's (the WGAN paper's MLP generator, DCGAN critic)
        if (g_arch or arch) == "mlp":
            self.generator = MLPGenerator(z_dim, image_shape, tuple(g_hidden), dropout, g_activation, g_output)
        else:
            self.generator = DCGANGenerator(z_dim, image_shape, base_channels, g_batch_norm, bn_momentum)
        if arch == "mlp":
            self.discriminator = MLPDiscriminator(image_shape, tuple(d_hidden))
        else:
            self.discriminator = DCGANDiscriminator(image_shape, base_channels, d_batch_norm, bn_momentum)
        if init_std is not None:
            for net in (self.generator, self.discriminator):
                if isinstance(net, (DCGANGenerator, DCGANDiscriminator)):
                    dcgan_init(net, init_std)
        self.n_critic, self.clip = n_critic, clip
        if objective == "wgan":   # the reference code clamps before every critic update, so from the first on
            clip_weights(self.discriminator, clip)
        self.warmup_generator_iters, self.warmup_critic_iters = warmup_generator_iters, warmup_critic_iters
        self.warmup_every = warmup_every
        # the schedule's position: part of the state dict, so a resumed run continues it exactly
        self.register_buffer("generator_iters", torch.zeros((), dtype=torch.long))
        self.register_buffer("critic_iters", torch.zeros((), dtype=torch.long))  # since the last generator update
        self.register_buffer("last_generator_loss", torch.zeros(()))
        self._step_records: list[tuple[int, dict[str, float]]] = []   # WGAN: figures by generator update

    def pop_step_records(self) -> list[tuple[int, dict[str, float]]]:
        """(generator update, figures) of the updates since the last call (the trainer stores them)."""
        records, self._step_records = self._step_records, []
        return records

    @property
    def optimizer_names(self) -> tuple[str, ...]:
        return ("critic" if self.objective == "wgan" else "discriminator", "generator")

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.z_dim, generator=generator).to(self.last_generator_loss.device)

    # ---------------------------------------------------------------- losses (signs tested)
    @staticmethod
    def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                      + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))

    @staticmethod
    def nonsaturating_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))

    @staticmethod
    def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        """mean f(G(z)) - mean f(x): minimising it maximises the Earth-Mover estimate."""
        return fake_scores.mean() - real_scores.mean()

    @staticmethod
    def wgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
        return -fake_scores.mean()

    def critic_updates_needed(self) -> int:
        g = int(self.generator_iters)
        if g < self.warmup_generator_iters or (self.warmup_every and g % self.warmup_every == 0):
            return self.warmup_critic_iters
        return self.n_critic

    # ---------------------------------------------------------------- training
    def loss(self, x: torch.Tensor, *labels: torch.Tensor):
        """The player-1 objective on a batch (what validation reports): discriminator loss or critic loss."""
        fake = self.generator(self.noise(len(x)))
        real_s, fake_s = self.discriminator(x), self.discriminator(fake)
        if self.objective == "wgan":
            loss = self.critic_loss(real_s, fake_s)
            return loss, {"em_estimate": -loss.item()}
        loss = self.discriminator_loss(real_s, fake_s)
        return loss, {"d_real": torch.sigmoid(real_s).mean().item(), "d_fake": torch.sigmoid(fake_s).mean().item()}

    def training_step(self, batch: tuple[torch.Tensor, ...], step: int, opt) -> dict[str, float]:
        x = batch[0]
        if self.objective == "gan":
            fake = self.generator(self.noise(len(x)))
            real_s, fake_s = self.discriminator(x), self.discriminator(fake.detach())
            d_loss = self.discriminator_loss(real_s, fake_s)
            opt.step("discriminator", d_loss)
            g_loss = self.nonsaturating_generator_loss(self.discriminator(fake))
            opt.step("generator", g_loss)
            return {"d_loss": d_loss.item(), "g_loss": g_loss.item(),
                    "d_real": torch.sigmoid(real_s).mean().item(), "d_fake": torch.sigmoid(fake_s).mean().item()}
        # WGAN: one critic update per batch; the generator steps once the schedule's count is reached
        with torch.no_grad():
            fake = self.generator(self.noise(len(x)))
        c_loss = self.critic_loss(self.discriminator(x), self.discriminator(fake))
        opt.step("critic", c_loss)
        clip_weights(self.discriminator, self.clip)
        self.critic_iters += 1
        figures = {"critic_loss": c_loss.item(), "em_estimate": -c_loss.item()}
        if int(self.critic_iters) >= self.critic_updates_needed():
            for p in self.discriminator.parameters():
                p.requires_grad_(False)   # the generator's backward pass need not reach the critic's weights
            try:
                g_loss = self.wgan_generator_loss(self.discriminator(self.generator(self.noise(len(x)))))
                opt.step("generator", g_loss)
            finally:
                for p in self.discriminator.parameters():
                    p.requires_grad_(True)
            self.generator_iters += 1
            self.critic_iters.zero_()
            self.last_generator_loss.fill_(g_loss.item())
            # g_loss only on the steps where the generator moved: its epoch mean is over its own updates
            figures["g_loss"] = g_loss.item()
            self._step_records.append((int(self.generator_iters),
                                       {"em_estimate": figures["em_estimate"], "g_loss": figures["g_loss"]}))
        return figures

    # ---------------------------------------------------------------- sampling
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None,
               z: torch.Tensor | None = None) -> torch.Tensor:
        """n images in [-1, 1] (or G(z) for given z), batch norm in evaluation mode."""
        was_training = self.generator.training
        self.generator.eval()
        out = self.generator(self.noise(n, generator) if z is None else z.to(self.last_generator_loss.device))
        self.generator.train(was_training)
        return out

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + 1) / 2).clamp(0, 1)


def build(cfg, image_shape: tuple[int, ...], n_classes: int = 0) -> GAN:
    m = cfg.model
    train = getattr(cfg, "train", None)  # the critic schedule only matters in training
    schedule = {} if train is None else {
        "n_critic": train.n_critic, "clip": train.clip, "warmup_generator_iters": train.warmup_generator_iters,
        "warmup_critic_iters": train.warmup_critic_iters, "warmup_every": train.warmup_every}
    return GAN(tuple(image_shape), arch=m.arch, objective=m.objective, z_dim=m.z_dim, g_arch=m.get("g_arch"),
               g_hidden=tuple(m.g_hidden), g_activation=m.g_activation, g_output=m.g_output,
               d_hidden=tuple(m.d_hidden), dropout=m.dropout, base_channels=m.base_channels,
               g_batch_norm=m.g_batch_norm, d_batch_norm=m.d_batch_norm, bn_momentum=m.bn_momentum,
               init_std=m.init_std, **schedule)
