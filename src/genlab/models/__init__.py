"""Model registry: the `family` named in params.yaml -> src/genlab/models/<family>.py and its `build`.

Families are imported by name, on demand, so that one family's stages neither import
nor depend on another family's code.
"""
from __future__ import annotations

import importlib

from genlab.models.base import Trainable


def build_model(cfg, image_shape: tuple[int, ...], n_classes: int = 0) -> Trainable:
    """The model that `cfg.family` names, for images of `image_shape` (C, H, W) from a data set with
    `n_classes` classes (used by class-conditional models)."""
    module = importlib.import_module(f"genlab.models.{cfg.family}")
    return module.build(cfg, tuple(image_shape), n_classes)
