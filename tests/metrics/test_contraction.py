"""Saturation and contraction-ratio figures (Rifai et al. 2011) against hand-computed values."""
from __future__ import annotations

import pytest
import torch

from genlab.metrics.contraction import batched, contraction_ratios, saturation


def test_saturation_counts_units_near_zero_or_one():
    h = torch.tensor([[0.01, 0.5, 0.97, 0.2], [0.04, 0.951, 0.949, 0.06]])
    assert saturation(h, 0.05).tolist() == pytest.approx([0.5, 0.5])


@pytest.mark.parametrize("scale", [1.0, 0.25, 3.0])
def test_a_linear_encoder_has_a_constant_ratio_equal_to_its_gain(scale):
    x = torch.rand(20, 1, 4, 4)
    ratios = contraction_ratios(lambda v: scale * v.flatten(1), x, [0.1, 1.0, 10.0], torch.Generator().manual_seed(0))
    assert ratios.shape == (3, 20)
    assert torch.allclose(ratios, torch.full_like(ratios, scale), atol=1e-5)


def test_a_saturating_encoder_contracts_more_at_larger_distances():
    x = torch.zeros(50, 8)
    ratios = contraction_ratios(torch.tanh, x, [0.01, 1.0, 100.0], torch.Generator().manual_seed(0)).mean(1)
    assert ratios[0] == pytest.approx(1.0, abs=1e-3)  # tanh'(0) = 1
    assert ratios[0] > ratios[1] > ratios[2]
    assert ratios[2] <= 2 * 8 ** 0.5 / 100 + 1e-6  # |tanh| <= 1: ||f(x+ru) - f(x)|| <= 2 sqrt(8)


def test_batched_equals_unbatched():
    x = torch.randn(23, 5)
    assert torch.equal(batched(lambda v: v * 2, x, 4), x * 2)
