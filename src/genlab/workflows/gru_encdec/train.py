"""The GRU encoder-decoder's train step (Cho et al. 2014; models/gru_encdec.py).

Trains on the prepared parallel text (genlab.data.text): English source, French target,
the target ending in </s>, batches padded to their longest sentence. Adadelta (the
paper's eps 1e-6 and rho 0.95, lr 1) or Adam, 64 pairs per update, the global gradient
norm clipped at `grad_clip_norm` when set. Writes <out>/checkpoints/train.pt (every
epoch and every `checkpoint_every` updates), <out>/history.csv (per-epoch mean
-log p(y|x) per sentence and per target token, on training and validation pairs) and
<out>/samples/ (empty: a translation model draws no images).

A non-finite loss stops training with the epoch and step named; the last checkpoint,
written before that step, is kept.
"""
from __future__ import annotations

from pathlib import Path

import torch

from genlab.data.text import PreparedText, pairs
from genlab.pipeline import weights_fingerprint
from genlab.training.loop import Trainer, make_optimizer, make_scheduler, mean_figures
from genlab.training.run import run_training, up_to_date

CHECKPOINT = "train.pt"
CODE = ("workflows/gru_encdec/train.py", "models/gru_encdec.py", "models/base.py", "models/__init__.py", "training",
        "data/text.py")


def train(p, data_dir: Path, out: Path, device: torch.device) -> None:
    """Fit encoder-decoder `p.name` on the prepared parallel text; resumes from a matching checkpoint."""
    from genlab.models.gru_encdec import build

    cfg = p.model
    data = PreparedText(data_dir)
    fingerprint = weights_fingerprint(p, data.sha256, CODE)
    checkpoint = out / "checkpoints" / CHECKPOINT
    if up_to_date(checkpoint, fingerprint, cfg.train.epochs):
        print(f"train {p.name}: up to date ({checkpoint} is complete)")
        return
    t = cfg.train
    train_data, valid = pairs(data, "train", t.n_train, t.sort_k_batches), pairs(data, "valid")
    model = build(cfg, len(data.vocab(data.src_lang)), len(data.vocab(data.tgt_lang))).to(device)
    optimizer = make_optimizer(model.parameters(), t)
    trainer = Trainer(model, {"model": optimizer}, train_data, batch_size=t.batch_size,
                      schedulers={"model": make_scheduler(optimizer, t)}, epochs=t.epochs, checkpoint_path=checkpoint,
                      fingerprint=fingerprint, device=device, seed=p.seed,
                      grad_clip_norm=t.grad_clip_norm, checkpoint_every=t.checkpoint_every,
                      validate=lambda m: mean_figures(m, valid, t.batch_size, device))
    trainer.extra["target_tokens_per_pair"] = train_data.target_tokens() / len(train_data)  # for tokens/s
    trained = run_training(trainer, stage_params=p, out=out, images=None, grid_size=0,
                           describe=f"train {p.name}: GRU encoder-decoder, "
                                    f"{sum(q.numel() for q in model.parameters()):,} parameters, "
                                    f"{len(train_data):,} {data.name} pairs ({train_data.target_tokens():,} target "
                                    f"tokens), {t.epochs} epochs on {device} (scale {p.scale})")
    if trained:
        last = trainer.history[-1]
        print(f"train {p.name}: done after {trainer.epoch} epochs, "
              + ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k.startswith(("train_", "valid_"))))
