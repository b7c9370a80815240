"""Batches for training and evaluation from prepared uint8 image tensors."""
from __future__ import annotations

import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, TensorDataset

from genlab.data.mnist import binarize

# offsets of the fixed generators that binarize the held-out splits once (stochastic binarization)
_SPLIT_OFFSET = {"valid": 1, "test": 2}


class BinarizedImages(Dataset):
    """uint8 images binarized on access: a fresh Bernoulli draw per access when stochastic
    (dynamic binarization), the same {0, 1} image every time when thresholded."""

    def __init__(self, images: torch.Tensor, method: str, labels: torch.Tensor | None = None):
        self.images, self.method, self.labels = images, method, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index):  # index: a list of indices (batched access)
        x = binarize(self.images[index], self.method)
        return x if self.labels is None else (x, self.labels[index])


def train_loader(images: torch.Tensor, batch_size: int, binarization: str, generator: torch.Generator,
                 labels: torch.Tensor | None = None) -> DataLoader:
    """Shuffled batches (images, or (images, labels) when `labels` is given) in an order drawn
    from `generator` (checkpointed for exact resumes)."""
    dataset = BinarizedImages(images, binarization, labels)
    sampler = BatchSampler(RandomSampler(dataset, generator=generator), batch_size=batch_size, drop_last=False)
    return DataLoader(dataset, sampler=sampler, batch_size=None)


def heldout_binarized(images: torch.Tensor, binarization: str, split: str, seed: int) -> torch.Tensor:
    """A held-out split binarized once: fixed by `seed`, so every evaluation sees the same bits."""
    generator = torch.Generator().manual_seed(seed * 1000 + _SPLIT_OFFSET[split])
    return binarize(images, binarization, generator=generator)


def intensities(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float intensities in [0, 1] (x / 255), for models of grey levels."""
    return images.float() / 255.0


def tensor_loader(*tensors: torch.Tensor, batch_size: int, generator: torch.Generator) -> DataLoader:
    """Shuffled tuples of batches (e.g. images, labels) in an order drawn from `generator`."""
    dataset = TensorDataset(*tensors)
    sampler = BatchSampler(RandomSampler(dataset, generator=generator), batch_size=batch_size, drop_last=False)
    return DataLoader(dataset, sampler=sampler, batch_size=None)
