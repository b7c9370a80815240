"""Data sets, one module each (`mnist`, `cifar10`), the prepared on-disk format and the views models train on.

Every data-set module has `load(cfg) -> (splits, source)`: split name -> (uint8 images
(N, C, H, W), int64 labels or None), and a dict saying where the images came from.
`prepared.write` turns that into `data/<scale>/<name>/`; stages only ever read that.
"""
from __future__ import annotations

import importlib
from types import ModuleType


def module(name: str) -> ModuleType:
    """The module of data set `name` (src/genlab/data/<name>.py)."""
    return importlib.import_module(f"genlab.data.{name}")
