"""Each model family's train and evaluate steps, called by stages/train.py and stages/evaluate.py."""
from __future__ import annotations

from types import ModuleType


def for_family(family: str) -> ModuleType:
    """The workflow module of `family` (src/genlab/workflows/<family>.py)."""
    import importlib

    return importlib.import_module(f"genlab.workflows.{family}")
