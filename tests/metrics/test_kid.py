"""KID: the polynomial kernel and the unbiased MMD^2 against hand-computed values and invariants."""
from __future__ import annotations

import numpy as np
import pytest

from genlab.metrics.kid import KIDResult, kernel_distance, mmd2_unbiased, polynomial_kernel


def mmd2_biased(x: np.ndarray, y: np.ndarray) -> float:
    """The V-statistic (diagonals included), the biased estimator KID replaces."""
    return float(polynomial_kernel(x, x).mean() + polynomial_kernel(y, y).mean() - 2 * polynomial_kernel(x, y).mean())


def test_kernel_hand_case():
    # d = 2: [1, 2]·[3, -1] = 1 -> (1/2 + 1)^3 = 3.375; [1, 2]·[0, 0] = 0 -> 1;
    # [2, 2]·[3, -1] = 4 -> (4/2 + 1)^3 = 27; [2, 2]·[0, 0] -> 1
    a = np.array([[1.0, 2.0], [2.0, 2.0]])
    b = np.array([[3.0, -1.0], [0.0, 0.0]])
    k = polynomial_kernel(a, b)
    assert k.dtype == np.float64
    np.testing.assert_allclose(k, [[3.375, 1.0], [27.0, 1.0]])


def test_kernel_divides_by_the_feature_dimension():
    # x·y = d for all-ones vectors, so k = (d/d + 1)^3 = 8 whatever d is
    for d in (1, 7, 2048):
        assert polynomial_kernel(np.ones((1, d)), np.ones((1, d)))[0, 0] == pytest.approx(8.0)


def test_mmd2_unbiased_hand_case():
    # d = 1, k(x, y) = (x y + 1)^3; x = {0, 1, 2}, y = {-1, 1}.
    # x pairs i != j (each unordered pair twice): (0,1) -> 1, (0,2) -> 1, (1,2) -> 3^3 = 27;
    #   mean over the 6 ordered pairs = 2 (1 + 1 + 27) / 6 = 29/3
    # y pairs: (-1,1) -> 0^3 = 0; mean over 2 ordered pairs = 0
    # cross, all 3 x 2: x=0 -> 1, 1; x=1 -> 0^3 = 0, 2^3 = 8; x=2 -> (-1)^3 = -1, 3^3 = 27;
    #   sum 36, mean 36/6 = 6
    # MMD^2_u = 29/3 + 0 - 2 * 6 = -7/3 (negative: the U-statistic is unbiased, not non-negative)
    x = np.array([[0.0], [1.0], [2.0]])
    y = np.array([[-1.0], [1.0]])
    assert mmd2_unbiased(x, y) == pytest.approx(-7 / 3)
    assert mmd2_unbiased(y, x) == pytest.approx(-7 / 3)


def test_unbiased_for_equal_distributions_while_the_v_statistic_is_not():
    # x, y ~ N(0, I_2), m = n = 4, R = 4000 independent draws. Over the draws the U-statistic has
    # mean 0; the V-statistic has mean (1/m + 1/n) (E k(x, x) - E k(x, x')), which for d = 2 is,
    # with q = |x|^2/d (E q = 1, E q^2 = 1 + 2/d = 2, E q^3 = (d+2)(d+4)/d^2 = 6) and t = x·x'/d
    # (E t = E t^3 = 0, E t^2 = 1/d = 1/2):
    #   E k(x, x) = E (q + 1)^3 = 6 + 3*2 + 3*1 + 1 = 16,  E k(x, x') = 1 + 3 E t^2 = 2.5,
    #   E V = (1/4 + 1/4) (16 - 2.5) = 6.75.
    # Tolerance: the mean of R i.i.d. estimates is within 4 standard errors of its expectation
    # except with probability ~6e-5 (CLT); the seed is fixed, so the test is deterministic.
    rng = np.random.default_rng(0)
    draws = 4000
    u = np.empty(draws)
    v = np.empty(draws)
    for i in range(draws):
        x, y = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
        u[i], v[i] = mmd2_unbiased(x, y), mmd2_biased(x, y)
    se_u, se_v = u.std(ddof=1) / np.sqrt(draws), v.std(ddof=1) / np.sqrt(draws)
    assert abs(u.mean()) < 4 * se_u
    assert abs(v.mean() - 6.75) < 4 * se_v
    assert v.mean() > 10 * se_v and v.mean() - u.mean() > 5.0


def test_positive_and_growing_with_a_shift():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 8))
    z = rng.normal(size=(500, 8))  # the same noise for every shift, so only the shift changes
    values = [mmd2_unbiased(x, z + shift) for shift in (0.25, 0.5, 1.0, 2.0)]
    same = mmd2_unbiased(x, z)
    # at n = 500 the null estimate is of order 1e-2; the smallest shift must stand well clear of it
    assert values[0] > 5 * abs(same)
    assert all(b > a for a, b in zip(values, values[1:]))


def test_kernel_distance_is_mmd2_on_the_whole_sets_with_one_subset():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(30, 5)), rng.normal(0.3, 1.0, size=(30, 5))
    kid = kernel_distance(x, y, subset_size=1000, n_subsets=1, rng=np.random.default_rng(0))
    assert isinstance(kid, KIDResult)
    assert kid.subset_size == 30 and kid.n_subsets == 1 and (kid.n_x, kid.n_y) == (30, 30)
    assert kid.value == pytest.approx(mmd2_unbiased(x, y), rel=1e-12)  # a subset of all rows is a permutation
    assert kid.std == 0.0


def test_kernel_distance_is_deterministic_given_the_seed():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(200, 4)), rng.normal(size=(150, 4))
    a = kernel_distance(x, y, subset_size=50, n_subsets=20, rng=np.random.default_rng(7))
    b = kernel_distance(x, y, subset_size=50, n_subsets=20, rng=np.random.default_rng(7))
    c = kernel_distance(x, y, subset_size=50, n_subsets=20, rng=np.random.default_rng(8))
    assert a == b
    assert c.value != a.value


def test_kernel_distance_follows_the_subset_protocol():
    # per subset: subset_size rows of x, then of y, each without replacement; value = mean,
    # std = population std over the subsets (torch-fidelity and the authors' code)
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(25, 3)) + 0.5
    kid = kernel_distance(x, y, subset_size=100, n_subsets=5, rng=np.random.default_rng(11))
    assert kid.subset_size == 25  # min(subset_size, len(x), len(y))
    replay = np.random.default_rng(11)
    estimates = []
    for _ in range(5):
        ix = replay.choice(40, 25, replace=False)
        iy = replay.choice(25, 25, replace=False)
        assert len(set(ix)) == 25
        estimates.append(mmd2_unbiased(x[ix], y[iy]))
    assert kid.value == pytest.approx(np.mean(estimates))
    assert kid.std == pytest.approx(np.std(estimates))


def test_bad_inputs_are_refused():
    x = np.zeros((10, 3))
    with pytest.raises(ValueError):
        mmd2_unbiased(x, np.zeros((10, 4)))
    with pytest.raises(ValueError):
        mmd2_unbiased(x, np.zeros((1, 3)))
    with pytest.raises(ValueError):
        kernel_distance(x, np.zeros((10, 4)), rng=np.random.default_rng(0))
    with pytest.raises(ValueError):
        kernel_distance(x, x, n_subsets=0, rng=np.random.default_rng(0))
