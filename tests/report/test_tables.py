import json

import pandas as pd
import pytest

from genlab.report.references import REFERENCES, Reference
from genlab.report.tables import COLUMNS, comparison_rows, load_metrics, markdown_report


def _record(scale, model="vae_mlp", nelbo_bpd=0.15, niwae=80.0):
    return {
        "model": model, "family": "vae", "dataset": "mnist", "scale": scale,
        "test_nelbo_bpd": nelbo_bpd, "test_nelbo_nats": 81.0, "test_niwae_nats": niwae, "train_epochs": 80,
        "protocol": {"split": "test", "binarization": "threshold", "data_source": "embedded", "iwae_k": 5000,
                     "n_iwae": 10000, "elbo_samples_per_image": 1, "n_test": 10000,
                     "bpd_formula": "bpd = nll_nats / (n_dims * ln 2)", "n_dims": 784},
        "figures": [f"reports/figures/{scale}/{model}/samples.png"],
        "provenance": {k: "ab" * 32 for k in ("git_commit", "code_sha256", "params_sha256", "data_sha256",
                                             "checkpoint_sha256")},
        "_path": f"metrics/{scale}/{model}.json",
    }


def test_rows_for_both_scales_with_sign_and_notes():
    refs = (Reference("vae_mlp", "mnist", "bpd", "bits/dim", 0.1377, "seed 002", "test_nelbo_bpd"),
            Reference("vae_mlp", "mnist", "LL", "nats", -86.76, "IWAE", "test_niwae_nats", sign=-1.0))
    df = comparison_rows([_record("quick", nelbo_bpd=0.16), _record("paper", nelbo_bpd=0.14)], refs)
    assert list(df.columns) == COLUMNS
    assert len(df) == 4
    assert df["scale"].tolist() == ["paper", "quick", "paper", "quick"]   # paper first within a figure
    assert df.loc[0, "ours"] == 0.14 and df.loc[1, "ours"] == 0.16
    assert df.loc[2, "ours"] == -80.0                                      # NLL -> log-likelihood
    assert "not comparable" in df.loc[1, "note"] and "not comparable" not in df.loc[0, "note"]
    assert "IWAE k=5000 on 10000 images" in df.loc[2, "protocol"]
    assert "n_dims=784" in df.loc[0, "protocol"]


def test_models_without_metrics_give_no_rows():
    df = comparison_rows([_record("quick", model="vae_conv")], REFERENCES)
    assert set(df["model"]) == {"vae_conv"}


def test_load_metrics_and_markdown(tmp_path):
    for scale in ("quick", "paper"):
        path = tmp_path / "metrics" / scale / "vae_mlp.json"
        path.parent.mkdir(parents=True)
        rec = _record(scale)
        rec.pop("_path")
        path.write_text(json.dumps(rec))
    records = load_metrics(tmp_path / "metrics")
    assert [r["scale"] for r in records] == ["paper", "quick"]
    df = comparison_rows(records)
    md = markdown_report("title", df, records)
    assert md.startswith("# title")
    assert "| paper | vae_mlp |" in md and "| quick | vae_mlp |" in md        # provenance of both scales
    assert "![samples](figures/paper/vae_mlp/samples.png)" in md
    assert "0.1377" in md


def test_every_reference_names_a_metric_the_evaluate_stage_writes():
    import inspect

    from genlab.config import load_params
    from genlab.workflows import for_family
    from tests.conftest import REPO

    params = load_params(REPO / "params.yaml", scale="paper")
    sample_stage = (REPO / "stages/sample_quality.py").read_text()
    for ref in REFERENCES:
        if ref.model in ("real_data", "gaussian_noise", "classifier"):  # reference rows: see load_metrics
            assert ref.ours in ("fid_classifier", "fid_inception", "cas_top1_pct"), ref
            continue
        assert ref.model in params.models, ref
        if ref.ours.startswith(("fid_", "cas_")):
            assert ref.model in params.sample_quality.models, ref
            assert ref.ours in ('fid_classifier', 'fid_inception') or f'"{ref.ours}"' in sample_stage, ref
        else:
            source = inspect.getsource(for_family(params.models[ref.model].family).evaluate)
            assert f'"{ref.ours}"' in source, (ref.model, ref.ours)


def test_sample_metrics_and_reference_rows_join_the_report(tmp_path):
    root = tmp_path / "metrics"
    prov = {k: "cd" * 32 for k in ("git_commit", "code_sha256", "params_sha256", "data_sha256", "checkpoint_sha256")}
    (root / "quick" / "samples").mkdir(parents=True)
    (root / "quick" / "reference").mkdir()
    rec = _record("quick", model="vae_conv_cond")
    rec.pop("_path")
    (root / "quick" / "vae_conv_cond.json").write_text(json.dumps(rec))
    net = {"feature_network": "Fréchet classifier distance (test)", "weights_sha256": "ef" * 32,
           "n_samples": 10000, "n_real": 10000, "real_split": "test"}
    (root / "quick" / "samples" / "vae_conv_cond.json").write_text(json.dumps({
        "model": "vae_conv_cond", "scale": "quick", "fid_classifier": 12.5, "cas_accuracy": 0.9, "cas_top1_pct": 90.0,
        "sample_metrics": {"fid_classifier": net, "cas_accuracy": {"train": "50000 samples", "test": "real test split"}},
        "provenance": prov}))
    (root / "quick" / "reference" / "fid.json").write_text(json.dumps({
        "model": "reference", "scale": "quick",
        "fid": {"classifier": {"feature_network": "clf", "weights_sha256": "ef" * 32, "real_train_vs_test": 2.5,
                               "noise_vs_test": 1700.0, "n_real": 10000, "n_noise": 10000, "notes": []}},
        "protocol": {"real": "first 10000", "noise": "N(0.5, 0.25^2)"}, "provenance": prov}))
    (root / "quick" / "reference" / "classifier.json").write_text(json.dumps({
        "model": "classifier", "scale": "quick", "test_accuracy": 0.9942,
        "protocol": {"n_train": 50000, "n_test": 10000}, "provenance": prov}))
    records = load_metrics(root)
    df = comparison_rows(records)
    got = {(r.model, r.metric): r.ours for r in df.itertuples()}
    assert got[("vae_conv_cond", "Fréchet classifier distance to the real test split")] == 12.5
    assert got[("vae_conv_cond", "CAS top-1, classifier trained on samples")] == 90.0
    assert got[("classifier", "CAS reference: classifier trained on real data, top-1")] == 99.42
    assert got[("real_data", "Fréchet classifier distance, real train vs real test")] == 2.5
    assert got[("gaussian_noise", "Fréchet classifier distance, Gaussian noise vs real test")] == 1700.0
    assert not any(m.startswith("FID (Inception)") for m in df["metric"])   # not computed: no rows
    fid_row = df[df["metric"] == "Fréchet classifier distance to the real test split"].iloc[0]
    assert "10000 samples vs 10000 real test images" in fid_row["protocol"] and "efefefefefef" in fid_row["protocol"]
    md = markdown_report("t", df, records)
    assert "`" + str(root / "quick" / "samples" / "vae_conv_cond.json") + "`" in md   # its provenance row
