"""The VAE family's train step (Kingma & Welling 2013; models/vae.py).

Fits the model with the one trainer on its data set's training split in its view; writes
<out>/checkpoints/train.pt (resumable after every epoch, and every `checkpoint_every`
steps when set), <out>/history.csv (per-epoch figures; DVC plots `valid_loss`, the
negative ELBO on the validation split) and <out>/samples/epoch_XXX.png (decoder means
from the same latent noise before training and after every epoch).
"""
from __future__ import annotations

from pathlib import Path

import torch

from genlab.data.prepared import Prepared
from genlab.data.views import TensorBatches, ViewDataset, view
from genlab.models import build_model
from genlab.pipeline import weights_fingerprint
from genlab.training.loop import mean_figures, trainer_for
from genlab.training.run import run_training, up_to_date

CHECKPOINT = "train.pt"
# the sources that decide the weights (relative to src/genlab): the resume fingerprint hashes them, and
# dvc.yaml's train stage depends on them (and on genlab.pipeline.PLUMBING)
CODE = ("workflows/vae/train.py", "models/vae.py", "models/base.py", "models/__init__.py", "nn", "training",
        "data/views.py", "data/prepared.py", "images.py")


def train(p, data_dir: Path, out: Path, device: torch.device) -> None:
    """Fit VAE `p.name` on the prepared data set; resumes from a matching checkpoint."""
    cfg = p.model
    data = Prepared(data_dir)
    fingerprint = weights_fingerprint(p, data.sha256, CODE)
    checkpoint = out / "checkpoints" / CHECKPOINT
    if up_to_date(checkpoint, fingerprint, cfg.train.epochs):
        print(f"train {p.name}: up to date ({checkpoint} is complete)")
        return
    cond = cfg.model.conditional  # a CVAE sees the labels in training, validation and evaluation
    n = cfg.train.n_train
    train_data = ViewDataset(data.images("train", n), cfg.view, data.labels("train", n) if cond else None)
    x_valid = view(cfg.view).heldout(data.images("valid"), "valid", p.seed)
    valid = TensorBatches(x_valid, data.labels("valid")) if cond else TensorBatches(x_valid)
    model = build_model(cfg, data.image_shape, data.n_classes).to(device)
    trainer = trainer_for(model, train_data, cfg.train, checkpoint_path=checkpoint,
                          fingerprint=fingerprint, device=device, seed=p.seed,
                          validate=lambda m: mean_figures(m, valid, cfg.train.batch_size, device))

    def grid(m, count: int) -> torch.Tensor:  # the same z every epoch: seed 002's fig. 2
        return m.to_unit(m.sample(count, generator=torch.Generator().manual_seed(p.seed), mean=True))

    trained = run_training(trainer, stage_params=p, out=out, images=grid, grid_size=8,
                           describe=f"train {p.name}: {sum(q.numel() for q in model.parameters()):,} parameters, "
                                    f"{len(train_data):,} {data.name} images ({cfg.view}), {cfg.train.epochs} "
                                    f"epochs on {device} (scale {p.scale})")
    if trained:
        print(f"train {p.name}: done after {trainer.epoch} epochs, valid -ELBO "
              f"{trainer.history[-1]['valid_loss']:.2f} nats")
