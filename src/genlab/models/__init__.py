"""Model registry: the `family` named in params.yaml -> a builder taking that block's config."""
from __future__ import annotations

import math
from typing import Callable

from genlab.models.autoencoder import AutoEncoder
from genlab.models.base import Trainable
from genlab.models.vae import VAE

N_CLASSES = 10  # MNIST digits; the label set of every class-conditional model


def _build_vae(cfg, image_shape: tuple[int, int, int]) -> VAE:
    m = cfg.model
    return VAE(image_shape, z_dim=m.z_dim, arch=m.arch, hidden=m.hidden, channels=m.channels,
               n_classes=N_CLASSES if m.conditional else 0)


def _build_autoencoder(cfg, image_shape: tuple[int, int, int]) -> AutoEncoder:
    o = cfg.objective
    return AutoEncoder(math.prod(image_shape), cfg.model.hidden, tied_weights=cfg.model.tied_weights, noise=o.noise,
                       noise_level=o.noise_level, contraction=o.contraction, weight_decay=o.weight_decay)


REGISTRY: dict[str, Callable[..., Trainable]] = {"vae": _build_vae, "autoencoder": _build_autoencoder}


def build_model(cfg, image_shape: tuple[int, int, int]) -> Trainable:
    """The model that `cfg.family` names, for images of `image_shape` (C, H, W)."""
    return REGISTRY[cfg.family](cfg, tuple(image_shape))
