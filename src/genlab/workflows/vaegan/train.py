"""The VAE-GAN's train step (Larsen et al. 2015; models/vaegan.py).

Three named optimisers, the encoder's, the decoder's and the discriminator's (RMSProp,
the paper's 3e-4, or Adam with beta1), stepped together on their own losses from one
forward pass per batch. The training split is seen in the `symmetric` view. Writes
<out>/checkpoints/train.pt (every epoch and every `checkpoint_every` steps: the three
networks and optimisers), <out>/history.csv (per-epoch means of L_prior, L_llike, both
GAN losses, pixel MSE of the reconstructions; on the validation split the encoder's
objective) and <out>/samples/epoch_XXX.png (Dec of the same z before training and after
every epoch).

A non-finite loss stops training with the epoch, step and player named; the last
checkpoint, written before that step, is kept.
"""
from __future__ import annotations

from pathlib import Path

import torch

from genlab.data.prepared import Prepared
from genlab.data.views import TensorBatches, ViewDataset, view
from genlab.models import build_model
from genlab.pipeline import weights_fingerprint
from genlab.training.loop import Trainer, make_optimizer, make_scheduler, mean_figures
from genlab.training.run import run_training, up_to_date

CHECKPOINT = "train.pt"
CODE = ("workflows/vaegan/train.py", "models/vaegan.py", "models/base.py", "models/__init__.py",
        "training", "data/views.py", "data/prepared.py", "images.py")


def train(p, data_dir: Path, out: Path, device: torch.device) -> None:
    """Fit VAE-GAN `p.name` on the prepared data set; resumes from a matching checkpoint."""
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
    optimizers = {name: make_optimizer(getattr(model, name).parameters(), t) for name in model.optimizer_names}
    trainer = Trainer(model, optimizers,
                      train_data, batch_size=t.batch_size, epochs=t.epochs, checkpoint_path=checkpoint,
                      schedulers={name: make_scheduler(opt, t) for name, opt in optimizers.items()},
                      fingerprint=fingerprint, device=device, seed=p.seed, grad_clip_norm=t.grad_clip_norm,
                      checkpoint_every=t.checkpoint_every,
                      validate=lambda m: mean_figures(m, valid, t.batch_size, device))

    def grid(m, count: int) -> torch.Tensor:  # the same z every epoch
        return m.to_unit(m.sample(count, generator=torch.Generator().manual_seed(p.seed)))

    trained = run_training(trainer, stage_params=p, out=out, images=grid, grid_size=8,
                           describe=f"train {p.name}: VAE-GAN, gamma {cfg.model.gamma}, "
                                    f"{sum(q.numel() for q in model.parameters()):,} parameters, "
                                    f"{len(train_data):,} {data.name} images ({cfg.view}), {t.epochs} epochs on "
                                    f"{device} (scale {p.scale})")
    if trained:
        last = trainer.history[-1]
        print(f"train {p.name}: done after {trainer.epoch} epochs, "
              + ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k.startswith(("train_", "valid_"))))
