import math

import pytest
import torch

from genlab.metrics.likelihood import bpd_to_nats, dataset_iwae, dataset_nelbo, iwae_bound, nats_to_bpd
from genlab.nn.distributions import bernoulli_log_prob, kl_std_normal, normal_log_prob, std_normal_log_prob
from genlab.models.vae import VAE


def test_kl_hand_computed():
    # one dimension, mu = 0.1, sigma = 1: 0.5 * (1 + 0.01 - 1 - 0) = 0.005
    assert kl_std_normal(torch.tensor([[0.1]]), torch.tensor([[0.0]])).item() == pytest.approx(0.005)
    # mu = 0, sigma^2 = 10: 0.5 * (10 - 1 - ln 10) = 3.348707...
    log_std = torch.tensor([[0.5 * math.log(10.0)]])
    assert kl_std_normal(torch.tensor([[0.0]]), log_std).item() == pytest.approx(0.5 * (9 - math.log(10)), rel=1e-6)
    # sums over the last axis
    assert kl_std_normal(torch.tensor([[0.1, 0.1]]), torch.zeros(1, 2)).item() == pytest.approx(0.01)


def test_kl_matches_torch_distributions():
    mean, log_std = torch.randn(5, 7), torch.randn(5, 7) * 0.5
    q = torch.distributions.Normal(mean, log_std.exp())
    p = torch.distributions.Normal(torch.zeros(7), torch.ones(7))
    expected = torch.distributions.kl_divergence(q, p).sum(-1)
    torch.testing.assert_close(kl_std_normal(mean, log_std), expected)


def test_bernoulli_log_prob_hand_computed():
    # p = sigmoid(0) = 0.5 for four pixels: log p = 4 * ln 0.5
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    assert bernoulli_log_prob(torch.zeros(1, 4), x).item() == pytest.approx(4 * math.log(0.5))
    # logit ln 3 -> p = 0.75: x=1 gives ln 0.75, x=0 gives ln 0.25
    logits = torch.full((1, 2), math.log(3.0))
    assert bernoulli_log_prob(logits, torch.tensor([[1.0, 0.0]])).item() == pytest.approx(math.log(0.75 * 0.25))


def test_gaussian_log_probs():
    z = torch.tensor([[0.0, 1.0]])
    assert std_normal_log_prob(z).item() == pytest.approx(-math.log(2 * math.pi) - 0.5)
    mean, log_std = torch.tensor([[1.0]]), torch.tensor([[math.log(2.0)]])
    # N(3; 1, 2^2): -0.5 * 1 - ln 2 - 0.5 ln 2pi
    assert normal_log_prob(torch.tensor([[3.0]]), mean, log_std).item() == pytest.approx(
        -0.5 - math.log(2.0) - 0.5 * math.log(2 * math.pi))


def test_bpd_conversion():
    assert nats_to_bpd(784 * math.log(2), 784) == pytest.approx(1.0)
    assert bpd_to_nats(0.16, 784) == pytest.approx(86.9483, abs=1e-4)   # PAPERS.md: 0.16 bpd ~ 87 nats
    assert nats_to_bpd(bpd_to_nats(0.1377, 784), 784) == pytest.approx(0.1377)
    # CIFAR-sized images: 3072 dims
    assert nats_to_bpd(3072 * math.log(2) * 3.0, 3072) == pytest.approx(3.0)


def test_iwae_bound_k1_is_the_log_weight_and_jensen():
    log_w = torch.randn(1, 6)
    torch.testing.assert_close(iwae_bound(log_w), log_w[0])
    log_w = torch.randn(50, 6) * 3
    # log mean exp >= mean, image by image
    assert torch.all(iwae_bound(log_w) >= log_w.mean(0))
    # hand case: weights 1 and 3 -> log 2
    assert iwae_bound(torch.log(torch.tensor([[1.0], [3.0]]))).item() == pytest.approx(math.log(2.0))


def _tiny_vae(z_dim=3):
    return VAE((1, 4, 4), z_dim=z_dim, arch="mlp", hidden=8)


def test_dataset_iwae_below_elbo_in_nll():
    model = _tiny_vae()
    x = torch.bernoulli(torch.full((20, 1, 4, 4), 0.3))
    out = dataset_iwae(model, x, k=64, batch_size=4)
    assert out["niwae"].shape == (20,)
    assert torch.all(out["niwae"] <= out["nelbo"] + 1e-5)


def test_elbo_and_iwae_exact_when_posterior_is_prior_and_decoder_ignores_z():
    """q(z|x) = p(z) and p(x|z) = p(x): every log weight equals log p(x), so both bounds are exact."""
    model = _tiny_vae()
    with torch.no_grad():
        for layer in (model.encoder.mean, model.encoder.log_std):
            layer.weight.zero_()
            layer.bias.zero_()
        first = model.decoder.net[0]
        first.weight.zero_()                       # decoder output no longer depends on z
    x = torch.bernoulli(torch.full((10, 1, 4, 4), 0.5))
    logits = model.decode(torch.zeros(1, 3))
    exact = -bernoulli_log_prob(logits.expand(10, -1, -1, -1), x)
    nelbo = dataset_nelbo(model, x, batch_size=3)
    torch.testing.assert_close(nelbo["kl"], torch.zeros(10))
    torch.testing.assert_close(nelbo["nelbo"], exact)
    torch.testing.assert_close(dataset_iwae(model, x, k=7, batch_size=3)["niwae"], exact, atol=1e-4, rtol=1e-5)


class _FixedWeights:
    """Hands out the columns of a fixed (k, N) table of log weights, slice by slice."""

    def __init__(self, table: torch.Tensor):
        self.table, self.used = table, {}

    def log_weights(self, xb: torch.Tensor, take: int) -> torch.Tensor:
        ids = xb[:, 0].long()                       # each image carries its own column index
        start = self.used.get(int(ids[0]), 0)
        self.used[int(ids[0])] = start + take
        return self.table[start:start + take][:, ids]


def test_streaming_iwae_equals_the_bound_over_all_k_samples():
    k, n = 1000, 7
    table = torch.randn(k, n, dtype=torch.float64) * 5 - 80
    x = torch.arange(n, dtype=torch.float64).view(n, 1)
    out = dataset_iwae(_FixedWeights(table), x, k=k, batch_size=3)   # 3 images x 32 samples per call
    torch.testing.assert_close(out["niwae"].double(), -iwae_bound(table), rtol=0, atol=1e-4)
    torch.testing.assert_close(out["nelbo"].double(), -table.mean(0), rtol=0, atol=1e-4)
