"""The views of a data set that models train on, each from the same prepared uint8 images.

| view                | model sees                                   | randomness                        |
|---------------------|----------------------------------------------|-----------------------------------|
| `binary_threshold`  | {0, 1}: b/255 > 0.5                          | none                              |
| `binary_stochastic` | {0, 1} ~ Bernoulli(b/255) (dynamic binarization, IWAE's protocol) | a fresh draw each access in training; one fixed draw for held-out splits |
| `intensity`         | b/255 in [0, 1]                              | none                              |
| `eight_bit`         | the 256 levels 2b/255 - 1 in [-1, 1]: likelihoods are over the levels (discretized logistic, PixelCNN softmax) | none |
| `symmetric`         | 2b/255 - 1 in [-1, 1] (GANs)                 | none                              |
| `dequantized`       | (b + u)/256, u ~ U[0, 1) (flows; Dinh et al. 2017) | a fresh u each access in training; one fixed draw for held-out splits |

`to_unit` maps a view's values (real or sampled) back to [0, 1] for images and feature
networks: sample metrics compare a model's samples with real images *in the view it was
trained on* (a binarized model's samples with binarized real images).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

# offsets of the fixed generators that draw the held-out splits of random views once
_SPLIT_OFFSET = {"train": 0, "valid": 1, "test": 2}


@dataclass(frozen=True)
class View:
    name: str
    description: str
    random: bool  # a fresh draw on every training access

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """uint8 images (N, C, H, W) -> the model's input (float32)."""
        b = images.float()
        if self.name == "binary_threshold":
            return (b / 255 > 0.5).float()
        if self.name == "binary_stochastic":
            return torch.bernoulli(b / 255, generator=generator)
        if self.name == "intensity":
            return b / 255
        if self.name in ("eight_bit", "symmetric"):
            return (2 * b - 255) / 255  # rounds once: 127 and 128 land symmetrically about 0
        if self.name == "dequantized":
            return (b + torch.rand(b.shape, generator=generator)) / 256
        raise ValueError(f"view {self.name!r}: expected one of {', '.join(VIEWS)}")

    def heldout(self, images: torch.Tensor, split: str, seed: int) -> torch.Tensor:
        """A held-out split in this view, drawn once: fixed by `seed`, so every evaluation sees the same values."""
        generator = torch.Generator().manual_seed(seed * 1000 + _SPLIT_OFFSET[split]) if self.random else None
        return self(images, generator)

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """The view's values -> [0, 1] (images, feature networks)."""
        if self.name in ("eight_bit", "symmetric"):
            return ((x + 1) / 2).clamp(0, 1)
        return x.clamp(0, 1)


VIEWS: dict[str, View] = {v.name: v for v in (
    View("binary_threshold", "pixel/255 > 0.5, fixed", False),
    View("binary_stochastic", "Bernoulli(pixel/255): resampled every epoch in training, one fixed draw for "
                              "valid/test", True),
    View("intensity", "pixel intensities x/255 in [0, 1]", False),
    View("eight_bit", "the 256 levels 2b/255 - 1 in [-1, 1]; likelihoods over the discrete levels", False),
    View("symmetric", "2b/255 - 1 in [-1, 1]", False),
    View("dequantized", "(b + u)/256 with u ~ U[0, 1): resampled every epoch in training, one fixed draw for "
                        "valid/test", True),
)}


def view(name: str) -> View:
    if name not in VIEWS:
        raise ValueError(f"view {name!r}: expected one of {', '.join(VIEWS)}")
    return VIEWS[name]


class ViewDataset(torch.utils.data.Dataset):
    """uint8 images shown through a view on access (a list of indices -> a batch), with optional labels."""

    def __init__(self, images: torch.Tensor, view_name: str, labels: torch.Tensor | None = None):
        self.images, self.view, self.labels = images, view(view_name), labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index) -> tuple[torch.Tensor, ...]:
        x = self.view(self.images[index])
        return (x,) if self.labels is None else (x, self.labels[index])


class TensorBatches(torch.utils.data.Dataset):
    """Ready tensors indexed together (a list of indices -> a batch tuple)."""

    def __init__(self, *tensors: torch.Tensor):
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, index) -> tuple[torch.Tensor, ...]:
        return tuple(t[index] for t in self.tensors)
