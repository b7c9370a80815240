"""Model registry: the `family` named in params.yaml -> a builder taking that block's config."""
from __future__ import annotations

from typing import Callable

from genlab.models.base import GenerativeModel
from genlab.models.vae import VAE


def _build_vae(cfg, image_shape: tuple[int, int, int]) -> VAE:
    m = cfg.model
    return VAE(image_shape, z_dim=m.z_dim, arch=m.arch, hidden=m.hidden, channels=m.channels)


REGISTRY: dict[str, Callable[..., GenerativeModel]] = {"vae": _build_vae}


def build_model(cfg, image_shape: tuple[int, int, int]) -> GenerativeModel:
    """The model that `cfg.family` names, for images of `image_shape` (C, H, W)."""
    return REGISTRY[cfg.family](cfg, tuple(image_shape))
