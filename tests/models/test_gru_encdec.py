"""The GRU encoder-decoder (Cho et al. 2014): the paper's hidden unit by hand, masking, causality, the sentence
likelihood, maxout, and beam search against brute force, greedy decoding and one-sentence-at-a-time."""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from genlab.models.gru_encdec import BOS, EOS, PAD, UNK, GatedUnit, GRUEncoderDecoder


def _model(src_vocab=9, tgt_vocab=7, hidden=6, seed=0, scale=0.5):
    torch.manual_seed(seed)
    model = GRUEncoderDecoder(src_vocab, tgt_vocab, embed=4, hidden=hidden, maxout=5, pool=2).double()
    with torch.no_grad():   # weights large enough that decoding choices are not all ties
        for p in model.parameters():
            p.normal_(0, scale)
        model.src_embed.weight[PAD].zero_()
        model.tgt_embed.weight[PAD].zero_()
    return model.eval()


def test_the_hidden_unit_is_the_papers_and_not_pytorchs():
    torch.manual_seed(0)
    unit = GatedUnit(3, 2).double()
    x, h = torch.randn(1, 3, dtype=torch.float64), torch.randn(1, 2, dtype=torch.float64)
    Wr, Wz, W = unit.W.weight.split(2)
    br, bz, b = unit.W.bias.split(2)
    Ur, Uz = unit.U_gates.weight.split(2)
    U = unit.U.weight
    r = torch.sigmoid(x @ Wr.T + br + h @ Ur.T)
    z = torch.sigmoid(x @ Wz.T + bz + h @ Uz.T)
    candidate = torch.tanh(x @ W.T + b + (r * h) @ U.T)          # U (r * h): eq. 8 of the paper
    expected = z * h + (1 - z) * candidate
    got = unit.step(unit.project(x.unsqueeze(1))[:, 0], h)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    # nn.GRU with the same weights applies r after U: tanh(W x + r * (U h)); n.b. its z is our z
    gru = torch.nn.GRUCell(3, 2, bias=True).double()
    with torch.no_grad():
        gru.weight_ih.copy_(torch.cat([Wr, Wz, W]))
        gru.bias_ih.copy_(torch.cat([br, bz, b]))
        gru.weight_hh.copy_(torch.cat([Ur, Uz, U]))
        gru.bias_hh.zero_()
    pytorch = gru(x, h)
    torch.testing.assert_close(pytorch, z * h + (1 - z) * torch.tanh(x @ W.T + b + r * (h @ U.T)), rtol=0, atol=1e-12)
    assert not torch.allclose(pytorch, got)


def test_padding_does_not_change_the_summary():
    model = _model()
    alone = model.encode(torch.tensor([[4, 5, 6]]))
    padded = model.encode(torch.tensor([[4, 5, 6, PAD, PAD], [7, 8, 4, 5, 6]]))
    torch.testing.assert_close(padded[0], alone[0], rtol=0, atol=1e-12)


def test_teacher_forced_output_at_t_depends_on_no_later_target_word():
    model = _model()
    src = torch.tensor([[4, 5, 6]])
    tgt_in = torch.tensor([[BOS, 4, 5, 6, 3]])
    emb = model.tgt_embed(tgt_in).detach().requires_grad_(True)
    c = model.encode(src)
    states = model.decoder(emb, model.init_state(c), extra=c)
    logits = model.output_logits(states, emb, c.unsqueeze(1).expand(-1, 5, -1))
    for t in range(5):
        (g,) = torch.autograd.grad(logits[0, t].sum(), emb, retain_graph=True)
        assert g[0, t + 1:].abs().sum() == 0 and g[0, :t + 1].abs().sum() > 0, t


def test_sentence_nll_is_the_sum_of_token_nlls_without_padding():
    model = _model()
    src = torch.tensor([[4, 5, 6], [7, PAD, PAD]])
    tgt = torch.tensor([[4, 5, EOS], [6, EOS, PAD]])
    nll, tokens = model.nll(src, tgt)
    assert tokens.tolist() == [3, 2]
    for b in range(2):
        length = int(tokens[b])
        logits = model(src[b:b + 1, :int((src[b] != PAD).sum())],
                       torch.cat([torch.tensor([[BOS]]), tgt[b:b + 1, :length - 1]], 1))
        expected = -F.log_softmax(logits[0], -1).gather(1, tgt[b, :length, None]).sum()
        torch.testing.assert_close(nll[b], expected, rtol=0, atol=1e-10)


def test_maxout_keeps_the_larger_of_each_pair():
    model = _model()
    with torch.no_grad():
        for layer in (model.O_h, model.O_y, model.O_c):
            layer.weight.zero_()
        model.O_h.bias.copy_(torch.tensor([1.0, -2.0, 3.0, 4.0, -5.0, -6.0, 0.0, 0.5, 2.0, 1.0]))
        model.G.weight.copy_(torch.eye(7, 5))
        model.G.bias.zero_()
    z = torch.zeros(1, 6, dtype=torch.float64)
    out = model.output_logits(z, torch.zeros(1, 4, dtype=torch.float64), z)
    torch.testing.assert_close(out[0, :5], torch.tensor([1.0, 4.0, -5.0, 0.5, 2.0], dtype=torch.float64))


def _log_p(model, src, words):
    nll, _ = model.nll(src, torch.tensor([words + [EOS]]))
    return -nll.item()


