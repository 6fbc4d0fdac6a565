"""The generation contract, directly: requests through generators, capabilities, the folder loop."""

import json

import numpy as np
import pytest

from sonicmotion.errors import SonicMotionError
from sonicmotion.generation import (
    FolderSettings,
    GenerationRequest,
    Retrieval,
    SamplingSettings,
    check_requests,
    generate_prompts,
)
from sonicmotion.prompts import read_prompts
from sonicmotion.retrieval import RetrieveAndPlace, SentenceEmbedder, SoundLibrary
from sonicmotion.spatial import Trajectory, read_foa, spatial_errors
from tests.conftest import NoiseGenerator, write_sound_library

PATH = {"type": "static", "azimuth": 45.0, "elevation": 0.0}


class BatchRecorder(NoiseGenerator):
    """Records the requests of each ``generate`` call and what stderr held when it was made."""

    def __init__(self, *args, capsys=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches, self.capsys, self.stderr_before = [], capsys, None

    def generate(self, requests, progress=None):
        if self.stderr_before is None and self.capsys is not None:
            self.stderr_before = self.capsys.readouterr().err
        self.batches.append([r.text for r in requests])
        return super().generate(requests, progress)


def prompts_file(tmp_path, rows):
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return read_prompts(tmp_path / "prompts.jsonl")


@pytest.fixture(scope="module")
def retrieval(tmp_path_factory):
    folder = write_sound_library(tmp_path_factory.mktemp("library"), seconds=4.0, kinds=("siren", "dog_bark", "rain"))
    library = SoundLibrary.open(folder, embedder=SentenceEmbedder(tmp_path_factory.mktemp("cache")))
    return RetrieveAndPlace(library, batch_size=2, alternatives=1)


def test_folder_loop_batches_seeds_progress_and_resume(tmp_path, capsys):
    rows = [{"id": f"c{i}", "prompt": f"sound {i}", "seconds": 0.5 if i != 2 else 0.25} for i in range(5)]
    prompts = prompts_file(tmp_path, rows)
    generator = BatchRecorder(parametric=True, sampling=SamplingSettings(steps=3), capsys=capsys)
    generator.batch_size = 3
    out = tmp_path / "out"
    written = generate_prompts(generator, prompts, out, FolderSettings(seed=10))
    # batches of 3 prompts in file order, split by length inside a batch
    assert generator.batches == [["sound 0", "sound 1"], ["sound 2"], ["sound 3", "sound 4"]]
    assert [c[3] for c in generator.calls] == [10, 11, 12, 13, 14]  # clip i: seed + i, whatever the batching
    # the bar's first line is drawn before the first step; it counts steps over all clips
    assert "generate:" in generator.stderr_before and "0/15" in generator.stderr_before
    assert "15/15" in capsys.readouterr().err
    assert [r["seconds"] for r in written] == [0.5, 0.5, 0.25, 0.5, 0.5] and "retrieved" not in written[0]
    assert [r.id for r in read_prompts(out / "prompts.jsonl")] == [f"c{i}" for i in range(5)]
    first = {p.name: p.read_bytes() for p in out.glob("*.wav")}

    # resume: only the missing clips are made again, with their own seeds, to the same bytes
    (out / "c1.wav").unlink()
    (out / "c4.wav").unlink()
    before = (out / "c0.wav").stat().st_mtime_ns
    generator.calls.clear()
    generate_prompts(generator, prompts, out, FolderSettings(seed=10))
    assert [(c[0], c[3]) for c in generator.calls] == [("sound 1", 11), ("sound 4", 14)]
    assert (out / "c0.wav").stat().st_mtime_ns == before
    assert {p.name: p.read_bytes() for p in out.glob("*.wav")} == first


def test_retrieve_and_place_through_the_contract(retrieval, tmp_path):
    path = Trajectory.linear(90, 0, -90, 0, "cw", 0.2, 1.5)
    clips = retrieval.generate([GenerationRequest("a dog is barking", 2.0, path, seed=7),
                                GenerationRequest("rain falling", 1.0)])
    dog, rain = clips
    assert isinstance(dog.provenance, Retrieval) and dog.provenance.match.id == "manifest:dog_bark"
    assert len(dog.provenance.alternatives) == 1 and dog.provenance.alternatives[0].score < dog.provenance.match.score
    assert dog.seed == 7 and dog.trajectory == path and dog.audio.samples.shape == (4, 32000)
    assert spatial_errors(dog.audio.samples, path, 16000).delta_angle < 0.01
    assert rain.trajectory == Trajectory.static(0.0, 0.0)  # no path: placed in front, and said so
    record = dog.provenance.record("a dog is barking")
    assert record["match"]["id"] == "manifest:dog_bark" and record["alternatives"][0]["score"] < record["match"]["score"]


def test_provenance_is_written_to_the_prompts_file(retrieval, tmp_path):
    prompts = prompts_file(tmp_path, [
        {"id": "dog", "prompt": "a barking dog", "trajectory": PATH, "seconds": 1.0},
        {"id": "siren", "prompt": "an ambulance siren", "seconds": 1.0},
        {"id": "rain", "prompt": "rain on a roof", "seconds": 1.0, "retrieved": "manifest:stale"}])
    out = tmp_path / "out"
    generate_prompts(retrieval, prompts, out, FolderSettings())
    written = [json.loads(line) for line in (out / "prompts.jsonl").read_text().splitlines()]
    assert [r["retrieved"] for r in written] == ["manifest:dog_bark", "manifest:siren", "manifest:rain"]
    assert written[0]["trajectory"] == PATH and "trajectory" not in written[1]
    assert spatial_errors(read_foa(out / "dog.wav").samples, Trajectory.from_dict(PATH), 16000).delta_angle < 0.01
    # a clip from an earlier run keeps what the prompts file says of it
    generate_prompts(retrieval, prompts, out, FolderSettings())
    assert json.loads((out / "prompts.jsonl").read_text().splitlines()[2])["retrieved"] == "manifest:stale"


@pytest.mark.parametrize("request_, generator, message", [
    (GenerationRequest("a siren", 1.0, pin_path=True), "retrieval", "--pin-path needs a parametric model"),
    (GenerationRequest("a siren", 1.0, pin_path=True), "pinning", "--pin-path needs a trajectory"),
    (GenerationRequest("a siren", 1.0), "needs-path", "needs a trajectory for every prompt"),
    (GenerationRequest("a siren", 1.0, Trajectory.static(30, 0)), "descriptive", "descriptive model"),
    (GenerationRequest("a siren", 700.0), "retrieval", r"seconds must lie in \(0, 600\], got 700"),
    (GenerationRequest("  ", 1.0), "descriptive", "prompt is empty"),
])
def test_capabilities_are_refused_before_any_work(retrieval, tmp_path, request_, generator, message):
    generators = {"retrieval": retrieval, "descriptive": NoiseGenerator(parametric=False),
                  "pinning": NoiseGenerator(parametric=True), "needs-path": NoiseGenerator(parametric=True)}
    chosen = generators[generator]
    chosen.can_pin_path = generator == "pinning"
    chosen.needs_path = generator == "needs-path"
    with pytest.raises(SonicMotionError, match=message):
        chosen.generate([request_])
    if not request_.text.strip():
        return  # a prompts file refuses an empty prompt itself
    fits = {"trajectory": PATH} if generator != "descriptive" else {}
    prompts = prompts_file(tmp_path, [{"id": "ok", "prompt": "a bell", "seconds": 1.0, **fits},
                                      {"id": "bad", "prompt": request_.text, "seconds": request_.seconds,
                                       **({"trajectory": request_.trajectory.to_dict()} if request_.trajectory
                                          else {})}])
    with pytest.raises(SonicMotionError, match=f"^prompt 'bad': .*{message}" if "pin-path needs a p" not in message
                       else message):
        generate_prompts(chosen, prompts, tmp_path / "out", FolderSettings(pin_path=request_.pin_path))
    assert not (tmp_path / "out").exists()  # refused before the first clip, nothing written
    if not isinstance(chosen, RetrieveAndPlace):
        assert chosen.calls == []


def test_check_requests_names_the_request_and_accepts_what_fits():
    generator = NoiseGenerator(parametric=True)
    check_requests(generator, [GenerationRequest("a bell", 600.0, Trajectory.static(0, 0), seed=3)])
    with pytest.raises(SonicMotionError, match=r"^request 2: seconds must lie"):
        check_requests(generator, [GenerationRequest("a bell"), GenerationRequest("a bell", 0.0)])
    with pytest.raises(SonicMotionError, match="no prompts given"):
        check_requests(generator, [])
    np.testing.assert_array_equal(  # same request, same clip
        generator.generate([GenerationRequest("x", 0.1, seed=5)])[0].audio.samples,
        generator.generate([GenerationRequest("y", 0.1, seed=5)])[0].audio.samples)


WORDS = "a car passes from left to right behind me, slowly"


def test_a_parametric_generator_takes_the_path_from_the_words(tmp_path, capsys):
    from sonicmotion.motion import describe_to_motion

    prompts = prompts_file(tmp_path, [
        {"id": "words", "prompt": WORDS},
        {"id": "given", "prompt": "a dog barks on the right", "trajectory": PATH},  # an explicit path wins
        {"id": "none", "prompt": "rain on a roof", "seconds": 2.0}])  # no position: withheld, as before
    generator = NoiseGenerator(parametric=True)
    written = generate_prompts(generator, prompts, tmp_path / "out", FolderSettings(seconds=10.0))
    reading = describe_to_motion(WORDS, seconds=10.0)
    (text, path, *_), given, none = generator.calls
    assert text == "a car passes" == reading.content  # the sound alone goes to the model
    assert path == reading.trajectory and path.to_dict()["direction"] == "ccw"  # behind: left -> right is ccw
    assert given[:2] == ("a dog barks on the right", Trajectory.from_dict(PATH))
    assert none[:2] == ("rain on a roof", None)
    assert written[0]["trajectory"] == reading.to_dict()["trajectory"]
    assert (written[0]["trajectory_from"], written[0]["content"], written[0]["prompt"]) == ("words", "a car passes", WORDS)
    assert written[1]["trajectory"] == PATH and "trajectory_from" not in written[1]
    assert "trajectory" not in written[2] and "content" not in written[2]
    assert "(paths: 1 from the prompts file, 1 from the words)" in capsys.readouterr().out
    # the written file, read again, makes the same requests
    again = NoiseGenerator(parametric=True)
    generate_prompts(again, read_prompts(tmp_path / "out" / "prompts.jsonl"), tmp_path / "again", FolderSettings())
    assert again.calls == generator.calls


def test_a_descriptive_model_gets_the_words_whole(tmp_path):
    generator = NoiseGenerator(parametric=False)
    generate_prompts(generator, prompts_file(tmp_path, [{"id": "w", "prompt": WORDS}]), tmp_path / "out",
                     FolderSettings())
    assert generator.calls[0][:2] == (WORDS, None)
    assert "trajectory" not in json.loads((tmp_path / "out" / "prompts.jsonl").read_text())


def test_words_without_a_position_are_refused_where_a_path_is_needed(tmp_path):
    generator = NoiseGenerator(parametric=True)
    generator.needs_path = True
    prompts = prompts_file(tmp_path, [{"id": "ok", "prompt": "a bell on the left"}, {"id": "bad", "prompt": "a bell"}])
    with pytest.raises(SonicMotionError, match=r"^prompt 'bad': this generator needs a trajectory .* 'a bell' says "
                                               r"nothing about where the sound is: add it to the words \(e\.g\. 'on"):
        generate_prompts(generator, prompts, tmp_path / "out", FolderSettings())
    assert generator.calls == [] and not (tmp_path / "out").exists()
    with pytest.raises(SonicMotionError, match="^prompt 'bad': .*says only where the sound is"):
        generate_prompts(generator, prompts_file(tmp_path, [{"id": "bad", "prompt": "from left to right"}]),
                         tmp_path / "out", FolderSettings())


def test_retrieval_matches_the_sound_and_places_it_on_the_words_path(retrieval, tmp_path):
    from sonicmotion.motion import describe_to_motion

    words = "a dog is barking, moving from the front to the back passing on the left"
    reading = describe_to_motion(words, seconds=2.0)
    assert reading.trajectory is not None and reading.content == "a dog is barking"
    prompts = prompts_file(tmp_path, [{"id": "dog", "prompt": words, "seconds": 2.0}])
    written = generate_prompts(retrieval, prompts, tmp_path / "out", FolderSettings())
    assert written[0]["retrieved"] == "manifest:dog_bark" and written[0]["trajectory_from"] == "words"
    clip = read_foa(tmp_path / "out" / "dog.wav").samples
    assert spatial_errors(clip, reading.trajectory, 16000).delta_angle < 0.01  # exactly on the words' path
    # matched by the content: the score is the content's, not the whole sentence's
    from sonicmotion.generation import request_from_words

    request, _ = request_from_words(retrieval, prompts[0], 2.0)
    match = retrieval.generate([request])[0].provenance.match
    assert request.text == "a dog is barking"
    assert match.score == pytest.approx(retrieval.library.search("a dog is barking")[0].score, abs=1e-6)
    assert abs(match.score - retrieval.library.search(words)[0].score) > 0.01
