"""Sample metrics of any generator: feature networks, real-data features, FID, KID and the noise reference.

`FeatureNetwork` names one network (the pipeline's domain classifier, or TF-Inception),
its weights' sha256 and how to get (N, d) features from images in [0, 1]. Real-data
features are computed once per data set, view and network (`real_stats` stage) and saved
whole, so that both FID (means and covariances) and KID (the features themselves) can be
computed against them. `compare` gives one model's (or reference set's) figures.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from genlab.metrics.fid import INCEPTION_MIN_SAMPLES, FeatureStats, frechet_distance
from genlab.metrics.kid import KID_FORMULA, kernel_distance

NOISE_MEAN, NOISE_STD = 0.5, 0.25


@dataclass
class FeatureNetwork:
    name: str              # "classifier" | "inception": the metrics are fid_<name>, kid_<name>
    description: str
    weights_sha256: str
    extract: Callable[[torch.Tensor], torch.Tensor]
    class_probs: Callable[[torch.Tensor], torch.Tensor] | None = None  # p(y|x), where the network classifies


def classifier_network(cfg, checkpoint: Path, image_shape, n_classes: int, device) -> FeatureNetwork:
    """The pipeline's domain classifier (penultimate-layer features)."""
    from genlab.io import sha256_state
    from genlab.metrics.classifier import build_classifier, class_probabilities, features
    from genlab.pipeline import load_trained

    state = load_trained(checkpoint)  # a StageError (one line, exit 2) when unfinished
    model = build_classifier(cfg, image_shape, n_classes).to(device)
    model.load_state_dict(state["model"])
    return FeatureNetwork("classifier", f"Fréchet classifier distance ({model.n_features}-d penultimate features of "
                          "the LeNet-style classifier trained by this pipeline)", sha256_state(state["model"]),
                          lambda x: features(model, x, cfg.evaluate.batch_size, device),
                          lambda x: class_probabilities(model, x, cfg.evaluate.batch_size, device))


def inception_network(cfg, device) -> FeatureNetwork:
    from genlab.metrics.inception import inception_features, load_inception

    net, digest, description = load_inception(cfg.weights, cfg.path, cfg.embedded)
    net = net.to(device)
    return FeatureNetwork("inception", description, digest,
                          lambda x: inception_features(net, x, cfg.batch_size, device))


def feature_networks(p, classifier_dir: Path, image_shape, n_classes: int, device) -> list[FeatureNetwork]:
    """The feature networks a sample-metrics slice names (`networks`), loaded."""
    nets = []
    for name in p.networks:
        if name == "classifier":
            nets.append(classifier_network(p.classifier, classifier_dir / "checkpoints" / "train.pt", image_shape,
                                           n_classes, device))
        else:
            nets.append(inception_network(p.inception, device))
    return nets


def noise_images(n: int, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """uint8 images of pixels i.i.d. N(0.5, 0.25^2) clipped to [0, 1]: seed 001's "random Gaussian noise" row
    (shown through a view like real images)."""
    x = (NOISE_MEAN + NOISE_STD * torch.randn((n, *shape), generator=generator)).clamp(0, 1)
    return (x * 255).round().to(torch.uint8)


def save_features(path: Path, features: torch.Tensor) -> None:
    from genlab.io import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, features.numpy().astype(np.float32))


IS_FORMULA = ("IS = exp(E_x KL(p(y|x) || p(y))), p(y) the mean of p(y|x) over the split; mean and std over "
              "`splits` equal splits of the samples in a seeded random order (Salimans et al. 2016's protocol, 10 splits)")


