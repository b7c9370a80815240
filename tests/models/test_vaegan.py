"""VAE-GAN (Larsen et al. 2015): which loss reaches which player, the KL and feature terms by hand, shapes,
batch-independent sampling, interpolation ends and resume with three optimisers."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from genlab.config import ModelConfigError
from genlab.data.views import TensorBatches
from genlab.images import latent_interpolations
from genlab.models.vaegan import VAEGAN, feature_llike, kl_standard_normal, stride2_steps
from genlab.training.loop import Optimizers, Trainer


def _tiny(**kw):
    return VAEGAN((1, 8, 8), z_dim=3, enc_base=4, enc_hidden=8, dec_base=4, dis_base=4, dis_hidden=8, **kw)


def _sgd(model, lr):
    return Optimizers({name: torch.optim.SGD(getattr(model, name).parameters(), lr=lr)
                       for name in model.optimizer_names})


def test_kl_and_feature_terms_by_hand():
    mu = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    logvar = torch.tensor([[0.0, 0.0], [0.0, math.log(4.0)]])
    # 1/2 (mu^2 + var - 1 - log var): 0 for N(0, 1); 1/2 (1) + 1/2 (4 + 4 - 1 - log 4) for the second row
    torch.testing.assert_close(kl_standard_normal(mu, logvar), torch.tensor([0.0, 0.5 + 0.5 * (7 - math.log(4.0))]))
    real = torch.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    fake = torch.tensor([[1.0, 0.0, 6.0]], requires_grad=True)
    value = feature_llike(real, fake)
    assert value.item() == pytest.approx(0.5 * (4 + 9))
    value.sum().backward()
    assert real.grad is None   # the real features are a target, not a path for gradients
    torch.testing.assert_close(fake.grad, torch.tensor([[0.0, -2.0, 3.0]]))   # fake - real


def test_each_player_steps_on_its_own_loss_only():
    """One SGD step of lr 1 moves each network by minus the gradient of its own loss w.r.t. its own weights:
    the encoder sees no GAN error, the discriminator no reconstruction error, the decoder gamma * L_llike - L_GAN."""
    torch.manual_seed(0)
    model = _tiny(gamma=0.3)
    x = torch.rand(6, 1, 8, 8) * 2 - 1
    reference = copy.deepcopy(model)
    torch.manual_seed(1)
    losses, _ = reference.losses(x)
    expected = {}
    for name in model.optimizer_names:
        params = list(getattr(reference, name).parameters())
        grads = torch.autograd.grad(losses[name], params, retain_graph=True, allow_unused=True)
        expected[name] = [p.detach() - (torch.zeros_like(p) if g is None else g) for p, g in zip(params, grads)]
    # the split is not vacuous: the encoder's loss has a gradient on the discriminator's weights and the decoder's
    # on the encoder's, which a single backward pass of the summed losses would have applied
    for loss, other in ((losses["encoder"], "discriminator"), (losses["decoder"], "encoder")):
        grads = torch.autograd.grad(loss, list(getattr(reference, other).parameters()), retain_graph=True,
                                    allow_unused=True)
        assert any(g is not None and g.abs().sum() > 0 for g in grads), other
    torch.manual_seed(1)
    model.training_step((x,), 0, _sgd(model, lr=1.0))
    for name in model.optimizer_names:
        for p, want in zip(getattr(model, name).parameters(), expected[name]):
            torch.testing.assert_close(p.detach(), want, rtol=0, atol=1e-6)


def test_gamma_weights_the_reconstruction_in_the_decoder_loss_only():
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    out = {}
    for gamma in (0.0, 1.0):
        torch.manual_seed(0)
        model = _tiny(gamma=gamma if gamma else 1e-12)
        torch.manual_seed(5)
        losses, figures = model.losses(x)
        out[gamma] = (losses, figures)
    (l0, f0), (l1, f1) = out[0.0], out[1.0]
    assert l1["decoder"].item() - l0["decoder"].item() == pytest.approx(f1["llike"], rel=1e-4)
    assert l1["encoder"].item() == pytest.approx(l0["encoder"].item(), rel=1e-6)
    assert l1["encoder"].item() == pytest.approx(f1["kl"] + f1["llike"], rel=1e-6)
    assert l1["discriminator"].item() == pytest.approx(l0["discriminator"].item(), rel=1e-6)


@pytest.mark.parametrize("shape,k", [((1, 28, 28), 2), ((3, 32, 32), 3), ((3, 64, 64), 3)])
def test_shapes(shape, k):
    assert stride2_steps(shape[1]) == k
    model = VAEGAN(shape, z_dim=5, enc_base=4, enc_hidden=8, dec_base=4, dis_base=4, dis_hidden=8)
    x = torch.rand(3, *shape) * 2 - 1
    assert model.sample(2).shape == (2, *shape) and model.reconstruct(x).shape == x.shape
    features, logits = model.discriminator(x)
    assert logits.shape == (3,) and features.ndim == 2


def test_a_size_that_cannot_be_halved_is_refused_with_its_value():
    with pytest.raises(ModelConfigError, match="image size 7"):
        VAEGAN((1, 7, 7))


def test_sampling_is_batch_independent_and_interpolations_end_at_their_endpoints():
    torch.manual_seed(0)
    model = _tiny()
    model.train()
    z = torch.randn(6, 3)
    torch.testing.assert_close(model.sample(6, z=z)[:2], model.sample(2, z=z[:2]), rtol=0, atol=1e-6)
    assert model.decoder.training
    grid = latent_interpolations(model, pairs=2, steps=4, seed=3).view(2, 4, 1, 8, 8)
    g = torch.Generator().manual_seed(3)
    za, zb = torch.randn(2, 3, generator=g), torch.randn(2, 3, generator=g)
    torch.testing.assert_close(grid[:, 0], model.to_unit(model.sample(2, z=za)), rtol=0, atol=1e-6)
    torch.testing.assert_close(grid[:, -1], model.to_unit(model.sample(2, z=zb)), rtol=0, atol=1e-6)


def _trainer(tmp_path):
    torch.manual_seed(0)
    model = _tiny()
    opts = {name: torch.optim.RMSprop(getattr(model, name).parameters(), lr=3e-4) for name in model.optimizer_names}
    data = TensorBatches(torch.rand(24, 1, 8, 8, generator=torch.Generator().manual_seed(3)) * 2 - 1)
    return Trainer(model, opts, data, batch_size=6, epochs=2, checkpoint_path=tmp_path / "vg.pt",
                   fingerprint="vg", seed=1, checkpoint_every=1, log=lambda s: None)


def test_resumed_mid_epoch_is_bit_identical(tmp_path):
    straight = _trainer(tmp_path / "a")
    straight.fit()
    killed = _trainer(tmp_path / "b")
    real_step = killed.model.training_step

    def dying(batch, step, opt):
        if step == 5:
            raise KeyboardInterrupt
        return real_step(batch, step, opt)
    killed.model.training_step = dying
    with pytest.raises(KeyboardInterrupt):
        killed.fit()
    resumed = _trainer(tmp_path / "b")
    torch.manual_seed(999)
    assert resumed.restore() and resumed.batch_in_epoch == 1
    resumed.fit()
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0)


def test_a_diverging_player_is_named():
    model = _tiny()
    with torch.no_grad():
        model.discriminator.head[-1].bias.fill_(float("nan"))
    opt = _sgd(model, 1e-3)
    opt.where = "epoch 2, step 9"
    with pytest.raises(FloatingPointError, match="at epoch 2, step 9 \\(optimiser 'decoder'\\)"):
        model.training_step((torch.rand(4, 1, 8, 8),), 9, opt)
