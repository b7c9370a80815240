import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from genlab.config import SCALES, ConfigError, load_params
from tests.conftest import REPO


def _write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    mutate(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("scale", SCALES)
def test_repository_params_resolve_at_every_scale(scale):
    params = load_params(REPO / "params.yaml", scale=scale)
    assert params.scale == scale
    assert set(params.models) >= {"vae_mlp", "vae_mlp_z2", "vae_conv"}


def test_overrides_merge_into_the_paper_values():
    paper = load_params(REPO / "params.yaml", scale="paper").models["vae_mlp"]
    quick = load_params(REPO / "params.yaml", scale="quick").models["vae_mlp"]
    assert paper.train.epochs == 80 and paper.train.lr == 1e-3 and paper.train.batch_size == 128
    assert quick.train.epochs < paper.train.epochs
    assert quick.train.lr == paper.train.lr and quick.model == paper.model   # untouched keys inherited


def _error(tmp_path, mutate) -> str:
    with pytest.raises(ConfigError) as info:
        load_params(_write(tmp_path, mutate))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_key_names_its_path(tmp_path):
    msg = _error(tmp_path, lambda r: r["models"]["vae_conv"]["train"].update(epohcs=3))
    assert msg.startswith("params.yaml: models.vae_conv.train.epohcs: unknown key")
    assert "epochs" in msg  # lists what is allowed


def test_wrong_type_names_path_and_value(tmp_path):
    msg = _error(tmp_path, lambda r: r["models"]["vae_mlp"]["model"].update(z_dim="twenty"))
    assert "models.vae_mlp.model.z_dim = 'twenty'" in msg and "integer" in msg


def test_out_of_range_value_in_an_override_names_the_override(tmp_path):
    msg = _error(tmp_path, lambda r: r["models"]["vae_conv"]["overrides"]["quick"]["train"].update(lr=-0.001))
    assert "models.vae_conv.overrides.quick.train.lr = -0.001" in msg and "greater than 0" in msg


def test_bad_scale_and_bad_choice(tmp_path):
    assert "scale = 'huge'" in _error(tmp_path, lambda r: r.update(scale="huge"))
    msg = _error(tmp_path, lambda r: r["models"]["vae_mlp"].update(view="otsu"))
    assert "models.vae_mlp.view = 'otsu'" in msg


def test_unknown_scale_in_overrides(tmp_path):
    msg = _error(tmp_path, lambda r: r["models"]["vae_mlp"]["overrides"].update(huge={}))
    assert "models.vae_mlp.overrides.huge: unknown scale" in msg


def test_stage_stops_with_one_line_and_writes_nothing(tmp_path):
    _write(tmp_path, lambda r: r["datasets"]["mnist"].update(n_train=-5))
    out = tmp_path / "resolved"
    proc = subprocess.run([sys.executable, str(REPO / "stages" / "resolve.py"), "--out", str(out)],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == ["error: params.yaml: datasets.mnist.n_train = -5: Input should be greater than 0 (at scale quick)"]
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_a_bad_value_only_another_scale_reads_stops_every_scale(tmp_path):
    """vae_mlp's quick override sets its own epochs, so the paper value is read at paper scale only."""
    def bad_paper_epochs(raw):
        raw["models"]["vae_mlp"]["train"]["epochs"] = 0
    path = _write(tmp_path, bad_paper_epochs)
    for scale in SCALES:
        with pytest.raises(ConfigError) as info:
            load_params(path, scale=scale)
        assert "models.vae_mlp.train.epochs = 0" in str(info.value)
    msg = _error(tmp_path, lambda r: r["models"]["vae_mlp"]["overrides"]["paper"].update(train={"lr": 0}))
    assert "models.vae_mlp.overrides.paper.train.lr = 0" in msg   # the quick scale's load refuses it too


def test_each_stage_reads_only_its_slice():
    from genlab.config import stage_slices

    slices = stage_slices(load_params(REPO / "params.yaml", scale="quick"))
    train, evaluate = slices["train/vae_mlp.json"], slices["evaluate/vae_mlp.json"]
    assert "evaluate" not in train["model"] and train["model"]["train"]["epochs"] == 4
    assert "train" not in evaluate["model"] and evaluate["model"]["evaluate"]["iwae_k"] == 100
    assert "finetune" not in slices["evaluate/cae.json"]["model"] and "objective" in slices["evaluate/cae.json"]["model"]
    assert slices["prepare/cifar10.json"]["dataset"]["source"] == "embedded"
    # a dequantized flow's samples are compared in the 8-bit view (COMPARE_AS)
    assert slices["real_stats/mnist.json"]["views"] == ["binary_stochastic", "binary_threshold", "eight_bit", "symmetric"]
    assert slices["real_stats/cifar10.json"]["views"] == ["eight_bit", "symmetric"]
    flow = slices["sample_metrics/realnvp_cifar.json"]
    assert flow["view"] == "eight_bit" and flow["model_view"] == "dequantized"
    assert slices["sample/vae_conv_cond.json"]["cas"] and not slices["sample/vae_conv.json"]["cas"]
    assert slices["sample_metrics/vae_conv_cifar.json"]["networks"] == ["inception"]
    for content in slices.values():   # scale, seed and runtime decide every number
        assert "report" in content or {"scale", "seed", "runtime"} <= set(content)


def test_sample_metrics_model_must_name_its_own_dataset(tmp_path):
    msg = _error(tmp_path, lambda r: r["sample_metrics"]["models"].update(vae_mlp="cifar10"))
    assert "sample_metrics.models.vae_mlp = 'cifar10': expected 'mnist'" in msg
    msg = _error(tmp_path, lambda r: r["models"]["vae_mlp"].update(dataset="svhn"))
    assert "models.vae_mlp.dataset = 'svhn'" in msg


def test_likelihood_must_fit_the_view(tmp_path):
    msg = _error(tmp_path, lambda r: r["models"]["vae_conv_cifar"].update(view="binary_threshold"))
    assert "view = 'binary_threshold' with likelihood 'discretized_logistic'" in msg


def test_cuda_without_a_gpu_is_a_params_error(monkeypatch):
    import torch

    from genlab.training.runtime import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="device = 'cuda'"):
        pick_device("cuda")
    assert pick_device("auto").type == "cpu"


def test_autoencoder_blocks_resolve_with_the_paper_architecture():
    for scale in SCALES:
        params = load_params(REPO / "params.yaml", scale=scale)
        for name in ("ae", "ae_wd", "dae_g", "dae_b", "cae"):
            cfg = params.models[name]
            assert cfg.family == "autoencoder" and cfg.model.hidden == 1000 and cfg.model.tied_weights
    paper = load_params(REPO / "params.yaml", scale="paper").models
    assert paper["cae"].objective.contraction > 0 and paper["dae_b"].objective.noise == "masking"
    assert paper["ae"].objective.model_dump() == {"noise": "none", "noise_level": 0.0, "contraction": 0.0,
                                                  "weight_decay": 0.0}


def test_noise_without_a_level_is_refused(tmp_path):
    msg = _error(tmp_path, lambda r: r["models"]["dae_g"]["objective"].update(noise_level=0.0))
    assert msg.startswith("params.yaml: models.dae_g.objective = ")
    assert "noise = 'gaussian' with noise_level = 0.0" in msg


def test_stability_cells_merge_base_objective_and_generator():
    from genlab.config import stage_slices

    params = load_params(REPO / "params.yaml", scale="quick")
    assert sorted(params.cells) == ["gan-dcgan", "gan-dcgan_nobn", "gan-mlp", "wgan-dcgan", "wgan-dcgan_nobn",
                                    "wgan-mlp"]
    cell = stage_slices(params)["stability/wgan-mlp.json"]
    m, t = cell["model"]["model"], cell["model"]["train"]
    assert (m["objective"], m["arch"], m["g_arch"], m["d_batch_norm"]) == ("wgan", "dcgan", "mlp", False)
    assert (t["optimizer"], t["lr"], t["warmup_critic_iters"], t["snapshot_generators"]) == ("rmsprop", 5e-5, 10, True)
    assert m["base_channels"] == 16 and t["epochs"] == 3          # the quick override of base reaches every cell
    assert (m["g_activation"], m["g_output"], m["g_hidden"]) == ("relu", "linear", [256, 256, 256])
    paper = stage_slices(load_params(REPO / "params.yaml", scale="paper"))["stability/gan-mlp.json"]["model"]["model"]
    assert (paper["g_activation"], paper["g_output"], paper["g_hidden"]) == ("relu", "linear", [512, 512, 512])
    assert paper["dropout"] == 0.0                                # the WGAN reference's MLP_G: 3 x 512 ReLU, linear out
    seed002 = stage_slices(params)["train/gan_mlp.json"]["model"]["model"]
    assert (seed002["g_activation"], seed002["g_output"]) == ("leaky_relu", "tanh")
    gan = stage_slices(params)["stability/gan-dcgan_nobn.json"]["model"]
    assert gan["model"]["g_batch_norm"] is False and gan["model"]["d_batch_norm"] is True
    assert gan["train"]["optimizer"] == "adam" and gan["train"]["beta1"] == 0.5


def test_stability_refuses_new_cells_per_scale_and_bad_cell_values(tmp_path):
    msg = _error(tmp_path, lambda r: r["stability"]["overrides"]["quick"].update(generators={"extra": {}}))
    assert "stability.overrides.quick.generators: cannot add entries per scale" in msg
    msg = _error(tmp_path, lambda r: r["stability"]["objectives"]["wgan"]["train"].update(lr=-1))
    assert "cell wgan-" in msg and "train.lr = -1" in msg
    msg = _error(tmp_path, lambda r: r["stability"].update(dataset="cifar10"))
    assert "stability.dataset = 'cifar10'" in msg


def test_priors_are_checked_against_their_vq_models(tmp_path):
    def set_(path, value):
        def mutate(raw):
            node = raw
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        return mutate

    msg = _error(tmp_path, set_(("priors", "prior_vqvae_mnist", "vq_model"), "vae_mlp"))
    assert "priors.prior_vqvae_mnist.vq_model = 'vae_mlp'" in msg and "vqvae_mnist" in msg
    msg = _error(tmp_path, set_(("priors", "prior_vqvae_mnist", "dataset"), "cifar10"))
    assert "expected 'mnist'" in msg
    top = {"channels": 8, "n_layers": 2, "kernel": 3, "attention_every": 0, "heads": 1}
    two_levels = set_(("priors", "prior_vqvae_mnist", "model"), {"top": top, "bottom": top})
    msg = _error(tmp_path, lambda raw: (two_levels(raw), raw["priors"]["prior_vqvae_mnist"].update(overrides={})))
    assert "has levels ['codes']" in msg
    msg = _error(tmp_path, set_(("priors", "prior_vqvae2_faces", "model", "top", "kernel"), 4))
    assert "priors.prior_vqvae2_faces" in msg and "kernel = 4: expected an odd size" in msg
    msg = _error(tmp_path, set_(("codes", "models", "vae_mlp"), "mnist"))
    assert "codes.models.vae_mlp" in msg and "family vqvae" in msg


def test_faces_split_by_disjoint_people_or_photos(tmp_path):
    msg = _error(tmp_path, lambda raw: raw["datasets"]["faces"]["embedded"].update(split="person", valid_people=[36]))
    assert "datasets.faces.embedded" in msg and "36" in msg
    msg = _error(tmp_path, lambda raw: raw["datasets"]["faces"]["embedded"].update(split="photo", valid_photos=[10]))
    assert "datasets.faces.embedded" in msg and "photos in both valid_photos and test_photos: [10]" in msg
    msg = _error(tmp_path, lambda raw: raw["datasets"]["faces"]["embedded"].update(split="photo", test_photos=[]))
    assert "test_photos must each name at least one" in msg


def test_cas_on_a_set_without_the_domain_classifier_needs_cas_train_and_gets_a_real_data_row():
    from genlab.config import stage_slices

    slices = stage_slices(load_params(REPO / "params.yaml", scale="quick"))
    faces, mnist = slices["sample_metrics/prior_vqvae2_faces.json"], slices["sample_metrics/prior_vqvae_mnist.json"]
    assert faces["cas"] and faces["cas_real"] and faces["networks"] == ["inception"]
    assert faces["classifier"]["train"]["epochs"] == 30 and faces["classifier"]["model"]["features"] == 128
    assert slices["sample/prior_vqvae2_faces.json"]["cas"] and slices["sample/prior_vqvae2_faces.json"]["n_cas"] is None
    assert mnist["cas"] and not mnist["cas_real"]   # MNIST's real-data row is the domain classifier's accuracy
    paper = stage_slices(load_params(REPO / "params.yaml", scale="paper"))   # FFHQ has no people: no CAS
    assert not paper["sample_metrics/prior_vqvae2_faces.json"]["cas"]


def test_prior_slices_carry_the_vq_architecture_for_the_sampler():
    from genlab.config import stage_slices

    slices = stage_slices(load_params(REPO / "params.yaml", scale="quick"))
    sampler = slices["sample/prior_vqvae2_faces.json"]["model"]
    assert sampler["family"] == "vq_prior" and sampler["vq"]["model"]["levels"] == 2
    assert set(sampler["prior"]) == {"top", "bottom"} and sampler == slices["fit_prior/prior_vqvae2_faces.json"]["sampler"]
    assert slices["sample_metrics/prior_vqvae_mnist.json"]["cas"] is True
    assert "eight_bit" in slices["real_stats/faces.json"]["views"]
