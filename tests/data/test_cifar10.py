"""CIFAR-10 loaders on files the tests write: python-pickle batches and a fake scikit-image wheel."""
from __future__ import annotations

import hashlib
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genlab.data import cifar10
from genlab.data.fetch import DataError

BATCH_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")
PER_BATCH, N_TEST = 4, 3  # 20 official train images, 3 test images


# ---------------------------------------------------------------- canonical: torchvision's pickle batches

def _row(identity: int) -> np.ndarray:
    """One CIFAR data row (1024 R, 1024 G, 1024 B, each row-major 32x32) with marks at known places."""
    row = np.zeros(3072, dtype=np.uint8)
    row[0] = 11                   # R (0, 0)
    row[1] = 12                   # R (0, 1)
    row[32] = 13                  # R (1, 0)
    row[1024] = 21                # G (0, 0)
    row[2048 + 31 * 32 + 30] = 31  # B (31, 30)
    row[3071] = identity          # B (31, 31): which image this is
    return row


def write_cifar_batches(root: Path) -> Path:
    """<root>/cifar-10-batches-py as in the official archive: pickled dicts with str keys, protocol 2.

    Train image k (0..19, in batch k // 4) has identity 100 + k and label k % 10; test image k
    has identity 200 + k and label (3k + 1) % 10.
    """
    base = root / cifar10.BASE_FOLDER
    base.mkdir(parents=True)
    for b, name in enumerate(BATCH_FILES):
        if name == "test_batch":
            ks = range(N_TEST)
            identities, labels = [200 + k for k in ks], [(3 * k + 1) % 10 for k in ks]
        else:
            ks = range(b * PER_BATCH, (b + 1) * PER_BATCH)
            identities, labels = [100 + k for k in ks], [k % 10 for k in ks]
        entry = {"batch_label": f"{name} (test fixture)", "labels": labels,
                 "data": np.stack([_row(i) for i in identities]),
                 "filenames": [f"image_{k}.png" for k in ks]}
        (base / name).write_bytes(pickle.dumps(entry, protocol=2))
    meta = {"label_names": list(cifar10.CLASSES), "num_cases_per_batch": PER_BATCH, "num_vis": 3072}
    (base / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return root


def pin_md5s(monkeypatch: pytest.MonkeyPatch, base: Path) -> None:
    """Make torchvision's md5 check expect these files' md5s (the real files' md5s are the official ones)."""
    from torchvision.datasets import CIFAR10

    def md5(name: str) -> str:
        return hashlib.md5((base / name).read_bytes()).hexdigest()

    monkeypatch.setattr(CIFAR10, "train_list", [[n, md5(n)] for n in BATCH_FILES[:5]])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5("test_batch")]])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5("batches.meta")})


@pytest.fixture
def cifar_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = write_cifar_batches(tmp_path / "cifar")
    pin_md5s(monkeypatch, root / cifar10.BASE_FOLDER)
    return root


def test_canonical_layout_values_labels_and_split(cifar_root: Path) -> None:
    splits, source = cifar10.load_canonical(str(cifar_root), download=False, n_valid=6)
    assert list(splits) == ["train", "valid", "test"]
    for name, n in (("train", 14), ("valid", 6), ("test", 3)):
        x, y = splits[name]
        assert x.shape == (n, 3, 32, 32) and x.dtype == np.uint8 and y.shape == (n,) and y.dtype == np.int64
        assert x.flags.c_contiguous
        # the channel planes: data[k] = 1024 R, 1024 G, 1024 B, each row-major
        assert (x[:, 0, 0, 0] == 11).all() and (x[:, 0, 0, 1] == 12).all() and (x[:, 0, 1, 0] == 13).all()
        assert (x[:, 1, 0, 0] == 21).all() and (x[:, 2, 31, 30] == 31).all()
    identity = {name: splits[name][0][:, 2, 31, 31].tolist() for name in cifar10.SPLITS}
    assert identity == {"train": list(range(100, 114)), "valid": list(range(114, 120)), "test": [200, 201, 202]}
    # every other pixel is zero: 11 + 12 + 13 + 21 + 31 = 88 plus the identity
    sums = splits["train"][0].reshape(14, -1).sum(axis=1, dtype=np.int64)
    assert sums.tolist() == [88 + 100 + k for k in range(14)]
    assert splits["train"][1].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3]
    assert splits["valid"][1].tolist() == [4, 5, 6, 7, 8, 9]
    assert splits["test"][1].tolist() == [1, 4, 7]
    base = cifar_root / cifar10.BASE_FOLDER
    assert source["source"] == "canonical" and source["root"] == str(cifar_root)
    assert source["files_sha256"] == {n: hashlib.sha256((base / n).read_bytes()).hexdigest()
                                      for n in (*BATCH_FILES, "batches.meta")}


