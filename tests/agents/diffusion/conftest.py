"""Helpers for the tests of this package; the tiny pipelines themselves come from tests/conftest.py."""

from __future__ import annotations


def load(path):
    """A saved pipeline, loaded as a user's checkpoint is."""
    from diffusers import DiffusionPipeline

    pipeline = DiffusionPipeline.from_pretrained(str(path), use_safetensors=True)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline
