"""The gated PixelCNN prior: causal masks checked by gradients over the whole map for each layer type and the
whole network (no position depends on itself or a later one; no blind spot), the cached sampler against the naive
whole-map loop, conditioning, and bits per code."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from genlab.models.pixelcnn import CausalSelfAttention, GatedLayer, GatedPixelCNN, bits_per_code, down_shift

H, W, C = 5, 6, 4


def _dependence(out_at, e: torch.Tensor) -> torch.Tensor:
    """(H*W, H*W) boolean: [p, q] = output at raster position p depends on input at q (by gradients)."""
    dep = torch.zeros(H * W, H * W, dtype=torch.bool)
    for p in range(H * W):
        (g,) = torch.autograd.grad(out_at(p), e, retain_graph=True)
        dep[p] = g.abs().sum((0, 1)).flatten() > 0
    return dep


def _raster_before(strict: bool) -> torch.Tensor:
    idx = torch.arange(H * W)
    return idx[None, :] < idx[:, None] if strict else idx[None, :] <= idx[:, None]


def test_vertical_stack_sees_rows_up_to_its_own_and_the_link_only_rows_above():
    torch.manual_seed(0)
    layer = GatedLayer(C, 3, first=False)
    e = torch.randn(1, C, H, W, requires_grad=True)
    v, link = layer.vertical(e)
    shifted = down_shift(link)
    for out, rows_ok in ((v, lambda i, r: r <= i), (shifted, lambda i, r: r < i)):
        for p in range(H * W):
            i, j = divmod(p, W)
            (g,) = torch.autograd.grad(out[0, :, i, j].sum(), e, retain_graph=True)
            rows = g.abs().sum((0, 1, 3)) > 0
            assert all(rows_ok(i, r) for r in range(H) if rows[r]), (p, rows)


@pytest.mark.parametrize("first", [True, False])
def test_horizontal_stack_sees_its_row_to_the_left_only(first):
    torch.manual_seed(0)
    layer = GatedLayer(C, 3, first=first)
    e = torch.randn(1, C, H, W, requires_grad=True)
    h, skip = layer.horizontal(e, torch.zeros(1, 2 * C, H, W))
    dep = _dependence(lambda p: skip[0, :, p // W, p % W].sum(), e)
    for p in range(H * W):
        i, j = divmod(p, W)
        seen = {(q // W, q % W) for q in dep[p].nonzero().flatten().tolist()}
        assert all(r == i for r, _ in seen)
        # k//2 + 1 columns: the first layer's end before its own position, the others' at it
        allowed = {(i, c) for c in range(max(0, j - 2), j)} if first else {(i, c) for c in range(max(0, j - 1), j + 1)}
        assert seen == allowed, (p, seen)


def test_attention_is_causal_and_sees_every_earlier_position():
    torch.manual_seed(0)
    attn = CausalSelfAttention(C, 2)
    e = torch.randn(1, C, H, W, requires_grad=True)
    out = attn(e)
    dep = _dependence(lambda p: out[0, :, p // W, p % W].sum(), e)
    assert torch.equal(dep, _raster_before(strict=False))
    # with a cache of earlier rows, a row's output equals the whole map's
    past = e[:, :, :2].flatten(2).transpose(1, 2)
    assert torch.allclose(attn(e[:, :, 2:3], past), out[:, :, 2:3], atol=1e-6)


@pytest.mark.parametrize("attention_every,n_classes,cond", [(0, 0, False), (2, 3, False), (0, 3, True)])
def test_whole_network_is_causal_without_blind_spot(attention_every, n_classes, cond):
    torch.manual_seed(0)
    # 32 channels: with few, a position whose output ReLUs all happen to be off would show no dependence at all
    net = GatedPixelCNN(7, (H, W), channels=32, n_layers=5, kernel=3, attention_every=attention_every, heads=2,
                        n_classes=n_classes, cond_codes=5 if cond else 0, cond_shape=(H, W // 2) if cond else None)
    e = torch.randn(2, 32, H, W, requires_grad=True)
    bias = net.conditioning(2, torch.tensor([0, 2]) if n_classes else None,
                            torch.randint(5, (2, H, W // 2)) if cond else None)
    logits = net.forward_embedded(e, bias)
    dep = _dependence(lambda p: logits[:, :, p // W, p % W].sum(), e)
    # every earlier position and none other: 5 layers of k=3 reach the whole 5x6 map (the links of layer l spread
    # l columns either way), so any missing earlier position would be a blind spot
    assert torch.equal(dep, _raster_before(strict=True))


def test_conditioning_changes_the_logits():
    torch.manual_seed(0)
    net = GatedPixelCNN(7, (4, 4), channels=C, n_layers=2, kernel=3, n_classes=3, cond_codes=5, cond_shape=(2, 2))
    codes = torch.randint(7, (1, 4, 4))
    top = torch.randint(5, (1, 2, 2))
    a = net(codes, torch.tensor([0]), top)
    assert not torch.allclose(a, net(codes, torch.tensor([1]), top))
    assert not torch.allclose(a, net(codes, torch.tensor([0]), (top + 1) % 5))
    with pytest.raises(ValueError, match="labels"):
        net(codes, None, top)


@pytest.mark.parametrize("attention_every,n_classes,cond", [(0, 0, False), (2, 3, False), (0, 3, True)])
def test_cached_sampler_draws_what_the_naive_whole_map_loop_draws(attention_every, n_classes, cond):
    torch.manual_seed(0)
    net = GatedPixelCNN(7, (H, W), channels=8, n_layers=3, kernel=3, attention_every=attention_every, heads=2,
                        n_classes=n_classes, cond_codes=5 if cond else 0, cond_shape=(H, W // 2) if cond else None)
    labels = torch.tensor([0, 1, 2]) if n_classes else None
    top = torch.randint(5, (3, H, W // 2)) if cond else None
    fast = net.sample(3, torch.Generator().manual_seed(1), labels, top)
    naive = net.sample(3, torch.Generator().manual_seed(1), labels, top, naive=True)
    assert fast.shape == (3, H, W) and fast.dtype == torch.long
    assert torch.equal(fast, naive)
    assert len(fast.unique()) > 1


def test_sampling_follows_a_learned_distribution():
    """A net trained on one constant map draws it: the sampler reads the logits it should."""
    torch.manual_seed(0)
    net = GatedPixelCNN(4, (3, 3), channels=8, n_layers=2, kernel=3)
    target = torch.tensor([[0, 1, 2], [3, 0, 1], [2, 3, 0]])[None].repeat(8, 1, 1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(200):
        loss = net.nll(target).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.equal(net.sample(4, torch.Generator().manual_seed(0)), target[:4])


def test_nll_and_bits_per_code_of_a_known_distribution():
    """A net whose output layer is zeroed gives the uniform distribution: log2 K bits per code exactly."""
    net = GatedPixelCNN(8, (3, 4), channels=4, n_layers=2, kernel=3)
    with torch.no_grad():
        for p in net.out[-1].parameters():
            p.zero_()
    codes = torch.randint(8, (5, 3, 4))
    nll = net.nll(codes)
    assert torch.allclose(nll, torch.full((5,), 12 * math.log(8)))
    assert torch.allclose(bits_per_code(nll, 12), torch.full((5,), 3.0))
    assert torch.allclose(nll, F.cross_entropy(net(codes), codes, reduction="none").sum((1, 2)))
