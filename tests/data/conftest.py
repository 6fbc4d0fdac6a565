"""Fixtures of tests/data: a small corpus in every input format (see dataset_corpora.py)."""

from __future__ import annotations

import pytest

from tests.data.dataset_corpora import make_audiocaps, make_clotho, make_manifest, make_wavcaps


@pytest.fixture(scope="session")
def corpora(tmp_path_factory) -> dict[str, str]:
    """``--source`` strings of 13 sources: Clotho 3 (development) + 2 (evaluation), AudioCaps 2 (val),
    WavCaps 3, manifest 3 (1 test, 2 train)."""
    root = tmp_path_factory.mktemp("corpora")
    clotho_dev = make_clotho(root, "development", 3, seed=0)
    clotho_eval = make_clotho(root, "evaluation", 2, seed=10)
    audiocaps = make_audiocaps(root, "val", 2, seed=100)
    wavcaps = make_wavcaps(root, 3, seed=200)
    manifest = make_manifest(root, 3, seed=300)
    return {
        "clotho_dev": f"clotho:{clotho_dev[0]}:{clotho_dev[1]}",
        "clotho_eval": f"clotho:{clotho_eval[0]}:{clotho_eval[1]}",
        "audiocaps": f"audiocaps:{audiocaps[0]}:{audiocaps[1]}:pattern=Y{{youtube_id}}.wav",
        "wavcaps": f"wavcaps:{wavcaps[0]}:{wavcaps[1]}:name=freesound",
        "manifest": f"manifest:{manifest}",
        "root": str(root),
    }
