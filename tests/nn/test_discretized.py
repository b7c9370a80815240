"""Discretized logistic likelihood: normalisation, hand cases, edge bins, stability, the sampler."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genlab.nn.discretized import (
    discretized_logistic_log_prob,
    discretized_mix_logistic_log_prob,
    sample_discretized_logistic,
    sample_discretized_mix_logistic,
    to_symmetric,
    to_uint8,
)

LEVELS = torch.arange(256)


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def bin_log_probs(mean: float, log_scale: float, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """log P(b) for all 256 levels b under one discretized logistic, shape (256,)."""
    x = to_symmetric(LEVELS, dtype).reshape(256, 1)
    return discretized_logistic_log_prob(x, torch.full_like(x, mean), torch.full_like(x, log_scale))


def components(t: torch.Tensor, rows: int) -> torch.Tensor:
    """K per-component values (K,) as a mixture parameter of `rows` one-sub-pixel images, (rows, K, 1)."""
    return t.reshape(1, -1, 1).expand(rows, -1, 1)


def chi_square(counts: np.ndarray, probs: np.ndarray) -> tuple[float, int]:
    """Pearson's statistic over bins with expected count >= 5 (the rest pooled into one); (stat, dof)."""
    n = counts.sum()
    expected = n * probs
    keep = expected >= 5
    obs = np.append(counts[keep], counts[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    if exp[-1] < 5:  # the pooled tail is too small to test on its own
        obs, exp = obs[:-1], exp[:-1]
    return float(((obs - exp) ** 2 / exp).sum()), len(obs) - 1


def test_to_symmetric_and_back():
    b = torch.arange(256, dtype=torch.uint8)
    x = to_symmetric(b)
    assert x.dtype == torch.float32 and x[0] == -1.0 and x[-1] == 1.0
    assert torch.equal(x, (2 * b.double() / 255 - 1).float())  # the correctly rounded level
    assert torch.allclose(to_symmetric(b, torch.float64), 2 * b.double() / 255 - 1, rtol=0, atol=1e-15)
    assert torch.equal(to_uint8(x), b)
    with pytest.raises(TypeError):
        to_symmetric(x)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("mean", [-3.0, -1.0, -0.2, 0.0, 0.37, 1.0, 2.5])
@pytest.mark.parametrize("log_scale", [-7.0, -4.0, -1.0, 0.0, 2.0, 8.0])
def test_the_256_bins_sum_to_one(mean, log_scale, dtype):
    assert bin_log_probs(mean, log_scale, dtype).double().exp().sum().item() == pytest.approx(1.0, abs=1e-5)


def test_hand_case_middle_bin():
    # mean 0, s = 1, b = 128: x = 2*128/255 - 1 = 1/255, so the bin is [0, 2/255] and
    # P = sigmoid(2/255) - sigmoid(0) = sigmoid(2/255) - 1/2 (~0.0019608)
    expected = math.log(sigmoid(2 / 255) - 0.5)
    for dtype, rel in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        x = to_symmetric(torch.tensor([[128]]), dtype)
        got = discretized_logistic_log_prob(x, torch.zeros_like(x), torch.zeros_like(x))
        assert got.item() == pytest.approx(expected, rel=rel)


@pytest.mark.parametrize("mean,log_scale", [(0.0, 0.0), (-0.9, -3.0), (0.8, -2.0), (3.0, 1.0)])
def test_edge_bins_are_the_tail_masses(mean, log_scale):
    s = math.exp(log_scale)
    lp = bin_log_probs(mean, log_scale)
    assert lp[0].item() == pytest.approx(math.log(sigmoid((-1 + 1 / 255 - mean) / s)), rel=1e-10)
    assert lp[255].item() == pytest.approx(math.log(sigmoid(-(1 - 1 / 255 - mean) / s)), rel=1e-10)  # 1 - sigmoid(z)


@pytest.mark.parametrize("mean", [-1.4, -0.5, 0.0, 0.3, 1.2])
@pytest.mark.parametrize("log_scale", [-5.0, -2.0, 0.0, 3.0])
def test_matches_the_direct_sigmoid_difference(mean, log_scale):
    # the formula as written, in float64, where it is accurate (probabilities, not their logs:
    # log(1 - 7e-14) from a float64 difference of sigmoids is off in its 4th digit)
    s = math.exp(log_scale)
    x = to_symmetric(LEVELS, torch.float64)
    upper = torch.sigmoid((x + 1 / 255 - mean) / s)
    lower = torch.sigmoid((x - 1 / 255 - mean) / s)
    upper[255], lower[0] = 1.0, 0.0
    assert torch.allclose(bin_log_probs(mean, log_scale).exp(), upper - lower, rtol=1e-9, atol=1e-15)


def test_a_tiny_scale_centred_on_a_level_puts_all_mass_there():
    x = to_symmetric(torch.tensor([[0], [100], [255]]), torch.float64)
    # with the PixelCNN++ clamp (log_scale >= -7) an interior level keeps at most
    # sigmoid(e^7/255) - sigmoid(-e^7/255) ~ 0.9732 of the mass; the edge levels
    # sigmoid(e^7/255) ~ 0.9866
    h = math.exp(7) / 255
    lp = discretized_logistic_log_prob(x, x, torch.full_like(x, -20.0))
    assert lp[1].item() == pytest.approx(math.log(sigmoid(h) - sigmoid(-h)), rel=1e-10)
    assert lp[0].item() == pytest.approx(math.log(sigmoid(h)), rel=1e-10)
    assert lp[2].item() == pytest.approx(math.log(sigmoid(h)), rel=1e-10)
    assert (lp > -0.03).all()
    # without the clamp the level gets all the mass
    lp_unclamped = discretized_logistic_log_prob(x, x, torch.full_like(x, -20.0), min_log_scale=-30.0)
    assert (lp_unclamped.abs() < 1e-12).all()


def test_log_scale_is_clamped_at_minus_seven():
    x = to_symmetric(torch.tensor([[37]]), torch.float64)
    mean = x + 0.003
    a = discretized_logistic_log_prob(x, mean, torch.full_like(x, -7.0))
    b = discretized_logistic_log_prob(x, mean, torch.full_like(x, -50.0))
    assert torch.equal(a, b)


def test_log_probs_and_gradients_are_finite_at_extremes():
    levels = torch.tensor([0, 1, 127, 254, 255])
    means, log_scales = [-1e3, -50.0, -1.0, 0.0, 1.0, 50.0, 1e3], [-50.0, -7.0, 0.0, 7.0, 50.0, 200.0]
    grid = torch.cartesian_prod(to_symmetric(levels), torch.tensor(means), torch.tensor(log_scales))
    x, mean, log_scale = (grid[:, i].reshape(-1, 1).clone() for i in range(3))
    for dtype in (torch.float32, torch.float64):
        mean_ = mean.to(dtype).clone().requires_grad_()
        log_scale_ = log_scale.to(dtype).clone().requires_grad_()
        lp = discretized_logistic_log_prob(x.to(dtype), mean_, log_scale_)
        assert torch.isfinite(lp).all() and (lp <= 0).all()
        lp.sum().backward()
        assert torch.isfinite(mean_.grad).all() and torch.isfinite(log_scale_.grad).all()


def test_far_tail_is_exact_where_the_naive_difference_underflows():
    # mean 0.9, s = e^-7: level 0 lies ~1.9/s ~ 2000 scale units away; the naive difference of
    # sigmoids is 0 there, the log-space form gives ~ -(distance to the bin)/s
    x = to_symmetric(torch.tensor([[1]]), torch.float64)
    lp = discretized_logistic_log_prob(x, torch.full_like(x, 0.9), torch.full_like(x, -7.0)).item()
    a, b = (x.item() + 1 / 255 - 0.9) * math.exp(7), (x.item() - 1 / 255 - 0.9) * math.exp(7)
    # log(sigmoid(a) - sigmoid(b)) = a + log(1 - e^(b - a)) - log(1 + e^a) - log(1 + e^b), e^a, e^b ~ 0
    assert lp == pytest.approx(a + math.log(1 - math.exp(b - a)), rel=1e-10)


def test_per_image_sum_over_channels_and_pixels():
    g = torch.Generator().manual_seed(0)
    b = torch.randint(0, 256, (3, 2, 4, 5), generator=g)
    x = to_symmetric(b, torch.float64)
    mean, log_scale = torch.randn(x.shape, generator=g).double(), torch.randn(x.shape, generator=g).double() - 2
    per_image = discretized_logistic_log_prob(x, mean, log_scale)
    assert per_image.shape == (3,)
    for i in range(3):
        per_subpixel = discretized_logistic_log_prob(x[i].reshape(-1, 1), mean[i].reshape(-1, 1),
                                                     log_scale[i].reshape(-1, 1))
        assert per_image[i].item() == pytest.approx(per_subpixel.sum().item(), rel=1e-12)


def test_sampler_frequencies_match_the_bin_probabilities():
    # mean near the top edge, so bin 255 (the clamped upper tail) carries real mass
    mean, log_scale, n = 0.9, math.log(0.05), 200_000
    g = torch.Generator().manual_seed(0)
    x = sample_discretized_logistic(torch.full((n,), mean, dtype=torch.float64),
                                    torch.full((n,), log_scale, dtype=torch.float64), generator=g)
    b = to_uint8(x)
    assert torch.equal(x, to_symmetric(b, torch.float64))  # on the 256-level grid
    counts = np.bincount(b.numpy(), minlength=256)
    probs = bin_log_probs(mean, log_scale).exp().numpy()
    assert counts[255] > 0.05 * n  # P(255) ~ 0.12
    # Pearson's statistic is ~chi^2(dof): mean dof, sd sqrt(2 dof); 5 sd above the mean is
    # exceeded with probability < 1e-4 under a correct sampler (fixed seed: deterministic)
    stat, dof = chi_square(counts, probs)
    assert dof > 30
    assert stat < dof + 5 * math.sqrt(2 * dof)


def test_sampler_is_deterministic_given_a_generator():
    mean, log_scale = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), -2.0)
    a = sample_discretized_logistic(mean, log_scale, torch.Generator().manual_seed(5))
    b = sample_discretized_logistic(mean, log_scale, torch.Generator().manual_seed(5))
    assert a.shape == mean.shape and torch.equal(a, b)


