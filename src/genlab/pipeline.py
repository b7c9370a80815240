"""What every stage entry point shares: clean error exits, set-up, code hashes and provenance records.

Importing this module imports no torch; `setup` and `load_trained` do, when called.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from genlab.config import PARAMS_FILE, ConfigError
from genlab.data.fetch import DataError
from genlab.io import sha256_json

PACKAGE_DIR = Path(__file__).resolve().parent
# what every stage runs besides its own code (relative to src/genlab): argument parsing, errors, hashing,
# provenance and MLflow. It is in every stage's dvc.yaml deps and provenance, never in a training
# fingerprint: it cannot change a weight.
PLUMBING = ("pipeline.py", "io.py", "tracking.py")


class Section(dict):
    """A resolved slice read back from JSON: a dict whose keys are also attributes (cfg.train.lr)."""

    def __getattr__(self, key: str) -> Any:
        try:
            value = self[key]
        except KeyError:
            raise AttributeError(key) from None
        return Section(value) if isinstance(value, dict) and not isinstance(value, Section) else value


def load_slice(path: str | Path) -> Section:
    """A stage's resolved params (written by the resolve stage)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: not found; run `dvc repro` (the resolve stage writes it from {PARAMS_FILE})")
    return Section(json.loads(path.read_text()))




class StageError(RuntimeError):
    """A stage cannot go on for a reason the user can fix (its message says how)."""


def stage_main(fn: Callable[..., None]) -> Callable[..., int]:
    """Wrap a stage's main: a bad param, data source or model set-up ends it with one line on stderr and
    exit status 2 (stages check what they can before any work); so does a non-finite loss (the trainer raises
    FloatingPointError naming the epoch, step and optimiser before it steps on it, so the last checkpoint
    written is the last good one)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> int:
        try:
            fn(*args, **kwargs)
        except (ConfigError, DataError, StageError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except FloatingPointError as exc:
            print(f"error: {exc}; training stopped and its last checkpoint, written before this step, is kept",
                  file=sys.stderr)
            return 2
        return 0

    return wrapper


# every stage's command-line arguments, by name: paths only (the values live in params.yaml)
ARGUMENTS = {
    "params": "this stage's resolved params (resolved/<scale>/..., written by the resolve stage)",
    "data": "prepared data set directory (data/<scale>/<dataset>)",
    "checkpoint": "model directory written by the train stage",
    "classifier": "directory written by train_classifier",
    "samples": "directory written by the sample stage",
    "codes": "directory written by extract_codes (codes/<scale>/<vq model>)",
    "real": "directory written by the real_stats stage",
    "records": "root of the records (reports/records)",
    "out": "directory (or, for the report, path without suffix) to write",
    "metrics": "flat metrics JSON to write (numbers only)",
    "record": "record JSON to write (the numbers with protocol and provenance)",
    "figures": "directory for this model's images",
}


def parse_args(doc: str, argv: list[str] | None, *names: str) -> argparse.Namespace:
    """A stage's arguments: each of `names` is a required path option (see ARGUMENTS)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in names:
        ap.add_argument(f"--{name}", type=Path, required=True, help=ARGUMENTS[name])
    return ap.parse_args(argv)


def setup(p: Section):
    """Seed, CPU threads, deterministic algorithms and device for a stage, from its resolved params."""
    from genlab.training.runtime import configure

    return configure(p.runtime, p.seed)


def load_trained(path: Path) -> dict[str, Any]:
    """A checkpoint of finished training (on the CPU); a StageError naming the file when training stopped early."""
    from genlab.training.checkpoint import load_checkpoint

    if not Path(path).exists():
        raise StageError(f"{path}: no checkpoint; run the train stage first (dvc repro)")
    state = load_checkpoint(path)
    if not state["complete"]:
        raise StageError(f"{path}: training stopped after epoch {state['epoch']}; rerun the train stage")
    return state


def code_hash(paths: Iterable[str] | None = None) -> str:
    """sha256 over Python sources of the genlab package (path and bytes, in sorted order): the files and
    folders `paths` names (relative to src/genlab), or the whole package."""
    files: set[Path] = set()
    for rel in (paths if paths is not None else ["."]):
        target = PACKAGE_DIR / rel
        files.update(target.rglob("*.py") if target.is_dir() else [target])
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(str(path.relative_to(PACKAGE_DIR)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


# train params that say how a run is operated, not what it computes: left out of resume fingerprints, so that
# changing them continues a killed run instead of restarting it
# keys left out of a checkpoint's fingerprint: how often it is written, and how many epochs are asked for (the
# trainer extends a matching shorter run, training/loop.py; a chain of runs must name the epochs of the one it
# starts from, as the auto-encoders' fine-tuning does)
OPERATIONAL_KEYS = ("checkpoint_every", "epochs")


def weights_fingerprint(p: Section, data_sha256: str, code: Iterable[str], **extra: Any) -> str:
    """The hash a checkpoint must carry to be resumed: the stage's params (less OPERATIONAL_KEYS, at any depth),
    the data and the source files that decide the weights."""
    def strip(tree: Any) -> Any:
        if isinstance(tree, dict):
            return {k: strip(v) for k, v in tree.items() if k not in OPERATIONAL_KEYS}
        return tree
    return sha256_json({"params": strip(dict(p)), "data": data_sha256, "code": code_hash(code), **extra})


def provenance_of(resolved: dict[str, Any], code: Iterable[str] | None = None, **hashes: str) -> dict[str, Any]:
    """Provenance record for figures that depend on the `resolved` params, the `code` files and the hashed inputs."""
    from genlab.tracking import git_commit

    files = sorted(set(code) | set(PLUMBING)) if code is not None else ["."]
    return {
        "git_commit": git_commit(),
        "code_sha256": code_hash(files),
        "code_files": files,
        "params": resolved,
        "params_sha256": sha256_json(resolved),
        **{f"{k}_sha256": v for k, v in hashes.items()},
    }


__all__ = ["StageError", "stage_main", "parse_args", "setup", "load_trained", "code_hash", "provenance_of", "load_slice", "Section"]


def training_summary(history: list[dict], model) -> dict[str, Any]:
    """Cost and stability of a finished training, from its per-epoch history (seed 002's comparison table):
    parameters, epochs, seconds, training images per second (optimiser steps only), and in how many epoch
    steps the validation loss rose. A non-finite loss stops the trainer, so a complete run had none."""
    valid = [row["valid_loss"] for row in history if "valid_loss" in row]
    speeds = [row["train_images_per_second"] for row in history if "train_images_per_second" in row]
    return {"parameters": sum(q.numel() for q in model.parameters()), "epochs": len(history),
            "train_seconds": float(sum(row["epoch_seconds"] for row in history)),
            "train_images_per_second": float(sum(speeds) / len(speeds)) if speeds else None,
            "valid_loss_rises": sum(b > a for a, b in zip(valid, valid[1:]))}
