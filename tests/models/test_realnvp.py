"""RealNVP: every layer inverts, every log-determinant equals the brute-force Jacobian's, bits/dim is exact."""
from __future__ import annotations

import math

import pytest
import torch

from genlab.config import ModelConfigError
from genlab.models.realnvp import (Coupling, FlowBatchNorm, LogitTransform, RealNVP, Squeeze, bits_per_dim,
                                   checkerboard)

pytestmark = pytest.mark.usefixtures("float64")


@pytest.fixture()
def float64():   # brute-force Jacobians to 1e-8
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def _randomise(module: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial weights (the s/t nets start as the identity) and batch-norm running statistics."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
        for name, b in module.named_buffers():
            if name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))
            elif name.endswith("running_mean"):
                b.copy_(0.2 * torch.randn(b.shape, generator=g))


def _brute_logdet(f, x: torch.Tensor) -> torch.Tensor:
    """log|det df/dx| of one image (no batch dimension in f's view) by the full autograd Jacobian."""
    jac = torch.autograd.functional.jacobian(lambda v: f(v.view(1, *x.shape)).flatten(), x.flatten())
    return torch.linalg.slogdet(jac)[1]


LAYERS = {
    "checkerboard-0": lambda: Coupling(2, "checkerboard", 0, mid=4, n_blocks=1),
    "checkerboard-1": lambda: Coupling(2, "checkerboard", 1, mid=4, n_blocks=1),
    "channel-0": lambda: Coupling(4, "channel", 0, mid=4, n_blocks=1),
    "channel-1": lambda: Coupling(4, "channel", 1, mid=4, n_blocks=1),
    "squeeze": lambda: Squeeze(),
    "logit": lambda: LogitTransform(0.05),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_each_layer_inverts_and_its_logdet_is_the_jacobians(name):
    layer = LAYERS[name]()
    _randomise(layer)
    layer.eval()
    c = 4 if name.startswith("channel") else 2
    x = torch.rand(3, c, 4, 4, generator=torch.Generator().manual_seed(1)) * 0.9 + 0.05
    y, logdet = layer(x)
    assert torch.allclose(layer.inverse(y), x, atol=1e-10)
    for i in range(len(x)):
        assert logdet[i].item() == pytest.approx(_brute_logdet(lambda v: layer(v)[0], x[i]).item(), abs=1e-8)


def test_coupling_keeps_its_masked_half_and_alternates():
    even, odd = checkerboard(4, 4, 0), checkerboard(4, 4, 1)
    assert torch.equal(even + odd, torch.ones(1, 1, 4, 4)) and even[0, 0, 0, 0] == 1 and even[0, 0, 0, 1] == 0
    layer = Coupling(2, "checkerboard", 0, mid=4, n_blocks=1)
    _randomise(layer)
    layer.eval()
    x = torch.randn(2, 2, 4, 4)
    y, _ = layer(x)
    assert torch.equal(y * even, x * even) and not torch.allclose(y * odd, x * odd)


def test_batch_norm_logdet_in_training_and_evaluation():
    bn = FlowBatchNorm(3, momentum=0.1)
    x = torch.randn(8, 3, 2, 2) * torch.tensor([0.5, 2.0, 3.0]).view(1, 3, 1, 1) + 1.0
    bn.train()
    y, logdet = bn(x)
    mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
    assert torch.allclose(y.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-10)
    expected = -0.5 * 4 * torch.log(var + bn.eps).sum()   # H*W = 4 positions per channel
    assert torch.allclose(logdet, expected.expand(8))
    # the same map with the batch's statistics held fixed, differentiated by brute force
    frozen = lambda v: (v - mean.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1) + bn.eps)
    assert logdet[0].item() == pytest.approx(_brute_logdet(frozen, x[0]).item(), abs=1e-10)
    assert torch.allclose(bn.running_mean, 0.1 * mean) and torch.allclose(bn.running_var, 0.9 + 0.1 * var)
    bn.eval()   # running statistics: invertible image by image
    y, logdet = bn(x[:2])
    assert torch.allclose(bn.inverse(y), x[:2], atol=1e-12)
    assert logdet[0].item() == pytest.approx(_brute_logdet(lambda v: bn(v)[0], x[0]).item(), abs=1e-10)


