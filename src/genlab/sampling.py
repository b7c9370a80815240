"""Drawing a generator's samples for the sample metrics: seeded, in batches, with balanced labels."""
from __future__ import annotations

import torch


def balanced_labels(n: int, test_labels, n_classes: int):
    """n labels whose class counts follow the test split's class frequencies (largest remainder), sorted."""
    freq = torch.bincount(test_labels, minlength=n_classes).double() / len(test_labels)
    exact = freq * n
    counts = exact.floor().long()
    short = n - int(counts.sum())
    counts[torch.argsort(exact - counts, descending=True, stable=True)[:short]] += 1
    return torch.repeat_interleave(torch.arange(n_classes), counts)


def draw_samples(model, n: int, batch_size: int, seed: int, labels=None):
    """n samples of `model` as uint8 images (N, C, H, W) of their [0, 1] values."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for i in range(0, n, batch_size):
        b = min(batch_size, n - i)
        x = model.sample(b, generator=generator, labels=None if labels is None else labels[i:i + b])
        out.append((model.to_unit(x) * 255).round().to(torch.uint8))
    return torch.cat(out)
