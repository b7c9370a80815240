"""genlab: a reproducible pipeline for the classic deep generative models."""

__version__ = "0.1.0"
