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
    written = {"test_nelbo_nats", "test_nelbo_bpd", "test_niwae_nats", "test_niwae_bpd", "test_recon_nats",
               "test_kl_nats", "test_nelbo_k_nats"}
    assert {ref.ours for ref in REFERENCES} <= written
