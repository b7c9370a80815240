"""The auto-encoder family's train step: Rifai et al. 2011, Table 1 (models/autoencoder.py).

Unsupervised pretraining with the model's objective (<out>/checkpoints/pretrain.pt), then
the paper's supervised fine-tuning of an MLP initialised from the pretrained encoder
(<out>/checkpoints/finetune.pt, which also keeps the weights of the epoch with the lowest
validation error: model selection on the validation split). Both phases resume after a
kill. <out>/history.csv holds the pretraining epochs (DVC plots `valid_loss`, the
noise-free objective on the validation split), <out>/finetune_history.csv the fine-tuning
ones; <out>/samples/epoch_XXX.png the encoder's first filters after every pretraining epoch.
"""
from __future__ import annotations

from pathlib import Path

import torch

from genlab.config import ModelConfigError
from genlab.data.prepared import Prepared
from genlab.data.views import TensorBatches, ViewDataset, view
from genlab.models import build_model
from genlab.models.autoencoder import FineTunedMLP, filters
from genlab.pipeline import Section, weights_fingerprint
from genlab.training.loop import mean_figures, trainer_for
from genlab.training.run import run_training, up_to_date

PRETRAIN, FINETUNE = "pretrain.pt", "finetune.pt"
FILTER_GRID = 10
# the sources that decide the weights (relative to src/genlab): the resume fingerprint hashes them, and
# dvc.yaml's train stage depends on them (and on genlab.pipeline.PLUMBING, and nn/, which this family does not use)
CODE = ("workflows/autoencoder/train.py", "models/autoencoder.py", "models/base.py", "models/__init__.py",
        "training", "data/views.py", "data/prepared.py", "images.py")


def fingerprints(p, data_sha256: str) -> tuple[str, str]:
    """(pretraining, fine-tuning) checkpoint fingerprints. Pretraining depends on everything but the fine-tuning
    params (changing those reuses it); the fine-tuning starts from the pretrained weights, so its fingerprint
    names the pretraining's fingerprint and its epochs (which the fingerprints leave out: a longer pretraining
    extends its checkpoint and restarts the fine-tuning)."""
    cfg = p.model
    pre_params = {k: v for k, v in p.items() if k != "model"} | {
        "model": {k: v for k, v in cfg.items() if k != "finetune"}}
    fingerprint = weights_fingerprint(Section(pre_params), data_sha256, CODE)
    return fingerprint, weights_fingerprint(Section({"finetune": cfg.finetune}), data_sha256, CODE,
                                            pretrain=fingerprint, pretrain_epochs=cfg.train.epochs)


def train(p, data_dir: Path, out: Path, device: torch.device) -> None:
    """Pretrain auto-encoder `p.name`, then fine-tune its encoder on the labels."""
    cfg = p.model
    data = Prepared(data_dir)
    if data.n_classes < 2:
        raise ModelConfigError(f"{data.name} has no classes: the auto-encoders are fine-tuned on labels")
    ckdir = out / "checkpoints"
    fingerprint, ft_fingerprint = fingerprints(p, data.sha256)
    if (up_to_date(ckdir / PRETRAIN, fingerprint, cfg.train.epochs)
            and up_to_date(ckdir / FINETUNE, ft_fingerprint, cfg.finetune.epochs)):
        print(f"train {p.name}: up to date ({ckdir / PRETRAIN} and {FINETUNE} are complete)")
        return
    v = view(cfg.view)
    x_valid, y_valid = v.heldout(data.images("valid"), "valid", p.seed), data.labels("valid")
    pre_data = ViewDataset(data.images("train", cfg.train.n_train), cfg.view)
    ft_data = ViewDataset(data.images("train", cfg.finetune.n_train), cfg.view, data.labels("train", cfg.finetune.n_train))
    model = build_model(cfg, data.image_shape).to(device)
    pretrainer = trainer_for(model, pre_data, cfg.train, checkpoint_path=ckdir / PRETRAIN, fingerprint=fingerprint,
                             device=device, seed=p.seed,
                             validate=lambda m: mean_figures(m, TensorBatches(x_valid), 1000, device))
    obj = cfg.objective
    run_training(pretrainer, stage_params=p, out=out, grid_size=FILTER_GRID,
                 images=lambda m, n: filters(m.weight, data.image_shape, n),
                 describe=f"train {p.name}: pretraining {model.hidden} sigmoid units on {len(pre_data):,} images "
                          f"for {cfg.train.epochs} epochs (noise {obj.noise} {obj.noise_level}, contraction "
                          f"{obj.contraction}, weight decay {obj.weight_decay}, tied weights "
                          f"{cfg.model.tied_weights}) on {device} (scale {p.scale})")

    # ---- supervised fine-tuning of the MLP initialised from the pretrained encoder
    torch.manual_seed(p.seed + 1)  # the output layer's initialisation
    clf = FineTunedMLP(model, data.n_classes).to(device)
    valid = TensorBatches(x_valid, y_valid)
    finetuner = trainer_for(clf, ft_data, cfg.finetune, checkpoint_path=ckdir / FINETUNE,
                            fingerprint=ft_fingerprint, device=device, seed=p.seed + 1,
                            validate=lambda m: mean_figures(m, valid, 1000, device))

    def keep_best(epoch: int, m) -> None:  # model selection on the validation error
        if epoch == 0:
            return
        finetuner.extra["config"] = {**cfg.finetune, "n_images": len(ft_data)}  # for evaluate's protocol text
        err = finetuner.history[-1]["valid_error"]
        best = finetuner.extra.get("best")
        if best is None or err < best["valid_error"]:
            finetuner.extra["best"] = {"epoch": epoch, "valid_error": err,
                                       "state": {k: v.detach().cpu().clone() for k, v in m.state_dict().items()}}

    trained = run_training(finetuner, stage_params=p, out=out, images=None, grid_size=0, metric_prefix="finetune_",
                           on_epoch_end=keep_best, run_id=pretrainer.extra.get("mlflow_run_id"),
                           describe=f"train {p.name}: fine-tuning on {len(ft_data):,} labelled images for "
                                    f"{cfg.finetune.epochs} epochs")
    if trained:
        best = finetuner.extra["best"]
        print(f"train {p.name}: fine-tuned valid error {100 * best['valid_error']:.2f}% (best of "
              f"{len(finetuner.history)} epochs, epoch {best['epoch']})")
