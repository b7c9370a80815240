"""MLflow logging: one run per stage that trains or measures.

The store is MLflow's default (`sqlite:///mlflow.db` in the repository root, where DVC
runs stages) or whatever MLFLOW_TRACKING_URI names. Runs carry tags for the git commit,
stage, model and scale, and the stage's resolved parameters, flattened.

Two modes (params.yaml `tracking.mode`, per scale; the GENLAB_TRACKING environment
variable overrides it), which log the same runs:

- live: the stage logs to MLflow as it runs, so a long training can be watched in the UI.
- deferred: the stage appends its run to a journal, `.mlflow-pending/<id>/` (events.jsonl
  and copies of the artifacts), and `flush()` logs every journal to MLflow in one process,
  keeping the original timestamps; the report stage flushes, and so does
  `python -m genlab.tracking`. Importing MLflow and opening its store costs about 2.5 s, which
  at the small scales is a large part of a stage's time.

The mode decides no number, so no stage depends on it: the resolve stage writes it to
resolved/<scale>/tracking.json, which stages read but DVC does not track.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Mapping

from genlab.config import flatten

EXPERIMENT = "genlab"
JOURNAL_DIR = Path(".mlflow-pending")
MODES = ("live", "deferred")
ENV_MODE = "GENLAB_TRACKING"

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


def mode_file(scale: str) -> Path:
    return Path("resolved") / scale / "tracking.json"


def tracking_mode(scale: str) -> str:
    """GENLAB_TRACKING if set, else the scale's `tracking.mode` as the resolve stage wrote it, else live."""
    mode, source = os.environ.get(ENV_MODE), ENV_MODE
    if not mode:
        path = mode_file(scale)
        mode = json.loads(path.read_text())["mode"] if path.exists() else "live"
        source = str(path)
    if mode not in MODES:
        from genlab.config import ConfigError

        raise ConfigError(f"{source}: tracking mode {mode!r}: expected one of {', '.join(MODES)}")
    return mode


def _now_ms() -> int:
    return int(time.time() * 1000)


def _mlflow():
    import mlflow

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
    return mlflow


class Tracker:
    """A context manager around one MLflow run, live or journaled (see the module's doc); `run_id`
    continues an existing run (a resumed training continues the killed one's run)."""

    def __init__(self, stage: str, model: str, scale: str, params: Mapping[str, Any], run_id: str | None = None,
                 mode: str | None = None):
        self.stage, self.model, self.scale = stage, model, scale
        self.params = {k: ("null" if v is None else v) for k, v in flatten(params).items()}
        self.run_id = run_id
        self.mode = mode or tracking_mode(scale)
        self._journal: Path | None = None

    def _tags(self, resumed: bool) -> dict[str, str]:
        return {"genlab.stage": self.stage, "genlab.model": self.model, "genlab.scale": self.scale,
                "genlab.git_commit": git_commit(), "genlab.resumed": str(resumed).lower()}

    def __enter__(self) -> "Tracker":
        if self.mode == "deferred":
            resumed = self.run_id is not None
            self.run_id = self.run_id or uuid.uuid4().hex
            self._journal = JOURNAL_DIR / self.run_id
            self._journal.mkdir(parents=True, exist_ok=True)
            self._append({"start": {"name": f"{self.stage}:{self.model}:{self.scale}", "time": _now_ms(),
                                    "params": self.params, "tags": self._tags(resumed)}})
            return self
        mlflow = _mlflow()
        mlflow.set_experiment(EXPERIMENT)
        run = None
        if self.run_id is not None:
            try:
                run = mlflow.start_run(run_id=self.run_id)
            except Exception:  # the run is gone (a fresh store, or a journal id): start a new one
                run = None
        resumed = run is not None
        if run is None:
            run = mlflow.start_run(run_name=f"{self.stage}:{self.model}:{self.scale}")
            mlflow.log_params(self.params)
        mlflow.set_tags(self._tags(resumed))
        self.run_id = run.info.run_id
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        status = "FINISHED" if exc_type is None else "FAILED"
        if self._journal is not None:
            self._append({"end": {"status": status, "time": _now_ms()}})
        else:
            _mlflow().end_run(status=status)

    def _append(self, event: dict) -> None:
        # one write per line: a process killed mid-run leaves at most a torn last line, which flush skips
        with open(self._journal / "events.jsonl", "a") as f:
            f.write(json.dumps(event) + "\n")

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        values = {k: float(v) for k, v in metrics.items()}
        if self._journal is not None:
            self._append({"metrics": values, "step": step or 0, "time": _now_ms()})
        else:
            _mlflow().log_metrics(values, step=step)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        if self._journal is not None:  # a copy: the file may be rewritten before the journal is flushed
            dest = self._journal / "artifacts" / (artifact_path or "")
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / Path(path).name)
        else:
            _mlflow().log_artifact(str(path), artifact_path=artifact_path)


