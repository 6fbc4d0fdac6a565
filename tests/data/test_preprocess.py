import numpy as np
import pytest
import soundfile as sf

from sonicmotion.audio import SILENCE_DB, downmix, fit_length, frame_activity, read_audio, resample
from sonicmotion.data.preprocess import PreprocessConfig, SourceSkipped, load_clip

from tests.data.dataset_corpora import write_sound


def _trim(mono, rate):
    """Leading and trailing 10 ms frames below -60 dBFS RMS dropped, the whole file at once."""
    frame = int(round(0.01 * rate))
    active = np.flatnonzero(frame_activity(mono, frame, SILENCE_DB))
    return mono[active[0] * frame : min(mono.shape[-1], (active[-1] + 1) * frame)]


def _reference(path, config=PreprocessConfig()):
    """The one-shot pipeline: whole file, downmix, trim at source rate, resample, loop/cut."""
    audio = read_audio(path)
    mono = _trim(downmix(audio.samples), audio.sample_rate)
    return fit_length(resample(mono, audio.sample_rate, 16000), config.num_samples)


def test_long_source_streams_only_what_it_needs_and_matches_one_shot(tmp_path):
    path = write_sound(tmp_path / "long.wav", 30.0, seed=2, lead_silence=1.3)
    clip = load_clip(path)
    assert clip.shape == (160000,) and clip.dtype == np.float32
    reference = _reference(path)
    # Resampling a 10 s excerpt instead of the whole file changes only the last few ms.
    np.testing.assert_allclose(clip[:-400], reference[:-400], atol=2e-4)


def test_short_source_is_trimmed_then_looped(tmp_path):
    path = write_sound(tmp_path / "short.wav", 2.0, seed=0, lead_silence=0.5)  # a siren: no quiet tail
    clip = load_clip(path)
    period = 32000  # 2.0 s of sound at 16 kHz (the 0.5 s lead is gone)
    np.testing.assert_allclose(clip[period : 2 * period], clip[:period], atol=1e-6)
    np.testing.assert_allclose(clip, _reference(path), atol=1e-6)


def test_block_size_does_not_change_the_clip(tmp_path):
    path = write_sound(tmp_path / "a.wav", 12.0, seed=4, lead_silence=0.77)
    a = load_clip(path, PreprocessConfig(block_seconds=0.37))
    b = load_clip(path, PreprocessConfig(block_seconds=4.0))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case, reason", [
    ("empty", "empty audio"), ("silent", "silent audio"), ("short", "too short"),
    ("corrupt", "unreadable audio"), ("nan", "NaN"), ("missing", "unreadable audio"),
])
def test_bad_sources_are_skipped_with_a_reason(tmp_path, case, reason):
    path = tmp_path / f"{case}.wav"
    if case == "empty":
        sf.write(path, np.zeros((0, 2), np.float32), 44100)
    elif case == "silent":
        sf.write(path, np.zeros((44100 * 3, 2), np.float32), 44100)
    elif case == "short":
        write_sound(path, 0.4, seed=0, lead_silence=2.0)
    elif case == "corrupt":
        path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" + bytes(range(200)))
    elif case == "nan":
        data = np.full((44100, 1), 0.1, np.float32)
        data[100] = np.nan
        sf.write(path, data, 44100, subtype="FLOAT")
    with pytest.raises(SourceSkipped, match=reason):
        load_clip(path)


def test_clipping_resample_overshoot_is_scaled_below_full_scale(tmp_path):
    rate = 44100
    square = np.sign(np.sin(2 * np.pi * 1000 * np.arange(rate * 2) / rate)).astype(np.float32)
    sf.write(tmp_path / "sq.wav", square, rate, subtype="FLOAT")
    clip = load_clip(tmp_path / "sq.wav")
    assert 0.98 < np.max(np.abs(clip)) <= 0.99 + 1e-6


def test_16_bit_fast_path_gives_libsndfile_float_values(tmp_path):
    """16-bit files are read as integers; the clip must equal the float-read one exactly."""
    path = write_sound(tmp_path / "s.wav", 3.0, seed=0, channels=3)
    fast = load_clip(path)
    with sf.SoundFile(path) as f:
        floats = f.read(dtype="float32", always_2d=True)
    sf.write(tmp_path / "f.wav", floats, 44100, subtype="FLOAT")  # same values, float file
    np.testing.assert_array_equal(fast, load_clip(tmp_path / "f.wav"))


def test_memory_stays_bounded_for_a_long_file(tmp_path):
    """A minute of silence then 20 s of sound: never more than a few blocks in memory."""
    import tracemalloc

    path = write_sound(tmp_path / "long.wav", 20.0, seed=0, lead_silence=60.0)
    whole_file_float = 80 * 44100 * 2 * 4  # bytes a full float32 read would take (28 MB)
    tracemalloc.start()
    clip = load_clip(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert clip.shape == (160000,) and np.abs(clip[:1600]).max() > 0.01  # starts with sound
    assert peak < whole_file_float / 4
