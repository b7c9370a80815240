"""Benchmark: training and beam-search throughput of the paper-scale GRU encoder-decoder, for planning a GPU run.

    python tools/bench_gru_paper.py [--steps 20] [--threads 2] [--length 25] [--device cpu] [--out FILE]
    python tools/bench_gru_paper.py --data data/<scale>/wmt14_enfr --steps 300 [--out FILE]

The paper's configuration (100-d embeddings, 1000 units, 500 maxout units, 15,000 words
plus the 4 specials per side, Adadelta, 64 pairs per update) on random sentences of
`length` tokens on both sides (newstest sentences average about 25-30 Moses tokens).
Prints and writes target tokens/s of training and sentences/s of beam search (beam 10, 64
sentences batched and one at a time); nothing asserts them.

With --data, a smoke run of the same configuration on real pairs of a prepared data set
(its vocabulary sizes): `--steps` Adadelta updates of 64 pairs, batches regrouped by length
every 20 (the paper profile's `sort_k_batches`), the mean target-token NLL of the first and
last 20 updates, the validation token NLL (first 1000 valid pairs) before and after, and the
throughput. It stops at the first non-finite loss and says where.
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
    ap.add_argument("--beam-sentences", type=int, default=64, help="sentences decoded in one batch (at most 64)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=None, help="a prepared parallel text data set: smoke-train on it")
    args = ap.parse_args()
    if not 1 <= args.beam_sentences <= 64:
        ap.error(f"--beam-sentences {args.beam_sentences}: the benchmark batch holds 1 to 64 sentences")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.data:
        return smoke(args)
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
    n = args.beam_sentences

    def timed(fn) -> float:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start

    model.beam_search(src[:2], beam=10, max_len=4)   # warm-up
    beam_seconds = timed(lambda: model.beam_search(src[:n], beam=10, max_len=args.length + 5))
    # the same sentences one at a time (an untrained model runs every one to max_len)
    single_seconds = timed(lambda: [model.beam_search(src[i:i + 1], beam=10, max_len=args.length + 5)
                                    for i in range(n)])
    result = {"device": args.device, "threads": args.threads, "torch": torch.__version__, "length": args.length,
              "parameters": sum(p.numel() for p in model.parameters()), "seconds_per_update": seconds,
              "target_tokens_per_second": 64 * (args.length + 1) / seconds,
              "beam10_sentences": n,
              "beam10_sentences_per_second": n / beam_seconds,
              "beam10_single_sentences_per_second": n / single_seconds,
              "beam10_batched_over_single": single_seconds / beam_seconds}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


def smoke(args) -> None:
    import math

    from genlab.data.text import PreparedText, pairs
    from genlab.training.loop import mean_figures

    data = PreparedText(args.data)
    model = GRUEncoderDecoder(len(data.vocab(data.src_lang)), len(data.vocab(data.tgt_lang)), embed=100, hidden=1000,
                              maxout=500, pool=2).to(args.device)
    opt = Optimizers({"model": torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-6)},
                     grad_clip_norm=1.0)
    train, valid = pairs(data, "train", sort_k_batches=20), pairs(data, "valid", 1000)
    generator = torch.Generator().manual_seed(0)

    def batches():
        while True:
            order = torch.randperm(len(train), generator=generator).tolist()
            yield from train.regroup([order[i:i + 64] for i in range(0, len(order), 64)], generator)

    def valid_nll() -> float:
        return mean_figures(model, valid, 100, args.device)["token_nll"]

    before = valid_nll()
    losses, tokens = [], 0
    model.train()
    start = time.perf_counter()
    for step, index in zip(range(args.steps), batches()):
        src, tgt = (t.to(args.device) for t in train[index])
        figures = model.training_step((src, tgt), step, opt)
        if not math.isfinite(figures["token_nll"]):
            raise SystemExit(f"step {step}: non-finite loss {figures['token_nll']}")
        losses.append(figures["token_nll"])
        tokens += int((tgt != 0).sum())
    seconds = time.perf_counter() - start
    model.eval()
    result = {"device": args.device, "threads": args.threads, "torch": torch.__version__, "data": str(args.data),
              "data_source": data.manifest["source"], "vocab": {k: v["size"] for k, v in data.manifest["vocab"].items()},
              "parameters": sum(p.numel() for p in model.parameters()), "updates": len(losses),
              "seconds_per_update": seconds / len(losses), "target_tokens_per_second": tokens / seconds,
              "train_token_nll_first_20": sum(losses[:20]) / len(losses[:20]),
              "train_token_nll_last_20": sum(losses[-20:]) / len(losses[-20:]),
              "valid_token_nll_before": before, "valid_token_nll_after": valid_nll()}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
