"""The real pipeline at tiny scale in a temporary clone: `dvc repro`, caching, exact invalidation, resume, scales.

The clone (tests/e2e_clone.py) holds every family but the VQ models, which have their own
clone in tests/test_pipeline_e2e_vq.py so that the two files run side by side. Tests run in
file order and share one clone.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from tests.e2e_clone import Project, drop, make_clone, stages_run

pytestmark = pytest.mark.slow
VAE_MODELS = ("vae_mlp", "vae_mlp_sbin", "vae_mlp_z2", "vae_conv", "vae_conv_cond", "vae_conv_cifar")
AE_MODELS = ("ae", "cae")           # the clone drops ae_wd, dae_g and dae_b: the same code paths, minutes saved
FLOW_MODELS = ("realnvp_mnist", "realnvp_cifar")
GAN_MODELS = ("gan_mlp", "dcgan", "wgan", "vae_gan")   # the clone drops dcgan_cifar: dcgan's code at 32x32
SAMPLERS = VAE_MODELS + FLOW_MODELS + GAN_MODELS  # sample@ and sample_metrics@
TEXT_MODELS = ("gru_encdec",)
MODELS = VAE_MODELS + AE_MODELS + FLOW_MODELS + GAN_MODELS + TEXT_MODELS
# stability@: the clone keeps two generators (a DCGAN one without batch norm, the MLP one with a DCGAN critic)
CELLS = tuple(f"{o}-{g}" for o in ("gan", "wgan") for g in ("dcgan_nobn", "mlp"))
DATASETS = ("mnist", "cifar10")     # image data sets (real_stats@)
TEXT_DATASETS = ("wmt14_enfr",)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    def trim(raw):   # the VQ family has its own clone (tests/test_pipeline_e2e_vq.py)
        drop(raw, models=("ae_wd", "dae_g", "dae_b", "dcgan_cifar") + tuple(m for m in raw["models"]
                                                                             if raw["models"][m]["family"] == "vqvae"),
             priors=tuple(raw["priors"]), datasets=("faces",), generators=("dcgan",))

    return make_clone(tmp_path_factory, trim, lambda raw: [raw["datasets"][d] for d in DATASETS + TEXT_DATASETS] + [
        raw["models"][m] for m in MODELS] + [raw["classifier"], raw["sample_metrics"], raw["runtime"],
                                             raw["stability"]])


def test_repro_builds_every_output(project):
    start = time.perf_counter()
    out = project.dvc("repro").stdout
    elapsed = time.perf_counter() - start
    assert stages_run(out) == ({"train_classifier", "report"} | {f"prepare@{d}" for d in DATASETS + TEXT_DATASETS}
                                | {f"real_stats@{d}" for d in DATASETS}
                                | {f"{s}@{m}" for s in ("train", "evaluate") for m in MODELS}
                                | {f"{s}@{m}" for s in ("sample", "sample_metrics") for m in SAMPLERS}
                                | {f"stability@{c}" for c in CELLS})
    root = project.root
    assert json.loads((root / "data/tiny/mnist/manifest.json").read_text())["counts"]["test"] == 400
    cifar = json.loads((root / "data/tiny/cifar10/manifest.json").read_text())
    assert cifar["image_shape"] == [3, 32, 32] and cifar["classes"] is None and "NOT CIFAR-10" in cifar["stand_in"]
    for m in MODELS:
        assert m in TEXT_MODELS or (root / f"models/tiny/{m}/samples/epoch_000.png").exists()
        metrics = json.loads((root / f"metrics/tiny/{m}.json").read_text())
        assert all(isinstance(v, (int, float)) for v in metrics.values()), m     # figures only
        record = json.loads((root / f"reports/records/tiny/{m}.json").read_text())
        assert record["values"] == metrics and record["scale"] == "tiny"
        assert len(record["provenance"]["data_sha256"]) == 64 and record["provenance"]["code_files"]
        for fig in record["figures"]:
            assert (root / fig).exists(), fig
    for m in VAE_MODELS:
        assert (root / f"models/tiny/{m}/checkpoints/train.pt").exists()
        record = json.loads((root / f"reports/records/tiny/{m}.json").read_text())
        values = record["values"]
        assert values["test_niwae_nats"] <= values["test_nelbo_k_nats"] + 1e-6
        d = 784 if record["dataset"] == "mnist" else 3072
        assert values["test_nelbo_bpd"] == pytest.approx(values["test_nelbo_nats"] / (d * 0.6931471805599453))
        samples = json.loads((root / f"metrics/tiny/samples/{m}.json").read_text())
        net = "classifier" if record["dataset"] == "mnist" else "inception"
        assert f"kid_{net}" in samples
        assert (f"fid_{net}" in samples) == (net == "classifier")   # Inception FID refused below 2048 samples
    cifar_vae = json.loads((root / "metrics/tiny/vae_conv_cifar.json").read_text())
    assert 0 < cifar_vae["test_nelbo_bpd"] < 9     # discretized logistic on 8-bit colour: a few bits/dim
    for m in FLOW_MODELS:
        record = json.loads((root / f"reports/records/tiny/{m}.json").read_text())
        assert 0 < record["values"]["test_bpd"] < 20 and record["protocol"]["view"] == "dequantized"
        assert record["training"]["parameters"] > 0 and record["training"]["train_images_per_second"] > 0
        assert (root / f"reports/figures/tiny/{m}/samples_T0.7.png").exists()
        samples = json.loads((root / f"metrics/tiny/samples/{m}.json").read_text())
        assert ("kid_classifier" if record["dataset"] == "mnist" else "kid_inception") in samples
    for m in GAN_MODELS:
        record = json.loads((root / f"reports/records/tiny/{m}.json").read_text())
        assert record["values"]["train_epochs"] == 1
        assert (root / f"reports/figures/tiny/{m}/interpolations.png").exists()
        net = "classifier" if record["dataset"] == "mnist" else "inception"
        samples = json.loads((root / f"metrics/tiny/samples/{m}.json").read_text())
        assert f"kid_{net}" in samples
        if net == "classifier":   # the samples' classes beside the test split's
            assert 0 <= samples["class_tv_classifier"] <= 1 and 0 <= samples["classes_under_half_classifier"] <= 10
            shares = json.loads((root / f"reports/records/tiny/samples/{m}.json").read_text())[
                "sample_metrics"]["classifier"]["class_balance"]
            assert sum(shares["sample_class_pct"]) == pytest.approx(100, abs=0.1) and len(shares["real_test_class_pct"]) == 10
    assert json.loads((root / "metrics/tiny/dcgan.json").read_text())["generator_updates"] > 0
    vae_gan = json.loads((root / "metrics/tiny/vae_gan.json").read_text())
    assert vae_gan["test_kl"] > 0 and 0 < vae_gan["test_pixel_mse"] < 1
    assert (root / "reports/figures/tiny/vae_gan/reconstructions.png").exists()
    for c in CELLS:   # the stability matrix: every epoch's generator scored, from the untrained one on
        record = json.loads((root / f"reports/records/tiny/stability/{c}.json").read_text())
        curve = record["curves"]["checkpoints"]
        assert curve["epoch"] == [0, 1, 2, 3] and len(curve["fid_classifier"]) == 4
        assert record["values"]["class_tv_classifier"] == curve["class_tv_classifier"][-1]
        assert all(0 <= tv <= 1 for tv in curve["class_tv_classifier"])
        assert record["values"]["pixel_spread"] == curve["pixel_spread"][-1]
        assert all(0 <= s <= 0.5 for s in curve["pixel_spread"])            # a std of values in [0, 1]
        assert 0.1 < record["values"]["pixel_spread_real"] < 0.3           # MNIST digits differ (about 0.18)
        updates = curve["generator_updates"]
        assert updates[0] == 0 < updates[1] < updates[2] < updates[3]
        assert record["values"]["fid_classifier"] == curve["fid_classifier"][-1] > 0
        assert ("train_em_estimate" in curve) == c.startswith("wgan")
        assert len(list((root / f"models/tiny/stability/{c}/checkpoints/generators").glob("epoch_*.pt"))) == 4
        for fig in record["figures"]:
            assert (root / fig).exists(), fig
    assert (root / "reports/stability_curves.png").stat().st_size > 1000
    wgan = json.loads((root / "metrics/tiny/wgan.json").read_text())
    assert wgan["train_em_estimate"] == pytest.approx(-wgan["train_critic_loss"])
    updates = pd.read_csv(root / "reports/figures/tiny/wgan/updates.csv")   # the critic's estimate at every update
    assert updates["update"].tolist() == list(range(1, wgan["generator_updates"] + 1)) and len(updates) >= 2
    assert updates["em_estimate"].notna().all() and (root / "reports/figures/tiny/wgan/em_by_update.png").exists()
    text = json.loads((root / "data/tiny/wmt14_enfr/manifest.json").read_text())
    assert text["kind"] == "text" and text["counts"]["train"] == 1500 and "NOT WMT'14" in text["stand_in"]
    assert text["vocab"]["en"]["size"] <= 2004 + 4 and set(text["bad_input"]) >= {"pairs_read", "duplicates"}
    assert text["copy_unks"] == 4 and text["numbered_unknown_source_words"]["test"] > 0   # tiny copies, as quick
    gru = json.loads((root / "reports/records/tiny/gru_encdec.json").read_text())
    assert gru["protocol"]["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    assert 0 <= gru["values"]["test_bleu"] <= 100 and gru["values"]["copy_source_bleu"] > 0
    assert gru["values"]["test_perplexity"] > 1 and len(gru["examples"]) > 0
    assert 0 <= gru["values"]["test_bleu_without_copy"] <= 100 and gru["protocol"]["copy_unks"] == 4
    assert gru["protocol"]["allow_unk"] is False   # tiny, as quick, bans the plain <unk> from translations
    assert all("<unk>" not in e["tokens"].split() for e in gru["examples"])
    assert (root / "reports/figures/tiny/gru_encdec/phrase_map.png").exists()
    report = (root / "reports/paper_comparison.md").read_text()
    assert "GANs, VAEs and flows compared" in report and "exact density of the dequantized data" in report
    assert "The WGAN paper's stability matrix" in report and "rho(EM estimate, FID)" in report
    assert "classes under half their share" in report
    for m in AE_MODELS:
        assert (root / f"models/tiny/{m}/checkpoints/pretrain.pt").exists()
        assert pd.read_csv(root / f"models/tiny/{m}/history.csv")["epoch"].tolist() == [1]
        values = json.loads((root / f"metrics/tiny/{m}.json").read_text())
        assert 0 <= values["test_error_finetuned_pct"] < 60    # learnt something in one epoch (chance: 90%)
        assert values["jacobian_fro_mean"] > 0 and 0 <= values["saturated_pct"] <= 100
    assert (root / "reports/contraction_curves.png").stat().st_size > 1000
    reference = json.loads((root / "metrics/tiny/reference/mnist.json").read_text())
    for v in ("binary_threshold", "binary_stochastic"):
        assert 0 <= reference[v]["fid_classifier_real_train_vs_test"] < reference[v]["fid_classifier_noise_vs_test"]
    assert (root / "features/tiny/mnist/classifier_binary_threshold_test.npy").exists()
    cas = json.loads((root / "metrics/tiny/samples/vae_conv_cond.json").read_text())
    assert 0 <= cas["cas_top1_pct"] <= 100 and cas["cas_top1_pct"] == pytest.approx(100 * cas["cas_accuracy"])
    assert "cas_top1_pct" not in json.loads((root / "metrics/tiny/samples/vae_conv.json").read_text())
    assert (root / "reports/figures/tiny/vae_mlp_z2/manifold.png").exists()
    csv = pd.read_csv(root / "reports/paper_comparison.csv")
    assert list(csv.columns) == ["model", "dataset", "metric", "unit", "paper", "paper_source", "scale", "ours",
                                 "protocol", "note"]
    assert set(csv["scale"]) == {"tiny"} and {0.1377, 1.14, 4.51} <= set(csv["paper"].tolist())
    assert csv[csv["dataset"] == "cifar10"]["protocol"].str.contains("STAND-IN").all()
    print(f"tiny dvc repro: {elapsed:.1f}s")


def test_every_stage_is_an_mlflow_run(project):
    import mlflow

    mlflow.set_tracking_uri(project.env["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["genlab"])
    tags = set(zip(runs["tags.genlab.stage"], runs["tags.genlab.model"], runs["tags.genlab.scale"]))
    assert tags == ({(s, m, "tiny") for s in ("train", "evaluate") for m in MODELS}
                    | {("sample_metrics", m, "tiny") for m in SAMPLERS}
                    | {("real_stats", d, "tiny") for d in DATASETS}
                    | {(s, f"stability-{c}", "tiny") for s in ("train", "stability") for c in CELLS}
                    | {("train", "classifier", "tiny"), ("train_classifier", "classifier", "tiny")})
    train = runs[(runs["tags.genlab.stage"] == "train") & (runs["tags.genlab.model"] == "vae_mlp")].iloc[0]
    assert train["params.model.model.z_dim"] == "20" and len(train["tags.genlab.git_commit"]) >= 40
    history = mlflow.MlflowClient().get_metric_history(train["run_id"], "valid_loss")
    assert [h.step for h in history] == [1, 2]


def test_second_repro_does_nothing(project):
    project.commit("first repro")
    out = project.dvc("repro").stdout
    assert stages_run(out) == set()
    assert "Data and pipelines are up to date" in out


def test_metrics_hold_numbers_only_and_exp_show_is_small(project):
    shown = json.loads(project.dvc("metrics", "show", "--json").stdout)
    text = json.dumps(shown)
    assert all(f"metrics/tiny/{m}.json" in text for m in MODELS) and "test_nelbo_bpd" in text
    assert "provenance" not in text and "protocol" not in text
    project.dvc("plots", "show", "-o", "dvc_plots")
    assert (project.root / "dvc_plots" / "index.html").exists()


def test_editing_fid_code_and_an_evaluate_param_retrains_nothing(project):
    fid = project.root / "src/genlab/metrics/fid.py"
    fid.write_text(fid.read_text() + "\n# an edit that changes no behaviour\n")
    project.edit_params(lambda raw: raw["models"]["vae_mlp"]["overrides"]["tiny"]["evaluate"].update(iwae_k=6))
    out = project.dvc("repro").stdout
    ran = stages_run(out)
    assert not any(s.startswith(("train", "prepare", "sample@")) for s in ran), ran
    assert "evaluate@vae_mlp" in ran and "evaluate@vae_conv" not in ran
    assert {f"sample_metrics@{m}" for m in SAMPLERS} <= ran and {"real_stats@mnist", "report"} <= ran
    project.commit("fid edit, iwae_k")


def test_changing_a_vae_conv_param_reruns_only_its_stages(project):
    project.edit_params(lambda raw: raw["models"]["vae_conv"]["overrides"]["tiny"]["train"].update(lr=2e-3))
    out = project.dvc("repro").stdout
    assert stages_run(out) == {"train@vae_conv", "evaluate@vae_conv", "sample@vae_conv",
                                "sample_metrics@vae_conv", "report"}
    project.commit("vae_conv lr")


def test_changing_a_finetune_param_reuses_the_pretraining(project):
    project.edit_params(lambda raw: raw["models"]["ae"]["overrides"]["tiny"]["finetune"].update(lr=0.05))
    out = project.dvc("repro").stdout
    assert stages_run(out) == {"train@ae", "evaluate@ae", "report"}
    assert "checkpoints/pretrain.pt is complete" in out
    assert "finetune.pt: made with another config, data or code; training from scratch" in out
    project.commit("ae finetune lr")


def test_a_bad_value_of_another_scale_stops_the_pipeline(project):
    # only the quick scale reads this value; the clone runs at tiny scale
    project.edit_params(lambda raw: raw["models"]["cae"]["overrides"]["quick"]["finetune"].update(epochs=-1))
    proc = project.dvc("repro", check=False)
    assert proc.returncode != 0
    assert "models.cae.overrides.quick.finetune.epochs = -1" in proc.stdout + proc.stderr
    project.run("git", "checkout", "params.yaml")


def test_killed_training_resumes_from_its_checkpoint(project):
    def long_run(raw):
        raw["models"]["vae_mlp"]["overrides"]["tiny"]["train"].update(epochs=60, n_train=256)
    project.edit_params(long_run)
    project.dvc("repro", "resolve")
    ckpt = project.root / "models/tiny/vae_mlp/checkpoints/train.pt"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "dvc"), "repro", "train@vae_mlp"], cwd=project.root,
                            env=project.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    deadline = time.time() + 120
    killed_after = None
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists():
            try:
                state = torch.load(ckpt, weights_only=True)
            except Exception:  # replaced while we read it
                continue
            if state["epoch"] >= 3 and not state["complete"]:
                os.killpg(proc.pid, signal.SIGKILL)   # the whole stage: dvc and its python child
                killed_after = state["epoch"]
                break
        time.sleep(0.05)
    proc.wait(timeout=30)
    assert killed_after is not None, "training finished or never checkpointed before the kill"
    assert not torch.load(ckpt, weights_only=True)["complete"]

    out = project.dvc("repro", "train@vae_mlp").stdout
    match = re.search(r"resuming after epoch (\d+)/60", out)
    assert match and int(match.group(1)) >= killed_after
    history = pd.read_csv(project.root / "models/tiny/vae_mlp/history.csv")
    assert history["epoch"].tolist() == list(range(1, 61))
    assert torch.load(ckpt, weights_only=True)["complete"]

    # tiny scale journals its runs (tracking mode deferred); the report stage, or this, logs them
    assert "1 journaled run(s) logged" in project.run(sys.executable, "-m", "genlab.tracking").stdout
    import mlflow

    mlflow.set_tracking_uri(project.env["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["genlab"],
                              filter_string="tags.`genlab.model` = 'vae_mlp' and tags.`genlab.stage` = 'train'")
    resumed = runs[runs["tags.genlab.resumed"] == "true"]
    assert len(resumed) == 1   # the killed run continued in the same MLflow run
    steps = [h.step for h in mlflow.MlflowClient().get_metric_history(resumed.iloc[0]["run_id"], "valid_loss")]
    assert sorted(set(steps)) == list(range(1, 61))


def test_another_scale_keeps_the_first_scales_results(project):
    project.dvc("repro")  # bring every tiny stage up to date after the edits above
    project.commit("tiny results")
    # one model at the other scale (every model would only repeat the same DVC mechanics for minutes)
    out = project.dvc("exp", "run", "-S", "scale=paper", "evaluate@vae_mlp").stdout
    assert stages_run(out) == {"prepare@mnist", "train@vae_mlp", "evaluate@vae_mlp"}
    root = project.root
    for m in MODELS:  # committed metrics of the first scale stay beside the new scale's
        assert (root / f"metrics/tiny/{m}.json").exists(), "the other scale's metrics were removed"
        assert (root / f"reports/records/tiny/{m}.json").exists()
    assert (root / "metrics/paper/vae_mlp.json").exists()
    exp = project.dvc("exp", "show", "--json").stdout
    assert "metrics/paper/vae_mlp.json" in exp and "test_nelbo_bpd" in exp
