import pytest
import torch

from genlab.config import load_params
from genlab.models import build_model
from genlab.models.vae import VAE
from tests.conftest import REPO


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_shapes_and_one_step(arch, shape):
    model = VAE(shape, z_dim=5, arch=arch, hidden=32, channels=8)
    x = torch.bernoulli(torch.full((6, *shape), 0.4))
    mean, log_std = model.encode(x)
    assert mean.shape == log_std.shape == (6, 5)
    assert model.decode(mean).shape == (6, *shape)
    assert model.log_weights(x, 3).shape == (3, 6)
    samples = model.sample(4)
    assert samples.shape == (4, *shape) and samples.min() >= 0 and samples.max() <= 1
    loss, figures = model.loss(x)
    loss.backward()
    assert torch.isfinite(loss)
    assert figures["nelbo"] == pytest.approx(figures["recon"] + figures["kl"], rel=1e-5)
    assert all(p.grad is not None for p in model.parameters())


def test_conv_needs_sizes_divisible_by_four():
    with pytest.raises(ValueError, match="divisible by 4"):
        VAE((1, 30, 30), z_dim=2, arch="conv")


def test_registry_builds_every_model_in_params():
    params = load_params(REPO / "params.yaml", scale="quick")
    vaes = {name: cfg for name, cfg in params.models.items() if cfg.family == "vae"}
    assert len(vaes) >= 4
    shapes = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
    for name, cfg in vaes.items():
        model = build_model(cfg, shapes[cfg.dataset], n_classes=10)
        assert model.z_dim == cfg.model.z_dim, name
        assert model.conditional == cfg.model.conditional and model.likelihood == cfg.model.likelihood


def test_sample_is_reproducible_with_a_generator():
    model = VAE((1, 28, 28), z_dim=4)
    a = model.sample(3, generator=torch.Generator().manual_seed(1))
    b = model.sample(3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_conditional_vae_uses_the_label(arch):
    torch.manual_seed(0)
    model = VAE((1, 28, 28), z_dim=4, arch=arch, channels=8, hidden=32, n_classes=10)
    assert model.conditional
    x = torch.rand(6, 1, 28, 28).round()
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    loss, figs = model.loss(x, y)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    z = torch.randn(6, 4)
    # the same z decodes differently under different labels: the label reaches the decoder
    assert not torch.allclose(model.decode(z, y), model.decode(z, (y + 1) % 10))
    m0, _ = model.encode(x, y)
    m1, _ = model.encode(x, (y + 1) % 10)
    assert not torch.allclose(m0, m1)  # ... and the encoder
    with pytest.raises(ValueError, match="needs one label per image"):
        model.loss(x)


def test_conditional_sample_draws_each_class_in_turn():
    torch.manual_seed(0)
    model = VAE((1, 28, 28), z_dim=4, hidden=32, n_classes=10)
    a = model.sample(20, generator=torch.Generator().manual_seed(1))
    b = model.sample(20, generator=torch.Generator().manual_seed(1), labels=torch.arange(20) % 10)
    torch.testing.assert_close(a, b)
    assert a.shape == (20, 1, 28, 28)


def test_conditional_bounds_are_on_log_p_x_given_y():
    from genlab.metrics.likelihood import dataset_iwae, dataset_nelbo

    torch.manual_seed(0)
    model = VAE((1, 28, 28), z_dim=4, hidden=32, n_classes=10)
    x = torch.rand(8, 1, 28, 28).round()
    y = torch.arange(8) % 10
    torch.manual_seed(1)
    nelbo = dataset_nelbo(model, x, 3, y=y)["nelbo"]
    torch.manual_seed(1)
    direct = torch.cat([sum(model.elbo_terms(x[i:i + 3], y[i:i + 3])) for i in range(0, 8, 3)])
    torch.testing.assert_close(nelbo, direct.detach())
    iwae = dataset_iwae(model, x, 16, 4, y=y)
    assert torch.all(iwae["niwae"] <= iwae["nelbo"] + 1e-4)


def test_discretized_logistic_vae_on_eight_bit_images():
    model = VAE((3, 8, 8), z_dim=4, arch="conv", channels=4, likelihood="discretized_logistic")
    b = torch.randint(0, 256, (5, 3, 8, 8))
    x = b.float() * (2 / 255) - 1
    assert model.decode(torch.zeros(5, 4)).shape == (5, 6, 8, 8)    # (mean, log-scale) per sub-pixel
    recon, kl = model.elbo_terms(x)
    assert recon.shape == kl.shape == (5,) and (recon > 0).all()    # a discrete likelihood: -log P >= 0
    draws = model.sample(7, generator=torch.Generator().manual_seed(0))
    levels = (draws + 1) * 255 / 2
    torch.testing.assert_close(levels, levels.round(), rtol=0, atol=1e-4)   # on the 256 levels
    assert draws.min() >= -1 and draws.max() <= 1
    assert 0 <= model.to_unit(draws).min() and model.to_unit(draws).max() <= 1


def test_conditional_build_needs_classes():
    cfg = load_params(REPO / "params.yaml", scale="quick").models["vae_conv_cond"]
    with pytest.raises(ValueError, match="needs a data set with classes"):
        build_model(cfg, (1, 28, 28), n_classes=0)


def test_latent_plot_projection_matches_scikit_learn_pca_up_to_sign():
    import numpy as np
    from sklearn.decomposition import PCA

    from genlab.workflows.vae.evaluate import principal_components

    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6)) + 3.0
    ours = principal_components(x, 2)
    theirs = PCA(n_components=2).fit_transform(x)
    signs = np.sign((ours * theirs).sum(axis=0))
    assert np.allclose(ours, theirs * signs, atol=1e-8)
    assert np.allclose(ours.mean(axis=0), 0, atol=1e-10) and ours[:, 0].var() >= ours[:, 1].var()
    flipped = principal_components(-x, 2)   # the sign convention does not depend on the data's sign
    assert np.allclose(np.abs(flipped), np.abs(ours)) and np.allclose(principal_components(x, 2), ours)