@pytest.mark.parametrize("md5_of", ["original", "truncated"])
def test_canonical_truncated_batch_names_the_directory(cifar_root: Path, monkeypatch: pytest.MonkeyPatch,
                                                       md5_of: str) -> None:
    """original: torchvision's md5 check refuses it (what users with a damaged download see);
    truncated: the md5 matches, so pickle itself fails on the short file."""
    base = cifar_root / cifar10.BASE_FOLDER
    batch = base / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:5000])
    if md5_of == "truncated":
        pin_md5s(monkeypatch, base)
    expected = "Dataset not found or corrupted" if md5_of == "original" else "unreadable batch file"
    with pytest.raises(DataError, match=expected) as info:
        cifar10.load_canonical(str(cifar_root), download=False, n_valid=6)
    msg = str(info.value)
    assert msg.startswith(f"{base}: ") and "\n" not in msg


def test_canonical_missing_directory_names_it(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        cifar10.load_canonical(str(tmp_path / "nowhere"), download=False)
    assert str(info.value).startswith(f"{tmp_path / 'nowhere' / 'cifar-10-batches-py'}: ")


def test_canonical_refuses_n_valid_beyond_the_train_set(cifar_root: Path) -> None:
    with pytest.raises(DataError, match="n_valid = 20 must be in 1..19"):
        cifar10.load_canonical(str(cifar_root), download=False, n_valid=20)


def test_canonical_refuses_other_label_names(cifar_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = cifar_root / cifar10.BASE_FOLDER
    meta = {"label_names": ["apple"] * 10, "num_cases_per_batch": PER_BATCH, "num_vis": 3072}
    (base / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    pin_md5s(monkeypatch, base)
    with pytest.raises(DataError, match="batches.meta: label names"):
        cifar10.load_canonical(str(cifar_root), download=False, n_valid=6)


# ---------------------------------------------------------------- embedded: photos in a fake wheel

WHEEL_NAME = "scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl"
COLOUR = (200, 30, 90)


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def fake_photos() -> dict[str, np.ndarray]:
    """name -> pixels (H, W, C): random colour photos, one RGBA, one greyscale, a tiny and a flat one."""
    rng = np.random.default_rng(0)
    big = np.empty((100, 200, 3), dtype=np.uint8)
    big[:] = COLOUR
    return {
        "left.png": rng.integers(0, 256, (48, 80, 3), dtype=np.uint8),
        "right.png": rng.integers(0, 256, (64, 64, 3), dtype=np.uint8),
        "shot.png": rng.integers(0, 256, (33, 40, 4), dtype=np.uint8),   # RGBA
        "test.png": rng.integers(0, 256, (50, 70, 3), dtype=np.uint8),
        "grey.png": rng.integers(0, 256, (40, 40), dtype=np.uint8),      # mode L
        "tiny.png": rng.integers(0, 256, (20, 40, 3), dtype=np.uint8),
        "big.png": big,
    }


@pytest.fixture
def wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, np.ndarray]]:
    """A wheel laid out like scikit-image's, in the cache where fetch_wheel looks first; returns its sha256."""
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path / "cache"))
    directory = tmp_path / "cache" / "wheels"
    directory.mkdir(parents=True)
    photos = fake_photos()
    path = directory / WHEEL_NAME
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("skimage/data/README.txt", "sample data\n")
        for name, pixels in photos.items():
            zf.writestr(f"skimage/data/{name}", _png(pixels))
        zf.writestr("scikit_image-0.26.0.dist-info/METADATA", "Name: scikit-image\nVersion: 0.26.0\n")
    return hashlib.sha256(path.read_bytes()).hexdigest(), photos


