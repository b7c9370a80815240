"""One training run of one model as a stage does it: resume or skip, MLflow, sample grids, history.csv.

`run_training` is what every family's train step calls: it returns at once (no MLflow,
no images) when a complete checkpoint with the same fingerprint is there, resumes an
interrupted one, and otherwise trains with a grid of images before training and after
every epoch in <out>/samples/epoch_XXX.png; <out>/history.csv holds the per-epoch figures (figures by update,
`pop_step_records`, stay in the checkpoint's `extra["step_records"]`).
"""
from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Callable

import torch

from genlab.images import save_grid
from genlab.training.loop import Trainer
from genlab.tracking import Tracker

ImageFn = Callable[[torch.nn.Module, int], torch.Tensor]


def up_to_date(checkpoint: Path, fingerprint: str, epochs: int) -> bool:
    """Whether `checkpoint` holds complete training of exactly `epochs` epochs with this fingerprint (checked
    before any optimiser is built: constructing one imports torch._dynamo, about 1.5 s). A complete run of other
    length is not: the trainer extends a shorter one and restarts a longer one."""
    if not checkpoint.exists():
        return False
    state = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    return (state.get("fingerprint") == fingerprint and bool(state.get("complete"))
            and state.get("epoch") == epochs)


def write_history(path: Path, rows: list[dict]) -> None:
    """Per-epoch figures as CSV (DVC plots reads it), atomically."""
    from genlab.io import atomic_path

    columns = list(dict.fromkeys(k for row in rows for k in row))
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)


def run_training(trainer: Trainer, *, stage_params, out: Path, images: ImageFn | None, grid_size: int,
                 describe: str, metric_prefix: str = "",
                 on_epoch_end: Callable[[int, torch.nn.Module], None] | None = None,
                 run_id: str | None = None) -> bool:
    """Train (or resume, or skip) with `trainer`; True when it trained. `images(model, n)` gives n
    images in [0, 1] for the grids; `run_id` continues an MLflow run (the fine-tuning phase continues the
    pretraining's)."""
    restored = trainer.restore()
    if trainer.complete:
        print(f"{describe}: up to date ({trainer.checkpoint_path} is complete)")
        return False
    samples_dir = out / "samples"
    if not restored and not metric_prefix:
        shutil.rmtree(samples_dir, ignore_errors=True)  # grids of an older run
    samples_dir.mkdir(parents=True, exist_ok=True)
    print(describe)
    p = stage_params
    with Tracker("train", p.name, p.scale, p, run_id=trainer.extra.get("mlflow_run_id") or run_id) as tracker:
        trainer.extra["mlflow_run_id"] = tracker.run_id

        def hook(epoch: int, model) -> None:
            if images is not None:
                model.eval()
                grid = save_grid(images(model, grid_size * grid_size), samples_dir / f"epoch_{epoch:03d}.png",
                                 grid_size)
                tracker.log_artifact(grid, "samples")
            if on_epoch_end is not None:
                on_epoch_end(epoch, model)

        history = trainer.fit(on_epoch_end=hook, log_metrics=lambda m, step: tracker.log_metrics(
            {f"{metric_prefix}{k}": v for k, v in m.items()}, step))
        name = f"{metric_prefix}history.csv"
        write_history(out / name, history)
        tracker.log_artifact(out / name)
    return True
