"""Tiny editing pipelines built from configs and saved once per session (nothing is downloaded)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_pix2pix_path(tmp_path_factory):
    from agents.diffusers_editor import save_tiny_instruct_pix2pix

    return save_tiny_instruct_pix2pix(tmp_path_factory.mktemp("ip2p") / "tiny-ip2p")


@pytest.fixture(scope="session")
def tiny_kontext_path(tmp_path_factory):
    from agents.diffusion.tiny import save_tiny_flux_kontext

    return save_tiny_flux_kontext(tmp_path_factory.mktemp("kontext") / "tiny-kontext")


def load(path):
    """A saved pipeline, loaded as a user's checkpoint is."""
    from diffusers import DiffusionPipeline

    pipeline = DiffusionPipeline.from_pretrained(str(path), use_safetensors=True)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline
