"""GANs: loss signs, weight clipping (not of batch norm), the critic schedule, batch-independent sampling, resume."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from genlab.data.views import TensorBatches
from genlab.models.gan import GAN, DCGANDiscriminator, DCGANGenerator, clip_weights, upsamplings
from genlab.training.checkpoint import load_checkpoint
from genlab.training.loop import Optimizers, Trainer


def _opts(model, lr=1e-2):
    names = model.optimizer_names
    return {names[0]: torch.optim.SGD(model.discriminator.parameters(), lr=lr),
            "generator": torch.optim.SGD(model.generator.parameters(), lr=lr)}


def _tiny_wgan(**kwargs) -> GAN:
    """An 8x8 MLP WGAN; `kwargs` give its dropout and critic schedule."""
    return GAN((1, 8, 8), arch="mlp", objective="wgan", z_dim=4, g_hidden=(8,), d_hidden=(8,), **kwargs)


def _rmsprop(model):
    return Optimizers({name: torch.optim.RMSprop(getattr(model, "discriminator" if name == "critic" else name)
                                                 .parameters(), lr=1e-3) for name in model.optimizer_names})


@pytest.mark.parametrize("shape,k", [((1, 28, 28), 2), ((3, 32, 32), 3), ((3, 64, 64), 4)])
def test_dcgan_shapes(shape, k):
    assert upsamplings(shape[1]) == k
    model = GAN(shape, arch="dcgan", z_dim=8, base_channels=4)
    x = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, *shape) and x.min() >= -1 and x.max() <= 1
    assert model.discriminator(x).shape == (5,)


def test_mlp_generator_as_the_wgan_reference_code_relu_and_a_linear_output():
    """The stability matrix's MLP_G: Linear-ReLU x 3 (512 at paper scale), then a linear layer, nothing after it;
    seed 002's default keeps LeakyReLU(0.2) and tanh. Samples leave [-1, 1] only before to_unit clamps them."""
    ref = GAN((1, 8, 8), arch="dcgan", g_arch="mlp", z_dim=4, g_hidden=(16, 16, 16), dropout=0.0,
              g_activation="relu", g_output="linear", base_channels=4).generator
    layers = [type(m) for m in ref.net]
    assert layers == [nn.Linear, nn.ReLU, nn.Dropout] * 3 + [nn.Linear]
    seed002 = GAN((1, 8, 8), arch="mlp", z_dim=4, g_hidden=(16,), d_hidden=(8,)).generator
    assert [type(m) for m in seed002.net] == [nn.Linear, nn.LeakyReLU, nn.Dropout, nn.Linear, nn.Tanh]
    assert seed002.net[1].negative_slope == 0.2
    # a linear output is unbounded: scale the last layer up and the images pass +-1, which tanh would forbid
    model = GAN((1, 8, 8), arch="dcgan", g_arch="mlp", z_dim=4, g_hidden=(16,), dropout=0.0, g_activation="relu",
                g_output="linear", base_channels=4)
    with torch.no_grad():
        model.generator.net[-1].weight.mul_(100.0)
    x = model.sample(64, generator=torch.Generator().manual_seed(0))
    assert x.abs().max() > 1
    unit = model.to_unit(x)
    assert unit.min() == 0 and unit.max() == 1
    torch.testing.assert_close(unit, ((x + 1) / 2).clamp(0, 1))
    with pytest.raises(ValueError, match="g_output = 'sigmoid'"):
        GAN((1, 8, 8), arch="mlp", z_dim=4, g_hidden=(8,), g_output="sigmoid")
    with pytest.raises(ValueError, match="g_activation = 'elu'"):
        GAN((1, 8, 8), arch="mlp", z_dim=4, g_hidden=(8,), g_activation="elu")


