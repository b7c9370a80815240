"""The one training loop: epochs of optimiser steps, validation, checkpoint after every epoch.

Resuming: a checkpoint whose fingerprint (config + data + code) matches the current run
is continued from its last completed epoch with the model, optimiser, scheduler and RNG
states restored, so a killed-and-resumed run ends with the same weights as an
uninterrupted one. A checkpoint with another fingerprint is set aside and training starts
afresh; a complete matching one is returned as it is.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import torch
from torch import nn
from tqdm.auto import tqdm

from genlab.training.checkpoint import capture_rng, load_checkpoint, restore_rng, save_checkpoint

EpochHook = Callable[[int, nn.Module], None]
MetricsSink = Callable[[Mapping[str, float], int], None]


class Trainer:
    """Fits `model` with `optimizer` on batches from `loader` for `epochs` epochs.

    `validate(model)` returns a dict of validation figures, logged with a `valid_` prefix.
    `data_generator` is the generator that orders the batches; its state is checkpointed.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, loader: Iterable, *,
                 epochs: int, checkpoint_path: str | Path, fingerprint: str,
                 validate: Callable[[nn.Module], Mapping[str, float]],
                 device: torch.device | str = "cpu",
                 scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
                 data_generator: torch.Generator | None = None,
                 log: Callable[[str], None] = print):
        self.model, self.optimizer, self.loader = model, optimizer, loader
        self.epochs, self.fingerprint = epochs, fingerprint
        self.checkpoint_path = Path(checkpoint_path)
        self.validate, self.device = validate, torch.device(device)
        self.scheduler, self.data_generator, self.log = scheduler, data_generator, log
        self.epoch, self.step, self.complete = 0, 0, False
        self.history: list[dict[str, float]] = []
        self.extra: dict[str, Any] = {}

    # ------------------------------------------------------------------ checkpoints
    def restore(self) -> bool:
        """Load a matching checkpoint if there is one; True when state was restored."""
        if not self.checkpoint_path.exists():
            return False
        state = load_checkpoint(self.checkpoint_path, map_location=self.device)
        if state.get("fingerprint") != self.fingerprint:
            self.log(f"{self.checkpoint_path}: made with another config, data or code; training from scratch")
            return False
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        restore_rng(state["rng"], self.data_generator)
        self.epoch, self.step, self.complete = state["epoch"], state["step"], state["complete"]
        self.history, self.extra = list(state["history"]), dict(state["extra"])
        self.log(f"{self.checkpoint_path}: resuming after epoch {self.epoch}/{self.epochs}"
                 + (" (complete)" if self.complete else ""))
        return True

    def save(self) -> None:
        save_checkpoint(self.checkpoint_path, {
            "fingerprint": self.fingerprint,
            "epoch": self.epoch,
            "step": self.step,
            "complete": self.complete,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "rng": capture_rng(self.data_generator),
            "history": self.history,
            "extra": self.extra,
        })

    # ------------------------------------------------------------------ training
    def fit(self, on_epoch_end: EpochHook | None = None, log_metrics: MetricsSink | None = None) -> list[dict]:
        """Train up to `epochs`; `on_epoch_end(epoch, model)` also runs once before epoch 1."""
        if self.epoch == 0 and on_epoch_end is not None:
            on_epoch_end(0, self.model)
        while self.epoch < self.epochs:
            start = time.perf_counter()
            train = self._train_epoch()
            self.model.eval()
            with torch.no_grad():
                valid = dict(self.validate(self.model))
            if self.scheduler is not None:
                self.scheduler.step()  # per-epoch schedule, after the epoch's optimiser steps
            self.epoch += 1
            row = {"epoch": self.epoch, "step": self.step,
                   **{f"train_{k}": v for k, v in train.items()},
                   **{f"valid_{k}": v for k, v in valid.items()},
                   "lr": self.optimizer.param_groups[0]["lr"],
                   "epoch_seconds": time.perf_counter() - start}
            self.history.append(row)
            self.complete = self.epoch >= self.epochs
            if on_epoch_end is not None:
                on_epoch_end(self.epoch, self.model)
            if log_metrics is not None:
                log_metrics({k: v for k, v in row.items() if k != "epoch"}, self.epoch)
            self.save()
            self.log(f"epoch {self.epoch}/{self.epochs}: "
                     + ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k.startswith(("train_", "valid_")))
                     + f" ({row['epoch_seconds']:.1f}s)")
        return self.history

    def _train_epoch(self) -> dict[str, float]:
        self.model.train()
        sums: dict[str, float] = {}
        n = 0
        bar = tqdm(self.loader, desc=f"epoch {self.epoch + 1}/{self.epochs}", leave=False, unit="batch",
                   dynamic_ncols=True, mininterval=1.0, disable=None)
        for batch in bar:
            batch = tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)  # images[, labels]
            batch = tuple(t.to(self.device, non_blocking=True) for t in batch)
            loss, figures = self.model.loss(*batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {loss.item()} at epoch {self.epoch + 1}, step {self.step}")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.step += 1
            b = batch[0].shape[0]
            n += b
            for k, v in figures.items():
                sums[k] = sums.get(k, 0.0) + v * b
            bar.set_postfix(loss=f"{loss.item():.4g}", refresh=False)
        return {k: v / n for k, v in sums.items()}


def make_optimizer(parameters: Iterable[torch.nn.Parameter], cfg) -> torch.optim.Optimizer:
    """The optimiser a `train` block of params.yaml names (`optimizer`, `lr`, `momentum`)."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=cfg.lr)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=cfg.lr, momentum=cfg.momentum)
    raise ValueError(f"optimizer {cfg.optimizer!r}: expected 'adam' or 'sgd'")


def make_scheduler(optimizer: torch.optim.Optimizer, cfg) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Per-epoch exponential decay by `lr_decay` (None when it is 1: a constant learning rate)."""
    if cfg.lr_decay == 1.0:
        return None
    return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.lr_decay)
