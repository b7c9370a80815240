"""Layers and distributions shared across model families."""
