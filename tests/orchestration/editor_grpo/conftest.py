"""Tiny editing pipelines built from configs and saved once per session (nothing is downloaded)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_pix2pix_dir(tmp_path_factory):
    from agents.diffusers_editor import save_tiny_instruct_pix2pix

    return save_tiny_instruct_pix2pix(tmp_path_factory.mktemp("ip2p") / "tiny-ip2p")


@pytest.fixture(scope="session")
def tiny_kontext_dir(tmp_path_factory):
    from agents.diffusion.tiny import save_tiny_flux_kontext

    return save_tiny_flux_kontext(tmp_path_factory.mktemp("kontext") / "tiny-kontext")


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield
