"""The real pipeline at tiny scale in a temporary clone: `dvc repro`, caching, exact invalidation, resume, scales.

The clone reads canonical-format MNIST (IDX files this test writes), CIFAR-10's embedded
stand-in (the pinned scikit-image wheel from PyPI, cached in ~/.cache/genlab like any
run) and a small TorchScript stand-in for Inception, so it runs in minutes on a CPU.
Tests run in file order and share one clone.
"""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from tests.conftest import REPO, write_canonical_mnist

pytestmark = pytest.mark.slow
VAE_MODELS = ("vae_mlp", "vae_mlp_sbin", "vae_mlp_z2", "vae_conv", "vae_conv_cond", "vae_conv_cifar")
AE_MODELS = ("ae", "cae")           # the clone drops ae_wd, dae_g and dae_b: the same code paths, minutes saved
FLOW_MODELS = ("realnvp_mnist", "realnvp_cifar")
GAN_MODELS = ("gan_mlp", "dcgan", "wgan", "vae_gan")   # the clone drops dcgan_cifar: dcgan's code at 32x32
SAMPLERS = VAE_MODELS + FLOW_MODELS + GAN_MODELS  # sample@ and sample_metrics@
TEXT_MODELS = ("gru_encdec",)
VQ_MODELS = ("vqvae_mnist", "vqvae2_faces")   # the clone drops vqvae_cifar: vqvae_mnist's code at 32x32 colour
PRIORS = ("prior_vqvae_mnist", "prior_vqvae2_faces")   # fit_prior@, sample@ and sample_metrics@
MODELS = VAE_MODELS + AE_MODELS + FLOW_MODELS + GAN_MODELS + TEXT_MODELS + VQ_MODELS
# stability@: the clone keeps two generators (a DCGAN one without batch norm, the MLP one with a DCGAN critic)
CELLS = tuple(f"{o}-{g}" for o in ("gan", "wgan") for g in ("dcgan_nobn", "mlp"))
DATASETS = ("mnist", "cifar10", "faces")     # image data sets (real_stats@)
TEXT_DATASETS = ("wmt14_enfr",)


class StandInInception(torch.nn.Module):
    """(N, 3, 299, 299) -> (N, 6): per-channel means and stds; the Inception plumbing without its cost."""

    def forward(self, x):
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


def _files_to_copy() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    return [f for f in out.split("\0") if f and (REPO / f).is_file()]


class Project:
    def __init__(self, root: Path, env: dict[str, str]):
        self.root, self.env = root, env

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(cmd, cwd=self.root, env=self.env, capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(str(Path(sys.executable).parent / "dvc"), *args, check=check)

    def edit_params(self, mutate) -> None:
        path = self.root / "params.yaml"
        raw = yaml.safe_load(path.read_text())
        mutate(raw)
        path.write_text(yaml.safe_dump(raw, sort_keys=False))

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", message, "--allow-empty")


def _stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output)) - {"resolve"}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    root = tmp_path_factory.mktemp("clone")
    for rel in _files_to_copy():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, root / rel)
    for committed in ("metrics", "reports/records"):           # start without committed results
        shutil.rmtree(root / committed, ignore_errors=True)
    for f in ("paper_comparison.md", "paper_comparison.csv"):
        (root / "reports" / f).unlink(missing_ok=True)
    (root / "dvc.lock").unlink(missing_ok=True)
    raw_root = write_canonical_mnist(tmp_path_factory.mktemp("mnist"), n_train=12_200, n_test=400)
    standin = tmp_path_factory.mktemp("inception") / "standin.pt"
    torch.jit.script(StandInInception()).save(str(standin))
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)   # bytecode beside the sources must not disturb DVC (.dvcignore)
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
               PYTHONPATH=str(root / "src"),     # the clone runs its own sources, not the editable install's
               MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}",
               GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t",
               PYTHONUNBUFFERED="1")
    p = Project(root, env)

    def tiny(raw):
        raw["scale"] = "tiny"
        for dropped in ("ae_wd", "dae_g", "dae_b", "dcgan_cifar"):
            del raw["models"][dropped]
        del raw["sample_metrics"]["models"]["dcgan_cifar"]
        del raw["models"]["vqvae_cifar"]
        del raw["priors"]["prior_vqvae_cifar"]
        del raw["codes"]["models"]["vqvae_cifar"]
        del raw["sample_metrics"]["models"]["prior_vqvae_cifar"]
        del raw["stability"]["generators"]["dcgan"]
        raw["datasets"]["mnist"]["overrides"]["tiny"] = {
            "source": "canonical", "canonical_root": str(raw_root), "download": False,
            "n_train": 2000, "n_valid": 500, "n_test": 400}
        raw["sample_metrics"]["overrides"]["tiny"]["inception"] = {"weights": "path", "path": str(standin)}
        # `paper` as small as tiny, so that switching scales (the last test) costs seconds
        for block in [raw["datasets"][d] for d in DATASETS + TEXT_DATASETS] + [raw["models"][m] for m in MODELS] + [
                raw["classifier"], raw["sample_metrics"], raw["runtime"], raw["stability"]] + [
                raw["priors"][m] for m in PRIORS]:
            block["overrides"]["paper"] = copy.deepcopy(block["overrides"]["tiny"])
    p.edit_params(tiny)
    p.run("git", "init", "-q")
    p.commit("clone")
    return p