def test_uniform_model_is_eight_bits_per_dim():
    # A uniform model over the 256 levels has log P = -ln 256 per sub-pixel: 8 bits/dim.
    # One logistic cannot be that model (below), so take an equal-weight mixture of 256
    # logistics, one centred on each level, with s = e^-12: a component leaks
    # sigmoid(-e^12/255) ~ e^-638 of its mass into a neighbour, so every bin gets 1/256 to
    # within double precision; tolerance 1e-9 bits/dim.
    x = to_symmetric(torch.arange(256), torch.float64).reshape(256, 1)  # uniform data: each level once
    centres = to_symmetric(torch.arange(256), torch.float64)
    means = centres.reshape(1, 256, 1).expand(256, 256, 1)
    log_scales = torch.full_like(means, -12.0)
    logits = torch.zeros_like(means)
    lp = discretized_mix_logistic_log_prob(x, logits, means, log_scales, min_log_scale=-12.0)
    bpd = -lp.mean().item() / math.log(2)
    assert bpd == pytest.approx(8.0, abs=1e-9)
    assert torch.allclose(lp, torch.full_like(lp, -math.log(256)), atol=1e-9)


def test_one_logistic_is_never_uniform():
    # Gibbs: the cross-entropy of uniform data under any model is >= ln 256, i.e. >= 8 bits/dim,
    # with equality only for the uniform model. A huge scale is NOT close to uniform: the edge
    # bins take ~1/2 each and the interior bins ~(2/255)/(4 s) -> 0, so bits/dim grows with s.
    bpd = {}
    for log_scale in (-2.0, math.log(0.355), 0.0, 2.0, 5.0, 10.0):
        lp = bin_log_probs(0.0, log_scale)
        bpd[log_scale] = -lp.mean().item() / math.log(2)
        assert bpd[log_scale] > 8.0
    assert min(bpd.values()) == pytest.approx(8.276, abs=1e-3)  # the best s is ~0.355
    huge = bin_log_probs(0.0, 10.0).exp()
    assert huge[0].item() == pytest.approx(0.5, abs=1e-4) and huge[255].item() == pytest.approx(0.5, abs=1e-4)
    assert bpd[10.0] > bpd[5.0] > bpd[2.0] > 8.3


