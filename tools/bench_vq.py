"""Benchmarks of the VQ family: prior sampling (cached against the naive loop) and paper-scale training steps.

    python tools/bench_vq.py sampling [--threads 2] [--out reports/benchmarks/vq_prior_sampling.json]
    python tools/bench_vq.py steps [--steps 200] [--threads 2] [--out reports/benchmarks/vq_paper_steps.json]

sampling: codes per second of GatedPixelCNN.sample (the vertical stack once per row, the
    horizontal stack on one row per code, attention reading cached rows) against
    `naive=True`, the loop of public code (the whole network over the whole one-hot map for
    every code), on the same randomly initialised network, batch and generator; both must draw
    the same codes (checked). Configurations: the CIFAR-10 prior of params.yaml at paper scale
    (8x8 codes, K=512, 128 channels, 12 layers), and a VQ-VAE-2 top prior with attention (16x16
    codes, 64 channels, 10 layers, attention every 5).
steps: optimiser steps of the paper-scale configurations of params.yaml (vqvae_cifar: batch
    128 of 32x32x3, 256 hidden, K=512, Adam 2e-4; its prior prior_vqvae_cifar: batch 128 of
    8x8 maps) on random data of the real shapes, so a GPU user can plan: seconds per step and
    images (maps) per second, after 3 warm-up steps.
Figures are printed and written as JSON; nothing asserts them.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from genlab.config import load_params  # noqa: E402
from genlab.models.pixelcnn import GatedPixelCNN  # noqa: E402
from genlab.models.vq_prior import CodePrior  # noqa: E402
from genlab.models.vqvae import VQVAE  # noqa: E402


def _time(fn, repeat: int = 1) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def sampling(batch: int) -> dict:
    configs = {
        "vqvae_cifar prior (paper: 8x8, K=512, 128 ch, 12 layers)":
            dict(n_codes=512, shape=(8, 8), channels=128, n_layers=12, kernel=5),
        "VQ-VAE-2 top prior with attention (16x16, K=512, 64 ch, 10 layers, attention every 5)":
            dict(n_codes=512, shape=(16, 16), channels=64, n_layers=10, kernel=5, attention_every=5, heads=4),
    }
    out = {}
    for name, cfg in configs.items():
        torch.manual_seed(0)
        net = GatedPixelCNN(**cfg).eval()
        n_codes = batch * cfg["shape"][0] * cfg["shape"][1]
        t_fast, fast = _time(lambda: net.sample(batch, torch.Generator().manual_seed(1)))
        t_naive, naive = _time(lambda: net.sample(batch, torch.Generator().manual_seed(1), naive=True))
        same = bool(torch.equal(fast, naive))
        out[name] = {"batch": batch, "cached_codes_per_second": n_codes / t_fast,
                     "naive_codes_per_second": n_codes / t_naive, "ratio": t_naive / t_fast,
                     "same_codes": same, "cached_seconds": t_fast, "naive_seconds": t_naive}
        print(f"{name}: cached {n_codes / t_fast:,.0f} codes/s, naive {n_codes / t_naive:,.0f} codes/s, "
              f"ratio {t_naive / t_fast:.1f}x, same codes: {same}", flush=True)
    return out


def steps(n_steps: int) -> dict:
    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml", scale="paper")
    vq_cfg, prior_cfg = params.models["vqvae_cifar"], params.priors["prior_vqvae_cifar"]
    m = vq_cfg.model
    torch.manual_seed(0)
    vq = VQVAE((3, 32, 32), levels=m.levels, hidden=m.hidden, res_channels=m.res_channels, n_res=m.n_res,
               n_codes=m.n_codes, code_dim=m.code_dim, beta=m.beta, stride=m.stride, ema=m.ema)
    prior = CodePrior(vq.levels, vq.code_shapes, vq.n_codes, {k: v.model_dump() for k, v in prior_cfg.model.items()})
    out = {}
    for name, model, batch_fn, bs, lr in (
            ("vqvae_cifar", vq, lambda b: (torch.randint(0, 256, (b, 3, 32, 32)).float() * 2 / 255 - 1,),
             vq_cfg.train.batch_size, vq_cfg.train.lr),
            ("prior_vqvae_cifar", prior, lambda b: (torch.randint(0, m.n_codes, (b, 8, 8)),),
             prior_cfg.train.batch_size, prior_cfg.train.lr)):
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        batch = batch_fn(bs)

        def one() -> None:
            loss, _ = model.loss(*batch)
            opt.zero_grad()
            loss.backward()
            opt.step()

        for _ in range(3):
            one()
        start = time.perf_counter()
        for i in range(n_steps):
            one()
        seconds = (time.perf_counter() - start) / n_steps
        out[name] = {"batch_size": bs, "steps": n_steps, "seconds_per_step": seconds, "items_per_second": bs / seconds,
                     "parameters": sum(p.numel() for p in model.parameters())}
        print(f"{name}: {n_steps} steps of batch {bs}: {seconds:.3f} s/step, {bs / seconds:,.0f} items/s "
              f"({out[name]['parameters']:,} parameters)", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["sampling", "steps"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16, help="sampling: maps drawn at once")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    figures = sampling(args.batch) if args.what == "sampling" else steps(args.steps)
    record = {"benchmark": args.what, "threads": args.threads, "torch": torch.__version__,
              "machine": platform.processor() or platform.machine(), "figures": figures}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