@pytest.mark.parametrize("shape,n_scales", [((1, 4, 4), 2), ((3, 4, 4), 2), ((1, 8, 8), 3)])
def test_whole_flow_inverts_and_its_logdet_is_the_jacobians(shape, n_scales):
    flow = RealNVP(shape, n_scales=n_scales, mid_channels=4, n_blocks=1)
    _randomise(flow)
    flow.eval()
    x = torch.rand(2, *shape, generator=torch.Generator().manual_seed(2))
    zs, logdet = flow(x)
    assert [tuple(z.shape[1:]) for z in zs] == flow.z_shapes
    assert sum(math.prod(s) for s in flow.z_shapes) == flow.n_dims
    assert torch.allclose(flow.inverse(zs), x, atol=1e-9)

    def to_z(v):
        return torch.cat([z.flatten(1) for z in flow(v)[0]], dim=1)
    for i in range(len(x)):
        assert logdet[i].item() == pytest.approx(_brute_logdet(to_z, x[i]).item(), abs=1e-7)


def test_bits_per_dim_of_a_known_density():
    # a uniform density on [0, 1)^D is log p = 0: exactly 8 bits/dim for 8-bit data
    assert bits_per_dim(torch.tensor([0.0]), 784).item() == 8.0
    assert bits_per_dim(torch.tensor([-784 * math.log(2.0)]), 784).item() == pytest.approx(9.0)
    # the logit's log-determinant is exact: logit(U[0,1)) is standard logistic, so the logistic
    # density of logit(x) plus the logit's log|det| is log 1 = 0 for every x (alpha = 0)
    x = torch.rand(5, 1, 4, 4, generator=torch.Generator().manual_seed(3))
    y, logdet = LogitTransform(0.0)(x)
    logistic = (-y - 2 * torch.nn.functional.softplus(-y)).flatten(1).sum(1)
    assert torch.allclose(logistic + logdet, torch.zeros(5), atol=1e-10)
    assert bits_per_dim(logistic + logdet, 16) == pytest.approx(torch.full((5,), 8.0))


def test_flow_starts_as_logit_then_identity_and_samples_in_range():
    flow = RealNVP((1, 4, 4), n_scales=2, mid_channels=4, n_blocks=1, batch_norm=False).eval()
    x = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(4))
    y, logit_logdet = flow.logit(x)
    zs, logdet = flow(x)
    assert torch.allclose(logdet, logit_logdet)   # every coupling is the identity at initialisation
    s = flow.sample(6, generator=torch.Generator().manual_seed(0), temperature=0.7)
    assert s.shape == (6, 1, 4, 4) and s.min() >= 0 and s.max() <= 1
    again = flow.sample(6, generator=torch.Generator().manual_seed(0), temperature=0.7)
    assert torch.equal(s, again)


def test_training_lowers_bits_per_dim_and_the_penalty_counts():
    torch.manual_seed(0)
    flow = RealNVP((1, 4, 4), n_scales=2, mid_channels=8, n_blocks=1, l2_scale=1e-2)
    x = (torch.randint(0, 4, (64, 1, 4, 4)) * 60 + torch.rand(64, 1, 4, 4)) / 256   # four levels: learnable
    opt = torch.optim.Adam(flow.parameters(), lr=3e-3)
    flow.train()
    first = None
    for _ in range(60):
        loss, figs = flow.loss(x)
        assert loss.item() > figs["bpd"]   # the L2 penalty on the weight-norm scales is added
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else figs["bpd"]
    assert figs["bpd"] < first - 0.5


def test_shapes_that_cannot_be_squeezed_are_refused():
    with pytest.raises(ModelConfigError, match="n_scales = 4: images of 28x28 cannot be squeezed 3 times"):
        RealNVP((1, 28, 28), n_scales=4)
    assert RealNVP((1, 28, 28), n_scales=3, mid_channels=2, n_blocks=1).z_shapes == [(2, 14, 14), (4, 7, 7),
                                                                                   (4, 7, 7)]
