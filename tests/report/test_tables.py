import json

import pytest

from genlab.report.references import REFERENCES, Reference
from genlab.report.tables import COLUMNS, comparison_rows, load_records, markdown_report

PROV = {k: "ab" * 32 for k in ("git_commit", "code_sha256", "params_sha256", "data_sha256", "checkpoint_sha256")}


def _evaluate_record(scale, model="vae_mlp", nelbo_bpd=0.15, niwae=80.0, dataset="mnist", stand_in=None):
    return {
        "stage": "evaluate", "model": model, "family": "vae", "dataset": dataset, "scale": scale,
        "values": {"test_nelbo_bpd": nelbo_bpd, "test_nelbo_nats": 81.0, "test_niwae_nats": niwae, "train_epochs": 80},
        "protocol": {"split": "test", "view": "binary_threshold", "data_source": "embedded", "iwae_k": 5000,
                     "n_iwae": 10000, "elbo_samples_per_image": 1, "n_test": 10000, "stand_in": stand_in,
                     "bpd_formula": "bpd = nll_nats / (n_dims * ln 2)", "n_dims": 784},
        "figures": [f"reports/figures/{scale}/{model}/samples.png"],
        "provenance": PROV,
    }


def _write(root, rel, record):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def test_rows_for_both_scales_with_sign_and_notes(tmp_path):
    refs = (Reference("vae_mlp", "mnist", "bpd", "bits/dim", 0.1377, "seed 002", "test_nelbo_bpd"),
            Reference("vae_mlp", "mnist", "LL", "nats", -86.76, "IWAE", "test_niwae_nats", sign=-1.0))
    _write(tmp_path, "quick/vae_mlp.json", _evaluate_record("quick", nelbo_bpd=0.16))
    _write(tmp_path, "paper/vae_mlp.json", _evaluate_record("paper", nelbo_bpd=0.14))
    df = comparison_rows(load_records(tmp_path), refs)
    assert list(df.columns) == COLUMNS
    assert len(df) == 4
    assert df["scale"].tolist() == ["paper", "quick", "paper", "quick"]   # paper first within a figure
    assert df.loc[0, "ours"] == 0.14 and df.loc[1, "ours"] == 0.16
    assert df.loc[2, "ours"] == -80.0                                      # NLL -> log-likelihood
    assert "not comparable" in df.loc[1, "note"] and "not comparable" not in df.loc[0, "note"]
    assert "IWAE k=5000 on 10000 images" in df.loc[2, "protocol"]
    assert "n_dims=784" in df.loc[0, "protocol"]


def test_stand_in_data_is_named_in_protocol_and_note(tmp_path):
    refs = (Reference("vae_conv_cifar", "cifar10", "bpd", "bits/dim", 4.51, "VQ-VAE", "test_nelbo_bpd"),)
    _write(tmp_path, "paper/vae_conv_cifar.json",
           _evaluate_record("paper", "vae_conv_cifar", 5.0, dataset="cifar10", stand_in="patches, NOT CIFAR-10"))
    df = comparison_rows(load_records(tmp_path), refs)
    assert "STAND-IN: patches, NOT CIFAR-10" in df.loc[0, "protocol"]
    assert df.loc[0, "note"].startswith("STAND-IN data, not cifar10")


def test_a_model_on_another_data_set_gets_no_rows_of_this_one(tmp_path):
    _write(tmp_path, "quick/vae_mlp.json", _evaluate_record("quick", dataset="cifar10"))
    assert comparison_rows(load_records(tmp_path), REFERENCES).empty


def test_load_records_and_markdown(tmp_path):
    for scale in ("quick", "paper"):
        _write(tmp_path, f"{scale}/vae_mlp.json", _evaluate_record(scale))
    records = load_records(tmp_path)
    assert [r["scale"] for r in records] == ["paper", "quick"]
    df = comparison_rows(records)
    md = markdown_report("title", df, records)
    assert md.startswith("# title")
    assert f"| paper | vae_mlp | `{tmp_path / 'paper/vae_mlp.json'}` |" in md       # provenance of both scales
    assert f"| quick | vae_mlp | `{tmp_path / 'quick/vae_mlp.json'}` |" in md
    assert "![samples](figures/paper/vae_mlp/samples.png)" in md
    assert "0.1377" in md


