"""The VQ-VAE family's train step (van den Oord et al. 2017, Razavi et al. 2019; models/vqvae.py).

Stage 1 of the two-stage pipeline: fits the encoder, codebook(s) and decoder on the training
split in the `eight_bit` view (the prior is stage 2, fit_prior@<prior>). Validation gives the
objective, the reconstruction bits/dim and MSE, and each level's codebook perplexity and
fraction of dead codes over the whole validation split (logged every epoch: a collapsing
codebook shows here first). Writes <out>/checkpoints/train.pt (resumable after every epoch,
and every `checkpoint_every` steps when set), <out>/history.csv and <out>/samples/epoch_XXX.png
(the same validation images and their reconstructions, side by side, before training and
after every epoch).
"""
from __future__ import annotations

from pathlib import Path

import torch

from genlab.data.prepared import Prepared
from genlab.data.views import TensorBatches, ViewDataset, view
from genlab.models import build_model
from genlab.models.vqvae import recon_pairs
from genlab.nn.quantize import usage_figures
from genlab.pipeline import weights_fingerprint
from genlab.training.loop import mean_figures, trainer_for
from genlab.training.run import run_training, up_to_date

CHECKPOINT = "train.pt"
# the sources that decide the weights (relative to src/genlab): the resume fingerprint hashes them, and
# dvc.yaml's train stage depends on them (and on genlab.pipeline.PLUMBING)
CODE = ("workflows/vqvae/train.py", "models/vqvae.py", "models/base.py", "models/__init__.py", "nn", "training",
        "data/views.py", "data/prepared.py", "images.py")


@torch.no_grad()
def codebook_usage(model, x: torch.Tensor, batch_size: int, device) -> dict[str, float]:
    """Per level: perplexity and dead fraction of the codes of images x."""
    was = model.training
    model.eval()
    codes: dict[str, list[torch.Tensor]] = {}
    for i in range(0, len(x), batch_size):
        for level, c in model.encode(x[i:i + batch_size].to(device)).items():
            codes.setdefault(level, []).append(c.cpu())
    model.train(was)
    out = {}
    for level, cs in codes.items():
        for k, v in usage_figures(torch.cat(cs), model.n_codes).items():
            out[f"{level}_{k}"] = v
    return out


def train(p, data_dir: Path, out: Path, device: torch.device) -> None:
    """Fit VQ model `p.name` on the prepared data set; resumes from a matching checkpoint."""
    cfg = p.model
    data = Prepared(data_dir)
    fingerprint = weights_fingerprint(p, data.sha256, CODE)
    checkpoint = out / "checkpoints" / CHECKPOINT
    if up_to_date(checkpoint, fingerprint, cfg.train.epochs):
        print(f"train {p.name}: up to date ({checkpoint} is complete)")
        return
    train_data = ViewDataset(data.images("train", cfg.train.n_train), cfg.view)
    x_valid = view(cfg.view).heldout(data.images("valid"), "valid", p.seed)
    valid = TensorBatches(x_valid)
    model = build_model(cfg, data.image_shape, data.n_classes).to(device)

    def validate(m) -> dict[str, float]:
        return {**mean_figures(m, valid, cfg.train.batch_size, device),
                **codebook_usage(m, x_valid, cfg.train.batch_size, device)}

    trainer = trainer_for(model, train_data, cfg.train, checkpoint_path=checkpoint, fingerprint=fingerprint,
                          device=device, seed=p.seed, validate=validate)
    shapes = ", ".join(f"{k} {h}x{w}" for k, (h, w) in model.code_shapes.items())
    trained = run_training(trainer, stage_params=p, out=out,
                           images=lambda m, count: recon_pairs(m, x_valid.to(device), count).cpu(), grid_size=8,
                           describe=f"train {p.name}: {sum(q.numel() for q in model.parameters()):,} parameters, "
                                    f"K={model.n_codes} codes of {cfg.model.code_dim} dims, maps {shapes}; "
                                    f"{len(train_data):,} {data.name} images ({cfg.view}), {cfg.train.epochs} "
                                    f"epochs on {device} (scale {p.scale})")
    if trained:
        last = trainer.history[-1]
        print(f"train {p.name}: done after {trainer.epoch} epochs, valid reconstruction "
              f"{last['valid_recon_bpd']:.3f} bits/dim, MSE {last['valid_mse_unit']:.4f}, " + ", ".join(
                  f"{lv} perplexity {last[f'valid_{lv}_perplexity']:.1f}" for lv in model.levels))