def test_repro_builds_every_output(project):
    start = time.perf_counter()
    out = project.dvc("repro").stdout
    elapsed = time.perf_counter() - start
    assert _stages_run(out) == ({"train_classifier", "report"} | {f"prepare@{d}" for d in DATASETS + TEXT_DATASETS}
                                | {f"real_stats@{d}" for d in DATASETS}
                                | {f"{s}@{m}" for s in ("train", "evaluate") for m in MODELS}
                                | {f"{s}@{m}" for s in ("sample", "sample_metrics") for m in SAMPLERS + PRIORS}
                                | {f"extract_codes@{m}" for m in VQ_MODELS} | {f"fit_prior@{m}" for m in PRIORS}
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
        assert f"kid_{net}" in json.loads((root / f"metrics/tiny/samples/{m}.json").read_text())
    assert json.loads((root / "metrics/tiny/dcgan.json").read_text())["generator_updates"] > 0
    vae_gan = json.loads((root / "metrics/tiny/vae_gan.json").read_text())
    assert vae_gan["test_kl"] > 0 and 0 < vae_gan["test_pixel_mse"] < 1
    assert (root / "reports/figures/tiny/vae_gan/reconstructions.png").exists()
    for c in CELLS:   # the stability matrix: every epoch's generator scored, from the untrained one on
        record = json.loads((root / f"reports/records/tiny/stability/{c}.json").read_text())
        curve = record["curves"]["checkpoints"]
        assert curve["epoch"] == [0, 1, 2, 3] and len(curve["fid_classifier"]) == 4
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
    text = json.loads((root / "data/tiny/wmt14_enfr/manifest.json").read_text())
    assert text["kind"] == "text" and text["counts"]["train"] == 1500 and "NOT WMT'14" in text["stand_in"]
    assert text["vocab"]["en"]["size"] <= 2004 and set(text["bad_input"]) >= {"pairs_read", "duplicates"}
    gru = json.loads((root / "reports/records/tiny/gru_encdec.json").read_text())
    assert gru["protocol"]["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    assert 0 <= gru["values"]["test_bleu"] <= 100 and gru["values"]["copy_source_bleu"] > 0
    assert gru["values"]["test_perplexity"] > 1 and len(gru["examples"]) > 0
    assert (root / "reports/figures/tiny/gru_encdec/phrase_map.png").exists()
    faces = json.loads((root / "data/tiny/faces/manifest.json").read_text())
    assert faces["image_shape"] == [1, 32, 32] and faces["counts"] == {"train": 320, "valid": 30, "test": 50}
    assert "NOT FFHQ" in faces["stand_in"]
    for m in VQ_MODELS:   # stage 1: codes, reconstructions, codebook use
        values = json.loads((root / f"metrics/tiny/{m}.json").read_text())
        record = json.loads((root / f"reports/records/tiny/{m}.json").read_text())
        levels = record["protocol"]["levels"]
        assert all(1 <= values[f"test_{lv}_perplexity"] <= 16 for lv in levels)
        assert values["test_bpd_uniform_prior"] > values["test_recon_bpd"] > 0
        manifest = json.loads((root / f"codes/tiny/{m}/manifest.json").read_text())
        assert manifest["levels"] == levels and manifest["counts"] == (
            {"train": 2000, "valid": 500, "test": 400} if m == "vqvae_mnist" else faces["counts"])
        for lv, shape in manifest["code_shapes"].items():
            codes = np.load(root / f"codes/tiny/{m}/test_{lv}.npy")
            assert codes.shape == (manifest["counts"]["test"], *shape) and 0 <= codes.min() <= codes.max() < 16
    assert json.loads((root / "reports/records/tiny/vqvae2_faces.json").read_text())["protocol"]["code_shapes"] == {
        "top": [4, 4], "bottom": [8, 8]}
    for m in PRIORS:      # stage 2: the prior's NLL, the bound and its samples scored like any generator's
        values = json.loads((root / f"metrics/tiny/{m}.json").read_text())
        record = json.loads((root / f"reports/records/tiny/{m}.json").read_text())
        n_pos, d = sum(h * w for h, w in record["protocol"]["code_shapes"].values()), record["protocol"]["n_dims"]
        assert values["test_bpd_uniform_prior"] - values["test_recon_bpd"] == pytest.approx(n_pos * 4 / d)
        assert values["test_bpd"] == pytest.approx(values["test_recon_bpd"] + values["test_bits_per_code"] * n_pos / d)
        assert (root / f"reports/figures/tiny/{m}/samples.png").exists()
        assert (root / f"samples/tiny/{m}/samples.npy").exists()
    cas = json.loads((root / "metrics/tiny/samples/prior_vqvae_mnist.json").read_text())
    assert 0 <= cas["cas_top1_pct"] <= 100 and 0 <= cas["cas_recon_top1_pct"] <= 100 and "kid_classifier" in cas
    assert 1 <= cas["is_classifier"] <= 10
    recon = np.load(root / "samples/tiny/prior_vqvae_mnist/cas_test_recon.npy")
    assert recon.shape == (400, 1, 28, 28) and recon.dtype == np.uint8
    assert "kid_inception" in json.loads((root / "metrics/tiny/samples/prior_vqvae2_faces.json").read_text())
    report = (root / "reports/paper_comparison.md").read_text()
    assert "GANs, VAEs and flows compared" in report and "exact density of the dequantized data" in report
    assert "The WGAN paper's stability matrix" in report and "rho(EM estimate, FID)" in report
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
                    | {("sample_metrics", m, "tiny") for m in SAMPLERS + PRIORS}
                    | {(s, m, "tiny") for s in ("train", "fit_prior") for m in PRIORS}   # its training, its figures
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
    assert _stages_run(out) == set()
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
    ran = _stages_run(out)
    assert not any(s.startswith(("train", "prepare", "sample@")) for s in ran), ran
    assert "evaluate@vae_mlp" in ran and "evaluate@vae_conv" not in ran
    assert {f"sample_metrics@{m}" for m in SAMPLERS} <= ran and {"real_stats@mnist", "report"} <= ran
    project.commit("fid edit, iwae_k")


def test_changing_a_vae_conv_param_reruns_only_its_stages(project):
    project.edit_params(lambda raw: raw["models"]["vae_conv"]["overrides"]["tiny"]["train"].update(lr=2e-3))
    out = project.dvc("repro").stdout
    assert _stages_run(out) == {"train@vae_conv", "evaluate@vae_conv", "sample@vae_conv",
                                "sample_metrics@vae_conv", "report"}
    project.commit("vae_conv lr")


def test_changing_a_finetune_param_reuses_the_pretraining(project):
    project.edit_params(lambda raw: raw["models"]["ae"]["overrides"]["tiny"]["finetune"].update(lr=0.05))
    out = project.dvc("repro").stdout
    assert _stages_run(out) == {"train@ae", "evaluate@ae", "report"}
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
    assert _stages_run(out) == {"prepare@mnist", "train@vae_mlp", "evaluate@vae_mlp"}
    root = project.root
    for m in MODELS:  # committed metrics of the first scale stay beside the new scale's
        assert (root / f"metrics/tiny/{m}.json").exists(), "the other scale's metrics were removed"
        assert (root / f"reports/records/tiny/{m}.json").exists()
    assert (root / "metrics/paper/vae_mlp.json").exists()
    exp = project.dvc("exp", "show", "--json").stdout
    assert "metrics/paper/vae_mlp.json" in exp and "test_nelbo_bpd" in exp