def test_every_reference_names_a_metric_a_stage_writes():
    from genlab.config import load_params
    from tests.conftest import REPO

    params = load_params(REPO / "params.yaml", scale="paper")
    families = {cfg.family for cfg in params.models.values()}
    sources = {f: (REPO / f).read_text() for f in [f"src/genlab/workflows/{fam}/evaluate.py" for fam in families]
               + ["stages/sample_metrics.py", "src/genlab/metrics/sample_quality.py",
                  "src/genlab/workflows/vq_prior/fit.py"]}
    for ref in REFERENCES:
        if ref.model in ("real_data", "gaussian_noise", "classifier"):  # reference rows: see load_records
            assert ref.ours.startswith(("fid_", "kid_")) or ref.ours == "cas_top1_pct", ref
            assert ref.dataset in params.sample_metrics.datasets, ref
            continue
        if ref.model in params.priors:  # fit_prior@<prior> writes the prior's figures
            assert params.priors[ref.model].dataset == ref.dataset, ref
            written = {"test_bits_per_code", "test_bpd", "test_bpd_uniform_prior", "test_recon_bpd"} | {
                f"test_{lv}_bits_per_code" for lv in params.priors[ref.model].model}
            assert all(f'"{k}"' in sources["src/genlab/workflows/vq_prior/fit.py"] for k in written - {
                f"test_{lv}_bits_per_code" for lv in params.priors[ref.model].model})
            assert ref.ours.startswith(("fid_", "kid_", "cas_", "is_")) or ref.ours in written, ref
        else:
            assert ref.model in params.models and params.models[ref.model].dataset == ref.dataset, ref
        if ref.ours.startswith(("fid_", "kid_", "cas_", "is_")):
            assert ref.model in params.sample_metrics.models, ref
            assert ref.ours.split("_", 1)[1] in params.sample_metrics.datasets[ref.dataset].networks or \
                ref.ours.startswith("cas_"), ref
        elif ref.model not in params.priors:
            family = params.models[ref.model].family
            if family == "vqvae" and ref.ours.endswith(("_perplexity", "_dead_fraction")):  # one key per code level
                assert 'f"test_{level}_{k}"' in sources["src/genlab/workflows/vqvae/evaluate.py"]
                continue
            assert f'"{ref.ours}"' in sources[f"src/genlab/workflows/{family}/evaluate.py"], (ref.model, ref.ours)


def test_sample_metrics_and_reference_rows_join_the_report(tmp_path):
    _write(tmp_path, "quick/vae_conv_cond.json", _evaluate_record("quick", model="vae_conv_cond"))
    net = {"feature_network": "Fréchet classifier distance (test)", "weights_sha256": "ef" * 32,
           "n_samples": 10000, "n_real": 10000, "real_split": "test", "view": "binary_threshold", "notes": [],
           "kid": {"subset_size": 1000, "n_subsets": 100}}
    _write(tmp_path, "quick/samples/vae_conv_cond.json", {
        "stage": "sample_metrics", "model": "vae_conv_cond", "dataset": "mnist", "scale": "quick",
        "values": {"fid_classifier": 12.5, "kid_classifier": 0.25, "cas_accuracy": 0.9, "cas_top1_pct": 90.0},
        "sample_metrics": {"classifier": net, "cas": {"train": "50000 samples", "test": "real test split"}},
        "protocol": {"samples": "10000 draws"}, "provenance": PROV})
    fig = {"n_samples": 10000, "n_real": 10000, "notes": [], "kid": {"subset_size": 1000, "n_subsets": 100}}
    _write(tmp_path, "quick/reference/mnist.json", {
        "stage": "real_stats", "model": "reference", "family": "reference", "dataset": "mnist", "scale": "quick",
        "values": {"binary_threshold": {"fid_classifier_real_train_vs_test": 2.5,
                                        "fid_classifier_noise_vs_test": 1700.0,
                                        "kid_classifier_real_train_vs_test": 0.01}},
        "sample_metrics": {"binary_threshold": {"classifier": {"feature_network": "clf", "weights_sha256": "ef" * 32,
                                                               "real_train_vs_test": fig, "noise_vs_test": fig}}},
        "protocol": {"real": "first 10000", "noise": "N(0.5, 0.25^2)", "data_source": "embedded"},
        "provenance": PROV})
    _write(tmp_path, "quick/reference/classifier.json", {
        "stage": "train_classifier", "model": "classifier", "family": "reference", "dataset": "mnist",
        "scale": "quick", "values": {"test_accuracy": 0.9942},
        "protocol": {"n_train": 50000, "n_test": 10000}, "provenance": PROV})
    records = load_records(tmp_path)
    df = comparison_rows(records)
    got = {(r.model, r.metric): r.ours for r in df.itertuples()}
    assert got[("vae_conv_cond", "Fréchet classifier distance to the real test split")] == 12.5
    assert got[("vae_conv_cond", "CAS top-1, classifier trained on samples")] == 90.0
    assert got[("classifier", "CAS reference: classifier trained on real data, top-1")] == 99.42
    assert got[("real_data", "Fréchet classifier distance, real train vs real test")] == 2.5
    assert got[("real_data", "KID in classifier features")] == 0.01
    assert got[("gaussian_noise", "Fréchet classifier distance, Gaussian noise vs real test")] == 1700.0
    assert not any(m.startswith("FID (Inception)") for m in df["metric"])   # not computed: no rows
    fid_row = df[df["metric"] == "Fréchet classifier distance to the real test split"].iloc[0]
    assert "10000 samples vs 10000 real test images in view binary_threshold" in fid_row["protocol"]
    assert "efefefefefef" in fid_row["protocol"]
    assert "model trained 80 epochs" in fid_row["protocol"]   # the evaluate record's training length
    real_row = df[df["model"] == "real_data"].iloc[0]
    assert "trained" not in real_row["protocol"]
    assert "view binary_threshold" in real_row["note"]
    md = markdown_report("t", df, records)
    assert "`" + str(tmp_path / "quick" / "samples" / "vae_conv_cond.json") + "`" in md   # its provenance row


