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
    for name, cfg in params.models.items():
        model = build_model(cfg, (1, 28, 28))
        assert model.z_dim == cfg.model.z_dim, name


def test_sample_is_reproducible_with_a_generator():
    model = VAE((1, 28, 28), z_dim=4)
    a = model.sample(3, generator=torch.Generator().manual_seed(1))
    b = model.sample(3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
