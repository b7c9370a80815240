"""The one image-grid writer: (N, C, H, W) tensors in [0, 1] -> a PNG (PIL; no torchvision, no matplotlib)."""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from genlab.io import atomic_path


def make_grid(images: torch.Tensor, nrow: int, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """Images in [0, 1] (N, C, H, W) -> one uint8 array (rows*H', cols*W', C) with `nrow` images per row,
    the same layout as torchvision.utils.make_grid."""
    x = images.detach().cpu().float().clamp(0, 1)
    n, c, h, w = x.shape
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    grid = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, c), pad_value, np.float32)
    arr = x.permute(0, 2, 3, 1).numpy()
    for i in range(n):
        r, col = divmod(i, cols)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[top:top + h, left:left + w] = arr[i]
    return (grid * 255 + 0.5).astype(np.uint8)


def save_grid(images: torch.Tensor, path: str | os.PathLike, nrow: int) -> Path:
    """Images in [0, 1] of shape (N, C, H, W) -> one PNG grid, `nrow` images per row (atomic write)."""
    from PIL import Image

    grid = make_grid(images, nrow)
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(grid[..., 0] if grid.shape[2] == 1 else grid).save(tmp, format="png")
    return path


def load_png(path: str | os.PathLike) -> torch.Tensor:
    """A PNG -> float (C, H, W) in [0, 1] (C = 1 for grey, 3 for colour)."""
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("L" if im.mode in ("L", "1", "I;16") else "RGB"), dtype=np.float32) / 255
    return torch.from_numpy(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1).copy())


def epoch_panels(samples_dir: Path, max_panels: int = 5) -> dict[int, torch.Tensor]:
    """Training-time sample grids at up to `max_panels` epochs spread from 0 to the last."""
    files = sorted(samples_dir.glob("epoch_*.png"), key=lambda f: int(f.stem.split("_")[1]))   # 1000 after 999
    if not files:
        return {}
    picks = sorted({round(i) for i in np.linspace(0, len(files) - 1, min(max_panels, len(files)))})
    return {int(files[i].stem.split("_")[1]): load_png(files[i]) for i in picks}


@torch.no_grad()
def latent_interpolations(model, pairs: int, steps: int, seed: int) -> torch.Tensor:
    """(pairs * steps, C, H, W) in [0, 1]: row i is G((1 - t) z_a + t z_b) for t from 0 to 1, seeded z pairs
    (seed 002 fig. 7); `model` has z_dim, sample(n, z=...) and to_unit."""
    g = torch.Generator().manual_seed(seed)
    za, zb = torch.randn(pairs, model.z_dim, generator=g), torch.randn(pairs, model.z_dim, generator=g)
    t = torch.linspace(0, 1, steps).view(1, steps, 1)
    z = ((1 - t) * za[:, None] + t * zb[:, None]).reshape(pairs * steps, model.z_dim)
    return model.to_unit(model.sample(len(z), z=z))
