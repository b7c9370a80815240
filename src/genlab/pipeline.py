"""What every stage entry point shares: clean error exits, set-up and provenance records."""
from __future__ import annotations

import functools
import hashlib
import sys
from pathlib import Path
from typing import Any, Callable

import torch

from genlab.config import ConfigError, Params, load_params
from genlab.data.fetch import DataError
from genlab.io import sha256_json
from genlab.training.runtime import pick_device, seed_everything, set_threads
from genlab.training.tracking import git_commit

PACKAGE_DIR = Path(__file__).resolve().parent


class StageError(RuntimeError):
    """A stage cannot go on for a reason the user can fix (its message says how)."""


def stage_main(fn: Callable[..., None]) -> Callable[..., int]:
    """Wrap a stage's main: a bad param or data source ends it with one line on stderr and
    exit status 2, before anything is written (stages validate before any work)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> int:
        try:
            fn(*args, **kwargs)
        except (ConfigError, DataError, StageError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0

    return wrapper


def setup(params: Params) -> torch.device:
    """Seed, CPU threads and device for a stage, from params."""
    seed_everything(params.seed)
    set_threads(params.threads)
    return pick_device(params.device)


def load_trained(path: Path, map_location: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint of finished training; a StageError naming the file when training stopped early."""
    from genlab.training.checkpoint import load_checkpoint

    state = load_checkpoint(path, map_location=map_location)
    if not state["complete"]:
        raise StageError(f"{path}: training stopped after epoch {state['epoch']}; rerun the train stage")
    return state


def code_hash() -> str:
    """sha256 over the genlab package's Python sources (path and bytes, in sorted order)."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        h.update(str(path.relative_to(PACKAGE_DIR)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def resolved_params(params: Params, model: str) -> dict[str, Any]:
    """What decides one model's stages: scale, seed and its block resolved for the scale."""
    return {"scale": params.scale, "seed": params.seed, **params.model(model).model_dump()}


def provenance(params: Params, model: str, **hashes: str) -> dict[str, Any]:
    """Where a figure came from: code version, resolved params and their hash, input hashes."""
    return provenance_of(resolved_params(params, model), **hashes)


def provenance_of(resolved: dict[str, Any], **hashes: str) -> dict[str, Any]:
    """Provenance record for figures that depend on the `resolved` params and the hashed inputs."""
    return {
        "git_commit": git_commit(),
        "code_sha256": code_hash(),
        "params": resolved,
        "params_sha256": sha256_json(resolved),
        **{f"{k}_sha256": v for k, v in hashes.items()},
    }


__all__ = ["StageError", "stage_main", "setup", "load_trained", "code_hash", "resolved_params", "provenance", "provenance_of", "load_params", "Params"]
