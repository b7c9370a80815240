"""DVC stage `train@<model>`: fit one model with the shared training loop.

    python stages/train.py --model vae_mlp --data data/<scale>/mnist.npz --out models/<scale>/vae_mlp

Writes <out>/checkpoint.pt (resumable after every epoch), <out>/history.csv (per-epoch
figures; DVC plots) and <out>/samples/epoch_XXX.png (a sample grid before training and
after every epoch, from the same latent noise). Rerun after an interruption, it resumes.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import pandas as pd
import torch

from genlab.data.loaders import heldout_binarized, train_loader
from genlab.data.mnist import load_prepared
from genlab.io import atomic_path, sha256_file, sha256_json
from genlab.metrics.likelihood import dataset_nelbo
from genlab.models import build_model
from genlab.pipeline import code_hash, load_params, resolved_params, setup, stage_main
from genlab.report.figures import save_grid
from genlab.training.loop import Trainer
from genlab.training.tracking import Tracker


@stage_main
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a key of `models` in params.yaml")
    ap.add_argument("--data", type=Path, required=True, help="prepared .npz from the prepare stage")
    ap.add_argument("--out", type=Path, required=True, help="model directory to write")
    args = ap.parse_args(argv)
    params = load_params()
    cfg = params.model(args.model)
    device = setup(params)

    splits = load_prepared(args.data)
    x_train = splits["train"][0][: cfg.train.n_train]
    x_valid = heldout_binarized(splits["valid"][0], cfg.binarization, "valid", params.seed)
    image_shape = tuple(x_train.shape[1:])
    model = build_model(cfg, image_shape).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    order = torch.Generator().manual_seed(params.seed)
    loader = train_loader(x_train, cfg.train.batch_size, cfg.binarization, order)

    def validate(m) -> dict[str, float]:
        return {"nelbo": dataset_nelbo(m, x_valid, cfg.evaluate.batch_size, device)["nelbo"].mean().item()}

    fingerprint = sha256_json({**resolved_params(params, args.model), "data": sha256_file(args.data),
                               "code": code_hash()})
    args.out.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(model, optimizer, loader, epochs=cfg.train.epochs, checkpoint_path=args.out / "checkpoint.pt",
                      fingerprint=fingerprint, validate=validate, device=device, data_generator=order)
    samples_dir = args.out / "samples"
    if not trainer.restore():
        shutil.rmtree(samples_dir, ignore_errors=True)  # grids of an older run
    samples_dir.mkdir(exist_ok=True)
    n_grid = cfg.evaluate.grid_size

    print(f"train {args.model}: {sum(p.numel() for p in model.parameters()):,} parameters, "
          f"{len(x_train):,} images, {cfg.train.epochs} epochs on {device} (scale {params.scale})")
    with Tracker("train", args.model, params.scale, resolved_params(params, args.model),
                 run_id=trainer.extra.get("mlflow_run_id")) as tracker:
        trainer.extra["mlflow_run_id"] = tracker.run_id

        def on_epoch_end(epoch: int, m) -> None:
            noise = torch.Generator().manual_seed(params.seed)  # the same z every epoch
            m.eval()
            grid = save_grid(m.sample(n_grid * n_grid, generator=noise), samples_dir / f"epoch_{epoch:03d}.png", n_grid)
            tracker.log_artifact(grid, "samples")

        history = trainer.fit(on_epoch_end=on_epoch_end, log_metrics=tracker.log_metrics)
        with atomic_path(args.out / "history.csv") as tmp:
            pd.DataFrame(history).to_csv(tmp, index=False)
        tracker.log_artifact(args.out / "history.csv")
    last = history[-1]
    print(f"train {args.model}: done after {last['epoch']} epochs, valid nelbo {last['valid_nelbo']:.2f} nats")


if __name__ == "__main__":
    sys.exit(main())