def _read_journal(path: Path) -> list[dict]:
    events = []
    for line in (path / "events.jsonl").read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:  # the torn last line of a killed process
            continue
    return events


def flush(root: Path = JOURNAL_DIR, quiet: bool = False) -> int:
    """Log every journaled run under `root` to MLflow and remove its journal; returns the count.

    A journal whose run was flushed before (a training killed, flushed, then resumed) continues
    that MLflow run, found by its `genlab.journal` tag. A journal with no end event (a killed
    process) ends as KILLED."""
    journals = sorted((p for p in root.glob("*/events.jsonl")), key=lambda p: p.stat().st_mtime) \
        if root.is_dir() else []
    if not journals:
        return 0
    mlflow = _mlflow()
    from mlflow.entities import Metric, Param, RunTag

    client = mlflow.MlflowClient()
    exp = client.get_experiment_by_name(EXPERIMENT)
    exp_id = exp.experiment_id if exp is not None else client.create_experiment(EXPERIMENT)
    for events_file in journals:
        journal = events_file.parent
        events = _read_journal(journal)
        starts = [e["start"] for e in events if "start" in e]
        if not starts:
            shutil.rmtree(journal)
            continue
        first, last = starts[0], starts[-1]
        found = client.search_runs([exp_id], filter_string=f"tags.`genlab.journal` = '{journal.name}'",
                                   max_results=1)
        tags = {**last["tags"], "genlab.journal": journal.name}
        if found:
            run_id = found[0].info.run_id
            tags["genlab.resumed"] = "true"
            client.update_run(run_id, status="RUNNING")
        else:
            tags["genlab.resumed"] = str(len(starts) > 1 or last["tags"]["genlab.resumed"] == "true").lower()
            run_id = client.create_run(exp_id, start_time=first["time"], run_name=first["name"]).info.run_id
            params = [Param(k, str(v)) for k, v in first["params"].items()]
            for i in range(0, len(params), 100):
                client.log_batch(run_id, params=params[i:i + 100], synchronous=True)
        client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()], synchronous=True)
        metrics = [Metric(k, v, e["time"], e["step"]) for e in events if "metrics" in e
                   for k, v in e["metrics"].items()]
        for i in range(0, len(metrics), 1000):
            client.log_batch(run_id, metrics=metrics[i:i + 1000], synchronous=True)
        if (journal / "artifacts").is_dir():
            client.log_artifacts(run_id, str(journal / "artifacts"))
        if "end" in events[-1]:
            status, end_time = events[-1]["end"]["status"], events[-1]["end"]["time"]
        else:  # killed: it ended at its last event
            status, end_time = "KILLED", max(e.get("time") or next(iter(e.values()))["time"] for e in events)
        client.set_terminated(run_id, status=status, end_time=end_time)
        shutil.rmtree(journal)
    if not quiet:
        print(f"tracking: {len(journals)} journaled run(s) logged to MLflow ({os.environ['MLFLOW_TRACKING_URI']})")
    return len(journals)


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


if __name__ == "__main__":
    flush()
