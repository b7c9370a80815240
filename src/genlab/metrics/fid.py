"""Fréchet distance between two feature sets (Heusel et al. 2017), the one FID function genlab uses.

d^2 = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2)), with the means and covariances
of the two sets' features. Which network produced the features (TF-Inception pool
features: "FID"; our MNIST classifier's penultimate layer: "Fréchet classifier distance")
decides what the number means, so every figure is written with its feature network, its
weights' sha256 and both sample counts.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

INCEPTION_MIN_SAMPLES = 2048  # the pool features' dimension: below it the covariance is surely singular


@dataclass(frozen=True)
class FeatureStats:
    """Mean and covariance (float64) of n feature vectors."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int

    @classmethod
    def of(cls, features: np.ndarray) -> "FeatureStats":
        f = np.asarray(features, dtype=np.float64)
        if f.ndim != 2 or len(f) < 2:
            raise ValueError(f"features of shape {f.shape}: expected (n >= 2, dim)")
        return cls(f.mean(axis=0), np.cov(f, rowvar=False), len(f))

    def save(self, path) -> None:
        np.savez(path, mu=self.mu, sigma=self.sigma, n=self.n)

    @classmethod
    def load(cls, path) -> "FeatureStats":
        with np.load(path) as f:
            return cls(f["mu"], f["sigma"], int(f["n"]))


@dataclass
class FrechetResult:
    value: float
    notes: list[str] = field(default_factory=list)


def sqrtm_product(sigma1: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6) -> tuple[np.ndarray, list[str]]:
    """(sigma1 sigma2)^(1/2) by scipy; when the product is numerically singular (scipy warns, or
    the root is not finite: e.g. dead ReLU features, fewer samples than dimensions), both
    covariances get eps on their diagonal first (noted). A small imaginary part from
    rounding is dropped; a large one is an error."""
    notes = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    singular = any(issubclass(w.category, scipy.linalg.LinAlgWarning) for w in caught)
    if singular or not np.isfinite(covmean).all():
        offset = np.eye(len(sigma1)) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
        notes.append(f"singular covariance product: added {eps:g} to both diagonals before the square root")
    if np.iscomplexobj(covmean):
        imag = np.max(np.abs(covmean.imag))
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"matrix square root has an imaginary component of {imag:.3g}")
        covmean = covmean.real
    return covmean, notes


def frechet_distance(a: FeatureStats, b: FeatureStats, eps: float = 1e-6) -> FrechetResult:
    """The Fréchet distance between Gaussians fitted to two feature sets."""
    if a.mu.shape != b.mu.shape:
        raise ValueError(f"feature dimensions differ: {a.mu.shape} vs {b.mu.shape}")
    covmean, notes = sqrtm_product(a.sigma, b.sigma, eps)
    diff = a.mu - b.mu
    value = float(diff @ diff + np.trace(a.sigma) + np.trace(b.sigma) - 2 * np.trace(covmean))
    return FrechetResult(max(value, 0.0) if value > -1e-6 else value, notes)
