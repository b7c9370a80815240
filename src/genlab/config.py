"""params.yaml -> typed, validated config, resolved for the chosen scale.

Every block of params.yaml holds the paper's values; `overrides.<scale>` lists what a
smaller scale changes. `load_params` merges the overrides of the chosen scale into each
block, then validates the result with pydantic. Any unknown key, wrong type or
out-of-range value raises `ConfigError` with one line naming the key path as written in
params.yaml (the override's path when the value came from an override), the value and
what was expected.
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


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- data
class EmbeddedArtifact(Strict):
    """A file inside a pinned wheel on PyPI (see ../shared/DATA.md)."""

    package: str
    version: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    member: str


class MnistConfig(Strict):
    source: Literal["canonical", "embedded"]
    canonical_root: str
    download: bool
    embedded: EmbeddedArtifact
    n_train: Optional[int] = Field(default=None, gt=0)
    n_valid: Optional[int] = Field(default=None, gt=0)
    n_test: Optional[int] = Field(default=None, gt=0)


# --------------------------------------------------------------------------- models
class VAEArchConfig(Strict):
    arch: Literal["mlp", "conv"]
    z_dim: int = Field(gt=0)
    hidden: int = Field(default=512, gt=0, description="MLP hidden units")
    channels: int = Field(default=32, gt=0, description="conv: channels of the first layer")
    conditional: bool = Field(default=False, description="class-conditional (CVAE): the label enters both nets")


class TrainConfig(Strict):
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    lr: float = Field(gt=0)
    optimizer: Literal["adam", "sgd"] = "adam"
    momentum: float = Field(default=0.0, ge=0, lt=1, description="sgd only")
    lr_decay: float = Field(default=1.0, gt=0, le=1, description="lr multiplied by this after every epoch")
    n_train: Optional[int] = Field(default=None, gt=0, description="train on the first n images only")


class VAEEvaluateConfig(Strict):
    batch_size: int = Field(gt=0)
    iwae_k: int = Field(gt=0, description="importance samples per image for the IWAE bound")
    n_iwae: int = Field(gt=0, description="test images the IWAE bound is computed on")
    grid_size: int = Field(gt=0, description="sample grid is grid_size x grid_size")
    manifold_size: int = Field(gt=1, description="latent manifold is manifold_size^2 decodings (z_dim = 2)")


class VAEConfig(Strict):
    family: Literal["vae"]
    binarization: Literal["threshold", "stochastic"]
    model: VAEArchConfig
    train: TrainConfig
    evaluate: VAEEvaluateConfig


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


class AutoEncoderConfig(Strict):
    family: Literal["autoencoder"]
    model: AutoEncoderArchConfig
    objective: AutoEncoderObjective
    train: TrainConfig
    finetune: TrainConfig
    evaluate: AutoEncoderEvaluateConfig


ModelConfig = Union[VAEConfig, AutoEncoderConfig]

# name in params.yaml `family` -> schema of that family's block
FAMILY_SCHEMAS: dict[str, type[Strict]] = {"vae": VAEConfig, "autoencoder": AutoEncoderConfig}


class ClassifierArchConfig(Strict):
    channels: list[int] = Field(min_length=2, max_length=2, description="channels of the two conv layers")
    features: int = Field(gt=0, description="penultimate layer: the Fréchet classifier distance's features")
    dropout: float = Field(ge=0, lt=1)


class ClassifierEvaluateConfig(Strict):
    batch_size: int = Field(gt=0)
    min_accuracy: float = Field(gt=0, le=1, description="the stage fails below this test accuracy")


class ClassifierConfig(Strict):
    """The MNIST classifier behind fid_classifier and CAS (models/classifier.py)."""

    model: ClassifierArchConfig
    train: TrainConfig
    evaluate: ClassifierEvaluateConfig


class InceptionConfig(Strict):
    enabled: bool
    weights: Literal["embedded", "path"]
    path: Optional[str] = Field(default=None, description="weights file when weights = path")
    embedded: EmbeddedArtifact
    batch_size: int = Field(gt=0)


class SampleQualityConfig(Strict):
    """FID (classifier and Inception features) and CAS of the models that sample images."""

    models: list[str]
    n_samples: int = Field(gt=1, description="samples per model, and real images per split, for every FID")
    batch_size: int = Field(gt=0)
    allow_small_sample: bool = Field(description="compute Inception FID from fewer than 2048 samples anyway")
    inception: InceptionConfig


class ReportConfig(Strict):
    title: str


class Params(Strict):
    """The whole params.yaml, resolved for `scale`."""

    scale: Literal["tiny", "quick", "paper"]
    seed: int = Field(ge=0)
    threads: int = Field(ge=0)
    device: Literal["auto", "cpu", "cuda"]
    mnist: MnistConfig
    models: dict[str, ModelConfig]
    classifier: ClassifierConfig
    sample_quality: SampleQualityConfig
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
    merged = _deep_merge(block, chosen)
    try:
        return schema.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(str(p) for p in err["loc"])
        origin = f"{where}.overrides.{scale}" if _has_path(chosen, loc) else where
        path = ".".join((origin,) + loc)
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(schema, loc[:-1])
            raise ConfigError(f"{PARAMS_FILE}: {path}: unknown key; expected one of {', '.join(allowed)}") from None
        if err["type"] == "missing":
            raise ConfigError(f"{PARAMS_FILE}: {path}: required key is missing") from None
        raise ConfigError(f"{PARAMS_FILE}: {path} = {err.get('input')!r}: {err['msg']}") from None


def _allowed_keys(schema: type[BaseModel], loc: tuple) -> list[str]:
    for part in loc:
        field = schema.model_fields.get(part)
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        schema = ann
    return sorted(schema.model_fields)


def load_params(path: str | Path = PARAMS_FILE, scale: str | None = None) -> Params:
    """Read, resolve and validate params.yaml; `scale` overrides the file's own."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found (run the stage from the repository root)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: expected a mapping at the top level")

    known_top = {"scale", "seed", "threads", "device", "data", "models", "classifier", "sample_quality", "report"}
    for key in raw:
        if key not in known_top:
            raise ConfigError(f"{PARAMS_FILE}: {key}: unknown key; expected one of {', '.join(sorted(known_top))}")
    scale = scale if scale is not None else raw.get("scale")
    if scale not in SCALES:
        raise ConfigError(f"{PARAMS_FILE}: scale = {scale!r}: expected one of {', '.join(SCALES)}")

    data = raw.get("data") or {}
    if not isinstance(data, Mapping) or set(data) - {"mnist"}:
        extra = sorted(set(data) - {"mnist"}) if isinstance(data, Mapping) else data
        raise ConfigError(f"{PARAMS_FILE}: data: unknown data set(s) {extra}; expected: mnist")
    mnist = _resolve_block(data.get("mnist"), "data.mnist", scale, MnistConfig)

    models_raw = raw.get("models")
    if not isinstance(models_raw, Mapping) or not models_raw:
        raise ConfigError(f"{PARAMS_FILE}: models = {models_raw!r}: expected a mapping of model name -> block")
    models = {}
    for name, block in models_raw.items():
        family = block.get("family") if isinstance(block, Mapping) else None
        if family not in FAMILY_SCHEMAS:
            raise ConfigError(
                f"{PARAMS_FILE}: models.{name}.family = {family!r}: expected one of {', '.join(FAMILY_SCHEMAS)}"
            )
        models[name] = _resolve_block(block, f"models.{name}", scale, FAMILY_SCHEMAS[family])

    classifier = _resolve_block(raw.get("classifier"), "classifier", scale, ClassifierConfig)
    sample_quality = _resolve_block(raw.get("sample_quality"), "sample_quality", scale, SampleQualityConfig)
    for i, name in enumerate(sample_quality.models):
        if name not in models or models[name].family != "vae":
            vaes = [n for n, m in models.items() if m.family == "vae"]
            raise ConfigError(f"{PARAMS_FILE}: sample_quality.models[{i}] = {name!r}: expected a model that samples "
                              f"images, one of {', '.join(vaes)}")
    if sample_quality.inception.weights == "path" and not sample_quality.inception.path:
        raise ConfigError(f"{PARAMS_FILE}: sample_quality.inception.path: required when weights = 'path'")
    report = _resolve_block(raw.get("report"), "report", scale, ReportConfig)
    top = {k: raw.get(k) for k in ("seed", "threads", "device")}
    try:
        return Params(scale=scale, mnist=mnist, models=models, classifier=classifier,
                      sample_quality=sample_quality, report=report, **top)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{PARAMS_FILE}: {key} = {err.get('input')!r}: {err['msg']}") from None


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
