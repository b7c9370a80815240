"""Every evaluation path runs without autograd: a kept graph costs memory (about +1 GB on the conv VAE's
10k test images) and time. Each test fails if any forward pass inside runs with gradients enabled."""
import pytest
import torch

from genlab.data.views import TensorBatches
from genlab.metrics.classifier import accuracy, features
from genlab.metrics.contraction import batched, contraction_ratios
from genlab.metrics.likelihood import dataset_iwae, dataset_nelbo
from genlab.sampling import draw_samples
from genlab.models.autoencoder import AutoEncoder
from genlab.models.classifier import LeNetClassifier
from genlab.models.vae import VAE
from genlab.training.loop import mean_figures
from genlab.workflows.vae.evaluate import latent_manifold, posterior_means


@pytest.fixture
def forwards():
    """Registers a hook on every module of a model that records whether grad mode was on."""
    seen = []

    def watch(model):
        for m in model.modules():
            m.register_forward_pre_hook(lambda mod, args: seen.append(torch.is_grad_enabled()))
        return model
    watch.seen = seen
    return watch


def _check(seen):
    assert seen, "no forward pass was observed"
    assert not any(seen), f"{sum(seen)} of {len(seen)} forward passes ran with gradients enabled"


def test_vae_evaluation_paths(forwards):
    torch.set_grad_enabled(True)
    model = forwards(VAE((1, 8, 8), z_dim=2, hidden=16))
    x = torch.bernoulli(torch.full((20, 1, 8, 8), 0.3))
    out = dataset_nelbo(model, x, 8)
    assert out["nelbo"].grad_fn is None
    assert dataset_iwae(model, x, 5, 8)["niwae"].grad_fn is None
    posterior_means(model, x, None, 8, "cpu")
    latent_manifold(model, 3)
    draw_samples(model, 10, 4, seed=0)
    mean_figures(model, TensorBatches(x), 8)
    _check(forwards.seen)


def test_autoencoder_and_classifier_evaluation_paths(forwards):
    torch.set_grad_enabled(True)
    ae = forwards(AutoEncoder(64, 10))
    x = torch.rand(12, 1, 8, 8)
    batched(ae.encode, x, 5)
    contraction_ratios(lambda v: batched(ae.encode, v, 5), x, [0.5, 1.0], torch.Generator().manual_seed(0))
    clf = forwards(LeNetClassifier((1, 8, 8), (2, 4), 8, 0.0, 3))
    features(clf, x, 5)
    accuracy(clf, x, torch.zeros(12, dtype=torch.long), 5)
    _check(forwards.seen)


def test_the_check_itself_catches_a_kept_graph(forwards):
    model = forwards(VAE((1, 8, 8), z_dim=2, hidden=16))
    model.elbo_terms(torch.bernoulli(torch.full((4, 1, 8, 8), 0.3)))   # a training-style call, grad on
    with pytest.raises(AssertionError, match="with gradients enabled"):
        _check(forwards.seen)
