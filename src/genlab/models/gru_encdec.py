"""The RNN Encoder-Decoder of Cho et al. 2014 ("Learning Phrase Representations using RNN
Encoder-Decoder for Statistical Machine Translation"), with its gated hidden unit.

The hidden unit (the paper's eq. 5-8, one per layer):

    r = sigmoid(W_r x + U_r h),   z = sigmoid(W_z x + U_z h)
    h~ = tanh(W x + U (r * h))          <- the reset gate acts on h *before* U
    h_new = z * h + (1 - z) * h~

PyTorch's nn.GRU computes tanh(W x + r * (U h + b)) instead: the reset gate after U.
`GatedUnit` is the paper's form, written out (a test shows it differs from nn.GRU's and
matches a hand computation).

Encoder: 100-d source embeddings, the gated unit over the sentence, summary
c = tanh(V h_N). Decoder: h'_0 = tanh(V' c); at step t the unit reads the previous
target word's embedding e(y_{t-1}) and c (gates and candidate each get a C c term);
the output layer is the paper's deep output with maxout,

    s_t = maxout_2(O_h h'_t + O_y e(y_{t-1}) + O_c c)     (500 units from 1000, pool 2)
    p(y_t | y_<t, x) = softmax(G s_t)

Trained on the log-likelihood of target sentences given source sentences, Adadelta
(eps 1e-6, rho 0.95), 64 pairs per update. Weights are drawn from N(0, 0.01^2),
recurrent matrices orthogonal, biases zero (the paper's Appendix A.1).

NOTE: the decoder's candidate is tanh(W' e(y) + U'(r' * h') + C c), the encoder's form
with c added; the paper's appendix writes r' * (U' h' + C c) for the decoder.
NOTE: the embeddings are plain 100-d lookup tables (the paper's rank-100 factorisation
of the input matrices is the same thing); G is full rank.
NOTE: the paper scores phrase pairs inside Moses and never translates alone; translation
with beam search (`beam_search`) follows Cho et al. 2014b, "On the Properties of NMT".
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genlab.models.base import Trainable

PAD, UNK, BOS, EOS = 0, 1, 2, 3   # the prepared vocabularies' first four ids (genlab.data.text.SPECIALS)


class GatedUnit(nn.Module):
    """Cho et al.'s hidden unit over a sequence: input projections for every step at once, the recurrence in a
    loop. `extra` (B, E) is a per-sequence input added to gates and candidate (the decoder's c)."""

    def __init__(self, input_size: int, hidden_size: int, extra_size: int = 0):
        super().__init__()
        self.hidden_size = hidden_size
        self.W = nn.Linear(input_size, 3 * hidden_size)              # W_r, W_z, W (with the biases)
        self.U_gates = nn.Linear(hidden_size, 2 * hidden_size, bias=False)   # U_r, U_z
        self.U = nn.Linear(hidden_size, hidden_size, bias=False)
        self.C = nn.Linear(extra_size, 3 * hidden_size, bias=False) if extra_size else None

    def project(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """The input terms of all steps: (B, T, 3H) = W x_t (+ C c)."""
        out = self.W(x)
        if self.C is not None:
            out = out + self.C(extra).unsqueeze(1)
        return out

    def step(self, projected: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One step from the input terms (B, 3H) of this step and h (B, H)."""
        H = self.hidden_size
        gates = torch.sigmoid(projected[:, :2 * H] + self.U_gates(h))
        r, z = gates[:, :H], gates[:, H:]
        candidate = torch.tanh(projected[:, 2 * H:] + self.U(r * h))
        return z * h + (1 - z) * candidate

    def forward(self, x: torch.Tensor, h0: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, I), h0 (B, H): every state (B, T, H). Padding comes after a sentence's words, so the states
        of its real positions do not depend on it."""
        projected = self.project(x, extra)
        h, states = h0, []
        for t in range(x.shape[1]):
            h = self.step(projected[:, t], h)
            states.append(h)
        return torch.stack(states, 1)


class GRUEncoderDecoder(Trainable):
    def __init__(self, src_vocab: int, tgt_vocab: int, embed: int = 100, hidden: int = 1000, maxout: int = 500,
                 pool: int = 2):
        super().__init__()
        self.src_embed = nn.Embedding(src_vocab, embed, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(tgt_vocab, embed, padding_idx=PAD)
        self.encoder = GatedUnit(embed, hidden)
        self.V = nn.Linear(hidden, hidden)            # c = tanh(V h_N)
        self.V_dec = nn.Linear(hidden, hidden)        # h'_0 = tanh(V' c)
        self.decoder = GatedUnit(embed, hidden, extra_size=hidden)
        self.O_h = nn.Linear(hidden, maxout * pool)
        self.O_y = nn.Linear(embed, maxout * pool, bias=False)
        self.O_c = nn.Linear(hidden, maxout * pool, bias=False)
        self.G = nn.Linear(maxout, tgt_vocab)
        self.pool = pool
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif name.endswith(("U.weight", "U_gates.weight")):
                for block in p.data.split(p.shape[1], dim=0):   # each H x H recurrent matrix orthogonal
                    nn.init.orthogonal_(block)
            else:
                nn.init.normal_(p, 0.0, 0.01)
        with torch.no_grad():
            self.src_embed.weight[PAD].zero_()
            self.tgt_embed.weight[PAD].zero_()

    # ------------------------------------------------------------------ pieces
    def encode(self, src: torch.Tensor) -> torch.Tensor:
        """src (B, S) ids padded with PAD -> the summary c (B, H)."""
        lengths = (src != PAD).sum(1)
        h0 = torch.zeros(src.shape[0], self.encoder.hidden_size, dtype=self.V.weight.dtype, device=src.device)
        states = self.encoder(self.src_embed(src), h0)
        last = states[torch.arange(len(src), device=src.device), (lengths - 1).clamp(min=0)]   # h_N of each sentence
        return torch.tanh(self.V(last))

    def init_state(self, c: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.V_dec(c))

    def output_logits(self, h: torch.Tensor, prev_embedded: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Deep output with maxout: logits G maxout(O_h h' + O_y e(y_{t-1}) + O_c c), any leading shape."""
        return self.deep_output(h, prev_embedded, self.O_c(c))

    def deep_output(self, h: torch.Tensor, prev_embedded: torch.Tensor, c_term: torch.Tensor) -> torch.Tensor:
        """`output_logits` with the O_c c term given (decoding computes it once per sentence)."""
        s = self.O_h(h) + self.O_y(prev_embedded) + c_term
        s = s.view(*s.shape[:-1], -1, self.pool).amax(-1)
        return self.G(s)

    # ------------------------------------------------------------------ training
    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, T, V): tgt_in starts with BOS (y_0) and holds y_1..y_{T-1}."""
        c = self.encode(src)
        embedded = self.tgt_embed(tgt_in)
        states = self.decoder(embedded, self.init_state(c), extra=c)
        return self.output_logits(states, embedded, c.unsqueeze(1).expand(-1, tgt_in.shape[1], -1))

    def nll(self, src: torch.Tensor, tgt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sentence negative log-likelihood -log p(y|x) in nats (B,) and target token counts (B,); `tgt`
        (B, T) holds y_1..y_n, EOS, then PAD. The output layer (the costly softmax over the vocabulary) runs on
        the real positions only."""
        tgt_in = torch.cat([torch.full_like(tgt[:, :1], BOS), tgt[:, :-1]], dim=1)
        c = self.encode(src)
        embedded = self.tgt_embed(tgt_in)
        states = self.decoder(embedded, self.init_state(c), extra=c)
        real = tgt != PAD
        # Only boolean masks pick the real positions: their backward writes each position once. Gathering c with
        # repeated row indices (c[rows]) accumulated its gradient in a thread-dependent order on the CPU, and two
        # identical quick runs parted in their 11th epoch.
        c_term = self.O_c(c).unsqueeze(1).expand(-1, tgt.shape[1], -1)
        logits = self.deep_output(states[real], embedded[real], c_term[real])
        token_nll = F.cross_entropy(logits, tgt[real], reduction="none")
        return token_nll.new_zeros(tgt.shape).masked_scatter(real, token_nll).sum(1), real.sum(1)

    def loss(self, src: torch.Tensor, tgt: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Mean over the batch of -log p(y|x) (nats per sentence), and the per-token figure."""
        nll, tokens = self.nll(src, tgt)
        return nll.mean(), {"token_nll": (nll.sum() / tokens.sum()).item()}

    # ------------------------------------------------------------------ decoding
    @torch.no_grad()
    def beam_search(self, src: torch.Tensor, beam: int = 10, max_len: int | None = None,
                    length_penalty: float = 0.0, allow_unk: bool = True) -> list[list[int]]:
        """Batched beam search: for each source sentence the finished hypothesis (ids, without EOS) with the
        highest log p / len^length_penalty (len counts EOS), or the best unfinished one after `max_len` steps when
        none finished.

        All live sentences' hypotheses advance in one step of the network. A finished hypothesis keeps its score
        and competes with the live ones' extensions for a place in the beam (it extends only with PAD, at no
        cost); a live one never emits PAD. A sentence whose K best are all finished is settled and leaves the
        batch, so late steps run only on the sentences still being decoded. Without a length penalty a sentence
        is also settled once its best finished hypothesis outscores every live one (exact: log p only falls as a
        hypothesis grows). The terms that depend on the sentence only (C c in the decoder's unit, O_c c in the
        output layer) are computed once."""
        B, K, device = src.shape[0], beam, src.device
        max_len = max_len or int(2 * (src != PAD).sum(1).max().item()) + 10
        c = self.encode(src)
        h = self.init_state(c).repeat_interleave(K, 0)                          # (n*K, H), n live sentences
        c_gates = self.decoder.C(c).repeat_interleave(K, 0)
        c_out = self.O_c(c).repeat_interleave(K, 0)
        live = torch.arange(B, device=device)                                   # their indices in `src`
        prev = torch.full((B * K,), BOS, dtype=torch.long, device=device)
        scores = torch.full((B, K), float("-inf"), device=device)
        scores[:, 0] = 0.0                                                      # one hypothesis at the start
        lengths = torch.zeros(B, K, dtype=torch.long, device=device)
        finished = torch.zeros(B, K, dtype=torch.bool, device=device)
        tokens = torch.zeros(B, K, 0, dtype=torch.long, device=device)
        out: list[list[int] | None] = [None] * B
        for step in range(max_len):
            n = len(live)
            e = self.tgt_embed(prev)
            h = self.decoder.step(self.decoder.W(e) + c_gates, h)
            logp = torch.log_softmax(self.deep_output(h, e, c_out).float(), -1)    # (n*K, V)
            logp[:, PAD] = float("-inf")
            if not allow_unk:
                logp[:, UNK] = float("-inf")                                    # numbered unknowns stay allowed
            # Only a hypothesis's K best words can enter the beam: rank those, not all K*V extensions.
            k = min(K, logp.shape[1])
            top_logp, top_word = logp.topk(k, dim=1)                            # (n*K, k)
            live_score = scores.masked_fill(finished, float("-inf")).view(-1, 1)
            extend = (live_score + top_logp).view(n, K * k)
            keep = scores.masked_fill(~finished, float("-inf"))                 # a finished one, extended by PAD
            scores, flat = torch.cat([extend, keep], 1).topk(K, dim=1)
            kept = flat >= K * k
            origin = torch.where(kept, flat - K * k, flat // k)
            word = torch.where(kept, PAD, top_word.view(n, K * k).gather(1, flat.clamp(max=K * k - 1)))
            finished = finished.gather(1, origin)
            lengths = lengths.gather(1, origin) + (~finished).long()
            finished = finished | (word == EOS)
            tokens = torch.cat([tokens.gather(1, origin.unsqueeze(-1).expand(-1, -1, tokens.shape[-1])),
                                word.unsqueeze(-1)], dim=-1)
            rows = (origin + torch.arange(n, device=device).unsqueeze(1) * K).view(-1)
            h, prev = h[rows], word.view(-1)
            if not length_penalty:
                best_done = scores.masked_fill(~finished, float("-inf")).amax(1)
                best_live = scores.masked_fill(finished, float("-inf")).amax(1)
                settled = (best_done >= best_live).unsqueeze(1)
                scores = scores.masked_fill(settled & ~finished, float("-inf"))   # its live ones are dropped
                finished = finished | settled
            done = finished.all(1) if step < max_len - 1 else torch.ones(n, dtype=torch.bool, device=device)
            if bool(done.any()):
                for b in done.nonzero()[:, 0].tolist():
                    out[int(live[b])] = self._best(scores[b], lengths[b], finished[b], tokens[b], length_penalty)
                stay = (~done).nonzero()[:, 0]
                if not len(stay):
                    break
                stay_rows = (stay.unsqueeze(1) * K + torch.arange(K, device=device)).view(-1)
                live, scores, lengths, finished, tokens = (t[stay] for t in (live, scores, lengths, finished, tokens))
                h, prev, c_gates, c_out = (t[stay_rows] for t in (h, prev, c_gates, c_out))
        return out

    @staticmethod
    def _best(scores, lengths, finished, tokens, length_penalty: float) -> list[int]:
        """One sentence's answer from its K hypotheses: the best finished one, else the best partial one."""
        norm = scores / lengths.clamp(min=1).float() ** length_penalty if length_penalty else scores
        if bool(finished.any()):
            norm = norm.masked_fill(~finished, float("-inf"))
        ids = tokens[int(norm.argmax())].tolist()
        ids = ids[:ids.index(EOS)] if EOS in ids else ids
        return [i for i in ids if i != PAD]


def build(cfg, src_vocab: int, tgt_vocab: int) -> GRUEncoderDecoder:
    m = cfg.model
    return GRUEncoderDecoder(src_vocab, tgt_vocab, embed=m.embed, hidden=m.hidden, maxout=m.maxout, pool=m.pool)
