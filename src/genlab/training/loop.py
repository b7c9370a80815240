"""The one trainer: epochs of model-owned training steps, validation, checkpoints by epoch and by step.

The model owns its step (`Trainable.training_step(batch, step, opt)`): a VAE makes one
update of one optimiser, a WGAN n_critic critic updates and one generator update. The
trainer holds any number of named optimisers and per-epoch schedulers, applies gradient
clipping in `Optimizers.step`, draws the data order, validates, logs and checkpoints.
A step's figures are averaged over the epoch's steps that report them (a WGAN's
generator loss over its generator updates only). A model with `pop_step_records()`
also hands over figures by update (a WGAN's EM estimate at every generator update):
they go into the checkpoint's `extra["step_records"]` and to MLflow as `update_<name>`.

Divergence: a non-finite loss or gradient raises FloatingPointError naming the epoch,
step and optimiser before any parameter moves, and a checkpoint is never written from a
model with a non-finite parameter, so the last checkpoint on disk is the last good one.

Resuming: a checkpoint whose fingerprint (config + data + code) matches the current run
is continued from where it stopped -- the end of an epoch, or inside one when
`checkpoint_every` steps are set -- with the model, optimisers, schedulers and every RNG
state restored and the epoch's permutation redrawn from its saved start state, so a
killed-and-resumed run ends with the same weights as an uninterrupted one (on the CPU;
on CUDA it resumes, bit-identical only where the kernels are deterministic). A checkpoint
with another fingerprint is set aside and training starts afresh; a complete matching
one is returned as it is. The number of epochs is not part of the fingerprint: asked for
more epochs than a matching checkpoint holds, training continues from it (extending a
finished 25-epoch run to 100 costs 75 epochs and ends as a 100-epoch run from the start
would, since nothing but the loop's bound reads `epochs`; the per-epoch lr decay reads the
epoch index); asked for fewer, it starts afresh, as a run cannot be shortened.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import torch
from torch import nn

from genlab.training.checkpoint import capture_rng, load_checkpoint, restore_rng, save_checkpoint
from genlab.training.parallel import SingleProcess
from genlab.training.progress import Progress

EpochHook = Callable[[int, nn.Module], None]
MetricsSink = Callable[[Mapping[str, float], int], None]


class Optimizers:
    """A model's named optimisers; `step(name, loss)` is the one place gradients are applied."""

    def __init__(self, optimizers: Mapping[str, torch.optim.Optimizer], grad_clip_norm: float | None = None):
        self.optimizers = dict(optimizers)
        self.grad_clip_norm = grad_clip_norm
        self.where = ""  # "epoch e, step s": named in the error of a non-finite loss

    def __getitem__(self, name: str) -> torch.optim.Optimizer:
        return self.optimizers[name]

    def __iter__(self):
        return iter(self.optimizers)

    def step(self, name: str, loss: torch.Tensor) -> None:
        """zero_grad, backward, clip the global gradient norm (when set), step optimiser `name`. A non-finite
        loss or gradient raises FloatingPointError before any parameter moves."""
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at {self.where} (optimiser {name!r})")
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        self._clip_and_check(name, [p for group in opt.param_groups for p in group["params"]])
        opt.step()

    def _clip_and_check(self, name: str, params: list[torch.Tensor]) -> None:
        """Clip the gradients' global norm (when set); refuse a non-finite one. A finite loss can still have an
        inf or NaN gradient (an overflow in backward), and stepping on it would leave NaN weights that the next
        checkpoint would save over the last good one."""
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        if self.grad_clip_norm is not None:
            norm = torch.nn.utils.clip_grad_norm_(params, self.grad_clip_norm)
        else:
            norm = torch.nn.utils.get_total_norm(grads)
        if not torch.isfinite(norm):
            raise FloatingPointError(f"gradient norm is {norm.item()} at {self.where} (optimiser {name!r})")

    def step_together(self, losses: Mapping[str, torch.Tensor]) -> None:
        """Several players' updates from one forward pass: optimiser `name` steps on the gradient of
        `losses[name]` with respect to its own parameters only, and every gradient is computed before any
        parameter moves (a VAE-GAN's encoder, decoder and discriminator)."""
        for name, loss in losses.items():
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {loss.item()} at {self.where} (optimiser {name!r})")
        names = list(losses)
        grads = {}
        for i, name in enumerate(names):
            params = [p for group in self.optimizers[name].param_groups for p in group["params"]]
            grads[name] = (params, torch.autograd.grad(losses[name], params, retain_graph=i < len(names) - 1,
                                                       allow_unused=True))
        for name in names:
            params, gs = grads[name]
            for p, g in zip(params, gs):
                p.grad = torch.zeros_like(p) if g is None else g
            self._clip_and_check(name, params)
        for name in names:  # no player moves unless every player's gradient is finite
            self.optimizers[name].step()


