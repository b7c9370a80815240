"""The gated PixelCNN prior over VQ-VAE code maps (van den Oord et al. 2016, "Conditional Image Generation with
PixelCNN Decoders"; the VQ-VAE papers' stage 2), with the causal self-attention of VQ-VAE-2's top prior
(Razavi et al. 2019).

A map of K-way codes (N, H, W) is modelled in raster order, p(c) = prod_i p(c_i | c_<i), each
conditional a softmax over K. The codes enter through an embedding (no one-hot tensor).

Each gated layer has two stacks, which together have no blind spot:
- vertical: a (k//2 + 1) x k convolution over rows i - k//2 .. i of the previous vertical
  output; it reaches the horizontal stack only shifted down one row (the `link`), so a position
  sees the rows above it and never its own row through it;
- horizontal: a 1 x (k//2 + 1) convolution over columns j - k//2 .. j of its row (the first
  layer's input is shifted right one column, so it never sees its own code), plus the link,
  a gated unit tanh(a) * sigmoid(b), a 1x1 residual connection (not in the first layer) and a
  1x1 skip connection; the skips are summed into the output network (ReLU, 1x1, ReLU, 1x1 -> K).
Conditioning enters every gate as a bias: a per-layer embedding of the class (class-conditional
priors) and, for VQ-VAE-2's bottom prior, a per-layer 1x1 projection of a conditioning network
over the top code map (embedded, upsampled to the bottom resolution, two 3x3 convolutions; not
causal: the top codes are known before any bottom code is drawn).
Attention (`attention_every` = n > 0): after every n-th gated layer, multi-head self-attention
over the horizontal stack's features in raster order, each position attending to itself and
to every earlier one (the features of a position depend on strictly earlier codes only).

Sampling is ancestral and batched, one code at a time in raster order, but without rerunning
the whole network on the whole map per code: before row i, the vertical stack runs once over
the rows it can see (the last n_layers * k//2 rows above i) and gives row i's links; then each
code of row i runs the horizontal stack over row i alone, attention reading the cached features
of the rows already drawn. Codes are drawn by the Gumbel-max rule from noise drawn row by row
from the caller's generator. `sample(..., naive=True)` is the loop of public code (the whole
network over the whole one-hot map for every code), kept for tests and the benchmark:
both draw the same codes from the same generator.

NOTE departures: Razavi et al.'s top prior has 20 residual gated layers with attention every 5
layers, 4096-d... at ImageNet scale; the sizes here are params. Their bottom prior has no
attention (as here); its conditioning stack is deeper (ours: two 3x3 convolutions).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _gate(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


def down_shift(x: torch.Tensor) -> torch.Tensor:
    """Row i gets row i - 1 (row 0 gets zeros)."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


def right_shift(x: torch.Tensor) -> torch.Tensor:
    """Column j gets column j - 1 (column 0 gets zeros)."""
    return F.pad(x, (1, 0))[..., :-1]


