"""The VAE family's train and evaluate steps (Kingma & Welling 2013; models/vae.py).

train: fit with the shared loop; writes <out>/checkpoints/train.pt (resumable after every
epoch), <out>/history.csv (per-epoch figures; DVC plots) and <out>/samples/epoch_XXX.png
(a sample grid before training and after every epoch, from the same latent noise).

evaluate: figures in nats per image and bits/dim: negative ELBO on the whole test split
(one reparameterised sample per image) and the negative IWAE bound with k importance
samples on the first n_iwae test images. Images: the final 8x8 sample grid, sample grids
across training epochs (seed 002 fig. 2), the 2-D latent manifold when z_dim = 2 (seed 002
fig. 3) and the test codes coloured by digit (seed 001 fig. 3.1; PCA of the posterior
means when z_dim > 2).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torchvision.io import ImageReadMode, decode_image

from genlab.config import Params
from genlab.data.loaders import heldout_binarized, train_loader
from genlab.data.mnist import load_prepared
from genlab.io import atomic_path, read_json, sha256_file, sha256_json
from genlab.metrics.likelihood import BPD_FORMULA, dataset_iwae, dataset_nelbo, nats_to_bpd
from genlab.models import build_model
from genlab.pipeline import code_hash, load_trained, provenance, resolved_params
from genlab.report import figures
from genlab.report.figures import save_grid
from genlab.training.loop import Trainer, make_optimizer
from genlab.training.tracking import Tracker, publish_metrics

CHECKPOINT = "train.pt"

BINARIZATION_NOTE = {
    "threshold": "pixel/255 > 0.5, fixed (chosen to match seed 002's figure; see the report's note)",
    "stochastic": "Bernoulli(pixel/255): resampled every epoch in training, one fixed draw for valid/test",
}


def latent_manifold(model, size: int) -> torch.Tensor:
    """Decoder means on a size x size grid of N(0, I) quantiles (z_dim = 2)."""
    q = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    z = torch.distributions.Normal(0.0, 1.0).icdf(q)
    zz = torch.cartesian_prod(z.flip(0), z)[:, [1, 0]]  # rows: z2 high -> low, columns: z1 low -> high
    with torch.no_grad():
        return torch.sigmoid(model.decode(zz.to(next(model.parameters()).device)))


def epoch_panels(samples_dir: Path, max_panels: int = 5) -> dict[int, torch.Tensor]:
    """Training-time sample grids at up to `max_panels` epochs spread from 0 to the last."""
    files = sorted(samples_dir.glob("epoch_*.png"))
    if not files:
        return {}
    picks = sorted({round(i) for i in np.linspace(0, len(files) - 1, min(max_panels, len(files)))})
    return {int(files[i].stem.split("_")[1]): decode_image(str(files[i]), mode=ImageReadMode.GRAY).float() / 255
            for i in picks}


def train(name: str, params: Params, data: Path, out: Path, device: torch.device) -> None:
    """Fit VAE `name` on the prepared data; resumes from a matching checkpoint."""
    cfg = params.model(name)

    splits = load_prepared(data)
    x_train = splits["train"][0][: cfg.train.n_train]
    x_valid = heldout_binarized(splits["valid"][0], cfg.binarization, "valid", params.seed)
    cond = cfg.model.conditional  # a CVAE sees the labels in training, validation and evaluation
    y_train, y_valid = (splits["train"][1][: cfg.train.n_train], splits["valid"][1]) if cond else (None, None)
    image_shape = tuple(x_train.shape[1:])
    model = build_model(cfg, image_shape).to(device)
    optimizer = make_optimizer(model.parameters(), cfg.train)
    order = torch.Generator().manual_seed(params.seed)
    loader = train_loader(x_train, cfg.train.batch_size, cfg.binarization, order, labels=y_train)

    def validate(m) -> dict[str, float]:  # `loss`: the objective on the validation split (DVC plots it)
        return {"loss": dataset_nelbo(m, x_valid, cfg.evaluate.batch_size, device, y=y_valid)["nelbo"].mean().item()}

    fingerprint = sha256_json({**resolved_params(params, name), "data": sha256_file(data),
                               "code": code_hash()})
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    trainer = Trainer(model, optimizer, loader, epochs=cfg.train.epochs, checkpoint_path=out / "checkpoints" / CHECKPOINT,
                      fingerprint=fingerprint, validate=validate, device=device, data_generator=order)
    samples_dir = out / "samples"
    if not trainer.restore():
        shutil.rmtree(samples_dir, ignore_errors=True)  # grids of an older run
    samples_dir.mkdir(exist_ok=True)
    n_grid = cfg.evaluate.grid_size

    print(f"train {name}: {sum(p.numel() for p in model.parameters()):,} parameters, "
          f"{len(x_train):,} images, {cfg.train.epochs} epochs on {device} (scale {params.scale})")
    with Tracker("train", name, params.scale, resolved_params(params, name),
                 run_id=trainer.extra.get("mlflow_run_id")) as tracker:
        trainer.extra["mlflow_run_id"] = tracker.run_id

        def on_epoch_end(epoch: int, m) -> None:
            noise = torch.Generator().manual_seed(params.seed)  # the same z every epoch
            m.eval()
            grid = save_grid(m.sample(n_grid * n_grid, generator=noise), samples_dir / f"epoch_{epoch:03d}.png", n_grid)
            tracker.log_artifact(grid, "samples")

        history = trainer.fit(on_epoch_end=on_epoch_end, log_metrics=tracker.log_metrics)
        with atomic_path(out / "history.csv") as tmp:
            pd.DataFrame(history).to_csv(tmp, index=False)
        tracker.log_artifact(out / "history.csv")
    last = history[-1]
    print(f"train {name}: done after {last['epoch']} epochs, valid -ELBO {last['valid_loss']:.2f} nats")



def evaluate(name: str, params: Params, data: Path, model_dir: Path, metrics: Path, figures_dir: Path,
             device: torch.device) -> None:
    """Likelihood bounds and images of trained VAE `name`; writes the metrics JSON."""
    cfg = params.model(name)
    ev = cfg.evaluate

    splits = load_prepared(data)
    x_test_u8, y_test = splits["test"]
    x_test = heldout_binarized(x_test_u8, cfg.binarization, "test", params.seed)
    model = build_model(cfg, tuple(x_test.shape[1:])).to(device)
    ckpt_file = model_dir / "checkpoints" / CHECKPOINT
    state = load_trained(ckpt_file, device)
    model.load_state_dict(state["model"])
    model.eval()
    d = model.n_dims

    print(f"evaluate {name}: negative ELBO on {len(x_test):,} test images")
    y_cond = y_test if cfg.model.conditional else None  # bounds on log p(x|y) for a CVAE
    nelbo = dataset_nelbo(model, x_test, ev.batch_size, device, y=y_cond)
    n_iwae = min(ev.n_iwae, len(x_test))
    print(f"evaluate {name}: IWAE bound, k={ev.iwae_k}, on {n_iwae:,} test images")
    iwae = dataset_iwae(model, x_test[:n_iwae], ev.iwae_k, ev.batch_size, device, progress=True,
                        y=None if y_cond is None else y_cond[:n_iwae])

    values = {
        "test_nelbo_nats": nelbo["nelbo"].mean().item(),
        "test_recon_nats": nelbo["recon"].mean().item(),
        "test_kl_nats": nelbo["kl"].mean().item(),
        "test_niwae_nats": iwae["niwae"].mean().item(),
        "test_nelbo_k_nats": iwae["nelbo"].mean().item(),
    }
    values["test_nelbo_bpd"] = nats_to_bpd(values["test_nelbo_nats"], d)
    values["test_niwae_bpd"] = nats_to_bpd(values["test_niwae_nats"], d)
    history = state["history"]
    values["train_epochs"] = state["epoch"]
    values["train_seconds"] = float(sum(row["epoch_seconds"] for row in history))
    values["valid_nelbo_nats"] = history[-1]["valid_loss"]

    # ---- images
    figures_dir.mkdir(parents=True, exist_ok=True)
    made = []
    n = ev.grid_size
    made.append(figures.save_grid(model.sample(n * n, generator=torch.Generator().manual_seed(params.seed)),
                                  figures_dir / "samples.png", n))
    panels = epoch_panels(model_dir / "samples")
    if panels:
        made.append(figures.epoch_montage(panels, figures_dir / "samples_by_epoch.png",
                                          f"{name}: samples from fixed z during training"))
    with torch.no_grad():
        means = torch.cat([model.encode(x_test[i:i + ev.batch_size].to(device),
                                        None if y_cond is None else y_cond[i:i + ev.batch_size].to(device))[0].cpu()
                           for i in range(0, len(x_test), ev.batch_size)]).numpy()
    if cfg.model.z_dim == 2:
        made.append(figures.save_grid(latent_manifold(model, ev.manifold_size), figures_dir / "manifold.png",
                                      ev.manifold_size))
        codes, axes = means, ("z1 (posterior mean)", "z2 (posterior mean)")
    else:
        from sklearn.decomposition import PCA

        codes, axes = PCA(n_components=2, random_state=params.seed).fit_transform(means), ("PC 1 of E[z|x]", "PC 2 of E[z|x]")
    made.append(figures.latent_scatter(codes, y_test.numpy(), figures_dir / "latent.png",
                                       f"{name}: test codes (z_dim={cfg.model.z_dim})", axes))

    data_manifest = read_json(data.with_suffix(".json"))
    record = {
        "model": name,
        "family": cfg.family,
        "dataset": "mnist",
        "scale": params.scale,
        **values,
        "protocol": {
            "split": "test",
            "n_test": len(x_test),
            "n_iwae": n_iwae,
            "iwae_k": ev.iwae_k,
            "elbo_samples_per_image": 1,
            "likelihood": "log p(x|y), labels given (class-conditional)" if cfg.model.conditional else "log p(x)",
            "binarization": cfg.binarization,
            "binarization_detail": BINARIZATION_NOTE[cfg.binarization],
            "n_dims": d,
            "bpd_formula": BPD_FORMULA,
            "data_source": data_manifest["source"],
            "data_artifact": data_manifest.get("artifact", data_manifest.get("root")),
        },
        "figures": [str(p) for p in made],
        "provenance": provenance(params, name, data=sha256_file(data), checkpoint=sha256_file(ckpt_file)),
    }
    publish_metrics("evaluate", name, params.scale, resolved_params(params, name), values, record, metrics, made)
    print(f"evaluate {name}: test -ELBO {values['test_nelbo_nats']:.2f} nats ({values['test_nelbo_bpd']:.4f} bpd), "
          f"-IWAE(k={ev.iwae_k}) {values['test_niwae_nats']:.2f} nats ({values['test_niwae_bpd']:.4f} bpd)")