def _load(sha: str, photos=("left.png", "right.png", "shot.png", "test.png"),
          valid=("right.png",), test=("test.png",), **kw):
    return cifar10.load_embedded("scikit-image", "0.26.0", sha, list(photos),
                                 valid_photos=list(valid), test_photos=list(test), **kw)


def _chw(patch: np.ndarray) -> np.ndarray:
    return patch[..., :3].transpose(2, 0, 1)


def test_embedded_grid_counts_crops_and_split_by_photo(wheel) -> None:
    sha, photos = wheel
    splits, source = _load(sha)
    # ((H - 32) // 16 + 1) * ((W - 32) // 16 + 1): left 48x80 -> 2*4, right 64x64 -> 3*3,
    # shot 33x40 -> 1*1, test 50x70 -> 2*3
    assert source["patches_per_photo"] == {"left.png": 8, "right.png": 9, "shot.png": 1, "test.png": 6}
    assert {name: splits[name][0].shape for name in cifar10.SPLITS} == {
        "train": (9, 3, 32, 32), "valid": (9, 3, 32, 32), "test": (6, 3, 32, 32)}
    assert all(splits[name][0].dtype == np.uint8 and splits[name][1] is None for name in cifar10.SPLITS)
    train = splits["train"][0]
    np.testing.assert_array_equal(train[0], _chw(photos["left.png"][0:32, 0:32]))
    np.testing.assert_array_equal(train[5], _chw(photos["left.png"][16:48, 16:48]))   # grid row 1, column 1
    np.testing.assert_array_equal(train[7], _chw(photos["left.png"][16:48, 48:80]))   # the last, bottom-right
    np.testing.assert_array_equal(train[8], _chw(photos["shot.png"][0:32, 0:32]))     # RGBA: alpha dropped
    test_photo = photos["test.png"]
    expected = np.stack([_chw(test_photo[y:y + 32, x:x + 32]) for y in (0, 16) for x in (0, 16, 32)])
    np.testing.assert_array_equal(splits["test"][0], expected)
    train_bytes = {p.tobytes() for p in train}
    assert not any(p.tobytes() in train_bytes for p in splits["test"][0])
    assert source["photos"] == {"train": ["left.png", "shot.png"], "valid": ["right.png"], "test": ["test.png"]}
    assert source["source"] == "embedded" and source["artifact"] == "scikit-image==0.26.0"
    assert source["artifact_sha256"] == sha
    assert source["stand_in"] == ("32x32 patches of scikit-image's sample photographs: NOT CIFAR-10; "
                                  "figures are not comparable with the papers'")


def test_embedded_stride_changes_the_grid(wheel) -> None:
    sha, _ = wheel
    _, source = _load(sha, stride=8)
    # stride 8: left (48-32)//8+1 = 3 by (80-32)//8+1 = 7; right 5*5; shot 1*2; test 3*5
    assert source["patches_per_photo"] == {"left.png": 21, "right.png": 25, "shot.png": 2, "test.png": 15}


def test_embedded_is_deterministic(wheel) -> None:
    sha, _ = wheel
    (a, source_a), (b, source_b) = _load(sha), _load(sha)
    assert source_a == source_b
    for name in cifar10.SPLITS:
        np.testing.assert_array_equal(a[name][0], b[name][0])


