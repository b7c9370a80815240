"""Feature networks for the Fréchet distances, and the reference images they are checked on.

`FeatureNetwork` names one network (our MNIST classifier, or TF-Inception), its weights'
sha256 and how to get (N, d) features from images in [0, 1]. `gaussian_noise_images` is
seed 001's "random Gaussian noise" reference row.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from genlab.metrics.classifier import build_classifier, features
from genlab.metrics.inception import inception_features, load_inception
from genlab.pipeline import load_trained

NOISE_MEAN, NOISE_STD = 0.5, 0.25


@dataclass
class FeatureNetwork:
    name: str              # "classifier" | "inception": the metric is fid_<name>
    description: str
    weights_sha256: str
    extract: Callable[[torch.Tensor], torch.Tensor]


def classifier_network(cfg, checkpoint: Path, image_shape, device, weights_sha256: str) -> FeatureNetwork:
    state = load_trained(checkpoint, device)  # a StageError (one line, exit 2) when unfinished
    model = build_classifier(cfg, image_shape).to(device)
    model.load_state_dict(state["model"])
    return FeatureNetwork("classifier", f"Fréchet classifier distance ({model.n_features}-d penultimate features of "
                          "the LeNet-style MNIST classifier trained by this pipeline)", weights_sha256,
                          lambda x: features(model, x, cfg.evaluate.batch_size, device))


def inception_network(cfg, device) -> FeatureNetwork:
    net, digest, description = load_inception(cfg.weights, cfg.path, cfg.embedded)
    net = net.to(device)
    return FeatureNetwork("inception", description, digest,
                          lambda x: inception_features(net, x, cfg.batch_size, device))


def gaussian_noise_images(n: int, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Pixels i.i.d. N(0.5, 0.25^2) clipped to [0, 1]: seed 001's "random Gaussian noise" row."""
    return (NOISE_MEAN + NOISE_STD * torch.randn((n, *shape), generator=generator)).clamp(0, 1)
