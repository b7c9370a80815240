"""The vector quantizer: nearest-code lookup, index <-> vector round trip, straight-through gradient, both losses,
the EMA update against a hand computation, dead-code restarts and the usage figures."""
from __future__ import annotations

import math

import pytest
import torch

from genlab.nn.quantize import VectorQuantizer, usage_figures


def _quantizer(**kw) -> VectorQuantizer:
    q = VectorQuantizer(3, 2, **kw)
    with torch.no_grad():
        q.codebook.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]))
        if q.ema:
            q.ema_sum.copy_(q.codebook)
    return q


def test_nearest_code_and_round_trip():
    q = _quantizer()
    z = torch.tensor([[0.1, -0.2], [0.9, 0.4], [0.2, 1.6], [0.6, 0.0]]).t().reshape(1, 2, 2, 2)
    codes = q.nearest(z)
    assert codes.tolist() == [[[0, 1], [2, 1]]]  # (0.6, 0) is 0.4 from code 1, 0.6 from code 0
    assert torch.equal(q.nearest(q.embed(codes)), codes)  # index -> vector -> index
    assert torch.equal(q.embed(codes)[0, :, 1, 0], torch.tensor([0.0, 2.0]))


def test_straight_through_gradient_equals_the_decoder_input_gradient():
    q = _quantizer()
    q.eval()
    z = torch.randn(2, 2, 3, 3, requires_grad=True)
    z_q, codes, _ = q(z)
    assert torch.equal(z_q.detach(), q.embed(codes))  # forward: the code vectors
    upstream = torch.randn_like(z_q)
    (g,) = torch.autograd.grad(z_q, z, upstream)
    assert torch.equal(g, upstream)  # backward: the decoder input's gradient, copied unchanged


def test_losses_are_summed_squared_distances_and_move_the_right_tensor():
    q = _quantizer()
    q.eval()
    z = torch.tensor([0.1, -0.2]).view(1, 2, 1, 1).requires_grad_(True)
    _, _, losses = q(z)
    assert losses["codebook"].item() == pytest.approx(0.05)  # 0.1^2 + 0.2^2 to code 0
    assert losses["commitment"].item() == pytest.approx(0.05)
    g_code, = torch.autograd.grad(losses["codebook"].sum(), q.codebook, retain_graph=True)
    assert torch.allclose(g_code[0], torch.tensor([-0.2, 0.4]))  # d/de ||z - e||^2 = 2 (e - z)
    assert g_code[1:].abs().sum() == 0
    with pytest.raises(RuntimeError):  # the codebook loss does not reach the encoder output
        torch.autograd.grad(losses["codebook"].sum(), z)
    g_z, = torch.autograd.grad(losses["commitment"].sum(), z)
    assert torch.allclose(g_z.flatten(), torch.tensor([0.2, -0.4]))


def test_ema_update_equals_a_hand_computation():
    q = _quantizer(ema=True, decay=0.9, eps=1e-5)
    q.train()
    # positions: two near code 0, one near code 2; code 1 unused
    z = torch.tensor([[0.2, 0.0], [0.0, 0.4], [0.0, 1.5]]).t().reshape(1, 2, 1, 3)
    _, codes, losses = q(z)
    assert codes.flatten().tolist() == [0, 0, 2]
    assert losses["codebook"].item() == 0  # the EMA codebook has no loss
    count = 0.1 * torch.tensor([2.0, 0.0, 1.0])  # N_k = 0.9 * 0 + 0.1 * n_k
    sums = 0.9 * torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]) + 0.1 * torch.tensor([[0.2, 0.4], [0, 0], [0, 1.5]])
    total = count.sum()
    smoothed = (count + 1e-5) / (total + 3e-5) * total
    assert torch.allclose(q.ema_count, count)
    assert torch.allclose(q.codebook, sums / smoothed[:, None])
    # the statistics are computed apart from the update, so a data-parallel run can sum them in between
    expected = q.batch_statistics(z, q.nearest(z))
    seen = []
    q.reduce = lambda c, s: (seen.append((c.clone(), s.clone())), (c, s))[1]
    q(z)
    assert torch.equal(seen[0][0], expected[0]) and torch.equal(seen[0][1], expected[1])


def test_eval_mode_leaves_the_codebook_alone():
    q = _quantizer(ema=True)
    q.eval()
    before = q.codebook.clone()
    q(torch.randn(2, 2, 4, 4))
    assert torch.equal(q.codebook, before)


def test_dead_codes_restart_onto_encoder_outputs_only_when_asked():
    z = torch.full((1, 2, 2, 2), 5.0)
    for restart in (False, True):
        q = _quantizer(restart_dead=restart)
        q.train()
        q(z)
        moved = [i for i in range(3) if torch.equal(q.codebook[i].detach(), torch.tensor([5.0, 5.0]))]
        # code 2 (0, 2) is nearest to (5, 5) and is used; codes 0 and 1 are unused and restart onto z
        assert moved == ([0, 1] if restart else [])


def test_usage_figures():
    assert usage_figures(torch.tensor([0, 1, 2, 3]), 4) == {"perplexity": pytest.approx(4.0), "dead_fraction": 0.0}
    f = usage_figures(torch.tensor([1, 1, 1, 1]), 4)
    assert f["perplexity"] == pytest.approx(1.0) and f["dead_fraction"] == 0.75
    f = usage_figures(torch.tensor([0, 0, 0, 1]), 2)
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert f["perplexity"] == pytest.approx(math.exp(h))


def test_the_codebook_gradient_is_bit_reproducible_on_two_threads():
    """Advanced indexing (codebook[codes]) accumulates its backward in a thread-dependent order on the CPU, which
    made two identical quick VQ-VAE runs differ; the embedding lookup's backward does not."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        g = torch.Generator().manual_seed(0)
        q = VectorQuantizer(64, 16)
        codes = torch.randint(0, 64, (64, 16, 16), generator=g)
        upstream = torch.randn(64, 16, 16, 16, generator=g)
        grads = []
        for _ in range(8):
            (grad,) = torch.autograd.grad((q.embed(codes) * upstream).sum(), q.codebook)
            grads.append(grad)
        assert all(torch.equal(grads[0], x) for x in grads[1:])
        torch.testing.assert_close(grads[0][5], upstream.permute(0, 2, 3, 1)[codes == 5].sum(0), rtol=1e-4, atol=1e-4)
    finally:
        torch.set_num_threads(threads)