def test_embedded_max_side_shrinks_the_longer_side(wheel) -> None:
    sha, _ = wheel
    splits, source = _load(sha, photos=("big.png", "left.png", "test.png"), valid=("left.png",),
                           test=("test.png",), max_side=64)
    # big 200x100 -> 64x32: 1*3; left 80x48 -> 64x38: 1*3; test 70x50 -> 64x46: 1*3
    assert source["patches_per_photo"] == {"big.png": 3, "left.png": 3, "test.png": 3}
    assert source["max_side"] == 64
    train = splits["train"][0]
    assert train.shape == (3, 3, 32, 32)
    for c, value in enumerate(COLOUR):  # bicubic keeps a flat photo flat
        assert (train[:, c] == value).all()


@pytest.mark.parametrize("photos, valid, test, message", [
    (("left.png", "right.png", "test.png"), ("right.png",), ("right.png",), r"\['right.png'\] in both"),
    (("left.png", "right.png", "test.png"), ("right.png",), ("nope.png",), r"test_photos: \['nope.png'\] not in"),
    (("left.png", "left.png", "right.png", "test.png"), ("right.png",), ("test.png",), "listed more than once"),
    (("left.png", "right.png", "test.png"), (), ("test.png",), "no photo left for the valid split"),
    (("right.png", "test.png"), ("right.png",), ("test.png",), "no photo left for the train split"),
    (("absent.png", "right.png", "test.png"), ("right.png",), ("test.png",), "has no member 'skimage/data/absent.png'"),
    (("grey.png", "right.png", "test.png"), ("right.png",), ("test.png",), r"grey.png: a greyscale image"),
    (("tiny.png", "right.png", "test.png"), ("right.png",), ("test.png",), r"tiny.png: 40x20 .* smaller than"),
])
def test_embedded_bad_photo_lists_are_refused(wheel, photos, valid, test, message) -> None:
    sha, _ = wheel
    with pytest.raises(DataError, match=message):
        _load(sha, photos=photos, valid=valid, test=test)


def test_check_images_names_the_place() -> None:
    cifar10.check_images(np.zeros((2, 3, 32, 32), dtype=np.uint8), "ok")
    with pytest.raises(DataError, match=r"^somewhere: images of shape \(2, 32, 32, 3\) uint8"):
        cifar10.check_images(np.zeros((2, 32, 32, 3), dtype=np.uint8), "somewhere")
    with pytest.raises(DataError, match=r"^elsewhere: .* float32, expected \(N, 3, 32, 32\) uint8"):
        cifar10.check_images(np.zeros((2, 3, 32, 32), dtype=np.float32), "elsewhere")


def test_load_from_params_shuffles_each_split_with_a_fixed_order(wheel) -> None:
    """`load(cfg)` is what the prepare stage calls: the same patches as load_embedded, in a fixed shuffled order,
    so that a first-n subset draws on every photo of its split."""
    from genlab.pipeline import Section

    sha, _ = wheel
    cfg = Section({"source": "embedded", "embedded": {
        "package": "scikit-image", "version": "0.26.0", "sha256": sha, "valid_photos": ["right.png"],
        "photos": ["left.png", "right.png", "shot.png", "test.png"], "test_photos": ["test.png"],
        "patch_size": 32, "stride": 16, "max_side": None}})
    (splits, source), (again, _) = cifar10.load(cfg), cifar10.load(cfg)
    plain, _ = _load(sha)
    for name in cifar10.SPLITS:
        x, y = splits[name]
        assert y is None
        np.testing.assert_array_equal(x, again[name][0])
        assert sorted(p.tobytes() for p in x) == sorted(p.tobytes() for p in plain[name][0])
    assert not np.array_equal(splits["train"][0], plain["train"][0])
    assert "shuffled" in source["patch_order"]
