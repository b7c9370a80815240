"""The VAE-GAN's evaluate step (Larsen et al. 2015; models/vaegan.py).

On the test split (its first `n_test` images when set), networks in evaluation mode:
L_prior (KL in nats per image), L_llike (the discriminator-feature reconstruction error)
and the pixel mean squared error of Dec(mu(x)) in [0, 1] units, the figure that shows
what the learned similarity costs in pixel terms. Images: samples, reconstructions (real
rows above their reconstructions), latent interpolations (seed 002 fig. 7), samples across
training epochs and the players' training curves. Sample quality (FID, KID) comes from
sample_metrics@<model>.
"""
from __future__ import annotations

from pathlib import Path

import torch

from genlab.data.prepared import Prepared
from genlab.data.views import view
from genlab.io import sha256_file
from genlab.models import build_model
from genlab.pipeline import load_trained, provenance_of, training_summary
from genlab.tracking import publish

CHECKPOINT = "train.pt"
CODE = ("workflows/vaegan/evaluate.py", "models/vaegan.py",
        "models/base.py", "models/__init__.py", "training/checkpoint.py", "training/runtime.py", "data/views.py",
        "data/prepared.py", "images.py", "report/figures.py")


@torch.no_grad()
def test_figures(model, x: torch.Tensor, batch_size: int, device) -> dict[str, float]:
    """Means over x of L_prior (KL, nats), L_llike and pixel MSE of Dec(mu(x)), everything in evaluation mode."""
    from genlab.models.vaegan import feature_llike, kl_standard_normal

    model.eval()
    sums = {"test_kl": 0.0, "test_llike": 0.0, "test_pixel_mse": 0.0}
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(device)
        mu, logvar = model.encoder(xb)
        rec = model.decoder(mu)
        sums["test_kl"] += kl_standard_normal(mu, logvar).sum().item()
        sums["test_llike"] += feature_llike(model.discriminator(xb)[0], model.discriminator(rec)[0]).sum().item()
        sums["test_pixel_mse"] += ((rec - xb) / 2).pow(2).mean(dim=(1, 2, 3)).sum().item()
    return {k: v / len(x) for k, v in sums.items()}


def evaluate(p, data_dir: Path, model_dir: Path, metrics: Path, record: Path, figures_dir: Path,
             device: torch.device) -> None:
    """Test figures and images of trained VAE-GAN `p.name`; writes its metrics and record."""
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
    x_test = view(cfg.view).heldout(data.images("test", ev.n_test), "test", p.seed)
    values = test_figures(model, x_test, ev.batch_size, device)
    history = state["history"]
    last = history[-1]
    values.update({k: last[k] for k in ("train_d_real", "train_d_fake", "train_g_gan")})
    values["train_epochs"] = state["epoch"]

    figures_dir.mkdir(parents=True, exist_ok=True)
    n = ev.grid_size
    real = x_test[:n * n // 2].to(device)
    pairs = torch.cat([torch.stack([a, b]) for a, b in zip(real.view(-1, n, *real.shape[1:]),
                                                         model.reconstruct(real).view(-1, n, *real.shape[1:]))])
    made = [save_grid(model.to_unit(model.sample(n * n, generator=torch.Generator().manual_seed(p.seed))),
                      figures_dir / "samples.png", n),
            save_grid(model.to_unit(pairs.reshape(-1, *real.shape[1:])), figures_dir / "reconstructions.png", n),
            save_grid(latent_interpolations(model, ev.interpolation_pairs, ev.interpolation_steps, p.seed),
                      figures_dir / "interpolations.png", ev.interpolation_steps)]
    panels = epoch_panels(model_dir / "samples")
    if panels:
        made.append(figures.epoch_montage(panels, figures_dir / "samples_by_epoch.png",
                                          f"{p.name}: samples from fixed z during training"))
    curve = pd.DataFrame(history)
    series = {k: (curve["epoch"].tolist(), curve[k].tolist()) for k in curve.columns
              if k in ("train_d_loss", "train_g_gan", "train_kl", "valid_loss")}
    made.append(figures.curves({f"{p.name}: the players' losses (epoch means)": series}, figures_dir / "losses.png",
                               ("epoch", "loss")))

    rec = {
        "stage": "evaluate", "model": p.name, "family": cfg.family, "dataset": data.name, "scale": p.scale,
        "timing": {"train_seconds": float(sum(row["epoch_seconds"] for row in history))},
        "curves": {"players": {k: curve[k].tolist() for k in ["epoch", *series]}},
        "protocol": {"split": f"test ({len(x_test)} images)", "view": cfg.view, "gamma": cfg.model.gamma,
                     "kl": "nats per image", "llike": "1/2 squared distance in Dis_l, summed over features",
                     "pixel_mse": "mean over pixels of (Dec(mu(x)) - x)^2 in [0, 1] units",
                     "data_source": data.manifest["source"], "stand_in": data.manifest.get("stand_in")},
        "figures": [str(f) for f in made],
        "training": training_summary(history, model),
        "provenance": provenance_of(dict(p), CODE, data=data.sha256, checkpoint=sha256_file(ckpt_file)),
    }
    publish("evaluate", p.name, p, values, rec, metrics, record, made)
    print(f"evaluate {p.name}: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items()))
