"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs").

KID is the unbiased estimate of the squared MMD between two feature sets under the
polynomial kernel k(x, y) = (x·y / d + 1)^3, d the feature dimension, averaged over
random subsets (torch-fidelity and the authors' code: `n_subsets` subsets of
`subset_size` rows each, drawn without replacement within a subset, independently
across subsets). Which network produced the features decides what the number means, as
for FID.

Scale: the value is stored raw. Papers often print KID x 1000 (or x 100); any such
rescaling belongs to the report, never to the stored figure. Being unbiased, a single
subset's estimate (and, for equal distributions, even the mean) can be negative.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KID_FORMULA = (
    "KID = mean over subsets of MMD^2_u with k(x, y) = (x.y/d + 1)^3; "
    "std = population std (ddof=0) over subsets; raw value, not x1000"
)


@dataclass(frozen=True)
class KIDResult:
    """Mean and std of the subset estimates, with the protocol needed to read them."""

    value: float
    std: float
    subset_size: int
    n_subsets: int
    n_x: int
    n_y: int


def _features(f: np.ndarray, name: str) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"{name} of shape {f.shape}: expected (n >= 2, dim)")
    return f


def polynomial_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Gram matrix (a_i·b_j / d + 1)^3 in float64 for rows a_i of a (n, d) and b_j of b (m, d)."""
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(b, dtype=np.float64))
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased U-statistic of MMD^2 between feature sets x (m, d) and y (n, d), m, n >= 2."""
    x, y = _features(x, "x"), _features(y, "y")
    m, n = len(x), len(y)
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * k_xy.mean())


def kernel_distance(x: np.ndarray, y: np.ndarray, subset_size: int = 1000, n_subsets: int = 100, *,
                    rng: np.random.Generator) -> KIDResult:
    """KID between feature sets x (m, d) and y (n, d): mean and std of MMD^2_u over random subsets."""
    x, y = _features(x, "x"), _features(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature dimensions differ: {x.shape[1]} vs {y.shape[1]}")
    if n_subsets < 1:
        raise ValueError(f"n_subsets={n_subsets}: expected >= 1")
    size = min(subset_size, len(x), len(y))
    if size < 2:
        raise ValueError(f"subset_size={subset_size}: expected >= 2")
    estimates = np.empty(n_subsets)
    for i in range(n_subsets):
        xs = x[rng.choice(len(x), size, replace=False)]
        ys = y[rng.choice(len(y), size, replace=False)]
        estimates[i] = mmd2_unbiased(xs, ys)
    return KIDResult(value=float(estimates.mean()), std=float(estimates.std()), subset_size=size,
                     n_subsets=n_subsets, n_x=len(x), n_y=len(y))
