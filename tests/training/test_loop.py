import random

import numpy as np
import pytest
import torch

from genlab.data.loaders import train_loader
from genlab.io import atomic_path
from genlab.models.vae import VAE
from genlab.training.checkpoint import capture_rng, load_checkpoint, restore_rng, save_checkpoint
from genlab.training.loop import Trainer


class Interrupt(Exception):
    pass


def _setup(tmp_path, epochs=3, fingerprint="fp"):
    torch.manual_seed(0)
    images = (torch.rand(64, 1, 4, 4) * 255).to(torch.uint8)
    model = VAE((1, 4, 4), z_dim=2, hidden=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    order = torch.Generator().manual_seed(0)
    loader = train_loader(images, 16, "stochastic", order)
    valid = torch.bernoulli(torch.full((8, 1, 4, 4), 0.5), generator=torch.Generator().manual_seed(1))
    trainer = Trainer(model, optimizer, loader, epochs=epochs, checkpoint_path=tmp_path / "ckpt.pt",
                      fingerprint=fingerprint, validate=lambda m: {"nelbo": m.loss(valid)[1]["nelbo"]},
                      scheduler=scheduler, data_generator=order, log=lambda s: None)
    return trainer


def test_killed_and_resumed_run_matches_an_uninterrupted_one(tmp_path):
    straight = _setup(tmp_path / "a")
    straight.fit()

    first = _setup(tmp_path / "b")

    def stop_after_epoch_1(epoch, model):
        if epoch == 1:
            raise Interrupt  # dies before epoch 1's checkpoint: resume redoes epoch 1
    with pytest.raises(Interrupt):
        first.fit(on_epoch_end=stop_after_epoch_1)
    assert not (tmp_path / "b" / "ckpt.pt").exists()

    second = _setup(tmp_path / "b")
    def stop_at_epoch_2(epoch, model):
        if epoch == 2:
            raise Interrupt
    with pytest.raises(Interrupt):
        second.fit(on_epoch_end=stop_at_epoch_2)
    assert load_checkpoint(tmp_path / "b" / "ckpt.pt")["epoch"] == 1

    resumed = _setup(tmp_path / "b")
    torch.manual_seed(123)  # a restarted process has other RNG states: the checkpoint must restore them
    resumed.data_generator.manual_seed(123)
    assert resumed.restore() and resumed.epoch == 1
    history = resumed.fit()
    assert [row["epoch"] for row in history] == [1, 2, 3]
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0)
    assert resumed.step == straight.step == 12
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.5 ** 3)
    assert [r["valid_nelbo"] for r in history] == [r["valid_nelbo"] for r in straight.history]


def test_other_fingerprint_starts_fresh_and_complete_run_is_reused(tmp_path):
    trainer = _setup(tmp_path, epochs=2, fingerprint="one")
    trainer.fit()
    assert load_checkpoint(tmp_path / "ckpt.pt")["complete"]

    other = _setup(tmp_path, epochs=2, fingerprint="two")
    assert not other.restore() and other.epoch == 0

    same = _setup(tmp_path, epochs=2, fingerprint="one")
    assert same.restore() and same.complete
    calls = []
    same.fit(on_epoch_end=lambda e, m: calls.append(e))
    assert calls == []  # nothing trained again
    for key, value in trainer.model.state_dict().items():
        torch.testing.assert_close(same.model.state_dict()[key], value, rtol=0, atol=0)


def test_non_finite_loss_stops_training(tmp_path):
    trainer = _setup(tmp_path)
    with torch.no_grad():
        trainer.model.encoder.mean.bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="loss is nan"):
        trainer.fit()


def test_checkpoint_round_trip_restores_everything(tmp_path):
    gen = torch.Generator().manual_seed(7)
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    state = {"model": {"w": torch.randn(3)}, "epoch": 4, "rng": capture_rng(gen)}
    save_checkpoint(tmp_path / "c.pt", state)
    expected = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=gen).item())
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    gen.manual_seed(9)
    loaded = load_checkpoint(tmp_path / "c.pt")
    restore_rng(loaded["rng"], gen)
    assert (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=gen).item()) == expected
    torch.testing.assert_close(loaded["model"]["w"], state["model"]["w"])
    assert loaded["epoch"] == 4


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("killed mid-write")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"new but partial")
            raise RuntimeError
    assert target.read_bytes() == b"old"


def test_optimizer_and_per_epoch_lr_decay_from_params():
    from genlab.config import TrainConfig
    from genlab.training.loop import make_optimizer, make_scheduler

    w = torch.nn.Parameter(torch.zeros(2))
    cfg = TrainConfig(epochs=3, batch_size=4, lr=0.4, optimizer="sgd", momentum=0.5, lr_decay=0.5)
    opt = make_optimizer([w], cfg)
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["momentum"] == 0.5
    sched = make_scheduler(opt, cfg)
    lrs = []
    for _ in range(3):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == pytest.approx([0.2, 0.1, 0.05])
    assert make_scheduler(opt, TrainConfig(epochs=1, batch_size=1, lr=1.0)) is None  # lr_decay 1: constant
    assert isinstance(make_optimizer([w], TrainConfig(epochs=1, batch_size=1, lr=1e-3)), torch.optim.Adam)