class GatedLayer(nn.Module):
    """One layer of both stacks (see the module docstring); `vertical` and `horizontal` run apart when sampling."""

    def __init__(self, channels: int, kernel: int, first: bool):
        super().__init__()
        self.p, self.first = kernel // 2, first
        self.v_conv = nn.Conv2d(channels, 2 * channels, (self.p + 1, kernel))
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.h_conv = nn.Conv2d(channels, 2 * channels, (1, self.p + 1))
        self.h_res = None if first else nn.Conv2d(channels, channels, 1)
        self.skip = nn.Conv2d(channels, channels, 1)

    def vertical(self, v: torch.Tensor, cond: torch.Tensor | float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """v (N, C, R, W) -> (the next vertical input, the link to the horizontal stack, NOT yet shifted down)."""
        pre = self.v_conv(F.pad(v, (self.p, self.p, self.p, 0))) + cond
        return _gate(pre), self.v_to_h(pre)

    def horizontal(self, h: torch.Tensor, link: torch.Tensor, cond: torch.Tensor | float = 0.0
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """h (N, C, R, W), link (already shifted) -> (the next horizontal input, the skip output)."""
        x = right_shift(h) if self.first else h
        gated = _gate(self.h_conv(F.pad(x, (self.p, 0))) + link + cond)
        out = gated if self.h_res is None else h + self.h_res(gated)
        return out, self.skip(gated)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention over positions in raster order, each attending to itself and earlier ones."""

    def __init__(self, channels: int, heads: int):
        super().__init__()
        if channels % heads:
            raise ValueError(f"attention over {channels} channels with {heads} heads: channels must divide")
        self.heads = heads
        self.q = nn.Linear(channels, channels)
        self.kv = nn.Linear(channels, 2 * channels)
        self.proj = nn.Linear(channels, channels)

    def forward(self, h: torch.Tensor, past: torch.Tensor | None = None) -> torch.Tensor:
        """h (N, C, R, W): the rows being computed; past (N, P, C): the same layer's inputs at the P earlier
        positions (None: h starts at position 0)."""
        n, c, r, w = h.shape
        x = h.flatten(2).transpose(1, 2)  # (N, R*W, C)
        keys = x if past is None else torch.cat([past, x], 1)
        offset = keys.shape[1] - x.shape[1]
        q = self.q(x).view(n, -1, self.heads, c // self.heads).transpose(1, 2)
        k, v = self.kv(keys).view(n, -1, 2, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        allowed = (torch.arange(keys.shape[1], device=h.device)[None, :]
                   <= torch.arange(x.shape[1], device=h.device)[:, None] + offset)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        out = self.proj(out.transpose(1, 2).reshape(n, -1, c))
        return h + out.transpose(1, 2).view(n, c, r, w)


class GatedPixelCNN(nn.Module):
    """A prior over (H, W) maps of `n_codes`-way codes; optional class and top-code conditioning."""

    def __init__(self, n_codes: int, shape: tuple[int, int], channels: int = 128, n_layers: int = 10,
                 kernel: int = 5, attention_every: int = 0, heads: int = 4, n_classes: int = 0,
                 cond_codes: int = 0, cond_shape: tuple[int, int] | None = None):
        super().__init__()
        if kernel < 3 or kernel % 2 == 0:
            raise ValueError(f"kernel = {kernel}: expected an odd size >= 3")
        self.n_codes, self.shape, self.channels, self.n_layers = n_codes, tuple(shape), channels, n_layers
        self.n_classes = n_classes
        self.embed = nn.Embedding(n_codes, channels)
        self.layers = nn.ModuleList(GatedLayer(channels, kernel, i == 0) for i in range(n_layers))
        self.attention = nn.ModuleDict({str(i): CausalSelfAttention(channels, heads) for i in range(n_layers)
                                        if attention_every and (i + 1) % attention_every == 0})
        self.class_bias = nn.Embedding(n_classes, n_layers * 4 * channels) if n_classes else None
        self.cond_net = None
        if cond_codes:
            ch, cw = cond_shape
            if self.shape[0] % ch or self.shape[1] % cw:
                raise ValueError(f"a {self.shape} code map cannot be conditioned on a {cond_shape} map")
            self.cond_scale = (self.shape[0] // ch, self.shape[1] // cw)
            self.cond_embed = nn.Embedding(cond_codes, channels)
            self.cond_net = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                                          nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                                          nn.Conv2d(channels, n_layers * 4 * channels, 1))
        self.out = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(),
                                 nn.Conv2d(channels, n_codes, 1))
        self.reach = n_layers * (kernel // 2)  # rows above that the vertical stack of the last layer sees

    # ------------------------------------------------------------------ conditioning
    def conditioning(self, n: int, labels: torch.Tensor | None, cond: torch.Tensor | None) -> torch.Tensor | float:
        """Per-layer gate biases (N, L, 4C, H or 1, W or 1): class embedding plus top-code network."""
        out: torch.Tensor | float = 0.0
        if self.class_bias is not None:
            if labels is None:
                raise ValueError("a class-conditional prior needs labels")
            out = self.class_bias(labels).view(n, self.n_layers, 4 * self.channels, 1, 1)
        if self.cond_net is not None:
            if cond is None:
                raise ValueError("a prior conditioned on top codes needs them")
            e = self.cond_embed(cond).permute(0, 3, 1, 2)
            e = F.interpolate(e, scale_factor=self.cond_scale, mode="nearest")
            out = out + self.cond_net(e).view(n, self.n_layers, 4 * self.channels, *self.shape)
        return out

    @staticmethod
    def _layer_cond(cond, layer: int, rows: slice | None = None):
        """(v bias, h bias) of `layer`, restricted to `rows` where the bias is spatial."""
        if not torch.is_tensor(cond):
            return 0.0, 0.0
        c = cond[:, layer]
        if rows is not None and c.shape[-2] > 1:
            c = c[:, :, rows]
        return c.chunk(2, dim=1)

    # ------------------------------------------------------------------ forward
    def forward_embedded(self, e: torch.Tensor, cond: torch.Tensor | float = 0.0) -> torch.Tensor:
        """Logits (N, K, H, W) from embedded codes e (N, C, H, W) and the `conditioning` biases."""
        v, h, skips = e, e, 0.0
        for i, layer in enumerate(self.layers):
            cv, chh = self._layer_cond(cond, i)
            v, link = layer.vertical(v, cv)
            h, s = layer.horizontal(h, down_shift(link), chh)
            skips = skips + s
            if str(i) in self.attention:
                h = self.attention[str(i)](h)
        return self.out(skips)

    def forward(self, codes: torch.Tensor, labels: torch.Tensor | None = None,
                cond: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (N, K, H, W) of every code given the codes before it (teacher forcing)."""
        e = self.embed(codes).permute(0, 3, 1, 2)
        return self.forward_embedded(e, self.conditioning(len(codes), labels, cond))

    def nll(self, codes: torch.Tensor, labels: torch.Tensor | None = None,
            cond: torch.Tensor | None = None) -> torch.Tensor:
        """-log p(codes) in nats per map (N,)."""
        logits = self(codes, labels, cond)
        return F.cross_entropy(logits, codes, reduction="none").flatten(1).sum(1)

    # ------------------------------------------------------------------ sampling
    def _row_links(self, e: torch.Tensor, i: int, cond) -> list[torch.Tensor]:
        """Each layer's link into row i (N, 2C, 1, W), from the vertical stack over the rows above it it can see."""
        n, c, _, w = e.shape
        if i == 0:
            return [e.new_zeros(n, 2 * c, 1, w)] * self.n_layers
        r0 = max(0, i - self.reach)
        v, links = e[:, :, r0:i], []
        for k, layer in enumerate(self.layers):
            cv, _ = self._layer_cond(cond, k, slice(r0, i))
            v, link = layer.vertical(v, cv)
            links.append(link[:, :, -1:])
        return links

    def _row_pass(self, e_row: torch.Tensor, links: list[torch.Tensor], cond, i: int,
                  cache: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits of row i (N, K, 1, W) and each attention layer's inputs on that row (N, W, C)."""
        h, skips, inputs = e_row, 0.0, {}
        for k, layer in enumerate(self.layers):
            _, chh = self._layer_cond(cond, k, slice(i, i + 1))
            h, s = layer.horizontal(h, links[k], chh)
            skips = skips + s
            if str(k) in self.attention:
                inputs[str(k)] = h.flatten(2).transpose(1, 2)
                h = self.attention[str(k)](h, cache.get(str(k)))
        return self.out(skips), inputs

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None,
               cond: torch.Tensor | None = None, naive: bool = False) -> torch.Tensor:
        """n code maps (N, H, W) drawn ancestrally (Gumbel-max on noise drawn row by row from `generator`)."""
        device = self.embed.weight.device
        hh, ww = self.shape
        bias = self.conditioning(n, labels, cond)
        codes = torch.zeros(n, hh, ww, dtype=torch.long, device=device)
        e = torch.zeros(n, self.channels, hh, ww, device=device)
        cache: dict[str, torch.Tensor] = {}
        for i in range(hh):
            u = torch.rand(n, self.n_codes, ww, generator=generator).to(device)
            gumbel = -torch.log(-torch.log(u.clamp(min=torch.finfo(u.dtype).tiny)))
            links = None if naive else self._row_links(e, i, bias)
            for j in range(ww):
                if naive:  # public code's loop: the whole network over the whole one-hot map
                    onehot = F.one_hot(codes, self.n_codes).permute(0, 3, 1, 2).float()
                    full = torch.einsum("nkhw,kc->nchw", onehot, self.embed.weight)
                    logits = self.forward_embedded(full, bias)[:, :, i, j]
                else:
                    row_logits, inputs = self._row_pass(e[:, :, i:i + 1], links, bias, i, cache)
                    logits = row_logits[:, :, 0, j]
                codes[:, i, j] = (logits + gumbel[:, :, j]).argmax(1)
                e[:, :, i, j] = self.embed(codes[:, i, j])
            if not naive:
                for key, x in inputs.items():  # the row's final features (no position depends on its own code)
                    cache[key] = x if key not in cache else torch.cat([cache[key], x], 1)
        return codes


def bits_per_code(nll_nats: torch.Tensor, n_positions: int) -> torch.Tensor:
    """NLL of whole maps in nats -> bits per code."""
    return nll_nats / (n_positions * math.log(2))
