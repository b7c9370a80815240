"""The one checkpoint format: everything needed to resume a run bit for bit.

A checkpoint is a dict saved with torch.save, written atomically:
  fingerprint   hash of (resolved config, data hash, code hash); a resume needs a match
  epoch, step   completed epochs and optimiser steps
  batch_in_epoch, epoch_sums, epoch_weights, epoch_count, epoch_start_data   position inside an unfinished epoch
                (checkpoints by step: `train.checkpoint_every`)
  complete      True once the last epoch finished
  model, optimizers, schedulers   state dicts by name
  rng           torch CPU/CUDA, numpy, python and data-order generator states
  history       per-epoch metric rows so far
  extra         caller's own small state (the MLflow run id, the best fine-tuning epoch) and the model's
                figures by update (`step_records`: a WGAN's EM estimate at every generator update)

Checkpoints are always loaded onto the CPU: the RNG states must stay CPU byte tensors
(torch.set_rng_state refuses CUDA tensors), and load_state_dict moves the model's and
optimisers' tensors to wherever their parameters live.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.io import atomic_path


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint's dict, every tensor on the CPU."""
    return torch.load(path, map_location="cpu", weights_only=True)


def capture_rng(data_generator: torch.Generator | None = None) -> dict[str, Any]:
    """RNG states as tensors and plain Python values (loadable with weights_only=True)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
        "data": data_generator.get_state() if data_generator is not None else None,
    }


def restore_rng(state: dict[str, Any], data_generator: torch.Generator | None = None) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if data_generator is not None and state["data"] is not None:
        data_generator.set_state(state["data"].cpu())
