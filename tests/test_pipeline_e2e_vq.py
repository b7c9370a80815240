"""The VQ family's two stages end to end at tiny scale, in a clone of its own (tests/e2e_clone.py) that keeps
MNIST, the faces stand-in, the classifier and the VQ models with their priors: `dvc repro` builds stage 1, the
code maps and stage 2, the priors' samples are scored like any generator's, and a prior's param reruns stage 2
only. Runs beside tests/test_pipeline_e2e.py on the other core."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.e2e_clone import Project, drop, make_clone, stages_run

pytestmark = pytest.mark.slow
VQ_MODELS = ("vqvae_mnist", "vqvae2_faces")   # the clone drops vqvae_cifar: vqvae_mnist's code at 32x32 colour
PRIORS = ("prior_vqvae_mnist", "prior_vqvae2_faces")   # fit_prior@, sample@ and sample_metrics@
DATASETS = ("mnist", "faces")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    def trim(raw):
        drop(raw, models=tuple(m for m in raw["models"] if m not in VQ_MODELS),
             priors=tuple(m for m in raw["priors"] if m not in PRIORS), datasets=("cifar10", "wmt14_enfr"),
             generators=("dcgan", "dcgan_nobn"), objectives=("wgan",))   # the matrix needs a cell: one, gan-mlp

    return make_clone(tmp_path_factory, trim, lambda raw: [raw["datasets"][d] for d in DATASETS] + [
        raw["models"][m] for m in VQ_MODELS] + [raw["priors"][m] for m in PRIORS] + [
        raw["classifier"], raw["sample_metrics"], raw["runtime"], raw["stability"]])


def test_repro_builds_both_stages_and_scores_the_priors(project):
    out = project.dvc("repro").stdout
    assert stages_run(out) == ({"train_classifier", "report", "stability@gan-mlp"}
                               | {f"{s}@{d}" for s in ("prepare", "real_stats") for d in DATASETS}
                               | {f"{s}@{m}" for s in ("train", "evaluate", "extract_codes") for m in VQ_MODELS}
                               | {f"{s}@{m}" for s in ("fit_prior", "sample", "sample_metrics") for m in PRIORS})
    root = project.root
    faces = json.loads((root / "data/tiny/faces/manifest.json").read_text())
    assert faces["image_shape"] == [1, 32, 32] and faces["counts"] == {"train": 320, "valid": 40, "test": 40}
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
    faces_cas = json.loads((root / "metrics/tiny/samples/prior_vqvae2_faces.json").read_text())
    assert "kid_inception" in faces_cas   # and CAS over the 40 people, beside the same classifier on real photos
    assert all(0 <= faces_cas[k] <= 100 for k in ("cas_top1_pct", "cas_recon_top1_pct", "cas_real_top1_pct"))
    cas_y = np.load(root / "samples/tiny/prior_vqvae2_faces/cas_y.npy")
    assert np.bincount(cas_y, minlength=40).tolist() == [8] * 40   # as many samples per person as real photos
    report = (root / "reports/paper_comparison.md").read_text()
    assert "prior_vqvae_mnist" in report and "vqvae2_faces" in report


def test_every_stage_is_an_mlflow_run(project):
    import mlflow

    mlflow.set_tracking_uri(project.env["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["genlab"])
    tags = set(zip(runs["tags.genlab.stage"], runs["tags.genlab.model"]))
    assert tags >= ({(s, m) for s in ("train", "evaluate") for m in VQ_MODELS}
                    | {(s, m) for s in ("train", "fit_prior", "sample_metrics") for m in PRIORS})


def test_a_prior_param_reruns_stage_two_only(project):
    def wider(raw):
        raw["priors"]["prior_vqvae_mnist"]["overrides"]["tiny"]["model"]["codes"]["channels"] = 12
    project.edit_params(wider)
    out = project.dvc("repro").stdout
    assert stages_run(out) == {"fit_prior@prior_vqvae_mnist", "sample@prior_vqvae_mnist",
                               "sample_metrics@prior_vqvae_mnist", "report"}
    assert "Stage 'extract_codes@vqvae_mnist' didn't change, skipping" in out   # stage 1 and its codes reused


def test_a_vq_param_reruns_its_codes_and_prior(project):
    def commit_more(raw):
        raw["models"]["vqvae2_faces"]["model"]["beta"] = 0.5
    project.edit_params(commit_more)
    out = project.dvc("repro").stdout
    assert stages_run(out) == {f"{s}@vqvae2_faces" for s in ("train", "evaluate", "extract_codes")} | {
        f"{s}@prior_vqvae2_faces" for s in ("fit_prior", "sample", "sample_metrics")} | {"report"}
