"""The GAN family's train step (models/gan.py): GAN, DCGAN and WGAN through the one trainer.

Two named optimisers, the discriminator's (or critic's) and the generator's: Adam with
beta1 (DCGAN's 2e-4 and 0.5) or RMSProp (WGAN's 5e-5), each clipped by
`grad_clip_norm` when set. The training split is seen in the `symmetric` view. Writes
<out>/checkpoints/train.pt (every epoch and every `checkpoint_every` steps: both players,
both optimisers and the critic schedule's position), <out>/history.csv (per-epoch means
of both players' losses, the critic's Earth-Mover estimate for WGAN, and on the
validation split the discriminator loss or EM estimate against fresh fakes) and
<out>/samples/epoch_XXX.png (G of the same z before training and after every epoch). With
`snapshot_generators`, <out>/checkpoints/generators/epoch_XXX.pt keeps the generator's
weights before training and after every epoch (with the generator-update count), so that
sample quality can be scored along training (the stability matrix, stages/stability.py).
For WGAN the checkpoint also holds the critic's EM estimate and the generator's loss at
every generator update (the WGAN paper's curve; MLflow update_em_estimate), which
evaluate writes to reports/figures/<scale>/<model>/updates.csv and em_by_update.png.

A non-finite loss stops training with the epoch, step and player named; the last
checkpoint, written before that step, is kept.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import torch

from genlab.data.prepared import Prepared
from genlab.data.views import TensorBatches, ViewDataset, view
from genlab.models import build_model
from genlab.pipeline import weights_fingerprint
from genlab.training.loop import Trainer, make_optimizer, make_scheduler, mean_figures
from genlab.training.run import run_training, up_to_date

CHECKPOINT = "train.pt"
CODE = ("workflows/gan/train.py", "models/gan.py", "models/base.py", "models/__init__.py", "training",
        "data/views.py", "data/prepared.py", "images.py")


def train(p, data_dir: Path, out: Path, device: torch.device) -> None:
    """Fit GAN `p.name` on the prepared data set; resumes from a matching checkpoint."""
    cfg = p.model
    data = Prepared(data_dir)
    fingerprint = weights_fingerprint(p, data.sha256, CODE)
    checkpoint = out / "checkpoints" / CHECKPOINT
    if up_to_date(checkpoint, fingerprint, cfg.train.epochs):
        print(f"train {p.name}: up to date ({checkpoint} is complete)")
        return
    t = cfg.train
    train_data = ViewDataset(data.images("train", t.n_train), cfg.view)
    valid = TensorBatches(view(cfg.view).heldout(data.images("valid", 1000), "valid", p.seed))
    model = build_model(cfg, data.image_shape, data.n_classes).to(device)
    first = model.optimizer_names[0]
    optimizers = {first: make_optimizer(model.discriminator.parameters(), t),
                  "generator": make_optimizer(model.generator.parameters(), t)}
    trainer = Trainer(model, optimizers, train_data, batch_size=t.batch_size, epochs=t.epochs,
                      schedulers={name: make_scheduler(opt, t) for name, opt in optimizers.items()},
                      checkpoint_path=checkpoint,
                      fingerprint=fingerprint, device=device, seed=p.seed, grad_clip_norm=t.grad_clip_norm,
                      checkpoint_every=t.checkpoint_every,
                      validate=lambda m: mean_figures(m, valid, t.batch_size, device))

    def grid(m, count: int) -> torch.Tensor:  # the same z every epoch
        return m.to_unit(m.sample(count, generator=torch.Generator().manual_seed(p.seed)))

    snapshots = checkpoint.parent / "generators"

    def snapshot(epoch: int, m) -> None:
        from genlab.training.checkpoint import save_checkpoint

        if epoch == 0:  # a run from scratch: snapshots of an older run go
            shutil.rmtree(snapshots, ignore_errors=True)
        updates = int(m.generator_iters) if cfg.model.objective == "wgan" else trainer.step
        save_checkpoint(snapshots / f"epoch_{epoch:03d}.pt", {"epoch": epoch, "generator_updates": updates,
                                                              "generator": m.generator.state_dict()})

    trained = run_training(trainer, stage_params=p, out=out, images=grid, grid_size=8,
                           on_epoch_end=snapshot if t.snapshot_generators else None,
                           describe=f"train {p.name}: {cfg.model.arch} {cfg.model.objective}, "
                                    f"{sum(q.numel() for q in model.parameters()):,} parameters, "
                                    f"{len(train_data):,} {data.name} images ({cfg.view}), {t.epochs} epochs on "
                                    f"{device} (scale {p.scale})")
    if trained:
        last = trainer.history[-1]
        print(f"train {p.name}: done after {trainer.epoch} epochs, "
              + ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k.startswith(("train_", "valid_"))))
