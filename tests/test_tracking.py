"""MLflow tracking, live and deferred: a journaled run reaches MLflow the same as a live one,
a killed journal ends KILLED and a resumed one continues the same run."""
from __future__ import annotations

import json

import pytest

from genlab.config import ConfigError
from genlab.tracking import JOURNAL_DIR, Tracker, flush, tracking_mode

PARAMS = {"scale": "tiny", "model": {"train": {"lr": 0.001, "n_train": None}}}


@pytest.fixture()
def store(tmp_path, monkeypatch):
    """A fresh sqlite MLflow store in an empty working directory (where DVC runs stages)."""
    import mlflow

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("GENLAB_TRACKING", raising=False)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    yield mlflow.MlflowClient(uri)
    mlflow.set_tracking_uri(previous)


def _runs(client):
    exp = client.get_experiment_by_name("genlab")
    return client.search_runs([exp.experiment_id]) if exp else []


def test_deferred_run_reaches_mlflow_only_on_flush(store, tmp_path):
    figure = tmp_path / "grid.png"
    figure.write_bytes(b"first")
    with Tracker("train", "vae_mlp", "tiny", PARAMS, mode="deferred") as t:
        t.log_metrics({"valid_loss": 3.0}, step=1)
        t.log_artifact(figure, "samples")
        figure.write_bytes(b"rewritten after logging")   # the journal holds the logged version
        t.log_metrics({"valid_loss": 2.5}, step=2)
    assert _runs(store) == [] and (JOURNAL_DIR / t.run_id / "events.jsonl").exists()

    assert flush(quiet=True) == 1
    assert not any(JOURNAL_DIR.iterdir())
    (run,) = _runs(store)
    assert run.info.status == "FINISHED" and run.info.run_name == "train:vae_mlp:tiny"
    assert run.data.params == {"scale": "tiny", "model.train.lr": "0.001", "model.train.n_train": "null"}
    assert run.data.tags["genlab.stage"] == "train" and run.data.tags["genlab.resumed"] == "false"
    history = store.get_metric_history(run.info.run_id, "valid_loss")
    assert [(h.step, h.value) for h in history] == [(1, 3.0), (2, 2.5)]
    assert run.info.start_time <= history[0].timestamp <= run.info.end_time   # the journal's own times
    local = store.download_artifacts(run.info.run_id, "samples/grid.png", str(tmp_path / "dl"))
    assert open(local, "rb").read() == b"first"
    assert flush(quiet=True) == 0   # nothing left


def test_killed_journal_ends_killed_and_resume_continues_the_same_run(store):
    tracker = Tracker("train", "vae_mlp", "tiny", PARAMS, mode="deferred")
    tracker.__enter__()   # a process killed mid-run: no __exit__, and a torn last line
    tracker.log_metrics({"valid_loss": 3.0}, step=1)
    with open(JOURNAL_DIR / tracker.run_id / "events.jsonl", "a") as f:
        f.write('{"metrics": {"valid_lo')
    flush(quiet=True)
    (run,) = _runs(store)
    assert run.info.status == "KILLED"

    with Tracker("train", "vae_mlp", "tiny", PARAMS, run_id=tracker.run_id, mode="deferred") as t:
        t.log_metrics({"valid_loss": 2.5}, step=2)
    flush(quiet=True)
    (run,) = _runs(store)   # the same run, continued
    assert run.info.status == "FINISHED" and run.data.tags["genlab.resumed"] == "true"
    assert [h.step for h in store.get_metric_history(run.info.run_id, "valid_loss")] == [1, 2]


def test_resume_before_a_flush_is_one_resumed_run(store):
    tracker = Tracker("train", "ae", "tiny", PARAMS, mode="deferred")
    tracker.__enter__()
    tracker.log_metrics({"loss": 1.0}, step=1)
    with Tracker("train", "ae", "tiny", PARAMS, run_id=tracker.run_id, mode="deferred") as t:
        t.log_metrics({"loss": 0.5}, step=2)
    flush(quiet=True)
    (run,) = _runs(store)
    assert run.data.tags["genlab.resumed"] == "true" and run.info.status == "FINISHED"
    assert [h.value for h in store.get_metric_history(run.info.run_id, "loss")] == [1.0, 0.5]


def test_live_run_logs_at_once_and_resumes_by_id(store):
    with Tracker("evaluate", "vae_mlp", "tiny", PARAMS, mode="live") as t:
        t.log_metrics({"bpd": 0.2}, step=1)
        assert [r.data.metrics for r in _runs(store)] == [{"bpd": 0.2}]
    with Tracker("evaluate", "vae_mlp", "tiny", PARAMS, run_id=t.run_id, mode="live") as again:
        again.log_metrics({"bpd": 0.1}, step=2)
    (run,) = _runs(store)
    assert again.run_id == t.run_id and run.data.tags["genlab.resumed"] == "true"
    assert not JOURNAL_DIR.exists()


def test_mode_comes_from_the_environment_then_the_resolved_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GENLAB_TRACKING", raising=False)
    assert tracking_mode("quick") == "live"   # no resolve stage has run
    (tmp_path / "resolved/quick").mkdir(parents=True)
    (tmp_path / "resolved/quick/tracking.json").write_text(json.dumps({"mode": "deferred"}))
    assert tracking_mode("quick") == "deferred" and tracking_mode("paper") == "live"
    monkeypatch.setenv("GENLAB_TRACKING", "live")
    assert tracking_mode("quick") == "live"
    monkeypatch.setenv("GENLAB_TRACKING", "later")
    with pytest.raises(ConfigError, match="GENLAB_TRACKING: tracking mode 'later'"):
        tracking_mode("quick")