class Trainer:
    """Fits `model` on `data` (indexable by a list of indices -> a batch tuple) for `epochs` epochs.

    `optimizers` maps names to optimisers (the names the model's training_step uses);
    `schedulers` maps the same names to per-epoch schedulers. `validate(model)` returns a
    dict of validation figures, logged with a `valid_` prefix. `seed` seeds the generator
    that orders the batches; its state is checkpointed.
    """

    def __init__(self, model: nn.Module, optimizers: Mapping[str, torch.optim.Optimizer], data, *, batch_size: int, epochs: int, checkpoint_path: str | Path, fingerprint: str,
                 validate: Callable[[nn.Module], Mapping[str, float]] | None = None,
                 device: torch.device | str = "cpu",
                 schedulers: Mapping[str, Any] | None = None, seed: int = 0,
                 grad_clip_norm: float | None = None, checkpoint_every: int | None = None,
                 parallel: SingleProcess | None = None, log: Callable[[str], None] = print):
        self.model, self.data, self.batch_size = model, data, batch_size
        self.opt = Optimizers(optimizers, grad_clip_norm)
        self.schedulers = {k: v for k, v in (schedulers or {}).items() if v is not None}
        self.epochs, self.fingerprint = epochs, fingerprint
        self.checkpoint_path = Path(checkpoint_path)
        self.validate, self.device = validate, torch.device(device)
        self.data_generator = torch.Generator().manual_seed(seed)
        self.checkpoint_every, self.log = checkpoint_every, log
        names = getattr(model, "optimizer_names", tuple(self.opt.optimizers))
        if set(names) != set(self.opt.optimizers):
            raise ValueError(f"{type(model).__name__} steps optimisers {names}, the trainer holds "
                             f"{tuple(self.opt.optimizers)}")
        self.parallel = parallel or SingleProcess()
        self.epoch, self.step, self.complete = 0, 0, False
        self.batch_in_epoch, self.epoch_sums, self.epoch_count = 0, {}, 0
        self.epoch_weights: dict[str, float] = {}  # per figure: the items of the steps that reported it
        self.epoch_start_data: torch.Tensor | None = None
        self.history: list[dict[str, float]] = []
        self.extra: dict[str, Any] = {}

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The first optimiser (the only one of a single-optimiser model)."""
        return next(iter(self.opt.optimizers.values()))

    # ------------------------------------------------------------------ checkpoints
    def restore(self) -> bool:
        """Load a matching checkpoint if there is one; True when state was restored."""
        if not self.checkpoint_path.exists():
            return False
        state = load_checkpoint(self.checkpoint_path)  # on the CPU; load_state_dict moves tensors to the model
        if state.get("fingerprint") != self.fingerprint:
            self.log(f"{self.checkpoint_path}: made with another config, data or code; training from scratch")
            return False
        if state["epoch"] > self.epochs or (state["epoch"] == self.epochs and state["batch_in_epoch"]):
            self.log(f"{self.checkpoint_path}: trained past the {self.epochs} epochs now asked for (epoch "
                     f"{state['epoch']}{', mid-epoch' if state['batch_in_epoch'] else ''}); a run cannot be "
                     "shortened, training from scratch")
            return False
        self.model.load_state_dict(state["model"])
        for name, opt_state in state["optimizers"].items():
            self.opt[name].load_state_dict(opt_state)
        for name, sched_state in state["schedulers"].items():
            self.schedulers[name].load_state_dict(sched_state)
        restore_rng(state["rng"], self.data_generator)
        self.epoch, self.step = state["epoch"], state["step"]
        # a run asked for more epochs than its checkpoint holds continues where it stopped (`epochs` is not part of
        # the fingerprint; nothing else depends on it, so it ends as a run asked for these epochs from the start)
        self.complete = self.epoch >= self.epochs   # (a mid-epoch state at `epochs` was refused above)
        self.batch_in_epoch, self.epoch_count = state["batch_in_epoch"], state["epoch_count"]
        self.epoch_sums, self.epoch_start_data = dict(state["epoch_sums"]), state["epoch_start_data"]
        self.epoch_weights = dict(state.get("epoch_weights", {}))
        self.history, self.extra = list(state["history"]), dict(state["extra"])
        where = f"epoch {self.epoch}/{self.epochs}" + (f" and step {self.batch_in_epoch} of epoch {self.epoch + 1}"
                                                        if self.batch_in_epoch else "")
        extended = " (extending a complete run)" if state["complete"] and not self.complete else ""
        self.log(f"{self.checkpoint_path}: resuming after {where}" + (" (complete)" if self.complete else extended))
        if self.complete and not state["complete"]:
            # a longer run killed after exactly the epochs now asked for: it is complete at this length, and the
            # checkpoint must say so, or every stage that loads it would ask for a training that has nothing to do
            self.save()
        return True

    def save(self) -> None:
        """Write the checkpoint; a model with a non-finite parameter raises FloatingPointError instead, so the
        last good checkpoint is kept."""
        if not self.parallel.is_main:
            return
        bad = [name for name, p in self.model.named_parameters() if not torch.isfinite(p).all()]
        if bad:
            raise FloatingPointError(f"non-finite parameters after {self.opt.where} ({', '.join(bad[:3])}"
                                     + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
                                     + f"); {self.checkpoint_path} keeps the last good state")
        save_checkpoint(self.checkpoint_path, {
            "fingerprint": self.fingerprint,
            "epoch": self.epoch,
            "step": self.step,
            "complete": self.complete,
            "batch_in_epoch": self.batch_in_epoch,
            "epoch_sums": self.epoch_sums,
            "epoch_weights": self.epoch_weights,
            "epoch_count": self.epoch_count,
            "epoch_start_data": self.epoch_start_data,
            "model": self.model.state_dict(),
            "optimizers": {name: opt.state_dict() for name, opt in self.opt.optimizers.items()},
            "schedulers": {name: s.state_dict() for name, s in self.schedulers.items()},
            "rng": capture_rng(self.data_generator),
            "history": self.history,
            "extra": self.extra,
        })

    # ------------------------------------------------------------------ training
    def fit(self, on_epoch_end: EpochHook | None = None, log_metrics: MetricsSink | None = None) -> list[dict]:
        """Train up to `epochs`; `on_epoch_end(epoch, model)` also runs once before epoch 1."""
        if self.epoch == 0 and self.batch_in_epoch == 0 and on_epoch_end is not None:
            on_epoch_end(0, self.model)
        while self.epoch < self.epochs:
            start = time.perf_counter()
            train = self._train_epoch()
            train_seconds = time.perf_counter() - start  # the optimiser steps alone, without validation
            self.model.eval()
            with torch.no_grad():
                valid = dict(self.validate(self.model)) if self.validate is not None else {}
            for scheduler in self.schedulers.values():
                scheduler.step()  # per-epoch schedule, after the epoch's optimiser steps
            self.epoch += 1
            images = self.epoch_count  # a resumed epoch's count includes the images before the kill
            self.batch_in_epoch, self.epoch_sums, self.epoch_count, self.epoch_start_data = 0, {}, 0, None
            self.epoch_weights = {}
            row = {"epoch": self.epoch, "step": self.step,
                   **{f"train_{k}": v for k, v in train.items()},
                   **{f"valid_{k}": v for k, v in valid.items()},
                   **{f"lr_{name}" if len(self.opt.optimizers) > 1 else "lr": opt.param_groups[0]["lr"]
                      for name, opt in self.opt.optimizers.items()},
                   "epoch_seconds": time.perf_counter() - start}
            row["train_images_per_second"] = images / train_seconds
            self.history.append(row)
            self.complete = self.epoch >= self.epochs
            if on_epoch_end is not None:
                on_epoch_end(self.epoch, self.model)
            if log_metrics is not None and self.parallel.is_main:
                log_metrics({k: v for k, v in row.items() if k != "epoch"}, self.epoch)
                records = self.extra.get("step_records", [])
                for r in records[self.extra.get("step_records_logged", 0):]:  # e.g. per generator update
                    log_metrics({f"update_{k}": v for k, v in r.items() if k != "update"}, r["update"])
            self.extra["step_records_logged"] = len(self.extra.get("step_records", []))
            self.save()
            self.log(f"epoch {self.epoch}/{self.epochs}: "
                     + ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k.startswith(("train_", "valid_")))
                     + f" ({row['epoch_seconds']:.1f}s)")
        return self.history

    def _train_epoch(self) -> dict[str, float]:
        self.model.train()
        if self.batch_in_epoch == 0:
            self.epoch_start_data = self.data_generator.get_state()
        else:  # resuming inside an epoch: redraw its permutation from the state it started with
            self.data_generator.set_state(self.epoch_start_data)
        batches = self.parallel.batches(len(self.data), self.batch_size, self.data_generator)
        regroup = getattr(self.data, "regroup", None)
        if regroup is not None:   # e.g. parallel text: batches of similar lengths (genlab.data.text.PairBatches)
            batches = regroup(batches, self.data_generator)
        pop_records = getattr(self.model, "pop_step_records", None)  # figures by update, not by batch
        # a bar on a terminal; in a log file a line a minute (GENLAB_PROGRESS_SECONDS), main process only
        bar = Progress(len(batches), f"epoch {self.epoch + 1}/{self.epochs}", "batch", initial=self.batch_in_epoch,
                       log=self.log, every=None if self.parallel.is_main else 0)
        for index in batches[self.batch_in_epoch:]:
            batch = tuple(t.to(self.device, non_blocking=True) for t in self.data[index])
            self.opt.where = f"epoch {self.epoch + 1}, step {self.step}"
            figures = self.model.training_step(batch, self.step, self.opt)
            if pop_records is not None:
                self.extra.setdefault("step_records", []).extend(
                    {"update": int(update), **{k: float(v) for k, v in figs.items()}} for update, figs in pop_records())
            self.step += 1
            self.batch_in_epoch += 1
            b = len(index)
            self.epoch_count += b
            for k, v in figures.items():  # a figure a step does not report is averaged over the steps that do
                self.epoch_sums[k] = self.epoch_sums.get(k, 0.0) + float(v) * b
                self.epoch_weights[k] = self.epoch_weights.get(k, 0) + b
            bar.update(1, dict(list(figures.items())[:2]))
            if (self.checkpoint_every and self.step % self.checkpoint_every == 0
                    and self.batch_in_epoch < len(batches)):
                self.save()  # inside the epoch: a kill loses at most checkpoint_every steps
        bar.close()
        sums, _ = self.parallel.reduce(self.epoch_sums, self.epoch_count)
        weights, _ = self.parallel.reduce(self.epoch_weights, self.epoch_count)
        return {k: v / weights[k] for k, v in sums.items()}


@torch.no_grad()
def mean_figures(model: nn.Module, data, batch_size: int, device: torch.device | str = "cpu") -> dict[str, float]:
    """`model.validation_step` figures averaged over a whole held-out data set (eval mode)."""
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    n = 0
    for i in range(0, len(data), batch_size):
        batch = tuple(t.to(device) for t in data[list(range(i, min(i + batch_size, len(data))))])
        b = len(batch[0])
        n += b
        for k, v in model.validation_step(batch).items():
            sums[k] = sums.get(k, 0.0) + float(v) * b
    model.train(was_training)
    return {k: v / n for k, v in sums.items()}


def make_optimizer(parameters: Iterable[torch.nn.Parameter], cfg) -> torch.optim.Optimizer:
    """The optimiser a `train` block of params.yaml names: adam (`beta1` where the block has one, else 0.9),
    sgd (`momentum`), rmsprop, or adadelta (`rho`, `eps`); all at `lr`."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=cfg.lr, betas=(getattr(cfg, "beta1", 0.9), 0.999))
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=cfg.lr, momentum=cfg.momentum)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=cfg.lr)
    if cfg.optimizer == "adadelta":
        return torch.optim.Adadelta(parameters, lr=cfg.lr, rho=cfg.rho, eps=cfg.eps)
    raise ValueError(f"optimizer {cfg.optimizer!r}: expected 'adam', 'sgd', 'rmsprop' or 'adadelta'")


def make_scheduler(optimizer: torch.optim.Optimizer, cfg) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Per-epoch exponential decay by `lr_decay` (None when it is 1: a constant learning rate)."""
    if cfg.lr_decay == 1.0:
        return None
    return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.lr_decay)


def trainer_for(model, data, cfg, *, checkpoint_path: Path, fingerprint: str, device, seed: int,
                validate=None, log: Callable[[str], None] = print) -> Trainer:
    """A Trainer for a single-optimiser model from a `train` block (optimizer, lr, decay, clipping, step checkpoints)."""
    optimizer = make_optimizer(model.parameters(), cfg)
    return Trainer(model, {"model": optimizer}, data, batch_size=cfg.batch_size, epochs=cfg.epochs,
                   checkpoint_path=checkpoint_path, fingerprint=fingerprint, validate=validate, device=device,
                   schedulers={"model": make_scheduler(optimizer, cfg)}, seed=seed,
                   grad_clip_norm=getattr(cfg, "grad_clip_norm", None),
                   checkpoint_every=getattr(cfg, "checkpoint_every", None),
                   log=log)
