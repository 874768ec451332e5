"""Fixtures shared by several test files."""

import pytest


@pytest.fixture(scope="module")
def one_thread():
    """Tiny torch models: a second CPU thread costs more than it gives, and far more when another
    process holds the other core (measured: a test file went from 26 s to 3 s with 1 thread)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
