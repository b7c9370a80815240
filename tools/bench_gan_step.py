"""Benchmark: one GAN / WGAN training step, ours against the public reference code's, at equal batch size.

    python tools/bench_gan_step.py [--batch 64] [--steps 30] [--threads 2] [--out reports/benchmarks/gan_step.json]

"Reference" is a transcription, for this measurement only, of the DCGAN networks and the
training loop of the WGAN authors' code (martinarjovsky/WassersteinGAN, DCGAN_G/DCGAN_D
for isize 32, and its loop: zero_grad, backward of the real and fake terms separately,
step; clamp every critic parameter after the step). "Ours" is models/gan.py through
genlab's Optimizers (finite-loss check, zero_grad, backward, step; clipping of
convolution and linear weights only). Both at 32x32 colour (CIFAR-10's shape), base 64
channels, z 100, the same batch of random images, the CPU threads given. Images per
second of optimiser steps (for WGAN: critic steps, the unit of its data consumption).
The figure is a benchmark, printed and written as JSON; nothing asserts it.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn


def reference_generator(nz=100, ngf=64, nc=3):
    # the reference's DCGAN_G for isize 32: a 4x4 transposed convolution from 1x1, then two stride-2 layers
    return nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())


def reference_critic(ndf=64, nc=3, batch_norm=True):
    def bn(c):
        return [nn.BatchNorm2d(c)] if batch_norm else []
    return nn.Sequential(
        nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), *bn(ndf * 2), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), *bn(ndf * 4), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False))


def reference_steps(objective: str, batch: torch.Tensor, steps: int) -> float:
    """Seconds per step of the reference loop (for wgan: critic steps, a generator step every 5th)."""
    netG, netD = reference_generator(), reference_critic(batch_norm=objective == "gan")
    if objective == "gan":
        optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
        optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
        bce = nn.BCEWithLogitsLoss()
    else:
        optD, optG = torch.optim.RMSprop(netD.parameters(), lr=5e-5), torch.optim.RMSprop(netG.parameters(), lr=5e-5)
    n = len(batch)

    def step(i: int) -> None:
        noise = torch.randn(n, 100, 1, 1)
        if objective == "gan":
            netD.zero_grad()
            out = netD(batch).view(-1)
            bce(out, torch.ones(n)).backward()
            fake = netG(noise)
            bce(netD(fake.detach()).view(-1), torch.zeros(n)).backward()
            optD.step()
            netG.zero_grad()
            bce(netD(fake).view(-1), torch.ones(n)).backward()
            optG.step()
            return
        netD.zero_grad()
        netD(batch).mean().backward()             # the reference's backward(one) / backward(mone) pair
        with torch.no_grad():
            fake = netG(noise)
        (-netD(fake).mean()).backward()
        optD.step()
        for p in netD.parameters():
            p.data.clamp_(-0.01, 0.01)
        if i % 5 == 4:
            netG.zero_grad()
            netD(netG(torch.randn(n, 100, 1, 1))).mean().backward()
            optG.step()
    return _time(step, steps)


def our_steps(objective: str, batch: torch.Tensor, steps: int) -> float:
    from genlab.models.gan import GAN
    from genlab.training.loop import Optimizers

    model = GAN(tuple(batch.shape[1:]), arch="dcgan", objective=objective, z_dim=100, base_channels=64,
                d_batch_norm=objective == "gan", warmup_generator_iters=0, warmup_every=0)
    if objective == "gan":
        make = lambda ps: torch.optim.Adam(ps, lr=2e-4, betas=(0.5, 0.999))   # noqa: E731
    else:
        make = lambda ps: torch.optim.RMSprop(ps, lr=5e-5)   # noqa: E731
    opt = Optimizers({model.optimizer_names[0]: make(model.discriminator.parameters()),
                      "generator": make(model.generator.parameters())})
    return _time(lambda i: model.training_step((batch,), i, opt), steps)


def _time(step, steps: int) -> float:
    for i in range(3):  # warm-up
        step(i)
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    return (time.perf_counter() - start) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batch = torch.rand(args.batch, 3, 32, 32) * 2 - 1
    results = {"batch": args.batch, "steps": args.steps, "threads": args.threads, "torch": torch.__version__,
               "device": "cpu", "image_shape": [3, 32, 32]}
    for objective in ("gan", "wgan"):
        ours, ref = our_steps(objective, batch, args.steps), reference_steps(objective, batch, args.steps)
        results[objective] = {"ours_images_per_s": args.batch / ours, "reference_images_per_s": args.batch / ref,
                              "ours_over_reference": ref / ours}
        print(f"{objective}: ours {args.batch / ours:,.0f} images/s, reference {args.batch / ref:,.0f} images/s, "
              f"ratio {ref / ours:.2f} (batch {args.batch}, {args.threads} threads)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
