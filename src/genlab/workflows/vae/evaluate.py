"""The VAE family's evaluate step (Kingma & Welling 2013; models/vae.py).

Figures in nats per image and bits/dim: negative ELBO on the whole test split (one
reparameterised sample per image) and the negative IWAE bound with k importance samples
on the first n_iwae test images. Images: the final sample grid, sample grids across
training epochs (seed 002 fig. 2), the 2-D latent manifold when z_dim = 2 (seed 002 fig. 3)
and the test codes coloured by class (seed 001 fig. 3.1; PCA of the posterior means when
z_dim > 2). Every forward pass here runs under torch.no_grad.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genlab.data.prepared import Prepared
from genlab.data.views import view
from genlab.images import epoch_panels
from genlab.io import sha256_file
from genlab.metrics.likelihood import BPD_FORMULA, dataset_iwae, dataset_nelbo, nats_to_bpd
from genlab.models import build_model
from genlab.pipeline import load_trained, provenance_of, training_summary
from genlab.tracking import publish

CHECKPOINT = "train.pt"
# the sources this step runs (relative to src/genlab); dvc.yaml's evaluate stage depends on the same files
CODE = ("workflows/vae/evaluate.py", "models/vae.py", "models/base.py", "models/__init__.py", "nn",
        "metrics/likelihood.py", "training/checkpoint.py", "training/runtime.py", "data/views.py",
        "data/prepared.py", "images.py", "report/figures.py")


@torch.no_grad()
def latent_manifold(model, size: int) -> torch.Tensor:
    """Decoder means on a size x size grid of N(0, I) quantiles (z_dim = 2), in [0, 1]."""
    q = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    z = torch.distributions.Normal(0.0, 1.0).icdf(q)
    zz = torch.cartesian_prod(z.flip(0), z)[:, [1, 0]]  # rows: z2 high -> low, columns: z1 low -> high
    out = model.decode(zz.to(next(model.parameters()).device)).cpu()
    if model.likelihood == "bernoulli":
        return torch.sigmoid(out)
    return model.to_unit(out.chunk(2, dim=1)[0])


@torch.no_grad()
def posterior_means(model, x: torch.Tensor, y: torch.Tensor | None, batch_size: int, device) -> np.ndarray:
    return torch.cat([model.encode(x[i:i + batch_size].to(device),
                                   None if y is None else y[i:i + batch_size].to(device))[0].cpu()
                      for i in range(0, len(x), batch_size)]).numpy()


def principal_components(x, k: int):
    """The projection of the rows of `x` (N, D) on their first k principal axes, each axis signed so that its
    largest-magnitude coordinate is positive (SVD leaves the sign free). scikit-learn's PCA gives the same
    projection up to that sign; its import costs a second per stage for one 2-D plot."""
    x = torch.as_tensor(x, dtype=torch.float64)
    centred = x - x.mean(dim=0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    axes = vh[:k]
    axes = axes * torch.sign(axes.gather(1, axes.abs().argmax(dim=1, keepdim=True)))
    return (centred @ axes.T).numpy()


def evaluate(p, data_dir: Path, model_dir: Path, metrics: Path, record: Path, figures_dir: Path,
             device: torch.device) -> None:
    """Likelihood bounds and images of trained VAE `p.name`; writes its metrics and record."""
    from genlab.images import save_grid
    from genlab.report import figures

    cfg = p.model
    ev = cfg.evaluate
    data = Prepared(data_dir)
    x_test = view(cfg.view).heldout(data.images("test"), "test", p.seed)
    y_test = data.labels("test")
    ckpt_file = model_dir / "checkpoints" / CHECKPOINT
    state = load_trained(ckpt_file)
    model = build_model(cfg, data.image_shape, data.n_classes).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    d = model.n_dims

    print(f"evaluate {p.name}: negative ELBO on {len(x_test):,} test images")
    y_cond = y_test if cfg.model.conditional else None  # bounds on log p(x|y) for a CVAE
    nelbo = dataset_nelbo(model, x_test, ev.batch_size, device, y=y_cond)
    n_iwae = min(ev.n_iwae, len(x_test))
    print(f"evaluate {p.name}: IWAE bound, k={ev.iwae_k}, on {n_iwae:,} test images")
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
    values["train_epochs"] = state["epoch"]
    values["valid_nelbo_nats"] = state["history"][-1]["valid_loss"]

    # ---- images
    figures_dir.mkdir(parents=True, exist_ok=True)
    n = ev.grid_size
    made = [save_grid(model.to_unit(model.sample(n * n, generator=torch.Generator().manual_seed(p.seed), mean=True)),
                      figures_dir / "samples.png", n)]
    panels = epoch_panels(model_dir / "samples")
    if panels:
        made.append(figures.epoch_montage(panels, figures_dir / "samples_by_epoch.png",
                                          f"{p.name}: samples from fixed z during training"))
    means = posterior_means(model, x_test, y_cond, ev.batch_size, device)
    if cfg.model.z_dim == 2:
        if not cfg.model.conditional:  # a conditional model's manifold would need a class per panel
            made.append(save_grid(latent_manifold(model, ev.manifold_size), figures_dir / "manifold.png",
                                  ev.manifold_size))
        codes, axes = means, ("z1 (posterior mean)", "z2 (posterior mean)")
    else:
        codes, axes = principal_components(means, 2), ("PC 1 of E[z|x]", "PC 2 of E[z|x]")
    made.append(figures.latent_scatter(codes, None if y_test is None else y_test.numpy(), figures_dir / "latent.png",
                                       f"{p.name}: test codes (z_dim={cfg.model.z_dim})", axes))

    manifest = data.manifest
    rec = {
        "stage": "evaluate", "model": p.name, "family": cfg.family, "dataset": data.name, "scale": p.scale,
        "timing": {"train_seconds": float(sum(row["epoch_seconds"] for row in state["history"]))},
        "protocol": {
            "split": "test",
            "n_test": len(x_test),
            "n_iwae": n_iwae,
            "iwae_k": ev.iwae_k,
            "elbo_samples_per_image": 1,
            "likelihood": ("log p(x|y), labels given (class-conditional)" if cfg.model.conditional else "log p(x)")
                          + f"; decoder {cfg.model.likelihood}",
            "view": cfg.view,
            "view_detail": view(cfg.view).description,
            "n_dims": d,
            "bpd_formula": BPD_FORMULA,
            "data_source": manifest["source"],
            "data_artifact": manifest.get("artifact", manifest.get("root")),
            "stand_in": manifest.get("stand_in"),
        },
        "figures": [str(f) for f in made],
        "training": training_summary(state["history"], model),
        "provenance": provenance_of(dict(p), CODE, data=data.sha256, checkpoint=sha256_file(ckpt_file)),
    }
    publish("evaluate", p.name, p, values, rec, metrics, record, made)
    print(f"evaluate {p.name}: test -ELBO {values['test_nelbo_nats']:.2f} nats ({values['test_nelbo_bpd']:.4f} bpd), "
          f"-IWAE(k={ev.iwae_k}) {values['test_niwae_nats']:.2f} nats ({values['test_niwae_bpd']:.4f} bpd)")
