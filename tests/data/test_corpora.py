import csv
import json

import pytest

from sonicmotion.data.corpora import SourceSpec, read_sources
from sonicmotion.errors import SonicMotionError

from tests.data.dataset_corpora import make_audiocaps, make_clotho, make_manifest, make_wavcaps, write_sound


def _read(*texts):
    return read_sources([SourceSpec.parse(t) for t in texts])


def test_every_format_reads_with_its_split_and_captions(corpora):
    sources, skipped = _read(*(corpora[k] for k in ("clotho_dev", "clotho_eval", "audiocaps", "wavcaps", "manifest")))
    assert skipped == []
    by = {(s.corpus, s.source_id): s for s in sources}
    assert by[("clotho", "development clip 0.wav")].split == "train"
    assert by[("clotho", "development clip 0.wav")].captions[4] == "A sound number 0 caption 5."
    assert by[("clotho", "evaluation clip 1.wav")].split == "test"
    clip = by[("audiocaps", "Yytval000.wav")]
    assert clip.split == "validation" and clip.captions == ("A car passes by 0", "A vehicle drives past 0")
    assert by[("freesound", "50001")].path.endswith("50001.flac") and by[("freesound", "50001")].split == "train"
    assert by[("manifest", "mine/m0.wav")].split == "test" and by[("manifest", "mine/m1.wav")].split == "train"
    assert len(sources) == 3 + 2 + 2 + 3 + 3
    order = [(s.split, s.corpus, s.source_id) for s in sources]
    rank = {"train": 0, "validation": 1, "test": 2}
    assert order == sorted(order, key=lambda o: (rank[o[0]], o[1], o[2]))


def test_manifest_csv_and_caption_merging(tmp_path):
    path = make_manifest(tmp_path, 2, jsonl=False)
    with open(path, "a", newline="") as handle:
        csv.writer(handle).writerow(["mine/m1.wav", "Another caption", "train"])
    sources, skipped = _read(f"manifest:{path}:name=sfx")
    assert skipped == []
    merged = [s.captions for s in sources if s.source_id == "mine/m1.wav"]
    assert merged == [("Footsteps on gravel 1", "Another caption")]


def test_bad_rows_are_skipped_with_reasons(tmp_path):
    table, audio = make_clotho(tmp_path, "validation", 2)
    with open(table, "a", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["validation clip 0.wav", "again", "", "", "", ""])  # duplicate id
        writer.writerow(["gone.wav", "a caption", "", "", "", ""])  # no audio file
        write_sound(audio / "mute.wav", 2.0, 5)
        writer.writerow(["mute.wav", "", "", "", "", ""])  # no caption
    sources, skipped = _read(f"clotho:{table}:{audio}")
    assert [s.source_id for s in sources] == ["validation clip 0.wav", "validation clip 1.wav"]
    reasons = {s.source_id: s.reason for s in skipped}
    assert reasons["validation clip 0.wav"].startswith("duplicate id")
    assert reasons["gone.wav"].startswith("audio file not found")
    assert reasons["mute.wav"] == "missing caption"


def test_a_source_in_two_splits_stays_in_the_held_out_one(tmp_path):
    dev = make_clotho(tmp_path / "a", "development", 2)
    ev = make_clotho(tmp_path / "b", "evaluation", 1)
    with open(dev[0], "a", newline="") as handle:
        csv.writer(handle).writerow(["evaluation clip 0.wav", "leak", "", "", "", ""])
    write_sound(dev[1] / "evaluation clip 0.wav", 2.0, 9)
    sources, skipped = _read(f"clotho:{dev[0]}:{dev[1]}", f"clotho:{ev[0]}:{ev[1]}")
    assert {s.source_id: s.split for s in sources}["evaluation clip 0.wav"] == "test"
    assert [(s.source_id, s.reason) for s in skipped] == [("evaluation clip 0.wav", "also listed in split test")]


@pytest.mark.parametrize("problem, message", [
    ("header", "lacks column"), ("folder", "audio folder does not exist"), ("split", "cannot tell the split"),
    ("kind", "kind must be one of"), ("fields", "expected clotho:FILE:AUDIO_DIR"), ("json", "expected a JSON object"),
])
def test_wrong_input_is_an_error_before_any_work(tmp_path, problem, message):
    table, audio = make_clotho(tmp_path, "development", 1)
    spec = f"clotho:{table}:{audio}"
    if problem == "header":
        table.write_text("name,text\nx.wav,hello\n")
    elif problem == "folder":
        spec = f"clotho:{table}:{tmp_path / 'nowhere'}"
    elif problem == "split":
        renamed = tmp_path / "captions.csv"
        table.rename(renamed)
        spec = f"clotho:{renamed}:{audio}"
    elif problem == "kind":
        spec = f"esc50:{table}:{audio}"
    elif problem == "fields":
        spec = f"clotho:{table}"
    elif problem == "json":
        path, folder = make_wavcaps(tmp_path, 1)
        path.write_text(json.dumps([{"id": 1}]))
        spec = f"wavcaps:{path}:{folder}"
    with pytest.raises(SonicMotionError, match=message):
        _read(spec)


def test_audiocaps_pattern_and_explicit_split(tmp_path):
    table, audio = make_audiocaps(tmp_path, "train", 1)
    renamed = tmp_path / "captions.csv"
    table.rename(renamed)
    (audio / "Yyttrain000.wav").rename(audio / "yttrain000_30.wav")
    sources, _ = _read(f"audiocaps:{renamed}:{audio}:pattern={{youtube_id}}_{{start_time}}.wav:split=test")
    assert [(s.source_id, s.split) for s in sources] == [("yttrain000_30.wav", "test")]
