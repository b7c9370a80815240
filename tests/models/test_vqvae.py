"""VQ-VAE and VQ-VAE-2: code-map shapes derived from the image and the strides, the objective's terms, the
bits/dim formula, the straight-through path at the model level, and the stage-2 prior and sampler around them."""
from __future__ import annotations

import math

import pytest
import torch

from genlab.models.pixelcnn import GatedPixelCNN
from genlab.models.vq_prior import CodePrior, VQPriorSampler
from genlab.models.vqvae import VQVAE, bits_per_dim, recon_pairs
from genlab.nn.discretized import discretized_logistic_log_prob

SMALL = dict(hidden=8, res_channels=4, n_codes=16, code_dim=4)


@pytest.mark.parametrize("levels,shape,maps", [
    (1, (1, 28, 28), {"codes": (7, 7)}),
    (1, (3, 32, 32), {"codes": (8, 8)}),
    (2, (1, 64, 64), {"top": (8, 8), "bottom": (16, 16)}),
    (2, (3, 32, 32), {"top": (4, 4), "bottom": (8, 8)}),
])
def test_code_maps_follow_from_the_image_and_the_strides(levels, shape, maps):
    torch.manual_seed(0)
    m = VQVAE(shape, levels=levels, **SMALL)
    x = torch.rand(2, *shape) * 2 - 1
    codes = m.encode(x)
    assert m.code_shapes == maps and {k: tuple(v.shape[1:]) for k, v in codes.items()} == maps
    mean, log_scale = m.decode_codes(codes)
    assert mean.shape == log_scale.shape == (2, *shape)
    assert m.n_code_positions == sum(h * w for h, w in maps.values())


def test_an_image_the_strides_do_not_divide_is_refused_with_its_numbers():
    with pytest.raises(ValueError, match="30x30"):
        VQVAE((1, 30, 30), levels=1, **SMALL)
    with pytest.raises(ValueError, match="top level"):
        VQVAE((1, 28, 28), levels=2, **SMALL)  # 28 / 8 is not whole


def test_loss_is_the_papers_objective_per_dimension():
    torch.manual_seed(0)
    m = VQVAE((1, 8, 8), levels=1, beta=0.25, stride=2, **SMALL)
    x = torch.randint(0, 256, (3, 1, 8, 8)).float() * 2 / 255 - 1
    loss, figures = m.loss(x)
    z_e = m.pre_q(m.enc(x))
    q = m.quantizers["codes"]
    e = q.embed(q.nearest(z_e))
    mean, log_scale = m.decode({"codes": e})
    nll = -discretized_logistic_log_prob(x, mean, log_scale)
    dist = (z_e - e).pow(2).flatten(1).sum(1)
    expected = ((nll + dist + 0.25 * dist) / 64).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert figures["recon_bpd"] == pytest.approx((nll.mean() / (64 * math.log(2))).item(), rel=1e-5)


def test_reconstruction_gradient_reaches_the_encoder_through_the_codes():
    torch.manual_seed(0)
    m = VQVAE((1, 8, 8), levels=1, stride=2, **SMALL)
    m.eval()
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    z_q, _, _ = m.quantize(x)
    mean, log_scale = m.decode(z_q)
    nll = -discretized_logistic_log_prob(x, mean, log_scale).sum()
    g_enc = torch.autograd.grad(nll, m.pre_q.weight, retain_graph=True)[0]
    assert g_enc.abs().sum() > 0
    # the codebook gets no gradient from the reconstruction: only from its own loss
    assert torch.autograd.grad(nll, m.quantizers["codes"].codebook, allow_unused=True)[0] is None


def test_bits_per_dim_formula():
    # 100 nats for the image given its codes, 49 codes of K=512 under the uniform prior, 784 sub-pixels
    nll_codes = torch.tensor([49 * math.log(512)])
    bpd = bits_per_dim(torch.tensor([100.0]), nll_codes, 784)
    assert bpd.item() == pytest.approx((100 / math.log(2) + 49 * 9) / 784)


def test_two_level_prior_conditions_the_bottom_on_the_top_and_sums_the_levels():
    torch.manual_seed(0)
    vq = VQVAE((1, 16, 16), levels=2, stride=2, **SMALL)
    arch = {"channels": 8, "n_layers": 2, "kernel": 3, "attention_every": 0, "heads": 2}
    prior = CodePrior(vq.levels, vq.code_shapes, vq.n_codes, {"top": {**arch, "attention_every": 1},
                                                              "bottom": arch}, n_classes=3)
    assert isinstance(prior.nets["top"], GatedPixelCNN) and prior.nets["top"].attention
    assert prior.nets["bottom"].cond_net is not None and prior.nets["top"].cond_net is None
    codes = vq.encode(torch.rand(4, 1, 16, 16) * 2 - 1)
    labels = torch.tensor([0, 1, 2, 0])
    loss, figures = prior.loss(codes["top"], codes["bottom"], labels)
    nll = prior.nll(codes, labels)
    assert loss.item() == pytest.approx(((nll["top"] + nll["bottom"]).mean() / (16 + 64)).item(), rel=1e-6)
    assert figures["top_bits_per_code"] == pytest.approx((nll["top"].mean() / (16 * math.log(2))).item(), rel=1e-6)
    other_top = {**codes, "top": (codes["top"] + 1) % 16}
    assert not torch.allclose(prior.nll(other_top, labels)["bottom"], nll["bottom"])

    sampler = VQPriorSampler(vq, prior).eval()
    x = sampler.sample(5, torch.Generator().manual_seed(0), torch.tensor([0, 1, 2, 0, 1]))
    assert x.shape == (5, 1, 16, 16) and x.min() >= -1 and x.max() <= 1
    again = sampler.sample(5, torch.Generator().manual_seed(0), torch.tensor([0, 1, 2, 0, 1]))
    assert torch.equal(x, again)
    assert recon_pairs(vq, x, 4).shape == (4, 1, 16, 16)
