"""The Fréchet distance against closed forms and hand cases."""
from __future__ import annotations

import numpy as np
import pytest

from genlab.metrics.fid import FeatureStats, frechet_distance, sqrtm_product


def test_a_set_with_itself_is_zero():
    f = np.random.default_rng(0).normal(size=(500, 16))
    assert abs(frechet_distance(FeatureStats.of(f), FeatureStats.of(f)).value) < 1e-6


def test_univariate_closed_form():
    # 1-d: d^2 = (mu1 - mu2)^2 + (s1 - s2)^2
    a = FeatureStats(np.array([1.0]), np.array([[4.0]]), 10)
    b = FeatureStats(np.array([-2.0]), np.array([[9.0]]), 10)
    assert frechet_distance(a, b).value == pytest.approx(9.0 + 1.0)


def test_diagonal_covariances_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 0.25]), np.array([4.0, 1.0, 1.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    got = frechet_distance(FeatureStats(mu1, np.diag(v1), 2), FeatureStats(mu2, np.diag(v2), 2)).value
    assert got == pytest.approx(expected)


def test_samples_approach_the_closed_form_for_known_gaussians():
    rng = np.random.default_rng(1)
    d = 4
    mu1, mu2 = np.zeros(d), np.full(d, 0.5)
    a_ = rng.normal(size=(d, d))
    s1, s2 = np.eye(d), a_ @ a_.T / d + 0.5 * np.eye(d)
    exact = FeatureStats(mu1, s1, 0), FeatureStats(mu2, s2, 0)
    closed = frechet_distance(*exact).value
    x = rng.multivariate_normal(mu1, s1, size=200_000)
    y = rng.multivariate_normal(mu2, s2, size=200_000)
    assert frechet_distance(FeatureStats.of(x), FeatureStats.of(y)).value == pytest.approx(closed, rel=0.02)


def test_matrix_square_root_hand_case():
    # S1 = I, S2 = diag(4, 9): (S1 S2)^(1/2) = diag(2, 3); and a non-diagonal SPD check
    root, notes = sqrtm_product(np.eye(2), np.diag([4.0, 9.0]))
    assert np.allclose(root, np.diag([2.0, 3.0])) and notes == []
    s = np.array([[2.0, 1.0], [1.0, 2.0]])  # eigenvalues 1 and 3
    root, _ = sqrtm_product(s, s)
    assert np.allclose(root, s)  # (S S)^(1/2) = S for SPD S
    assert np.allclose(root @ root, s @ s)


def test_singular_covariances_trigger_the_offset_and_say_so():
    # a dead feature (always 0, as after a ReLU) makes both covariances singular
    rng = np.random.default_rng(0)
    f1, f2 = rng.normal(size=(500, 6)), rng.normal(size=(500, 6)) + 1
    f1[:, 0] = f2[:, 0] = 0.0
    result = frechet_distance(FeatureStats.of(f1), FeatureStats.of(f2))
    assert result.notes and "added 1e-06 to both diagonals" in result.notes[0]
    # the dead feature contributes nothing: the distance equals that of the live features (to the offset)
    live = frechet_distance(FeatureStats.of(f1[:, 1:]), FeatureStats.of(f2[:, 1:]))
    assert live.notes == [] and result.value == pytest.approx(live.value, abs=1e-4)


def test_stats_round_trip(tmp_path):
    s = FeatureStats.of(np.random.default_rng(0).normal(size=(50, 3)))
    s.save(tmp_path / "s.npz")
    t = FeatureStats.load(tmp_path / "s.npz")
    assert t.n == 50 and np.array_equal(t.mu, s.mu) and np.array_equal(t.sigma, s.sigma)
