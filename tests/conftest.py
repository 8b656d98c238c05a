"""Fixtures any test folder can switch on (none is autouse here)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def one_torch_thread():
    # Test models are tiny: thread start-up costs more than it saves, and CI shares its 2 cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_pix2pix_path(tmp_path_factory):
    """A tiny InstructPix2Pix pipeline built from configs and saved once per test run (nothing is downloaded)."""
    from agents.diffusers_editor import save_tiny_instruct_pix2pix

    return save_tiny_instruct_pix2pix(tmp_path_factory.mktemp("ip2p") / "tiny-ip2p")


@pytest.fixture(scope="session")
def tiny_kontext_path(tmp_path_factory):
    """A tiny FLUX.1-Kontext pipeline built from configs and saved once per test run."""
    from agents.diffusion.tiny import save_tiny_flux_kontext

    return save_tiny_flux_kontext(tmp_path_factory.mktemp("kontext") / "tiny-kontext")