def test_mixture_of_one_is_the_single_logistic():
    g = torch.Generator().manual_seed(1)
    x = to_symmetric(torch.randint(0, 256, (2, 3, 4, 4), generator=g), torch.float64)
    mean, log_scale = torch.randn(x.shape, generator=g).double(), torch.randn(x.shape, generator=g).double() - 2
    single = discretized_logistic_log_prob(x, mean, log_scale)
    mix = discretized_mix_logistic_log_prob(x, torch.zeros_like(x).unsqueeze(1), mean.unsqueeze(1),
                                            log_scale.unsqueeze(1))
    assert torch.allclose(single, mix, rtol=1e-12)
    # two identical components with any weights are the same single logistic
    two = discretized_mix_logistic_log_prob(x, torch.stack([torch.zeros_like(x), torch.full_like(x, 3.0)], 1),
                                            torch.stack([mean, mean], 1), torch.stack([log_scale, log_scale], 1))
    assert torch.allclose(single, two, rtol=1e-12)


def test_mixture_bins_sum_to_one_and_match_the_weighted_components():
    g = torch.Generator().manual_seed(2)
    k = 5
    logits, means = torch.randn(k, generator=g).double(), 1.5 * torch.randn(k, generator=g).double()
    log_scales = torch.empty(k).uniform_(-6.0, 1.0, generator=g).double()
    x = to_symmetric(torch.arange(256), torch.float64).reshape(256, 1)
    lp = discretized_mix_logistic_log_prob(x, components(logits, 256), components(means, 256),
                                           components(log_scales, 256))
    assert lp.exp().sum().item() == pytest.approx(1.0, abs=1e-10)
    weights = torch.softmax(logits, 0)
    by_hand = sum(weights[j] * bin_log_probs(means[j].item(), log_scales[j].item()).exp() for j in range(k))
    assert torch.allclose(lp.exp(), by_hand, rtol=1e-10)


def test_mixture_sampler_frequencies_match_the_bin_probabilities():
    n = 200_000
    logits = torch.tensor([0.0, 1.0, -0.5], dtype=torch.float64)
    means = torch.tensor([-0.6, 0.1, 0.95], dtype=torch.float64)
    log_scales = torch.tensor([-3.0, -2.5, -2.0], dtype=torch.float64)
    x = sample_discretized_mix_logistic(components(logits, n), components(means, n), components(log_scales, n),
                                        generator=torch.Generator().manual_seed(0))
    assert x.shape == (n, 1)
    counts = np.bincount(to_uint8(x).flatten().numpy(), minlength=256)
    levels = to_symmetric(torch.arange(256), torch.float64).reshape(256, 1)
    probs = discretized_mix_logistic_log_prob(levels, components(logits, 256), components(means, 256),
                                              components(log_scales, 256)).exp().numpy()
    stat, dof = chi_square(counts, probs)  # tolerance as in the single-logistic sampler test
    assert dof > 30
    assert stat < dof + 5 * math.sqrt(2 * dof)