def test_committed_records_build_the_report():
    from tests.conftest import REPO

    records = load_records(REPO / "reports" / "records")
    if not records:
        pytest.skip("no committed records")
    df = comparison_rows(records)
    assert len(df) > 0 and df["ours"].notna().all()


def test_family_table_fills_seed_002_verdicts_with_our_figures(tmp_path):
    from genlab.report.tables import FAMILY_COLUMNS, family_comparison

    vae = _evaluate_record("quick", "vae_mlp", nelbo_bpd=0.17)
    vae["training"] = {"parameters": 835384, "epochs": 4, "train_seconds": 16.0, "train_images_per_second": 12500.0,
                       "valid_loss_rises": 0}
    flow = {**_evaluate_record("quick", "realnvp_mnist"), "family": "realnvp",
            "protocol": {"split": "test", "n_test": 2000, "view": "dequantized", "data_source": "embedded",
                         "bpd_formula": "bpd = -log2 p(x)/D + 8", "n_dims": 784, "alpha": 0.05},
            "values": {"test_bpd": 1.9, "train_epochs": 2},
            "training": {"parameters": 16237, "epochs": 2, "train_seconds": 20.0, "train_images_per_second": 500.0,
                         "valid_loss_rises": 1}}
    _write(tmp_path, "quick/vae_mlp.json", vae)
    _write(tmp_path, "quick/realnvp_mnist.json", flow)
    _write(tmp_path, "quick/samples/realnvp_mnist.json", {
        "stage": "sample_metrics", "model": "realnvp_mnist", "dataset": "mnist", "scale": "quick",
        "values": {"fid_classifier": 12.5, "class_tv_classifier": 0.0625}, "protocol": {"samples": "s"}, "provenance": PROV,
        "sample_metrics": {"classifier": {"n_samples": 10000, "n_real": 10000, "real_split": "test",
                                          "view": "eight_bit", "feature_network": "LeNet", "weights_sha256": "cd" * 32}}})
    df = family_comparison(load_records(tmp_path))
    assert list(df.columns) == FAMILY_COLUMNS and df["family"].tolist() == ["GAN", "VAE", "Flow"]
    gan, vae_row, flow_row = (df.iloc[i] for i in range(3))
    assert gan["model"] == "" and "not measured" in gan["likelihood"] and "unstable" in gan["seed 002 says"]
    assert vae_row["likelihood"] == "<= 0.170 bits/dim (negative ELBO, a bound)"
    assert flow_row["likelihood"].startswith("1.900 bits/dim, exact")
    assert flow_row["sample quality"] == "Fréchet classifier distance 12.5; class TV 0.0625"
    assert "rose in 1 of 1 epoch steps" in flow_row["stability"]
    assert flow_row["training cost"] == "16,237 parameters; 500 training images/s"
    md = markdown_report("t", comparison_rows(load_records(tmp_path)), load_records(tmp_path))
    assert "GANs, VAEs and flows compared" in md and "alpha=0.05; 2 epochs" in md


def test_stability_table_sets_each_objective_beside_the_other_per_generator():
    from genlab.report.tables import stability_table

    def rec(cell, objective, values):
        return {"cell": cell, "objective": objective, "scale": "quick",
                "values": {"fid_classifier": 100.0, "fid_classifier_start": 300.0, "fid_classifier_best": 90.25,
                           "generator_updates": 40, **values}}

    df = stability_table([rec("wgan-mlp", "wgan", {"spearman_em_estimate_vs_fid": 0.8, "class_tv_classifier": 0.125,
                                                   "classes_under_half_classifier": 2, "pixel_spread": 0.0012,
                                                   "pixel_spread_real": 0.3057}),
                          rec("gan-mlp", "gan", {"spearman_d_loss_vs_fid": -0.25}),
                          rec("gan-dcgan", "gan", {})])
    assert list(df["generator"]) == ["dcgan", "mlp"]          # cells sorted, one row per generator
    mlp = df[df["generator"] == "mlp"].iloc[0]
    assert mlp["wgan"] == ("FID 100.0 (start 300.0, best 90.2); class TV 0.12 (2 classes under half their share); "
                           "pixel spread 0.001 (real 0.306); rho(EM estimate, FID) +0.80; 40 G updates")
    assert "rho(D loss, FID) -0.25" in mlp["gan"] and "class TV not recorded" in mlp["gan"]  # a record made before it
    assert "pixel spread" not in mlp["gan"]
    assert "undefined" in df[df["generator"] == "dcgan"].iloc[0]["gan"]
    assert df[df["generator"] == "dcgan"]["wgan"].isna().all()   # a cell that has not run is left empty
