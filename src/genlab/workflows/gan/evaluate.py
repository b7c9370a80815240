"""The GAN family's evaluate step (models/gan.py).

A GAN has no likelihood: its figures are the sample metrics (sample_metrics@<model>:
FID and KID in the data set's feature networks), and here the last epoch's training
figures of both players (for WGAN the critic's Earth-Mover estimate, which the WGAN
paper shows tracking sample quality), the sample grid (generator in evaluation mode),
latent interpolations (seed 002 fig. 7: G on the straight line between two z, one pair
per row), samples across training epochs and both players' training curves; for WGAN also
the critic's estimate at every generator update (em_by_update.png, with its running median,
and updates.csv: update, EM estimate, generator loss).
"""
from __future__ import annotations

import statistics
from pathlib import Path

import torch

from genlab.data.prepared import Prepared
from genlab.io import sha256_file
from genlab.models import build_model
from genlab.pipeline import load_trained, provenance_of, training_summary
from genlab.tracking import publish

CHECKPOINT = "train.pt"
CODE = ("workflows/gan/evaluate.py", "models/gan.py", "models/base.py", "models/__init__.py",
        "training/checkpoint.py", "training/runtime.py", "data/views.py", "data/prepared.py", "images.py",
        "report/figures.py")


def evaluate(p, data_dir: Path, model_dir: Path, metrics: Path, record: Path, figures_dir: Path,
             device: torch.device) -> None:
    """Training figures and images of trained GAN `p.name`; writes its metrics and record."""
    import pandas as pd

    from genlab.images import epoch_panels, latent_interpolations, save_grid
    from genlab.report import figures

    cfg = p.model
    ev = cfg.evaluate
    data = Prepared(data_dir)
    ckpt_file = model_dir / "checkpoints" / CHECKPOINT
    state = load_trained(ckpt_file)
    model = build_model(cfg, data.image_shape, data.n_classes).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    history = state["history"]
    last = history[-1]
    keys = (("train_critic_loss", "train_em_estimate", "train_g_loss", "valid_em_estimate")
            if cfg.model.objective == "wgan" else ("train_d_loss", "train_g_loss", "train_d_real", "train_d_fake",
                                                    "valid_loss"))
    values = {k: last[k] for k in keys if k in last}  # an epoch without a generator update has no train_g_loss
    values["train_epochs"] = state["epoch"]
    values["generator_updates"] = int(state["model"]["generator_iters"]) if cfg.model.objective == "wgan" \
        else int(last["step"])

    figures_dir.mkdir(parents=True, exist_ok=True)
    n = ev.grid_size
    made = [save_grid(model.to_unit(model.sample(n * n, generator=torch.Generator().manual_seed(p.seed))),
                      figures_dir / "samples.png", n),
            save_grid(latent_interpolations(model, ev.interpolation_pairs, ev.interpolation_steps, p.seed),
                      figures_dir / "interpolations.png", ev.interpolation_steps)]
    panels = epoch_panels(model_dir / "samples")
    if panels:
        made.append(figures.epoch_montage(panels, figures_dir / "samples_by_epoch.png",
                                          f"{p.name}: samples from fixed z during training"))
    curve = pd.DataFrame(history)
    series = {k: (curve["epoch"].tolist(), curve[k].tolist()) for k in curve.columns
              if k.startswith("train_") and k != "train_images_per_second"}
    made.append(figures.curves({f"{p.name}: both players (epoch means)": series}, figures_dir / "losses.png",
                               ("epoch", "loss / estimate")))
    updates = state.get("extra", {}).get("step_records", [])
    by_update = {}
    if updates:  # WGAN: the critic's estimate at every generator update
        xs, em = [r["update"] for r in updates], [r["em_estimate"] for r in updates]
        made.append(figures.estimate_by_update(xs, em, figures_dir / "em_by_update.png",
                                               f"{p.name}: the critic's Earth-Mover estimate"))
        table = figures_dir / "updates.csv"   # a DVC output with the figures (the checkpoint holds the same rows)
        pd.DataFrame(updates).to_csv(table, index=False)
        made.append(table)
        by_update = {"generator_updates": len(em), "first_em_estimate": em[0],
                     "median_em_estimate_last_100_updates": float(statistics.median(em[-100:]))}

    rec = {
        "stage": "evaluate", "model": p.name, "family": cfg.family, "dataset": data.name, "scale": p.scale,
        "timing": {"train_seconds": float(sum(row["epoch_seconds"] for row in history))},
        "curves": {"players": {k: curve[k].tolist() for k in ["epoch", *series]}},
        "protocol": {"split": "train (last epoch's means)", "view": cfg.view, "objective": cfg.model.objective,
                     "arch": cfg.model.arch, "data_source": data.manifest["source"],
                     "stand_in": data.manifest.get("stand_in")},
        "figures": [str(f) for f in made],
        "training": training_summary(history, model),
        **({"em_by_update": by_update} if by_update else {}),
        "provenance": provenance_of(dict(p), CODE, data=data.sha256, checkpoint=sha256_file(ckpt_file)),
    }
    publish("evaluate", p.name, p, values, rec, metrics, record, made)
    print(f"evaluate {p.name}: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items()))
