import random

import numpy as np
import pytest
import torch
from torch import nn

from genlab.data.views import TensorBatches, ViewDataset
from genlab.io import atomic_path
from genlab.models.base import Trainable
from genlab.models.vae import VAE
from genlab.training import checkpoint as checkpoint_module
from genlab.training.checkpoint import capture_rng, load_checkpoint, restore_rng, save_checkpoint
from genlab.training.loop import Trainer, mean_figures


class Interrupt(Exception):
    pass


def _setup(tmp_path, epochs=3, fingerprint="fp", checkpoint_every=None):
    torch.manual_seed(0)
    images = (torch.rand(64, 1, 4, 4) * 255).to(torch.uint8)
    model = VAE((1, 4, 4), z_dim=2, hidden=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    valid = TensorBatches(torch.bernoulli(torch.full((8, 1, 4, 4), 0.5), generator=torch.Generator().manual_seed(1)))
    return Trainer(model, {"model": optimizer}, ViewDataset(images, "binary_stochastic"), batch_size=16,
                   epochs=epochs, checkpoint_path=tmp_path / "ckpt.pt", fingerprint=fingerprint,
                   validate=lambda m: mean_figures(m, valid, 8), schedulers={"model": scheduler}, seed=0,
                   checkpoint_every=checkpoint_every, log=lambda s: None)


def _kill_at_step(trainer: Trainer, kill_step: int) -> None:
    """Run `trainer` until its model's training step `kill_step` raises, as a killed process would stop."""
    real_step = trainer.model.training_step

    def dying_step(batch, step, opt):
        if step == kill_step:
            raise Interrupt
        return real_step(batch, step, opt)
    trainer.model.training_step = dying_step
    with pytest.raises(Interrupt):
        trainer.fit()


def _same_weights(a: nn.Module, b: nn.Module) -> None:
    for key, value in a.state_dict().items():
        torch.testing.assert_close(b.state_dict()[key], value, rtol=0, atol=0)


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
    _same_weights(straight.model, resumed.model)
    assert resumed.step == straight.step == 12
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.5 ** 3)
    assert [r["valid_nelbo"] for r in history] == [r["valid_nelbo"] for r in straight.history]


def test_step_checkpoints_resume_mid_epoch_bit_identically(tmp_path):
    straight = _setup(tmp_path / "a", checkpoint_every=3)
    straight.fit()
    _kill_at_step(_setup(tmp_path / "b", checkpoint_every=3), 7)   # inside epoch 2, after the checkpoint at step 6
    state = load_checkpoint(tmp_path / "b" / "ckpt.pt")
    assert (state["epoch"], state["step"], state["batch_in_epoch"]) == (1, 6, 2)   # 4 batches an epoch
    resumed = _setup(tmp_path / "b", checkpoint_every=3)
    torch.manual_seed(99)
    assert resumed.restore() and resumed.batch_in_epoch == 2
    history = resumed.fit()
    _same_weights(straight.model, resumed.model)
    assert [r["train_nelbo"] for r in history] == [r["train_nelbo"] for r in straight.history]  # epoch sums kept


class TwoPlayer(Trainable):
    """A toy adversarial model with two optimisers and n_critic critic steps per generator step (like WGAN)."""

    optimizer_names = ("critic", "generator")

    def __init__(self, n_critic: int = 2):
        super().__init__()
        self.critic, self.generator, self.n_critic = nn.Linear(3, 1), nn.Linear(2, 3), n_critic

    def loss(self, x):
        return self.critic(x).mean(), {}

    def training_step(self, batch, step, opt):
        (x,) = batch
        fake = self.generator(torch.randn(len(x), 2))
        loss_c = self.critic(fake.detach()).mean() - self.critic(x).mean()
        opt.step("critic", loss_c)
        with torch.no_grad():
            for p in self.critic.parameters():
                p.clamp_(-0.1, 0.1)
        figures = {"loss_critic": loss_c.item()}
        if step % self.n_critic == self.n_critic - 1:
            loss_g = -self.critic(self.generator(torch.randn(len(x), 2))).mean()
            opt.step("generator", loss_g)
            figures["loss_generator"] = loss_g.item()
        return figures


