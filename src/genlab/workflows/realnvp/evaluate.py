"""The RealNVP family's evaluate step (Dinh et al. 2017; models/realnvp.py).

Exact test bits/dim on the test split (its first `n_test` images when set; one fixed dequantization draw per image; the
flow in evaluation mode, batch norm on its running statistics), in the paper's
convention `bpd = -log2 p(x) / D + 8` (models/realnvp.py derives it). Images: sample
grids at each configured temperature (the paper shows 1.0; 0.7 trades diversity for
cleaner samples), samples across training epochs, and the bits/dim curve against epochs
(train and validation) with the paper's figure as a dashed line where there is one.
Every forward pass here runs under torch.no_grad.
"""
from __future__ import annotations

from pathlib import Path

import torch

from genlab.data.prepared import Prepared
from genlab.data.views import view
from genlab.io import sha256_file
from genlab.models import build_model
from genlab.models.realnvp import bits_per_dim
from genlab.pipeline import load_trained, provenance_of, training_summary
from genlab.tracking import publish

CHECKPOINT = "train.pt"
BPD_FORMULA = "bpd = -log2 p(x)/D + 8, p the flow's density of the dequantized image (b + u)/256 on [0, 1)^D"
# the paper's figure per data set (PAPERS.md §8), drawn on the curve; MNIST's is from later tables
PAPER_BPD = {"mnist": 1.06, "cifar10": 3.49}
# the sources this step runs (relative to src/genlab); dvc.yaml's evaluate stage depends on the same files
CODE = ("workflows/realnvp/evaluate.py", "models/realnvp.py", "models/base.py", "models/__init__.py",
        "training/checkpoint.py", "training/runtime.py", "data/views.py", "data/prepared.py", "images.py",
        "report/figures.py")


@torch.no_grad()
def dataset_log_prob(model, x: torch.Tensor, batch_size: int, device) -> torch.Tensor:
    """log p(x) in nats of every image, batch by batch."""
    from tqdm.auto import tqdm

    out = []
    for i in tqdm(range(0, len(x), batch_size), desc="test log p(x)", unit="batch", leave=False, disable=None):
        out.append(model.log_prob(x[i:i + batch_size].to(device)).cpu())
    return torch.cat(out)


def evaluate(p, data_dir: Path, model_dir: Path, metrics: Path, record: Path, figures_dir: Path,
             device: torch.device) -> None:
    """Test bits/dim and samples of trained RealNVP `p.name`; writes its metrics and record."""
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

    print(f"evaluate {p.name}: exact log-likelihood of {len(x_test):,} test images")
    log_px = dataset_log_prob(model, x_test, ev.batch_size, device)
    if not torch.isfinite(log_px).all():
        bad = int((~torch.isfinite(log_px)).sum())
        raise FloatingPointError(f"evaluate {p.name}: log p(x) is not finite for {bad} of {len(x_test)} test images")
    bpd = bits_per_dim(log_px, d)
    history = state["history"]
    values = {
        "test_bpd": bpd.mean().item(),
        "test_bpd_std_error": (bpd.std() / len(bpd) ** 0.5).item(),
        "test_nll_nats": (-log_px).mean().item(),
        "valid_bpd": history[-1]["valid_bpd"],
        "train_epochs": state["epoch"],
    }

    figures_dir.mkdir(parents=True, exist_ok=True)
    n = ev.grid_size
    made = []
    for t in ev.temperatures:
        x = model.sample(n * n, generator=torch.Generator().manual_seed(p.seed), temperature=t)
        made.append(save_grid(x, figures_dir / f"samples_T{t:g}.png", n))
    panels = epoch_panels(model_dir / "samples")
    if panels:
        made.append(figures.epoch_montage(panels, figures_dir / "samples_by_epoch.png",
                                          f"{p.name}: samples (T=0.7) from fixed z during training"))
    curve = pd.DataFrame(history)
    made.append(figures.curves({f"{p.name} ({data.name})": {
        "train (running mean over the epoch)": (curve["epoch"].tolist(), curve["train_bpd"].tolist()),
        "validation": (curve["epoch"].tolist(), curve["valid_bpd"].tolist())}},
        figures_dir / "bpd_curve.png", ("epoch", "bits/dim"), reference=PAPER_BPD.get(data.name)))

    manifest = data.manifest
    rec = {
        "stage": "evaluate", "model": p.name, "family": cfg.family, "dataset": data.name, "scale": p.scale,
        "timing": {"train_seconds": float(sum(row["epoch_seconds"] for row in history))},
        "curves": {"bpd": {"epoch": curve["epoch"].tolist(), "train_bpd": curve["train_bpd"].tolist(),
                           "valid_bpd": curve["valid_bpd"].tolist()}},
        "protocol": {
            "split": "test",
            "n_test": len(x_test),
            "view": cfg.view,
            "view_detail": view(cfg.view).description,
            "n_dims": d,
            "bpd_formula": BPD_FORMULA,
            "alpha": cfg.model.alpha,
            "temperatures": list(ev.temperatures),
            "data_source": manifest["source"],
            "data_artifact": manifest.get("artifact", manifest.get("root")),
            "stand_in": manifest.get("stand_in"),
        },
        "figures": [str(f) for f in made],
        "training": training_summary(history, model),
        "provenance": provenance_of(dict(p), CODE, data=data.sha256, checkpoint=sha256_file(ckpt_file)),
    }
    publish("evaluate", p.name, p, values, rec, metrics, record, made)
    print(f"evaluate {p.name}: test {values['test_bpd']:.4f} ± {values['test_bpd_std_error']:.4f} bits/dim "
          f"({values['test_nll_nats']:.1f} nats), valid {values['valid_bpd']:.4f}")
