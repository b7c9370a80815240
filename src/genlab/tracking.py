"""MLflow logging: one run per stage that trains or measures.

The store is MLflow's default (`sqlite:///mlflow.db` in the repository root, where DVC
runs stages) or whatever MLFLOW_TRACKING_URI names. Runs carry tags for the git commit,
stage, model and scale, and the stage's resolved parameters, flattened.
"""
from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path
from typing import Any, Mapping

from genlab.config import flatten

EXPERIMENT = "genlab"


# what decides a result; dvc.lock, metrics and reports change during every run and do not count
SOURCE_PATHS = ("src", "stages", "dvc.yaml", "params.yaml", "requirements.lock")


def git_commit() -> str:
    """HEAD's commit, with '-dirty' when the sources differ from it; 'unknown' outside git."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *SOURCE_PATHS],
                               capture_output=True, text=True, check=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


class Tracker:
    """A context manager around one MLflow run; `run_id` resumes an existing run."""

    def __init__(self, stage: str, model: str, scale: str, params: Mapping[str, Any], run_id: str | None = None):
        self.stage, self.model, self.scale = stage, model, scale
        self.params = flatten(params)
        self.run_id = run_id
        self._run = None

    def __enter__(self) -> "Tracker":
        import mlflow

        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)
        os.environ.setdefault("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
        mlflow.set_experiment(EXPERIMENT)
        resumed = self.run_id is not None
        try:
            self._run = mlflow.start_run(run_id=self.run_id) if resumed else None
        except Exception:  # the run is gone (a fresh store): start a new one
            resumed, self._run = False, None
        if self._run is None:
            self._run = mlflow.start_run(run_name=f"{self.stage}:{self.model}:{self.scale}")
            mlflow.log_params({k: ("null" if v is None else v) for k, v in self.params.items()})
        mlflow.set_tags({"genlab.stage": self.stage, "genlab.model": self.model,
                         "genlab.scale": self.scale, "genlab.git_commit": git_commit(),
                         "genlab.resumed": str(resumed).lower()})
        self.run_id = self._run.info.run_id
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        import mlflow

        mlflow.end_run(status="FINISHED" if exc_type is None else "FAILED")

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        import mlflow

        mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        import mlflow

        mlflow.log_artifact(str(path), artifact_path=artifact_path)


def publish(stage: str, name: str, stage_params: Mapping[str, Any], values: Mapping[str, float],
            record: Mapping[str, Any], metrics: str | Path, record_path: str | Path, figures: tuple | list = ()) -> None:
    """Write a stage's flat metrics JSON (numbers only: what `dvc metrics` and `dvc exp show` read), its
    record (the same numbers with protocol, provenance, curves and timings: what the report reads),
    and log both, the figures and `values` as one MLflow run."""
    from genlab.io import write_json

    flat = flatten(values)
    bad = {k: v for k, v in flat.items() if not isinstance(v, (int, float)) or isinstance(v, bool)}
    if bad:
        raise TypeError(f"metrics must be numbers (in nested dicts at most), got {bad}")
    with Tracker(stage, name, stage_params["scale"], stage_params) as tracker:
        tracker.log_metrics(flat)
        write_json(metrics, dict(values))
        write_json(record_path, {**record, "values": dict(values)})
        tracker.log_artifact(metrics)
        tracker.log_artifact(record_path)
        for p in figures:
            tracker.log_artifact(p, "figures")
