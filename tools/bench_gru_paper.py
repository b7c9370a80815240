"""Benchmark: training and beam-search throughput of the paper-scale GRU encoder-decoder, for planning a GPU run.

    python tools/bench_gru_paper.py [--steps 20] [--threads 2] [--length 25] [--device cpu] [--out FILE]

The paper's configuration (100-d embeddings, 1000 units, 500 maxout units, 15,000 words
plus the 4 specials per side, Adadelta, 64 pairs per update) on random sentences of
`length` tokens on both sides (newstest sentences average about 25-30 Moses tokens).
Prints and writes target tokens/s of training and sentences/s of beam search (beam 10);
nothing asserts them.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from genlab.models.gru_encdec import EOS, GRUEncoderDecoder
from genlab.training.loop import Optimizers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--length", type=int, default=25)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    vocab = 15_004
    model = GRUEncoderDecoder(vocab, vocab, embed=100, hidden=1000, maxout=500, pool=2).to(args.device)
    opt = Optimizers({"model": torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-6)},
                     grad_clip_norm=1.0)
    src = torch.randint(4, vocab, (64, args.length), device=args.device)
    tgt = torch.cat([torch.randint(4, vocab, (64, args.length)), torch.full((64, 1), EOS)], 1).to(args.device)
    for _ in range(2):
        model.training_step((src, tgt), 0, opt)
    start = time.perf_counter()
    for _ in range(args.steps):
        model.training_step((src, tgt), 0, opt)
    seconds = (time.perf_counter() - start) / args.steps
    model.eval()
    start = time.perf_counter()
    model.beam_search(src[:16], beam=10, max_len=args.length + 5)
    beam_seconds = time.perf_counter() - start
    result = {"device": args.device, "threads": args.threads, "torch": torch.__version__, "length": args.length,
              "parameters": sum(p.numel() for p in model.parameters()), "seconds_per_update": seconds,
              "target_tokens_per_second": 64 * (args.length + 1) / seconds,
              "beam10_sentences_per_second": 16 / beam_seconds}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
