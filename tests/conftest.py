import numpy as np
import pytest

SAMPLE_RATE = 16000


@pytest.fixture
def noise():
    """10 s of clean white noise, (n,) float32, peak well under full scale."""
    return (0.2 * np.random.default_rng(1234).standard_normal(10 * SAMPLE_RATE)).astype(np.float32)
