"""The auto-encoder family's train and evaluate steps: Rifai et al. 2011, Table 1 (models/autoencoder.py).

train: unsupervised pretraining with the model's objective (<out>/checkpoints/pretrain.pt),
then the paper's supervised fine-tuning of an MLP initialised from the pretrained encoder
(<out>/checkpoints/finetune.pt, which also keeps the weights of the epoch with the lowest
validation error: model selection on the validation split). Both phases resume after a
kill. <out>/history.csv holds the pretraining epochs (DVC plots `valid_loss`, the
noise-free objective on the validation split); <out>/samples/epoch_XXX.png the encoder's
first filters after every pretraining epoch.

evaluate (test split): the fine-tuned MLP's classification error (the Table 1 figure), a
linear probe (scikit-learn logistic regression on the frozen pretrained features), the
mean ||J_f(x)||_F and the fraction of saturated units of the pretrained encoder, and the
contraction curve (mean ||f(x + r u) - f(x)|| / r against r for random unit directions u).
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from genlab.config import Params
from genlab.data.loaders import intensities, tensor_loader
from genlab.data.mnist import load_prepared
from genlab.io import atomic_path, read_json, sha256_file, sha256_json
from genlab.metrics.contraction import batched, contraction_ratios, saturation
from genlab.models import build_model
from genlab.models.autoencoder import AutoEncoder, FineTunedMLP, sigmoid_jacobian_sq_norm
from genlab.pipeline import code_hash, load_trained, provenance, resolved_params
from genlab.report import figures
from genlab.training.loop import Trainer, make_optimizer
from genlab.training.tracking import Tracker, publish_metrics

PRETRAIN, FINETUNE = "pretrain.pt", "finetune.pt"
CONTRACTION_AXES = ("distance r from a test point (input space)", "||f(x + r u) - f(x)|| / r")
N_CLASSES = 10


def _mean_figures(model, batch_size: int, *tensors: torch.Tensor, device) -> dict[str, float]:
    """`model.loss` figures averaged over a whole held-out split (eval mode: no input noise)."""
    sums, n = {}, 0
    for i in range(0, len(tensors[0]), batch_size):
        batch = [t[i:i + batch_size].to(device) for t in tensors]
        _, figs = model.loss(*batch)
        b = len(batch[0])
        n += b
        for k, v in figs.items():
            sums[k] = sums.get(k, 0.0) + v * b
    return {k: v / n for k, v in sums.items()}


def train(name: str, params: Params, data: Path, out: Path, device: torch.device) -> None:
    """Pretrain auto-encoder `name`, then fine-tune its encoder on the labels."""
    cfg = params.model(name)
    splits = load_prepared(data)
    x_all, y_all = intensities(splits["train"][0]), splits["train"][1]
    x_valid, y_valid = intensities(splits["valid"][0]), splits["valid"][1]
    image_shape = tuple(x_all.shape[1:])
    x_pre = x_all[: cfg.train.n_train]
    x_ft, y_ft = x_all[: cfg.finetune.n_train], y_all[: cfg.finetune.n_train]

    ckdir, samples_dir = out / "checkpoints", out / "samples"
    ckdir.mkdir(parents=True, exist_ok=True)
    # pretraining depends on everything but the fine-tuning and evaluation params: changing those reuses it
    resolved = resolved_params(params, name)
    pretrain_inputs = {k: v for k, v in resolved.items() if k not in ("finetune", "evaluate")}
    fingerprint = sha256_json({**pretrain_inputs, "data": sha256_file(data), "code": code_hash()})
    ft_fingerprint = sha256_json({"pretrain": fingerprint, "finetune": resolved["finetune"],
                                  "batch_size": resolved["evaluate"]["batch_size"]})
    model = build_model(cfg, image_shape).to(device)
    order = torch.Generator().manual_seed(params.seed)
    pretrainer = Trainer(model, make_optimizer(model.parameters(), cfg.train),
                         tensor_loader(x_pre, batch_size=cfg.train.batch_size, generator=order),
                         epochs=cfg.train.epochs, checkpoint_path=ckdir / PRETRAIN, fingerprint=fingerprint,
                         validate=lambda m: _mean_figures(m, cfg.evaluate.batch_size, x_valid, device=device),
                         device=device, data_generator=order)
    if not pretrainer.restore():
        for stale in (samples_dir, ckdir / FINETUNE):  # belongs to an older run
            stale.unlink() if stale.is_file() else shutil.rmtree(stale, ignore_errors=True)
    samples_dir.mkdir(exist_ok=True)
    n_filters = cfg.evaluate.grid_size ** 2
    obj = cfg.objective
    print(f"train {name}: pretraining {model.hidden} sigmoid units on {len(x_pre):,} images for {cfg.train.epochs} "
          f"epochs (noise {obj.noise} {obj.noise_level}, contraction {obj.contraction}, weight decay "
          f"{obj.weight_decay}, tied weights {cfg.model.tied_weights}) on {device} (scale {params.scale})")
    with Tracker("train", name, params.scale, resolved_params(params, name),
                 run_id=pretrainer.extra.get("mlflow_run_id")) as tracker:
        pretrainer.extra["mlflow_run_id"] = tracker.run_id

        def show_filters(epoch: int, m) -> None:
            grid = figures.save_grid(figures.filters(m.weight, image_shape, n_filters),
                                     samples_dir / f"epoch_{epoch:03d}.png", cfg.evaluate.grid_size)
            tracker.log_artifact(grid, "filters")

        history = pretrainer.fit(on_epoch_end=show_filters, log_metrics=tracker.log_metrics)
        with atomic_path(out / "history.csv") as tmp:
            pd.DataFrame(history).to_csv(tmp, index=False)
        tracker.log_artifact(out / "history.csv")

        # ---- supervised fine-tuning of the MLP initialised from the pretrained encoder
        torch.manual_seed(params.seed + 1)  # the output layer's initialisation
        clf = FineTunedMLP(model, N_CLASSES).to(device)
        ft_order = torch.Generator().manual_seed(params.seed + 1)
        finetuner = Trainer(clf, make_optimizer(clf.parameters(), cfg.finetune),
                            tensor_loader(x_ft, y_ft, batch_size=cfg.finetune.batch_size, generator=ft_order),
                            epochs=cfg.finetune.epochs, checkpoint_path=ckdir / FINETUNE,
                            fingerprint=ft_fingerprint,
                            validate=lambda m: _mean_figures(m, cfg.evaluate.batch_size, x_valid, y_valid,
                                                             device=device),
                            device=device, data_generator=ft_order)
        finetuner.restore()
        print(f"train {name}: fine-tuning on {len(x_ft):,} labelled images for {cfg.finetune.epochs} epochs")

        def keep_best(epoch: int, m) -> None:  # model selection on the validation error
            if epoch == 0:
                return
            err = finetuner.history[-1]["valid_error"]
            best = finetuner.extra.get("best")
            if best is None or err < best["valid_error"]:
                finetuner.extra["best"] = {"epoch": epoch, "valid_error": err,
                                           "state": {k: v.detach().cpu().clone() for k, v in m.state_dict().items()}}

        ft_history = finetuner.fit(on_epoch_end=keep_best, log_metrics=lambda metrics, step: tracker.log_metrics(
            {f"finetune_{k}": v for k, v in metrics.items()}, step))
    best = finetuner.extra["best"]
    print(f"train {name}: pretraining valid loss {history[-1]['valid_loss']:.2f}; fine-tuned valid error "
          f"{100 * best['valid_error']:.2f}% (best of {len(ft_history)} epochs, epoch {best['epoch']})")


def evaluate(name: str, params: Params, data: Path, model_dir: Path, metrics: Path, figures_dir: Path,
             device: torch.device) -> None:
    """Table 1 figures of auto-encoder `name` on the test split; writes the metrics JSON."""
    from sklearn.linear_model import LogisticRegression

    cfg = params.model(name)
    ev = cfg.evaluate
    splits = load_prepared(data)
    x_test, y_test = intensities(splits["test"][0]), splits["test"][1]
    image_shape = tuple(x_test.shape[1:])
    pre_file, ft_file = model_dir / "checkpoints" / PRETRAIN, model_dir / "checkpoints" / FINETUNE
    pre_state, ft_state = load_trained(pre_file, device), load_trained(ft_file, device)
    model: AutoEncoder = build_model(cfg, image_shape).to(device)
    model.load_state_dict(pre_state["model"])
    model.eval()
    clf = FineTunedMLP(model, N_CLASSES).to(device)
    best = ft_state["extra"]["best"]
    clf.load_state_dict(best["state"])
    clf.eval()

    print(f"evaluate {name}: encoder figures on {len(x_test):,} test images")
    h_test = batched(model.encode, x_test, ev.batch_size, device)
    jac = sigmoid_jacobian_sq_norm(h_test, model.weight.detach().cpu()).sqrt()
    sat = saturation(h_test, ev.saturation_threshold)
    n_curve = min(ev.contraction_n_points, len(x_test))
    ratios = contraction_ratios(lambda x: batched(model.encode, x, ev.batch_size, device), x_test[:n_curve],
                                ev.contraction_radii, torch.Generator().manual_seed(params.seed))
    finetuned_error = (batched(clf, x_test, ev.batch_size, device).argmax(1) != y_test).float().mean().item()

    x_train, y_train = intensities(splits["train"][0]), splits["train"][1]
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
        "train_seconds": float(sum(r["epoch_seconds"] for r in pre_state["history"])),
        "finetune_seconds": float(sum(r["epoch_seconds"] for r in ft_state["history"])),
        "probe_seconds": probe_seconds,
        "valid_loss": pre_state["history"][-1]["valid_loss"],
    }
    curve = {"radius": list(ev.contraction_radii), "ratio_mean": ratios.mean(1).tolist(),
             "ratio_std": ratios.std(1).tolist()}

    # ---- images
    figures_dir.mkdir(parents=True, exist_ok=True)
    n = ev.grid_size
    made = [figures.save_grid(figures.filters(model.weight, image_shape, n * n), figures_dir / "filters.png", n)]
    with torch.no_grad():
        shown = x_test[: n * n // 2].to(device)
        pairs = torch.stack([shown, model.reconstruct(shown)], 1).flatten(0, 1)  # original, reconstruction, ...
    made.append(figures.save_grid(pairs, figures_dir / "reconstructions.png", n))
    made.append(figures.curves({f"{name}: contraction ratio on {n_curve} test points":
                                {name: (curve["radius"], curve["ratio_mean"])}},
                               figures_dir / "contraction.png", CONTRACTION_AXES, logx=True))

    data_manifest = read_json(data.with_suffix(".json"))
    record = {
        "model": name,
        "family": cfg.family,
        "dataset": "mnist",
        "scale": params.scale,
        **values,
        "contraction_curve": curve,
        "protocol": {
            "split": "test",
            "n_test": len(x_test),
            "input": "pixel intensities x/255 in [0, 1]",
            "finetune": (f"MLP {model.n_in}-{model.hidden}(sigmoid, from the pretrained encoder)-{N_CLASSES}, "
                         f"{cfg.finetune.optimizer} lr {cfg.finetune.lr}, {ft_state['epoch']} epochs on "
                         f"{len(splits['train'][0][: cfg.finetune.n_train])} images, weights of the epoch with the "
                         f"lowest validation error ({best['epoch']})"),
            "probe": f"sklearn LogisticRegression(max_iter={ev.probe_max_iter}) on {n_probe} frozen training features",
            "jacobian": "mean over test images of ||J_f(x)||_F of the pretrained encoder (closed form)",
            "saturation": f"fraction of (test image, unit) activations h < {ev.saturation_threshold} "
                          f"or h > {1 - ev.saturation_threshold}",
            "contraction_points": n_curve,
            "data_source": data_manifest["source"],
            "data_artifact": data_manifest.get("artifact", data_manifest.get("root")),
        },
        "figures": [str(p) for p in made],
        "provenance": provenance(params, name, data=sha256_file(data),
                                 checkpoint=sha256_file(pre_file), finetune_checkpoint=sha256_file(ft_file)),
    }
    publish_metrics("evaluate", name, params.scale, resolved_params(params, name), values, record, metrics, made)
    print(f"evaluate {name}: fine-tuned test error {values['test_error_finetuned_pct']:.2f}%, probe "
          f"{values['test_error_probe_pct']:.2f}%, mean ||J||_F {values['jacobian_fro_mean']:.4g}, "
          f"SAT {values['saturated_pct']:.1f}%")