def test_the_stability_mlp_cell_builds_the_reference_mlp_generator_from_params_yaml():
    from pathlib import Path

    from genlab.config import load_params, stage_slices
    from genlab.models import build_model
    from genlab.pipeline import Section

    repo = Path(__file__).resolve().parents[2]
    cell = stage_slices(load_params(repo / "params.yaml", scale="paper"))["stability/wgan-mlp.json"]
    model = build_model(Section(cell["model"]), (1, 28, 28), 10)
    linears = [m for m in model.generator.net if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [512, 512, 512, 784]
    assert sum(isinstance(m, nn.ReLU) for m in model.generator.net) == 3
    assert not any(isinstance(m, (nn.Tanh, nn.LeakyReLU)) for m in model.generator.net)
    assert isinstance(model.discriminator, DCGANDiscriminator)


def test_generator_steps_move_the_fakes_toward_real_under_both_objectives():
    torch.manual_seed(0)
    for objective in ("gan", "wgan"):
        model = GAN((1, 8, 8), arch="mlp", objective=objective, z_dim=4, g_hidden=(16,), d_hidden=(16,), dropout=0.0)
        z = torch.randn(32, 4)
        score = lambda: model.discriminator(model.generator(z)).mean().item()   # noqa: E731
        before = score()
        opt = torch.optim.SGD(model.generator.parameters(), lr=0.05)
        loss = (model.nonsaturating_generator_loss if objective == "gan" else model.wgan_generator_loss)(
            model.discriminator(model.generator(z)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert score() > before, objective   # the critic rates the fakes higher: the generator went the right way


def test_critic_and_discriminator_losses_reward_telling_real_from_fake():
    real, fake = torch.tensor([2.0, 3.0]), torch.tensor([-1.0, 0.0])
    assert GAN.critic_loss(real, fake).item() == pytest.approx(-0.5 - 2.5)     # mean f(fake) - mean f(real)
    assert GAN.critic_loss(real, fake) < GAN.critic_loss(fake, real)
    assert GAN.discriminator_loss(real, fake) < GAN.discriminator_loss(fake, real)
    # the non-saturating loss is -log D(G(z)); BCE against 1 of logit 0 is log 2
    assert GAN.nonsaturating_generator_loss(torch.zeros(3)).item() == pytest.approx(0.6931471805599453)


def test_clipping_bounds_conv_and_linear_weights_but_not_batch_norm():
    model = GAN((1, 28, 28), arch="dcgan", objective="wgan", z_dim=4, base_channels=4, d_batch_norm=True)
    bn = [m for m in model.discriminator.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bn
    with torch.no_grad():
        for p in model.discriminator.parameters():
            p.mul_(100)
    scales = [b.weight.detach().clone() for b in bn]
    clip_weights(model.discriminator, 0.01)
    for m in model.discriminator.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            assert all(p.abs().max() <= 0.01 for p in m.parameters())
    for b, before in zip(bn, scales):   # BN scales (about 1, times 100) untouched
        assert torch.equal(b.weight.detach(), before) and float(before.min()) > 50


def test_a_wgan_critic_is_clipped_from_the_start():
    model = GAN((1, 28, 28), arch="dcgan", objective="wgan", z_dim=4, base_channels=4, init_std=0.5,
                d_batch_norm=False)
    assert max(p.abs().max().item() for p in model.discriminator.parameters()) == pytest.approx(0.01)
    assert max(p.abs().max().item() for p in model.generator.parameters()) > 0.5   # the generator is not
    gan = GAN((1, 28, 28), arch="dcgan", objective="gan", z_dim=4, base_channels=4, init_std=0.5, d_batch_norm=False)
    assert max(p.abs().max().item() for p in gan.discriminator.parameters()) > 0.5


def test_wgan_critic_schedule_follows_the_reference_code():
    torch.manual_seed(0)
    model = _tiny_wgan(dropout=0.0, n_critic=2, warmup_generator_iters=2, warmup_critic_iters=4, warmup_every=5)
    opt = _rmsprop(model)
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    generator_steps_at = []
    for step in range(30):
        before = int(model.generator_iters)
        figures = model.training_step((x,), step, opt)
        if int(model.generator_iters) > before:
            generator_steps_at.append(step)
        assert figures["em_estimate"] == pytest.approx(-figures["critic_loss"])
        assert max(p.abs().max().item() for p in model.discriminator.parameters()) <= 0.01 + 1e-12
    # generator updates 0, 1 need 4 critic updates (warm-up), 2-4 need 2, update 5 (every 5th) needs 4, then 2
    gaps = [b - a for a, b in zip([-1] + generator_steps_at, generator_steps_at)]
    assert gaps[:8] == [4, 4, 2, 2, 2, 4, 2, 2]


def test_sampling_uses_batch_norm_in_eval_mode_so_samples_do_not_depend_on_the_batch():
    torch.manual_seed(0)
    model = GAN((1, 28, 28), arch="dcgan", z_dim=8, base_channels=4)
    model.train()
    z = torch.randn(8, 8)
    assert torch.allclose(model.sample(8, z=z)[:3], model.sample(3, z=z[:3]), atol=1e-6)
    assert model.generator.training   # restored


def _wgan_trainer(tmp_path, epochs=2):
    torch.manual_seed(0)
    model = _tiny_wgan(dropout=0.2, n_critic=2, warmup_generator_iters=1, warmup_critic_iters=3, warmup_every=4)
    opts = {"critic": torch.optim.RMSprop(model.discriminator.parameters(), lr=5e-3),
            "generator": torch.optim.RMSprop(model.generator.parameters(), lr=5e-3)}
    data = TensorBatches(torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(3)) * 2 - 1)
    return Trainer(model, opts, data, batch_size=8, epochs=epochs, checkpoint_path=tmp_path / "wgan.pt",
                   fingerprint="wgan", seed=1, checkpoint_every=2, log=lambda s: None)


class Interrupt(Exception):
    pass


def test_wgan_resumed_mid_epoch_is_bit_identical_with_its_schedule(tmp_path):
    straight = _wgan_trainer(tmp_path / "a")
    straight.fit()
    killed = _wgan_trainer(tmp_path / "b")
    real_step = killed.model.training_step

    def dying(batch, step, opt):
        if step == 7:
            raise Interrupt
        return real_step(batch, step, opt)
    killed.model.training_step = dying
    with pytest.raises(Interrupt):
        killed.fit()
    state = load_checkpoint(tmp_path / "b" / "wgan.pt")
    assert state["batch_in_epoch"] == 1 and int(state["model"]["generator_iters"]) >= 1
    resumed = _wgan_trainer(tmp_path / "b")
    torch.manual_seed(999)   # the checkpoint's RNG states, not this, decide what follows
    assert resumed.restore()
    resumed.fit()
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0)
    assert int(resumed.model.generator_iters) == int(straight.model.generator_iters) > 0
    assert resumed.extra["step_records"] == straight.extra["step_records"]   # the EM estimate by update too
    assert len(straight.extra["step_records"]) == int(straight.model.generator_iters)
    for name in ("critic", "generator"):
        a, b = straight.opt[name].state_dict()["state"], resumed.opt[name].state_dict()["state"]
        for k in a:
            torch.testing.assert_close(b[k]["square_avg"], a[k]["square_avg"], rtol=0, atol=0)


def test_updates_recorded_before_a_kill_are_logged_once_after_the_resume(tmp_path):
    def logged(sink):
        def log(metrics, step):
            if "update_em_estimate" in metrics:
                sink.append((step, metrics["update_em_estimate"]))
        return log

    straight, once = _wgan_trainer(tmp_path / "a"), []
    straight.fit(log_metrics=logged(once))
    killed, parts = _wgan_trainer(tmp_path / "b"), []
    real_step = killed.model.training_step

    def dying(batch, step, opt):
        if step == 9:   # the last batch of epoch 2; its checkpoint after step 7 holds update 3, not yet logged
            raise Interrupt
        return real_step(batch, step, opt)
    killed.model.training_step = dying
    with pytest.raises(Interrupt):
        killed.fit(log_metrics=logged(parts))
    state = load_checkpoint(tmp_path / "b" / "wgan.pt")
    assert state["batch_in_epoch"] == 3 and len(state["extra"]["step_records"]) > state["extra"]["step_records_logged"]
    resumed = _wgan_trainer(tmp_path / "b")
    assert resumed.restore()
    resumed.fit(log_metrics=logged(parts))
    assert [u for u, _ in once] == list(range(1, int(straight.model.generator_iters) + 1))
    assert parts == once   # every update logged exactly once, with the same estimate


def test_a_diverging_player_is_named():
    model = GAN((1, 8, 8), arch="mlp", z_dim=4, g_hidden=(8,), d_hidden=(8,))
    with torch.no_grad():
        model.discriminator.net[-1].bias.fill_(float("nan"))
    opt = Optimizers({k: v for k, v in _opts(model).items()})
    opt.where = "epoch 3, step 12"
    with pytest.raises(FloatingPointError, match="loss is nan at epoch 3, step 12 \\(optimiser 'discriminator'\\)"):
        model.training_step((torch.rand(4, 1, 8, 8),), 12, opt)


def test_dcgan_networks_start_from_radford_et_al_initialisation():
    torch.manual_seed(0)
    model = GAN((1, 28, 28), arch="dcgan", z_dim=100, base_channels=64)
    assert isinstance(model.generator, DCGANGenerator) and isinstance(model.discriminator, DCGANDiscriminator)
    weights = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(weights) == 6 and len(bns) == 3
    for m in weights:
        w = m.weight.detach()
        assert abs(float(w.std()) - 0.02) < 0.02 * 0.15 and abs(float(w.mean())) < 0.003
        assert torch.count_nonzero(m.bias) == 0
    gammas = torch.cat([b.weight.detach() for b in bns])       # 64 + 128 + 128 scales
    assert abs(float(gammas.mean()) - 1.0) < 0.01 and 0.015 < float(gammas.std()) < 0.025
    assert all(torch.count_nonzero(b.bias) == 0 for b in bns)
    # init_std None keeps PyTorch's default (Kaiming-uniform: the first conv's weights spread far wider)
    default = GAN((1, 28, 28), arch="dcgan", z_dim=100, base_channels=64, init_std=None)
    assert float(default.discriminator.net[0].weight.detach().std()) > 0.1
    assert all(torch.all(b.weight == 1) for b in default.modules() if isinstance(b, nn.BatchNorm2d))
    # the MLP networks keep PyTorch's default whatever init_std says (seed 002 gives none)
    mlp = GAN((1, 28, 28), arch="mlp", z_dim=100)
    assert torch.count_nonzero(mlp.generator.net[0].bias) > 0


def test_wgan_keeps_the_em_estimate_at_every_generator_update_and_g_loss_only_when_it_moves():
    torch.manual_seed(0)
    model = _tiny_wgan(dropout=0.0, n_critic=3, warmup_generator_iters=1, warmup_critic_iters=2, warmup_every=0)
    opt = _rmsprop(model)
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    expected = []
    for step in range(11):     # generator updates after critic steps 2, 5, 8, 11, ...: steps 1, 4, 7, 10
        figures = model.training_step((x,), step, opt)
        assert ("g_loss" in figures) == (step in (1, 4, 7, 10))
        if "g_loss" in figures:
            expected.append((int(model.generator_iters), {"em_estimate": figures["em_estimate"],
                                                          "g_loss": figures["g_loss"]}))
    records = model.pop_step_records()
    assert [u for u, _ in records] == [1, 2, 3, 4] and records == expected
    assert model.pop_step_records() == []


def test_trainer_stores_update_records_and_averages_g_loss_over_generator_updates_only(tmp_path):
    trainer = _wgan_trainer(tmp_path, epochs=1)
    logged = []
    trainer.fit(log_metrics=lambda m, step: logged.append((step, dict(m))))
    records = trainer.extra["step_records"]
    assert [r["update"] for r in records] == list(range(1, int(trainer.model.generator_iters) + 1))
    # 5 batches of 8: updates after critic steps 3 (warm-up) and 5 -> two updates, g_loss the mean of their two
    assert len(records) == 2
    assert trainer.history[0]["train_g_loss"] == pytest.approx(sum(r["g_loss"] for r in records) / 2, rel=1e-12)
    per_update = [(step, m) for step, m in logged if "update_em_estimate" in m]
    assert [(s, m["update_em_estimate"]) for s, m in per_update] == [(r["update"], r["em_estimate"]) for r in records]
    assert trainer.extra["step_records_logged"] == 2
