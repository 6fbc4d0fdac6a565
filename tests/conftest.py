import numpy as np
import pytest

SAMPLE_RATE = 16000


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
