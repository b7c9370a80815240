"""Sample-grid files: the training-time grids are picked in epoch order, past epoch 999 too."""
from __future__ import annotations

import torch

from genlab.images import epoch_panels, save_grid


def test_epoch_panels_order_epochs_by_number_not_by_name(tmp_path):
    for epoch in (0, 5, 999, 1000, 1500):   # by name, epoch_1000 and epoch_1500 would sort before epoch_999
        save_grid(torch.full((1, 1, 4, 4), epoch / 1500), tmp_path / f"epoch_{epoch:03d}.png", 1)
    panels = epoch_panels(tmp_path, max_panels=5)
    assert list(panels) == [0, 5, 999, 1000, 1500]
    assert panels[1500].mean() > panels[999].mean() > panels[5].mean()   # the files behind the numbers
    assert list(epoch_panels(tmp_path, max_panels=2)) == [0, 1500]   # the first and the last epoch
