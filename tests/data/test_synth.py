import csv

import numpy as np
import soundfile as sf

from sonicmotion.data.synth import CAPTIONS, SOUNDS, write_clotho_corpus


def test_every_kind_is_distinct_and_deterministic():
    spectra = {}
    for kind, make in SOUNDS.items():
        a, b = make(2.0, 16000, seed=1), make(2.0, 16000, seed=1)
        assert a.dtype == np.float32 and a.shape == (32000,) and np.array_equal(a, b)
        assert abs(float(np.abs(a).max()) - 0.5) < 1e-6
        assert not np.array_equal(a, make(2.0, 16000, seed=2))
        power = np.abs(np.fft.rfft(a)) ** 2
        spectra[kind] = np.log10(np.add.reduceat(power, np.arange(0, power.size, 500)) + 1e-9)
    kinds = list(spectra)
    for i, x in enumerate(kinds):
        for y in kinds[i + 1:]:
            assert np.abs(spectra[x] - spectra[y]).mean() > 0.2, (x, y)


def test_clotho_corpus_layout(tmp_path):
    csvs = write_clotho_corpus(tmp_path, takes=3, seconds=1.0, sample_rate=22050)
    rows = {split: list(csv.DictReader(open(path))) for split, path in csvs.items()}
    assert [len(rows[s]) for s in ("development", "validation", "evaluation")] == [len(SOUNDS)] * 3
    first = rows["development"][0]
    assert first["file_name"] == "siren_00.wav" and first["caption_1"] in CAPTIONS["siren"]
    info = sf.info(tmp_path / "evaluation" / "bell_02.wav")
    assert (info.channels, info.samplerate, info.frames) == (1, 22050, 22050)