def _two_player(tmp_path, epochs=2):
    torch.manual_seed(0)
    model = TwoPlayer()
    opts = {"critic": torch.optim.RMSprop(model.critic.parameters(), lr=5e-3),
            "generator": torch.optim.RMSprop(model.generator.parameters(), lr=5e-3)}
    data = TensorBatches(torch.randn(40, 3, generator=torch.Generator().manual_seed(3)))
    scheds = {"generator": torch.optim.lr_scheduler.ExponentialLR(opts["generator"], 0.5)}
    return Trainer(model, opts, data, batch_size=8, epochs=epochs, checkpoint_path=tmp_path / "gan.pt",
                   fingerprint="gan", schedulers=scheds, seed=1, checkpoint_every=2, grad_clip_norm=1.0,
                   log=lambda s: None)


def test_multi_optimizer_model_resumed_mid_epoch_is_bit_identical(tmp_path):
    straight = _two_player(tmp_path / "a")
    straight.fit()
    _kill_at_step(_two_player(tmp_path / "b"), 7)   # inside epoch 2 (5 batches an epoch), after the checkpoint at 6
    state = load_checkpoint(tmp_path / "b" / "gan.pt")
    assert set(state["optimizers"]) == {"critic", "generator"} and state["batch_in_epoch"] == 1
    resumed = _two_player(tmp_path / "b")
    torch.manual_seed(1234)
    assert resumed.restore()
    resumed.fit()
    _same_weights(straight.model, resumed.model)
    for name in ("critic", "generator"):
        a, b = straight.opt[name].state_dict()["state"], resumed.opt[name].state_dict()["state"]
        for k in a:
            torch.testing.assert_close(b[k]["square_avg"], a[k]["square_avg"], rtol=0, atol=0)
    assert straight.history[-1]["lr_generator"] == resumed.history[-1]["lr_generator"] == pytest.approx(5e-3 / 4)
    assert straight.history[-1]["lr_critic"] == pytest.approx(5e-3)
    assert max(abs(p).max().item() for p in resumed.model.critic.parameters()) <= torch.tensor(0.1).item()


def test_gradient_clipping_bounds_the_update():
    w = nn.Parameter(torch.zeros(4))
    from genlab.training.loop import Optimizers

    opts = Optimizers({"model": torch.optim.SGD([w], lr=1.0)}, grad_clip_norm=0.5)
    opts.step("model", (torch.tensor([30.0, 40.0, 0.0, 0.0]) * w).sum())   # gradient (30, 40, 0, 0): norm 50
    torch.testing.assert_close(w.detach(), torch.tensor([-0.3, -0.4, 0.0, 0.0]))   # scaled to norm 0.5


def test_resume_loads_on_the_cpu_whatever_the_device(tmp_path, monkeypatch):
    """A checkpoint written on CUDA must resume: everything is loaded onto the CPU, and RNG states stay CPU
    byte tensors (loading with map_location=<cuda device> made torch.set_rng_state raise)."""
    trainer = _setup(tmp_path, epochs=1)
    trainer.fit()
    seen = []
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("map_location"))
        return real_load(*args, **kwargs)
    monkeypatch.setattr(checkpoint_module.torch, "load", spy)
    again = _setup(tmp_path, epochs=1)
    again.device = torch.device("cuda")   # what a GPU run has; restore must not load onto it
    assert again.restore() and again.complete
    assert seen == ["cpu"]
    state = load_checkpoint(tmp_path / "ckpt.pt")
    for rng in (state["rng"]["torch"], state["rng"]["data"]):
        assert rng.device.type == "cpu" and rng.dtype == torch.uint8


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
    _same_weights(trainer.model, same.model)


def test_a_finished_run_asked_for_more_epochs_continues_and_ends_as_the_longer_run(tmp_path):
    from genlab.training.run import up_to_date

    straight = _setup(tmp_path / "a", epochs=3)
    straight.fit()

    short = _setup(tmp_path / "b", epochs=2)
    short.fit()
    ckpt = tmp_path / "b" / "ckpt.pt"
    assert load_checkpoint(ckpt)["complete"] and up_to_date(ckpt, "fp", 2)
    assert not up_to_date(ckpt, "fp", 3) and not up_to_date(ckpt, "fp", 1) and not up_to_date(ckpt, "other", 2)

    longer = _setup(tmp_path / "b", epochs=3)
    torch.manual_seed(123)  # another process: the checkpoint restores every RNG state
    assert longer.restore() and longer.epoch == 2 and not longer.complete
    history = longer.fit()
    assert [row["epoch"] for row in history] == [1, 2, 3]
    _same_weights(straight.model, longer.model)                 # bit-identical to 3 epochs from the start
    assert longer.step == straight.step == 12
    assert longer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.5 ** 3)   # the decay went on
    assert [r["valid_nelbo"] for r in history] == [r["valid_nelbo"] for r in straight.history]
    assert up_to_date(ckpt, "fp", 3)

    fewer = _setup(tmp_path / "b", epochs=1)                    # a run cannot be shortened: it starts afresh
    assert not fewer.restore() and fewer.epoch == 0 and not fewer.complete


