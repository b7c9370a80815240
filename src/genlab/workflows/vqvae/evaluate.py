"""The VQ-VAE family's evaluate step (models/vqvae.py): stage 1's figures on the test split.

- reconstruction: -log p(x | z_q(x)) in bits/dim (the decoder's discretized logistic) and the
  MSE of the decoder's mean on [0, 1] images (Razavi et al. report 0.0047 / 0.0050 at ImageNet 256);
- bits/dim under the uniform prior of training, (-log p(x|z_q) + n_codes ln K) / (D ln 2): the
  bound before any prior is fitted (fit_prior@<prior> gives it under the PixelCNN);
- codebook use per level: perplexity exp(H) of the code frequencies (K at best) and the
  fraction of codes no test image uses;
- images: test images beside their reconstructions, reconstructions across training, curves.
Every forward pass runs under torch.no_grad.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from genlab.data.prepared import Prepared
from genlab.data.views import view
from genlab.io import sha256_file
from genlab.models import build_model
from genlab.models.vqvae import recon_pairs
from genlab.nn.discretized import discretized_logistic_log_prob
from genlab.nn.quantize import usage_figures
from genlab.pipeline import load_trained, provenance_of, training_summary
from genlab.tracking import publish

CHECKPOINT = "train.pt"
BPD_FORMULA = ("bpd = (-log p(x|z_q(x)) - log p(z(x))) / (D ln 2); -log p(z) = n_codes ln K under the uniform "
               "prior; p(x|z_q) a discretized logistic per sub-pixel")
CODE = ("workflows/vqvae/evaluate.py", "models/vqvae.py", "models/base.py", "models/__init__.py", "nn",
        "training/checkpoint.py", "training/runtime.py", "data/views.py", "data/prepared.py", "images.py",
        "report/figures.py")


@torch.no_grad()
def test_terms(model, x: torch.Tensor, batch_size: int, device) -> tuple[dict[str, torch.Tensor], dict]:
    """Per-image -log p(x|z_q) (nats) and MSE on [0, 1], and every level's codes, batch by batch."""
    from tqdm.auto import tqdm

    nll, mse, codes = [], [], {}
    for i in tqdm(range(0, len(x), batch_size), desc="test reconstructions", unit="batch", leave=False, disable=None):
        xb = x[i:i + batch_size].to(device)
        c = model.encode(xb)
        mean, log_scale = model.decode_codes(c)
        nll.append(-discretized_logistic_log_prob(xb, mean, log_scale).cpu())
        mse.append(((mean.clamp(-1, 1) - xb) / 2).pow(2).flatten(1).mean(1).cpu())
        for level, v in c.items():
            codes.setdefault(level, []).append(v.cpu())
    return {"nll": torch.cat(nll), "mse": torch.cat(mse)}, {k: torch.cat(v) for k, v in codes.items()}


def evaluate(p, data_dir: Path, model_dir: Path, metrics: Path, record: Path, figures_dir: Path,
             device: torch.device) -> None:
    """Reconstruction, uniform-prior bits/dim and codebook use of trained VQ model `p.name`."""
    import pandas as pd

    from genlab.images import epoch_panels, save_grid
    from genlab.report import figures

    cfg = p.model
    ev = cfg.evaluate
    data = Prepared(data_dir)
    x_test = view(cfg.view).heldout(data.images("test", ev.n_test), "test", p.seed)
    ckpt_file = model_dir / "checkpoints" / CHECKPOINT
    state = load_trained(ckpt_file)
    model = build_model(cfg, data.image_shape, data.n_classes).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    d = model.n_dims
    print(f"evaluate {p.name}: {len(x_test):,} test images")
    terms, codes = test_terms(model, x_test, ev.batch_size, device)
    if not torch.isfinite(terms["nll"]).all():
        raise FloatingPointError(f"evaluate {p.name}: -log p(x|z_q) is not finite for some test images")
    recon_bpd = terms["nll"] / (d * math.log(2))
    code_bits = model.n_code_positions * math.log2(model.n_codes) / d
    history = state["history"]
    values = {"test_recon_bpd": recon_bpd.mean().item(),
              "test_bpd_uniform_prior": recon_bpd.mean().item() + code_bits,
              "test_mse_unit": terms["mse"].mean().item(),
              "train_epochs": state["epoch"]}
    for level, c in codes.items():
        for k, v in usage_figures(c, model.n_codes).items():
            values[f"test_{level}_{k}"] = v

    figures_dir.mkdir(parents=True, exist_ok=True)
    n = ev.grid_size
    made = [save_grid(recon_pairs(model, x_test[: n * n].to(device), n * n).cpu(),
                      figures_dir / "reconstructions.png", n)]
    panels = epoch_panels(model_dir / "samples")
    if panels:
        made.append(figures.epoch_montage(panels, figures_dir / "reconstructions_by_epoch.png",
                                          f"{p.name}: validation images | reconstructions, during training"))
    curve = pd.DataFrame(history)
    made.append(figures.curves({f"{p.name} ({data.name})": {
        "train (running mean)": (curve["epoch"].tolist(), curve["train_recon_bpd"].tolist()),
        "validation": (curve["epoch"].tolist(), curve["valid_recon_bpd"].tolist())}},
        figures_dir / "recon_bpd_curve.png", ("epoch", "reconstruction bits/dim")))
    manifest = data.manifest
    rec = {
        "stage": "evaluate", "model": p.name, "family": cfg.family, "dataset": data.name, "scale": p.scale,
        "timing": {"train_seconds": float(sum(row["epoch_seconds"] for row in history))},
        "curves": {"recon_bpd": {"epoch": curve["epoch"].tolist(), "train": curve["train_recon_bpd"].tolist(),
                                 "valid": curve["valid_recon_bpd"].tolist()},
                   "perplexity": {level: curve[f"valid_{level}_perplexity"].tolist() for level in model.levels}},
        "protocol": {
            "split": "test", "n_test": len(x_test), "view": cfg.view, "view_detail": view(cfg.view).description,
            "n_dims": d, "bpd_formula": BPD_FORMULA, "levels": list(model.levels),
            "code_shapes": {k: list(v) for k, v in model.code_shapes.items()}, "n_codes": model.n_codes,
            "code_bits_per_dim_uniform": code_bits, "codebook": "EMA" if cfg.model.ema else "loss",
            "mse": "mean squared error of the decoder's mean on [0, 1] images",
            "data_source": manifest["source"], "data_artifact": manifest.get("artifact", manifest.get("root")),
            "stand_in": manifest.get("stand_in"),
        },
        "figures": [str(f) for f in made],
        "training": training_summary(history, model),
        "provenance": provenance_of(dict(p), CODE, data=data.sha256, checkpoint=sha256_file(ckpt_file)),
    }
    publish("evaluate", p.name, p, values, rec, metrics, record, made)
    print(f"evaluate {p.name}: reconstruction {values['test_recon_bpd']:.3f} bits/dim, MSE {values['test_mse_unit']:.4f}"
          f", uniform-prior bound {values['test_bpd_uniform_prior']:.3f} bits/dim; " + ", ".join(
              f"{lv} perplexity {values[f'test_{lv}_perplexity']:.1f} of {model.n_codes}, "
              f"{values[f'test_{lv}_dead_fraction']:.0%} unused" for lv in model.levels))
