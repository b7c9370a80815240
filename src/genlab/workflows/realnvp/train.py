"""The RealNVP family's train step (Dinh et al. 2017; models/realnvp.py).

Fits the flow by maximum likelihood on the training split in the `dequantized` view (a
fresh u ~ U[0, 1) per image on every access); validation bits/dim on one fixed draw of the
validation split (its first `n_valid` images when set). Writes <out>/checkpoints/train.pt (resumable after every epoch, and
every `checkpoint_every` steps when set), <out>/history.csv (per-epoch train and valid
bits/dim: DVC plots and the report's curve) and <out>/samples/epoch_XXX.png (samples at
temperature 0.7 from the same z before training and after every epoch).

A non-finite loss stops training with the epoch and step named; the last checkpoint
written before it is kept, and `dvc repro` resumes from it after a fix.
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
GRID_TEMPERATURE = 0.7
# the sources that decide the weights (relative to src/genlab): the resume fingerprint hashes them, and
# dvc.yaml's train stage depends on them (and on genlab.pipeline.PLUMBING)
CODE = ("workflows/realnvp/train.py", "models/realnvp.py", "models/base.py", "models/__init__.py", "training",
        "data/views.py", "data/prepared.py", "images.py")


def train(p, data_dir: Path, out: Path, device: torch.device) -> None:
    """Fit RealNVP `p.name` on the prepared data set; resumes from a matching checkpoint."""
    cfg = p.model
    data = Prepared(data_dir)
    fingerprint = weights_fingerprint(p, data.sha256, CODE)
    checkpoint = out / "checkpoints" / CHECKPOINT
    if up_to_date(checkpoint, fingerprint, cfg.train.epochs):
        print(f"train {p.name}: up to date ({checkpoint} is complete)")
        return
    train_data = ViewDataset(data.images("train", cfg.train.n_train), cfg.view)
    valid = TensorBatches(view(cfg.view).heldout(data.images("valid", cfg.train.n_valid), "valid", p.seed))
    model = build_model(cfg, data.image_shape, data.n_classes).to(device)
    trainer = trainer_for(model, train_data, cfg.train, checkpoint_path=checkpoint, fingerprint=fingerprint,
                          device=device, seed=p.seed,
                          validate=lambda m: mean_figures(m, valid, cfg.train.batch_size, device))

    def grid(m, count: int) -> torch.Tensor:  # the same z every epoch
        return m.sample(count, generator=torch.Generator().manual_seed(p.seed), temperature=GRID_TEMPERATURE)

    trained = run_training(trainer, stage_params=p, out=out, images=grid, grid_size=8,
                           describe=f"train {p.name}: {sum(q.numel() for q in model.parameters()):,} parameters, "
                                    f"{len(train_data):,} {data.name} images ({cfg.view}), {cfg.train.epochs} "
                                    f"epochs on {device} (scale {p.scale})")
    if trained:
        print(f"train {p.name}: done after {trainer.epoch} epochs, valid {trainer.history[-1]['valid_bpd']:.4f} "
              f"bits/dim")
