"""Charts (matplotlib): epoch montages, latent scatters, curves; image grids are genlab.images."""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from genlab.images import make_grid  # noqa: E402
from genlab.io import atomic_path  # noqa: E402


def epoch_montage(grids: dict[int, torch.Tensor], path: str | os.PathLike, title: str) -> Path:
    """Sample grids side by side, one panel per epoch (seed 002, fig. 2)."""
    epochs = sorted(grids)
    fig, axes = plt.subplots(1, len(epochs), figsize=(2.6 * len(epochs), 3.0), squeeze=False)
    for ax, epoch in zip(axes[0], epochs):
        panel = grids[epoch][None] if grids[epoch].dim() == 3 else grids[epoch]  # one grid image, or a batch
        grid = make_grid(panel, nrow=1 if grids[epoch].dim() == 3 else int(np.sqrt(len(panel))), padding=0)
        ax.imshow(grid[..., 0] if grid.shape[2] == 1 else grid, cmap="gray", interpolation="nearest")
        ax.set_title(f"epoch {epoch}")
        ax.axis("off")
    fig.suptitle(title)
    return _save(fig, path)


def latent_scatter(codes: np.ndarray, labels: np.ndarray | None, path: str | os.PathLike, title: str,
                   axis_names: tuple[str, str] = ("z1", "z2")) -> Path:
    """2-D latent codes coloured by class (seed 001, fig. 3.1); one colour when the data set has no classes."""
    fig, ax = plt.subplots(figsize=(6, 5))
    if labels is None:
        ax.scatter(codes[:, 0], codes[:, 1], s=3, alpha=0.5)
    else:
        points = ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=3, alpha=0.7, vmin=-0.5, vmax=9.5)
        fig.colorbar(points, ax=ax, ticks=range(10), label="class")
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    ax.set_title(title)
    return _save(fig, path)


def curves(panels: dict[str, dict[str, tuple[list[float], list[float]]]], path: str | os.PathLike,
           axis_names: tuple[str, str], logx: bool = False, reference: float | None = None) -> Path:
    """Line charts side by side: panel title -> {series name -> (x, y)}; `reference` draws a dashed
    horizontal line on every panel."""
    fig, axes = plt.subplots(1, len(panels), figsize=(6.0 * len(panels), 4.5), squeeze=False)
    for ax, (title, series) in zip(axes[0], panels.items()):
        for name, (x, y) in series.items():
            ax.plot(x, y, marker="o", markersize=3, label=name)
        if reference is not None:
            ax.axhline(reference, color="grey", linestyle="--", linewidth=0.8)
        if logx:
            ax.set_xscale("log")
        ax.set_xlabel(axis_names[0])
        ax.set_ylabel(axis_names[1])
        ax.set_title(title)
        if series:
            ax.legend()
    return _save(fig, path)


def estimate_by_update(updates: list[int], values: list[float], path: str | os.PathLike, title: str,
                       window: int = 101) -> Path:
    """A figure per generator update (the WGAN paper's figs. 3-4): the raw values, thin, and their running
    median over `window` updates (fewer at the ends), bold."""
    import pandas as pd

    fig, ax = plt.subplots(figsize=(7.0, 4.5))
    ax.plot(updates, values, linewidth=0.5, alpha=0.4, label="each update")
    median = pd.Series(values).rolling(window, center=True, min_periods=1).median()
    ax.plot(updates, median.tolist(), linewidth=1.8, label=f"running median of {window}")
    ax.set_xlabel("generator update")
    ax.set_ylabel("Earth-Mover estimate")
    ax.set_title(title)
    ax.legend()
    return _save(fig, path)


def filters(weight: torch.Tensor, image_shape: tuple[int, ...], n: int) -> torch.Tensor:
    """The first n rows of a (hidden, D) weight matrix as images, each scaled to [0, 1]."""
    w = weight[:n].detach().cpu().float()
    lo, hi = w.min(dim=1, keepdim=True).values, w.max(dim=1, keepdim=True).values
    return ((w - lo) / (hi - lo).clamp_min(1e-12)).view(n, *image_shape)


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return path