def test_a_checkpoint_past_the_asked_epochs_mid_epoch_is_not_resumed(tmp_path):
    _kill_at_step(_setup(tmp_path, epochs=3, checkpoint_every=3), 7)   # checkpoint at step 6: epoch 1 + 2 steps
    state = load_checkpoint(tmp_path / "ckpt.pt")
    assert (state["epoch"], state["batch_in_epoch"]) == (1, 2)
    assert not _setup(tmp_path, epochs=1, checkpoint_every=3).restore()   # epoch 2 is under way: past 1 epoch
    assert _setup(tmp_path, epochs=2, checkpoint_every=3).restore()


def test_a_longer_run_killed_after_exactly_the_asked_epochs_is_marked_complete(tmp_path):
    from genlab.pipeline import load_trained
    from genlab.training.run import up_to_date

    def stop_at_epoch_3(epoch, model):
        if epoch == 3:
            raise Interrupt   # epoch 2's checkpoint is on disk, incomplete for a 4-epoch run
    with pytest.raises(Interrupt):
        _setup(tmp_path, epochs=4).fit(on_epoch_end=stop_at_epoch_3)
    ckpt = tmp_path / "ckpt.pt"
    assert load_checkpoint(ckpt)["epoch"] == 2 and not load_checkpoint(ckpt)["complete"]
    two = _setup(tmp_path, epochs=2)
    assert two.restore() and two.complete
    assert load_checkpoint(ckpt)["complete"] and up_to_date(ckpt, "fp", 2)   # saved as complete at 2 epochs
    load_trained(ckpt)                                                        # so the stages downstream accept it


def test_the_weights_fingerprint_leaves_out_the_epochs_and_the_checkpoint_interval_only():
    from genlab.pipeline import Section, weights_fingerprint

    def fp(**train):
        return weights_fingerprint(Section({"seed": 0, "model": {"train": {"epochs": 25, "lr": 1e-3,
                                                                           "checkpoint_every": 500} | train}}),
                                   "data", ["training/loop.py"])
    assert fp(epochs=100) == fp() == fp(checkpoint_every=None)
    assert fp(lr=2e-3) != fp()
    assert weights_fingerprint(Section({"a": 1}), "data", ["training/loop.py"], pretrain_epochs=2) != \
        weights_fingerprint(Section({"a": 1}), "data", ["training/loop.py"], pretrain_epochs=3)


def test_non_finite_loss_stops_training(tmp_path):
    trainer = _setup(tmp_path)
    with torch.no_grad():
        trainer.model.encoder.mean.bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="loss is nan at epoch 1, step 0"):
        trainer.fit()


def test_a_loss_that_turns_non_finite_mid_run_keeps_the_last_good_checkpoint(tmp_path, capsys):
    from genlab.pipeline import stage_main

    trainer = _setup(tmp_path, epochs=1)
    trainer.fit()                                   # epoch 1 checkpointed, finite
    good = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    diverging = _setup(tmp_path, epochs=2)
    assert diverging.restore()
    real_loss = diverging.model.loss
    diverging.model.loss = lambda *b: (lambda l, f: (l * float("inf"), f))(*real_loss(*b))

    @stage_main
    def stage():
        diverging.fit()

    assert stage() == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "loss is inf at epoch 2, step 4" in err and "last checkpoint" in err
    kept = load_checkpoint(tmp_path / "ckpt.pt")
    assert kept["epoch"] == 1
    for k, v in good.items():
        assert torch.equal(kept["model"][k], v)


