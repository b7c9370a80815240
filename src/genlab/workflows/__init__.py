"""Each model family's train and evaluate steps: src/genlab/workflows/<family>/{train,evaluate}.py.

A family's train step and its evaluate step live in separate modules so that each DVC
stage depends on the code it runs and nothing else: editing how a VAE is evaluated does
not retrain it.
"""
from __future__ import annotations

from types import ModuleType


def step(family: str, name: str) -> ModuleType:
    """The `name` ('train' or 'evaluate') module of `family`."""
    import importlib

    return importlib.import_module(f"genlab.workflows.{family}.{name}")