def inception_score(probs: np.ndarray, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    """The Inception Score of class probabilities (N, K) (IS_FORMULA): its mean and std over the splits, of
    the samples in a seeded random order (a conditional model's samples come sorted by label, and a split
    of one class would score 1). It lies in [1, K]: 1 when every sample gets the same p(y|x), K when each
    is sure of its class and the classes are used equally."""
    probs = np.asarray(probs, dtype=np.float64)
    probs = probs[np.random.default_rng(seed).permutation(len(probs))]
    scores = []
    for part in np.array_split(probs, splits):
        marginal = part.mean(axis=0, keepdims=True)
        kl = (part * (np.log(np.clip(part, 1e-30, None)) - np.log(np.clip(marginal, 1e-30, None)))).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


CLASS_BALANCE_FORMULA = ("q_k: the share of the samples that the domain classifier assigns (argmax p(y|x)) to "
                         "class k; p_k: the share of class k among the real test split's labels; "
                         "class_tv = 1/2 sum_k |q_k - p_k| (0: the data's class frequencies, 1: only classes the "
                         "data lacks); classes_under_half: the number of classes k with q_k < p_k / 2")


def class_balance(probs: np.ndarray, labels: np.ndarray, network: str = "classifier") -> tuple[dict[str, float], dict]:
    """How far the samples' classes are from the data's (CLASS_BALANCE_FORMULA): the mode collapse a GAN shows on
    MNIST as too many of some digits and too few of others, which a Fréchet distance folds into one number.

    probs: (N, K) p(y|x) of the samples; labels: the real test labels in [0, K). Returns
    ({class_tv_<network>, classes_under_half_<network>}, detail with both class distributions in %)."""
    probs = np.asarray(probs)
    labels = np.asarray(labels)
    k = probs.shape[1]
    if len(probs) == 0 or len(labels) == 0:
        raise ValueError(f"class_balance: {len(probs)} samples and {len(labels)} labels; both must be non-empty")
    if labels.min() < 0 or labels.max() >= k:
        raise ValueError(f"class_balance: labels span [{labels.min()}, {labels.max()}], outside the {k} classes "
                         "of the probabilities")
    q = np.bincount(probs.argmax(axis=1), minlength=k) / len(probs)
    p = np.bincount(labels, minlength=k) / len(labels)
    values = {f"class_tv_{network}": float(0.5 * np.abs(q - p).sum()),
              f"classes_under_half_{network}": int((q < p / 2).sum())}
    detail = {"sample_class_pct": [round(100 * float(v), 2) for v in q],
              "real_test_class_pct": [round(100 * float(v), 2) for v in p],
              "formula": CLASS_BALANCE_FORMULA}
    return values, detail


PIXEL_SPREAD_FORMULA = ("mean over pixels of the standard deviation (population, over the images) of that pixel's "
                        "value in [0, 1]: 0 when every z gives the same image")


def pixel_spread(images) -> float:
    """How much a batch of images (N, C, H, W, values in [0, 1]) differs from image to image (PIXEL_SPREAD_FORMULA):
    a generator that ignores z scores 0 whatever its class balance; MNIST's test digits score about 0.18."""
    import torch

    x = torch.as_tensor(images, dtype=torch.float64)
    if x.ndim < 2 or len(x) < 2:
        raise ValueError(f"pixel_spread: {tuple(x.shape)}; expected at least two images")
    return float(x.std(dim=0, unbiased=False).mean())


def compare(features: np.ndarray, real: np.ndarray, network: str, kid_cfg, allow_small: bool,
            seed: int) -> tuple[dict[str, float], dict]:
    """fid_<network> and kid_<network> of `features` against `real` features; (values, detail).

    Inception FID from fewer than 2048 samples is not computed (the 2048-d covariance is
    singular) unless `allow_small`; KID, unbiased, is computed at any sample count.
    """
    values, detail = {}, {"n_samples": int(len(features)), "n_real": int(len(real)), "notes": []}
    if network == "inception" and min(len(features), len(real)) < INCEPTION_MIN_SAMPLES and not allow_small:
        detail["notes"].append(f"fid_inception not computed: {min(len(features), len(real))} < "
                               f"{INCEPTION_MIN_SAMPLES} samples (KID is unbiased at this count)")
    else:
        result = frechet_distance(FeatureStats.of(features), FeatureStats.of(real))
        values[f"fid_{network}"] = result.value
        detail["notes"] += result.notes
    kid = kernel_distance(features, real, kid_cfg.subset_size, kid_cfg.n_subsets, rng=np.random.default_rng(seed))
    values[f"kid_{network}"] = kid.value
    values[f"kid_{network}_std"] = kid.std
    detail["kid"] = {"subset_size": kid.subset_size, "n_subsets": kid.n_subsets, "formula": KID_FORMULA}
    return values, detail