def test_a_finite_loss_with_a_non_finite_gradient_stops_before_any_parameter_moves():
    from genlab.training.loop import Optimizers

    w = nn.Parameter(torch.tensor([0.0, 4.0]))
    v = nn.Parameter(torch.tensor([1.0]))
    opt = Optimizers({"a": torch.optim.SGD([w], lr=0.1), "b": torch.optim.SGD([v], lr=0.1)})
    opt.where = "epoch 2, step 9"
    loss = torch.sqrt(w).sum()          # finite (2.0) with an infinite gradient at w = 0
    assert torch.isfinite(loss)
    with pytest.raises(FloatingPointError, match="gradient norm is inf at epoch 2, step 9 \\(optimiser 'a'\\)"):
        opt.step("a", loss)
    assert torch.equal(w.detach(), torch.tensor([0.0, 4.0]))
    # with clipping set, clip_grad_norm_ would scale the gradient by 1/inf: refused the same way
    clipped = Optimizers({"a": torch.optim.SGD([w], lr=0.1)}, grad_clip_norm=1.0)
    with pytest.raises(FloatingPointError, match="gradient norm is inf"):
        clipped.step("a", torch.sqrt(w).sum())
    # players stepped together: one bad gradient and neither moves
    with pytest.raises(FloatingPointError, match="optimiser 'a'"):
        opt.step_together({"b": (v * 3).sum(), "a": torch.sqrt(w).sum()})
    assert torch.equal(w.detach(), torch.tensor([0.0, 4.0])) and torch.equal(v.detach(), torch.tensor([1.0]))
    opt.step("b", (v * 3).sum())         # a finite gradient steps as before: 1 - 0.1 * 3
    assert v.item() == pytest.approx(0.7)


def test_a_non_finite_parameter_is_never_checkpointed(tmp_path):
    trainer = _setup(tmp_path, epochs=1)
    trainer.fit()
    good = load_checkpoint(tmp_path / "ckpt.pt")
    with torch.no_grad():
        trainer.model.decoder.net[0].weight[0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="non-finite parameters .*decoder.net.0.weight.*keeps the last good"):
        trainer.save()
    kept = load_checkpoint(tmp_path / "ckpt.pt")
    for k, v in good["model"].items():
        assert torch.equal(kept["model"][k], v)


class _SometimesReports(Trainable):
    """Reports `a` at every step and `b` only at odd steps: their epoch means are over their own steps."""

    optimizer_names = ("model",)

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def loss(self, x, *labels):
        return (self.w * x.mean()).sum(), {}

    def training_step(self, batch, step, opt):
        opt.step("model", (self.w * batch[0].mean()).sum())
        return {"a": float(step), **({"b": 10.0 * step} if step % 2 else {})}


def test_a_figure_reported_on_some_steps_is_averaged_over_those_steps(tmp_path):
    data = TensorBatches(torch.ones(10, 1))
    model = _SometimesReports()
    trainer = Trainer(model, {"model": torch.optim.SGD(model.parameters(), lr=0.1)}, data, batch_size=4, epochs=1,
                      checkpoint_path=tmp_path / "c.pt", fingerprint="x", log=lambda s: None)
    trainer.fit()
    row = trainer.history[0]
    # batches of 4, 4, 2 at steps 0, 1, 2: a = (0*4 + 1*4 + 2*2) / 10; b only at step 1: 10
    assert row["train_a"] == pytest.approx(0.8) and row["train_b"] == pytest.approx(10.0)


def test_validation_keeps_no_graph():
    model = VAE((1, 4, 4), z_dim=2, hidden=8)
    figures = mean_figures(model, TensorBatches(torch.bernoulli(torch.full((10, 1, 4, 4), 0.5))), 4)
    assert set(figures) >= {"loss", "nelbo"} and all(isinstance(v, float) for v in figures.values())
    assert model.training  # restored


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


def test_weights_hash_follows_the_weights_not_the_file(tmp_path):
    from genlab.io import sha256_file, sha256_state

    _setup(tmp_path / "a", epochs=1).fit()
    _setup(tmp_path / "b", epochs=1).fit()   # the same run again (_setup reseeds)
    state_a, state_b = load_checkpoint(tmp_path / "a" / "ckpt.pt"), load_checkpoint(tmp_path / "b" / "ckpt.pt")
    assert sha256_state(state_a["model"]) == sha256_state(state_b["model"])           # same weights
    assert sha256_file(tmp_path / "a" / "ckpt.pt") != sha256_file(tmp_path / "b" / "ckpt.pt")  # timings differ
    with torch.no_grad():
        state_b["model"]["encoder.mean.bias"][0] += 1e-6
    assert sha256_state(state_a["model"]) != sha256_state(state_b["model"])
