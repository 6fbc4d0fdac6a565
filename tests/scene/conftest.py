import numpy as np
import pytest
import soundfile as sf

from sonicmotion.data.synth import noise_bursts, siren


@pytest.fixture
def sounds(tmp_path):
    """Two 10 s files in tmp_path: a tonal siren (16 kHz) and broadband knocks (22.05 kHz, stereo)."""
    sf.write(tmp_path / "siren.wav", siren(10, 16000, seed=1), 16000)
    knocks = noise_bursts(10, 22050, seed=2)
    sf.write(tmp_path / "knocks.flac", np.stack([knocks, knocks], axis=1), 22050)
    return tmp_path


class FakeGenerator:
    """A SourceGenerator: seeded noise, W only, so its placement comes from the scene."""

    sample_rate = 16000

    def __init__(self, parametric=False, name="fake"):
        self.parametric = parametric
        self.name = name
        self.calls = []

    def identity(self):
        return {"model": f"/models/{self.name}", "sha256": self.name * 4, "parametric": self.parametric}

    def generate(self, prompt, trajectory, seconds, seed, steps, guidance):
        self.calls.append((prompt, trajectory, seconds, seed, steps, guidance))
        n = round(seconds * self.sample_rate)
        noise = 0.1 * np.random.default_rng(seed).standard_normal(n).astype(np.float32)
        foa = np.zeros((4, n), dtype=np.float32)
        foa[0] = noise / np.sqrt(2)
        foa[1] = noise  # straight ahead, whatever the scene asks: placement "encode" must move it
        return foa


@pytest.fixture
def fake_generator():
    return FakeGenerator()
