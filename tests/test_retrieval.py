
import numpy as np
import pytest

from sonicmotion.cli import main
from sonicmotion.errors import SonicMotionError
from sonicmotion.generation import GenerationRequest
from sonicmotion.retrieval import RetrieveAndPlace, SentenceEmbedder, SoundLibrary
from sonicmotion.spatial import Trajectory, read_foa, spatial_errors
from tests.conftest import write_sound_library

RATE = 16000


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory):
    """A manifest library of every synthetic kind, at 22.05 kHz (so placing resamples)."""
    return write_sound_library(tmp_path_factory.mktemp("library"))


@pytest.fixture(scope="module")
def library(library_dir, tmp_path_factory):
    return SoundLibrary.open(library_dir, embedder=SentenceEmbedder(tmp_path_factory.mktemp("cache")))


@pytest.mark.parametrize("prompt, kind", [("a dog is barking loudly", "dog_bark"), ("an ambulance siren", "siren"),
                                          ("small birds tweeting", "birdsong"), ("it is raining", "rain")])
def test_search_finds_the_described_sound(library, prompt, kind):
    best = library.search(prompt, k=3)
    assert best[0].entry.id == f"manifest:{kind}"
    assert best[0].score > best[1].score and len({m.entry.id for m in best}) == 3


def test_placement_is_exact(library):
    path = Trajectory.linear(120, -10, -60, 30, "cw", 1.0, 4.0)
    clip = RetrieveAndPlace(library).generate([GenerationRequest("a police siren wails", 5.0, path)])[0]
    audio = clip.audio
    assert audio.samples.shape == (4, 5 * RATE) and audio.sample_rate == RATE and clip.trajectory == path
    assert clip.provenance.match.id == "manifest:siren" and len(clip.provenance.alternatives) == 3
    for resolution in ("frame", "sample"):
        assert spatial_errors(audio.samples, path, RATE, resolution).delta_angle < 0.01


def test_caption_sets_are_cached_by_content(library_dir, tmp_path, monkeypatch):
    first = SentenceEmbedder(tmp_path)
    captions = ["a dog barks", "rain falls"]
    vectors = first.embed_set(captions)
    assert first.set_path(captions).is_file() and vectors.shape == (2, 384)
    assert abs(float(np.linalg.norm(vectors[0])) - 1.0) < 1e-5
    np.testing.assert_allclose(first(["rain falls"])[0], vectors[1], atol=1e-6)  # prompts: same vectors

    # A second process reads the set without running the encoder; another list is another file.
    from sonicmotion.models import text

    def no_encoder(*args, **kwargs):
        raise AssertionError("the encoder ran although the captions were cached")

    monkeypatch.setattr(text, "load_text_encoder", no_encoder)
    np.testing.assert_array_equal(SentenceEmbedder(tmp_path).embed_set(captions), vectors)
    assert first.set_path(captions + ["a bell"]) != first.set_path(captions)


def test_generate_with_library_cli(library_dir, tmp_path, capsys):
    out = tmp_path / "dog.wav"
    assert main(["generate", "a barking dog", "--library", str(library_dir), "-o", str(out),
                 "--azimuth", "90", "--to-azimuth", "180", "--direction", "ccw", "--seconds", "4"]) == 0
    assert "retrieved manifest:dog_bark" in capsys.readouterr().out
    foa = read_foa(out)
    assert spatial_errors(foa.samples, Trajectory.linear(90, 0, 180, 0, "ccw", 0, 4), RATE).delta_angle < 0.01


def test_library_errors(tmp_path, library_dir, capsys):
    with pytest.raises(SonicMotionError, match="not a library"):
        SoundLibrary.open(tmp_path)
    assert main(["generate", "x", "--library", str(tmp_path), "-o", str(tmp_path / "x.wav")]) == 2
    assert "not a library" in capsys.readouterr().err
    assert main(["generate", " ", "--library", str(library_dir), "-o", str(tmp_path / "y.wav")]) == 2
    assert not (tmp_path / "x.wav").exists() and not (tmp_path / "y.wav").exists()
