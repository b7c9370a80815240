"""Rifai et al. 2011 auto-encoders: the closed-form contractive penalty, the five objectives, fine-tuning."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from genlab.models.autoencoder import AutoEncoder, FineTunedMLP, sigmoid_jacobian_sq_norm


def test_closed_form_jacobian_matches_autograd():
    torch.manual_seed(0)
    model = AutoEncoder(12, 7)
    x = torch.rand(5, 12)
    closed = model.jacobian_sq_norm(x)
    for i in range(len(x)):
        jac = torch.autograd.functional.jacobian(lambda v: model.encode(v[None])[0], x[i])  # (7, 12)
        assert jac.shape == (7, 12)
        assert closed[i].item() == pytest.approx((jac ** 2).sum().item(), rel=1e-5)


def test_closed_form_jacobian_hand_case():
    # h = (0.5, 0.9): (h(1-h))^2 = (0.0625, 0.0081); row sums of W^2 = (1 + 4, 9) -> 0.3125 + 0.0729
    h = torch.tensor([[0.5, 0.9]])
    w = torch.tensor([[1.0, -2.0], [0.0, 3.0]])
    assert sigmoid_jacobian_sq_norm(h, w).item() == pytest.approx(0.3125 + 0.0729)


def test_plain_ae_loss_is_summed_cross_entropy():
    torch.manual_seed(0)
    model = AutoEncoder(6, 4)
    x = torch.rand(3, 1, 2, 3)
    loss, figs = model.loss(x)
    y = model.reconstruct(x).flatten(1)
    t = x.flatten(1)
    expected = -(t * y.log() + (1 - t) * (1 - y).log()).sum(1).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert figs["recon"] == pytest.approx(figs["loss"])


def test_tied_decoder_uses_the_transposed_encoder_weight():
    torch.manual_seed(0)
    tied, untied = AutoEncoder(6, 4), AutoEncoder(6, 4, tied_weights=False)
    assert sum(p.numel() for p in tied.parameters()) == 6 * 4 + 4 + 6
    assert sum(p.numel() for p in untied.parameters()) == 2 * 6 * 4 + 4 + 6
    h = torch.rand(2, 4)
    assert torch.allclose(tied.decode_logits(h), h @ tied.weight + tied.bias_visible)


def test_cae_and_weight_decay_terms_add_to_the_reconstruction():
    torch.manual_seed(0)
    x = torch.rand(4, 6)
    base = AutoEncoder(6, 5)
    cae = AutoEncoder(6, 5, contraction=0.3)
    wd = AutoEncoder(6, 5, weight_decay=0.01)
    cae.load_state_dict(base.state_dict())
    wd.load_state_dict(base.state_dict())
    recon, _ = base.loss(x)
    assert cae.loss(x)[0].item() == pytest.approx(recon.item() + 0.3 * base.jacobian_sq_norm(x).mean().item(), rel=1e-5)
    assert wd.loss(x)[0].item() == pytest.approx(recon.item() + 0.01 * (base.weight ** 2).sum().item(), rel=1e-5)


def test_masking_noise_zeroes_about_its_fraction_and_nothing_else():
    model = AutoEncoder(10_000, 2, noise="masking", noise_level=0.25)
    x = torch.full((4, 10_000), 0.7)
    x_tilde = model.corrupt(x, generator=torch.Generator().manual_seed(0))
    zeroed = (x_tilde == 0).float().mean().item()
    assert abs(zeroed - 0.25) < 0.01
    assert torch.all((x_tilde == 0) | (x_tilde == x))


def test_gaussian_noise_has_its_std_and_is_off_in_eval_mode():
    model = AutoEncoder(10_000, 2, noise="gaussian", noise_level=0.3)
    x = torch.zeros(4, 10_000)
    assert (model.corrupt(x, generator=torch.Generator().manual_seed(0)) - x).std().item() == pytest.approx(0.3, rel=0.02)
    model.eval()
    torch.manual_seed(0)
    first = model.loss(x)[0]
    torch.manual_seed(1)
    assert model.loss(x)[0].item() == first.item()  # no corruption when evaluating


def test_unknown_noise_is_refused():
    with pytest.raises(ValueError, match="noise 'salt'"):
        AutoEncoder(4, 2, noise="salt")


def test_finetuned_mlp_starts_from_the_encoder_and_trains_every_weight():
    torch.manual_seed(0)
    ae = AutoEncoder(8, 5)
    clf = FineTunedMLP(ae, n_classes=3)
    x = torch.rand(6, 8)
    assert torch.allclose(torch.sigmoid(clf.hidden(x)), ae.encode(x))
    loss, figs = clf.loss(x, torch.tensor([0, 1, 2, 0, 1, 2]))
    assert loss.item() == pytest.approx(F.cross_entropy(clf(x), torch.tensor([0, 1, 2, 0, 1, 2])).item())
    assert 0 <= figs["error"] <= 1
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in clf.parameters())
    assert ae.weight.grad is None  # fine-tuning copies the encoder; the pretrained model is untouched


def test_init_is_the_sigmoid_uniform_range():
    model = AutoEncoder(784, 1000)
    bound = 4 * math.sqrt(6 / 1784)
    assert model.weight.abs().max().item() <= bound
    assert model.weight.abs().max().item() > 0.95 * bound


def test_registry_builds_every_autoencoder_in_params():
    from genlab.config import load_params
    from genlab.models import build_model
    from tests.conftest import REPO

    params = load_params(REPO / "params.yaml", scale="paper")
    built = {name: build_model(cfg, (1, 28, 28)) for name, cfg in params.models.items() if cfg.family == "autoencoder"}
    assert set(built) == {"ae", "ae_wd", "dae_g", "dae_b", "cae"}
    assert built["cae"].contraction > 0 and built["ae_wd"].weight_decay > 0
    assert built["dae_g"].noise == "gaussian" and built["dae_b"].noise == "masking"
    assert all(m.weight.shape == (1000, 784) and m.tied_weights for m in built.values())


def test_a_longer_pretraining_keeps_its_fingerprint_and_restarts_the_fine_tuning():
    """The pretraining checkpoint is extended (epochs are not in its fingerprint); the fine-tuning started from the
    shorter pretraining, so its fingerprint must change; fine-tuning params leave the pretraining alone."""
    import copy
    from pathlib import Path

    from genlab.config import load_params, stage_slices
    from genlab.pipeline import Section
    from genlab.workflows.autoencoder.train import fingerprints

    repo = Path(__file__).resolve().parents[2]
    base = stage_slices(load_params(repo / "params.yaml", scale="quick"))["train/cae.json"]
    longer = copy.deepcopy(base)
    longer["model"]["train"]["epochs"] += 5
    finetune = copy.deepcopy(base)
    finetune["model"]["finetune"]["lr"] *= 2
    pre, ft = fingerprints(Section(base), "data")
    pre_longer, ft_longer = fingerprints(Section(longer), "data")
    assert pre_longer == pre and ft_longer != ft
    pre_ft, ft_ft = fingerprints(Section(finetune), "data")
    assert pre_ft == pre and ft_ft != ft
