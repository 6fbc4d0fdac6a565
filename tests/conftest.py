import numpy as np
import pytest

SAMPLE_RATE = 16000


@pytest.fixture
def one_thread():
    """Torch on one thread for the test: tiny models gain nothing from more, and the shared
    2-core machine stalls when several test processes oversubscribe it."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def noise():
    """10 s of clean white noise, (n,) float32, peak well under full scale."""
    return (0.2 * np.random.default_rng(1234).standard_normal(10 * SAMPLE_RATE)).astype(np.float32)


def write_sound_library(root, seconds: float = 3.0, rate: int = 22050, kinds=None):
    """A manifest library (``manifest.jsonl``: path, caption, id) of synthetic sound kinds
    (default every kind) in ``root``; returns ``root``."""
    import json

    from sonicmotion.audio import write_audio
    from sonicmotion.data.synth import CAPTIONS, SOUNDS

    rows = []
    for i, kind in enumerate(kinds or SOUNDS):
        write_audio(root / f"{kind}.wav", SOUNDS[kind](seconds, rate, seed=i)[None], rate)
        rows.append({"path": f"{kind}.wav", "caption": CAPTIONS[kind][0], "id": kind})
    (root / "manifest.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    return root


class NoiseGenerator:
    """A diffusion-model-like ``generation.Generator`` for scene and studio tests: seeded noise,
    W only (so where it lands is the scene's doing); ``calls`` records
    (text, trajectory, seconds, seed, steps, guidance) per clip."""

    sample_rate = 16000
    can_pin_path = False
    needs_path = False
    follows_distance = False
    max_seconds = 600.0
    batch_size = 1

    def __init__(self, parametric=False, name="fake", sampling=None, calls=None):
        from sonicmotion.generation import SamplingSettings

        self.parametric = parametric
        self.name = name
        self.sampling = sampling or SamplingSettings()
        self.calls = [] if calls is None else calls

    @property
    def progress_steps(self):
        return self.sampling.steps

    def with_sampling(self, **changes):
        from dataclasses import replace

        return type(self)(self.parametric, self.name, replace(self.sampling, **changes), self.calls)

    def identity(self):
        return {"model": f"/models/{self.name}", "sha256": self.name * 4, "parametric": self.parametric}

    def noise(self, request):
        n = round(request.seconds * self.sample_rate)
        noise = 0.1 * np.random.default_rng(request.seed).standard_normal(n).astype(np.float32)
        foa = np.zeros((4, n), dtype=np.float32)
        foa[0] = noise / np.sqrt(2)
        foa[1] = noise  # straight ahead, whatever the scene asks: placement "encode" must move it
        return foa

    def generate(self, requests, progress=None):
        from sonicmotion.generation import Generated, Sampled, check_requests
        from sonicmotion.spatial import FUMA, FoaAudio

        check_requests(self, requests)
        out = []
        for r in requests:
            self.calls.append((r.text, r.trajectory, r.seconds, r.seed, self.sampling.steps, self.sampling.guidance))
            foa = FoaAudio(self.noise(r), self.sample_rate, FUMA)
            out.append(Generated(foa, r, r.trajectory, Sampled(self.name, self.sampling)))
            if progress is not None:
                progress(self.sampling.steps)
        return out
