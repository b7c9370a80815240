"""The auto-encoder family's evaluate step: Rifai et al. 2011, Table 1 (models/autoencoder.py).

On the test split: the fine-tuned MLP's classification error (the Table 1 figure), a
linear probe (scikit-learn logistic regression on the frozen pretrained features), the
mean ||J_f(x)||_F and the fraction of saturated units of the pretrained encoder, and the
contraction curve (mean ||f(x + r u) - f(x)|| / r against r for random unit directions u).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from genlab.data.prepared import Prepared
from genlab.data.views import view
from genlab.io import sha256_file
from genlab.metrics.contraction import batched, contraction_ratios, saturation
from genlab.models import build_model
from genlab.models.autoencoder import AutoEncoder, FineTunedMLP, filters, sigmoid_jacobian_sq_norm
from genlab.pipeline import load_trained, provenance_of
from genlab.tracking import publish

PRETRAIN, FINETUNE = "pretrain.pt", "finetune.pt"
CONTRACTION_AXES = ("distance r from a test point (input space)", "||f(x + r u) - f(x)|| / r")
# the sources this step runs (relative to src/genlab); dvc.yaml's evaluate stage depends on the same files
CODE = ("workflows/autoencoder/evaluate.py", "models/autoencoder.py", "models/base.py", "models/__init__.py",
        "metrics/contraction.py", "training/checkpoint.py", "training/runtime.py", "data/views.py",
        "data/prepared.py", "images.py", "report/figures.py")


def evaluate(p, data_dir: Path, model_dir: Path, metrics: Path, record: Path, figures_dir: Path,
             device: torch.device) -> None:
    """Table 1 figures of auto-encoder `p.name` on the test split; writes its metrics and record."""
    from sklearn.linear_model import LogisticRegression

    from genlab.images import save_grid
    from genlab.report import figures

    name, cfg = p.name, p.model
    ev = cfg.evaluate
    data = Prepared(data_dir)
    v = view(cfg.view)
    x_test, y_test = v.heldout(data.images("test"), "test", p.seed), data.labels("test")
    image_shape = data.image_shape
    pre_file, ft_file = model_dir / "checkpoints" / PRETRAIN, model_dir / "checkpoints" / FINETUNE
    pre_state, ft_state = load_trained(pre_file), load_trained(ft_file)
    model: AutoEncoder = build_model(cfg, image_shape).to(device)
    model.load_state_dict(pre_state["model"])
    model.eval()
    clf = FineTunedMLP(model, data.n_classes).to(device)
    best = ft_state["extra"]["best"]
    clf.load_state_dict(best["state"])
    clf.eval()

    print(f"evaluate {name}: encoder figures on {len(x_test):,} test images")
    h_test = batched(model.encode, x_test, ev.batch_size, device)
    jac = sigmoid_jacobian_sq_norm(h_test, model.weight.detach().cpu()).sqrt()
    sat = saturation(h_test, ev.saturation_threshold)
    n_curve = min(ev.contraction_n_points, len(x_test))
    ratios = contraction_ratios(lambda x: batched(model.encode, x, ev.batch_size, device), x_test[:n_curve],
                                ev.contraction_radii, torch.Generator().manual_seed(p.seed))
    finetuned_error = (batched(clf, x_test, ev.batch_size, device).argmax(1) != y_test).float().mean().item()

    x_train, y_train = v.heldout(data.images("train"), "train", p.seed), data.labels("train")
    n_probe = min(ev.probe_n_train, len(x_train))
    print(f"evaluate {name}: linear probe (logistic regression) on {n_probe:,} frozen training features")
    start = time.perf_counter()
    probe = LogisticRegression(max_iter=ev.probe_max_iter)
    probe.fit(batched(model.encode, x_train[:n_probe], ev.batch_size, device).numpy(), y_train[:n_probe].numpy())
    probe_error = float(np.mean(probe.predict(h_test.numpy()) != y_test.numpy()))
    probe_seconds = time.perf_counter() - start

    values = {
        "test_error_finetuned_pct": 100 * finetuned_error,
        "test_error_probe_pct": 100 * probe_error,
        "jacobian_fro_mean": jac.mean().item(),
        "saturated_pct": 100 * sat.mean().item(),
        "valid_error_finetuned_pct": 100 * best["valid_error"],
        "finetune_best_epoch": best["epoch"],
        "train_epochs": pre_state["epoch"],
        "finetune_epochs": ft_state["epoch"],
        "valid_loss": pre_state["history"][-1]["valid_loss"],
    }
    curve = {"radius": list(ev.contraction_radii), "ratio_mean": ratios.mean(1).tolist(),
             "ratio_std": ratios.std(1).tolist()}

    # ---- images
    figures_dir.mkdir(parents=True, exist_ok=True)
    n = ev.grid_size
    made = [save_grid(filters(model.weight, image_shape, n * n), figures_dir / "filters.png", n)]
    with torch.no_grad():
        shown = x_test[: n * n // 2].to(device)
        pairs = torch.stack([shown, model.reconstruct(shown)], 1).flatten(0, 1)  # original, reconstruction, ...
    made.append(save_grid(pairs, figures_dir / "reconstructions.png", n))
    made.append(figures.curves({f"{name}: contraction ratio on {n_curve} test points":
                                {name: (curve["radius"], curve["ratio_mean"])}},
                               figures_dir / "contraction.png", CONTRACTION_AXES, logx=True))

    ft = ft_state["extra"]["config"]
    manifest = data.manifest
    rec = {
        "stage": "evaluate", "model": name, "family": cfg.family, "dataset": data.name, "scale": p.scale,
        "curves": {"contraction": curve},
        "timing": {"train_seconds": float(sum(r["epoch_seconds"] for r in pre_state["history"])),
                   "finetune_seconds": float(sum(r["epoch_seconds"] for r in ft_state["history"])),
                   "probe_seconds": probe_seconds},
        "protocol": {
            "split": "test",
            "n_test": len(x_test),
            "view": cfg.view,
            "view_detail": v.description,
            "finetune": (f"MLP {model.n_in}-{model.hidden}(sigmoid, from the pretrained encoder)-{data.n_classes}, "
                         f"{ft['optimizer']} lr {ft['lr']}, {ft_state['epoch']} epochs on {ft['n_images']} images, "
                         f"weights of the epoch with the lowest validation error ({best['epoch']})"),
            "probe": f"sklearn LogisticRegression(max_iter={ev.probe_max_iter}) on {n_probe} frozen training features",
            "jacobian": "mean over test images of ||J_f(x)||_F of the pretrained encoder (closed form)",
            "saturation": f"fraction of (test image, unit) activations h < {ev.saturation_threshold} "
                          f"or h > {1 - ev.saturation_threshold}",
            "contraction_points": n_curve,
            "data_source": manifest["source"],
            "data_artifact": manifest.get("artifact", manifest.get("root")),
        },
        "figures": [str(f) for f in made],
        "provenance": provenance_of(dict(p), CODE, data=data.sha256, checkpoint=sha256_file(pre_file),
                                    finetune_checkpoint=sha256_file(ft_file)),
    }
    publish("evaluate", name, p, values, rec, metrics, record, made)
    print(f"evaluate {name}: fine-tuned test error {values['test_error_finetuned_pct']:.2f}%, probe "
          f"{values['test_error_probe_pct']:.2f}%, mean ||J||_F {values['jacobian_fro_mean']:.4g}, "
          f"SAT {values['saturated_pct']:.1f}%")
