"""The prepared format every stage reads: one directory per data set and scale.

    data/<scale>/<dataset>/
        manifest.json           shape, classes (or null), counts, source, sha256 of every array
        <split>_x.npy           uint8 images (N, C, H, W), memory-mappable
        <split>_y.npy           int64 labels (absent when the data set has none)

Arrays are plain .npy files so that a large data set (FFHQ at 256x256) can be memory-mapped
(`Prepared.array`) rather than loaded whole; `Prepared.images` copies the rows it is asked for.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Optional

import numpy as np

from genlab.data.fetch import DataError
from genlab.io import sha256_file

SPLITS = ("train", "valid", "test")
MANIFEST = "manifest.json"

Split = tuple[np.ndarray, Optional[np.ndarray]]


def write(out: Path, splits: dict[str, Split], source: dict[str, Any], name: str,
          classes: list[str] | None, limits: dict[str, int | None]) -> dict[str, Any]:
    """Write `splits` (first `limits[split]` items of each) to directory `out`; return the manifest."""
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    counts, hashes, shape = {}, {}, None
    for split in SPLITS:
        x, y = splits[split]
        n = limits.get(split) or len(x)
        if n > len(x):
            raise DataError(f"datasets.{name}.n_{split} = {n}: the {split} split has only {len(x)} images")
        if x.dtype != np.uint8 or x.ndim != 4:
            raise DataError(f"{name} {split}: images of shape {x.shape} {x.dtype}, expected (N, C, H, W) uint8")
        shape = shape or list(x.shape[1:])
        if list(x.shape[1:]) != shape:
            raise DataError(f"{name} {split}: image shape {list(x.shape[1:])} differs from {shape}")
        np.save(tmp / f"{split}_x.npy", np.ascontiguousarray(x[:n]))
        hashes[f"{split}_x"] = sha256_file(tmp / f"{split}_x.npy")
        if y is not None:
            np.save(tmp / f"{split}_y.npy", np.asarray(y[:n], dtype=np.int64))
            hashes[f"{split}_y"] = sha256_file(tmp / f"{split}_y.npy")
        counts[split] = int(n)
    manifest = {"name": name, "kind": "image", "image_shape": shape, "classes": classes, "counts": counts,
                "sha256": hashes, **source}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(out)  # the whole directory appears at once
    return manifest


class Prepared:
    """A prepared data set: `manifest`, and per split `images(split)` (uint8, memory-mapped) and `labels(split)`."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not (self.root / MANIFEST).exists():
            raise DataError(f"{self.root}: no prepared data set here; run the prepare stage first (dvc repro)")
        self.manifest = json.loads((self.root / MANIFEST).read_text())

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.manifest["image_shape"])

    @property
    def n_classes(self) -> int:
        return len(self.manifest["classes"] or [])

    @property
    def sha256(self) -> str:
        """One hash for the whole prepared data set (over the manifest, which holds every array's hash)."""
        return sha256_file(self.root / MANIFEST)

    def array(self, split: str):
        """The uint8 images of `split` as a read-only memory map (for data sets too large to copy whole)."""
        return np.load(self.root / f"{split}_x.npy", mmap_mode="r")

    def images(self, split: str, n: int | None = None):
        """uint8 images (N, C, H, W) of `split` as a torch tensor: a copy of the first n rows (all when None)."""
        import torch

        x = np.load(self.root / f"{split}_x.npy", mmap_mode="r")[:n]
        return torch.from_numpy(np.array(x))  # a writable copy of the mapped rows

    def labels(self, split: str, n: int | None = None):
        """int64 labels of `split` (first n), or None when the data set has no classes."""
        import torch

        path = self.root / f"{split}_y.npy"
        return torch.from_numpy(np.load(path)[:n]) if path.exists() else None
