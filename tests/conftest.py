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
