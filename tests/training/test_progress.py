"""Plain progress lines where tqdm draws no bar (a log file): when, how often, and what they say."""
import io
import sys

import pytest
import torch

from genlab.data.views import ViewDataset
from genlab.models.vae import VAE
from genlab.training.loop import Trainer
from genlab.training.progress import Progress, format_seconds, progress_every


class Clock:
    """A clock that moves `tick` seconds each time it is read after the first read."""

    def __init__(self, tick: float):
        self.now, self.tick, self.reads = 0.0, tick, 0

    def __call__(self) -> float:
        if self.reads:
            self.now += self.tick
        self.reads += 1
        return self.now


@pytest.fixture
def log_file_output(monkeypatch):
    """stderr is a file, not a terminal: tqdm draws no bar (as in a background run's log)."""
    monkeypatch.setattr(sys, "stderr", io.StringIO())


def test_a_line_every_interval_with_rate_time_left_and_figures(log_file_output):
    lines = []
    bar = Progress(10, "epoch 1/2", "batch", every=30, log=lines.append, clock=Clock(10))
    assert bar.plain
    for step in range(10):
        bar.update(1, {"loss": 0.5 - 0.01 * step})
    bar.close()
    # reads at 10, 20, ..., 100 s: a line at 30, 60 and 90 s (n = 3, 6, 9); none at the end (n = total)
    assert lines == [
        "epoch 1/2: 3/10 batch (30%), 0.1 batch/s, about 70 s left; loss 0.48",
        "epoch 1/2: 6/10 batch (60%), 0.1 batch/s, about 40 s left; loss 0.45",
        "epoch 1/2: 9/10 batch (90%), 0.1 batch/s, about 10 s left; loss 0.42",
    ]


def test_a_resumed_count_starts_at_initial_and_its_rate_counts_only_new_work(log_file_output):
    lines = []
    bar = Progress(1000, "Inception features", "image", initial=400, every=60, log=lines.append, clock=Clock(60))
    bar.update(50)
    # 50 images in 60 s since the start: 0.833/s, 550 left: 660 s
    assert lines == ["Inception features: 450/1000 image (45%), 0.833 image/s, about 11.0 min left"]


def test_zero_seconds_means_no_lines(log_file_output):
    lines = []
    bar = Progress(5, "x", "batch", every=0, log=lines.append, clock=Clock(1000))
    for _ in range(5):
        bar.update()
    assert lines == []


def test_the_interval_comes_from_the_environment_and_bad_values_are_named(monkeypatch):
    monkeypatch.delenv("GENLAB_PROGRESS_SECONDS", raising=False)
    assert progress_every() == 60
    monkeypatch.setenv("GENLAB_PROGRESS_SECONDS", "5")
    assert progress_every() == 5.0
    for bad in ("-1", "a minute", "nan"):
        monkeypatch.setenv("GENLAB_PROGRESS_SECONDS", bad)
        with pytest.raises(ValueError, match=r"GENLAB_PROGRESS_SECONDS='" + bad):
            progress_every()


def test_format_seconds():
    assert format_seconds(42) == "42 s"
    assert format_seconds(486) == "8.1 min"
    assert format_seconds(8280) == "2.3 h"


def test_the_trainer_logs_progress_lines_between_epoch_lines(tmp_path, monkeypatch, log_file_output):
    monkeypatch.setenv("GENLAB_PROGRESS_SECONDS", "1e-9")  # a line after every batch but an epoch's last
    torch.manual_seed(0)
    images = (torch.rand(64, 1, 4, 4) * 255).to(torch.uint8)
    model = VAE((1, 4, 4), z_dim=2, hidden=8)
    lines = []
    trainer = Trainer(model, {"model": torch.optim.Adam(model.parameters(), lr=1e-2)},
                      ViewDataset(images, "binary_stochastic"), batch_size=16, epochs=2,
                      checkpoint_path=tmp_path / "ckpt.pt", fingerprint="fp", log=lines.append)
    trainer.fit()
    assert [line.split(",")[0] for line in lines if " batch (" in line] == [
        "epoch 1/2: 1/4 batch (25%)", "epoch 1/2: 2/4 batch (50%)", "epoch 1/2: 3/4 batch (75%)",
        "epoch 2/2: 1/4 batch (25%)", "epoch 2/2: 2/4 batch (50%)", "epoch 2/2: 3/4 batch (75%)"]
    assert len(lines) == 8 and lines[3].startswith("epoch 1/2: train_nelbo ") and lines[7].startswith("epoch 2/2: train_")
    assert all("; nelbo " in line and ", recon " in line for line in lines if " batch (" in line)  # the step's figures


def test_no_lines_from_a_trainer_when_the_interval_is_zero(tmp_path, monkeypatch, log_file_output):
    monkeypatch.setenv("GENLAB_PROGRESS_SECONDS", "0")
    model = VAE((1, 4, 4), z_dim=2, hidden=8)
    lines = []
    Trainer(model, {"model": torch.optim.Adam(model.parameters(), lr=1e-2)},
            ViewDataset((torch.rand(64, 1, 4, 4) * 255).to(torch.uint8), "binary_stochastic"), batch_size=16,
            epochs=1, checkpoint_path=tmp_path / "ckpt.pt", fingerprint="fp", log=lines.append).fit()
    assert len(lines) == 1 and lines[0].startswith("epoch 1/1: train_")