def test_a_wide_beam_finds_the_most_likely_sentence_by_brute_force():
    model = _model(tgt_vocab=5)   # words UNK, BOS and 4 can be emitted (PAD never), EOS ends a sentence
    src = torch.tensor([[4, 5, 6]])
    candidates = [list(w) for n in range(0, 4) for w in itertools.product([1, 2, 4], repeat=n)]
    scores = {tuple(w): _log_p(model, src, w) for w in candidates}
    best = max(scores, key=scores.get)
    # every sentence of up to 3 words ends within 4 steps; a beam of 128 holds every hypothesis (3^4 < 128)
    found = model.beam_search(src, beam=128, max_len=4)[0]
    assert tuple(found) == best
    assert sorted(scores.values())[-1] > sorted(scores.values())[-2] + 1e-6   # the optimum is unique


def test_beam_one_is_greedy_decoding():
    model = _model()
    src = torch.tensor([[4, 5, 6, 7]])
    c = model.encode(src)
    h, prev, greedy = model.init_state(c), torch.tensor([BOS]), []
    for _ in range(12):
        e = model.tgt_embed(prev)
        h = model.decoder.step(model.decoder.project(e.unsqueeze(1), c)[:, 0], h)
        logits = model.output_logits(h, e, c)
        logits[:, PAD] = float("-inf")
        prev = logits.argmax(-1)
        if prev.item() == EOS:
            break
        greedy.append(prev.item())
    assert model.beam_search(src, beam=1, max_len=12)[0] == greedy


def test_banning_the_plain_unk_removes_it_and_keeps_the_numbered_unknowns():
    model = _model(tgt_vocab=8, seed=1)
    with torch.no_grad():   # the output bias decides: <unk> (1) the likeliest word, then <unk1> (4), then EOS
        model.G.weight.mul_(0.01)
        model.G.bias.copy_(torch.tensor([0.0, 9.0, 0.0, 3.0, 6.0, 0.0, 0.0, 0.0], dtype=torch.float64))
    src = torch.tensor([[4, 5], [6, 7]])
    # greedy (beam 1) runs to max_len: four plain unknowns, or with them banned four <unk1>
    assert model.beam_search(src, beam=1, max_len=4) == [[UNK] * 4] * 2
    assert model.beam_search(src, beam=1, max_len=4, allow_unk=False) == [[4] * 4] * 2
    assert all(UNK not in hyp for hyp in model.beam_search(src, beam=3, max_len=4, allow_unk=False))


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_batched_beam_search_equals_one_sentence_at_a_time(length_penalty):
    model = _model(seed=3)
    sentences = [[4, 5], [6, 7, 8, 4], [5], [8, 8, 7]]
    from torch.nn.utils.rnn import pad_sequence
    batch = pad_sequence([torch.tensor(s) for s in sentences], batch_first=True)
    together = model.beam_search(batch, beam=4, max_len=10, length_penalty=length_penalty)
    alone = [model.beam_search(torch.tensor([s]), beam=4, max_len=10, length_penalty=length_penalty)[0]
             for s in sentences]
    assert together == alone
    assert all(EOS not in t and PAD not in t for t in together)


def test_a_run_with_length_regrouped_batches_resumes_mid_epoch_bit_identically(tmp_path):
    from genlab.data.text import PairBatches
    from genlab.training.loop import Trainer

    g = torch.Generator().manual_seed(0)
    src = [torch.randint(4, 9, (int(n),), generator=g).tolist() for n in torch.randint(1, 7, (40,), generator=g)]
    tgt = [torch.randint(4, 7, (int(n),), generator=g).tolist() for n in torch.randint(1, 7, (40,), generator=g)]

    def trainer(where):
        torch.manual_seed(0)
        model = GRUEncoderDecoder(9, 7, embed=4, hidden=6, maxout=5, pool=2)
        return Trainer(model, {"model": torch.optim.Adam(model.parameters(), lr=1e-2)},
                       PairBatches(src, tgt, sort_k_batches=3), batch_size=8, epochs=2,
                       checkpoint_path=where / "ckpt.pt", fingerprint="fp", checkpoint_every=2, log=lambda s: None)

    straight = trainer(tmp_path / "a")
    straight.fit()
    dying = trainer(tmp_path / "b")
    real_step = dying.model.training_step

    def step(batch, n, opt):
        if n == 7:   # inside epoch 2 (5 batches an epoch), after the checkpoint at step 6
            raise RuntimeError("killed")
        return real_step(batch, n, opt)
    dying.model.training_step = step
    with pytest.raises(RuntimeError, match="killed"):
        dying.fit()
    resumed = trainer(tmp_path / "b")
    torch.manual_seed(5)
    assert resumed.restore() and resumed.batch_in_epoch == 1
    resumed.fit()
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0)


def test_the_training_gradient_is_bit_reproducible_on_two_threads():
    """A guard: every parameter's gradient of the sentence NLL is the same bit for bit on every repeat with two
    threads, at the quick scale's sizes. (The race this guards against, a gather with repeated indices whose
    backward accumulates in a thread-dependent order, was rare: it parted two quick runs in their 11th epoch.)"""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        g = torch.Generator().manual_seed(0)
        model = GRUEncoderDecoder(1400, 1400, embed=64, hidden=128, maxout=64, pool=2)
        src = torch.randint(4, 1400, (64, 7), generator=g)
        tgt = torch.randint(4, 1400, (64, 25), generator=g)
        tgt[torch.arange(25) >= torch.randint(1, 26, (64, 1), generator=g)] = PAD
        grads = [torch.autograd.grad(model.loss(src, tgt)[0], list(model.parameters())) for _ in range(6)]
        assert all(torch.equal(a, b) for other in grads[1:] for a, b in zip(grads[0], other))
    finally:
        torch.set_num_threads(threads)
