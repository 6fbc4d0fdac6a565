"""Reading generated folders, reference folders and shards, and prompts files."""

import numpy as np
import pytest
import soundfile as sf

from sonicmotion.errors import SonicMotionError
from sonicmotion.prompts import read_prompts
from sonicmotion.spatial.io import foa_from_bytes
from sonicmotion.evaluation.sets import (
    check_prompts_match,
    decode_pressure,
    iter_clip_bytes,
    list_folder,
    list_reference,
    probe_generated,
)

from tests.evaluation.evaluation_helpers import PATHS, synth_clip, write_prompts, write_set, write_shard


def by_id(path):
    return {p.id: p for p in read_prompts(path)}


def test_prompts_file_errors(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "prompt": "x", "caption": "y"}\n{"id": "a", "prompt": "x", "caption": "y"}\n')
    with pytest.raises(SonicMotionError, match="line 2: id 'a' appears twice"):
        by_id(path)
    path.write_text('{"id": "a", "caption": "y"}\n')
    with pytest.raises(SonicMotionError, match="line 1: field 'prompt'"):
        by_id(path)
    path.write_text('{"id": "a", "prompt": "x", "caption": "y"}\n{"id": "b", "prompt": \n')
    with pytest.raises(SonicMotionError, match="line 2: not valid JSON"):
        by_id(path)
    path.write_text('{"id": "a", "prompt": "x", "caption": "y", "trajectory": {"type": "spiral"}}\n')
    with pytest.raises(SonicMotionError, match="line 1: unknown trajectory type"):
        by_id(path)


def test_prompts_and_generated_ids_must_match(tmp_path):
    generated = list_folder(write_set(tmp_path / "gen", ["a", "b"], seconds=1.0), "generated")
    prompts = by_id(write_prompts(tmp_path / "p.jsonl", ["a", "b", "c"]))
    with pytest.raises(SonicMotionError, match=r"1 \(e.g. 'c'\) prompts have no generated file"):
        check_prompts_match(generated, prompts)
    prompts = by_id(write_prompts(tmp_path / "p.jsonl", ["a"]))
    with pytest.raises(SonicMotionError, match=r"1 \(e.g. 'b'\) generated files have no line"):
        check_prompts_match(generated, prompts)
    assert by_id(write_prompts(tmp_path / "p.jsonl", ["b", "a"]))["a"].trajectory == PATHS[1]  # 2nd line


def test_wrong_channel_count_and_unrecorded_layout_are_refused(tmp_path):
    folder = write_set(tmp_path / "gen", ["a"], seconds=0.5)
    sf.write(folder / "three.wav", np.zeros((800, 3), np.float32), 16000)
    with pytest.raises(SonicMotionError, match="three.wav: FOA needs 4 channels, the file has 3"):
        probe_generated(list_folder(folder, "generated"), None)
    (folder / "three.wav").unlink()
    sf.write(folder / "stereo.wav", np.zeros((800, 2), np.float32), 16000)
    with pytest.raises(SonicMotionError, match="mixes 2-channel .* and 4-channel"):
        probe_generated(list_folder(folder, "generated"), None)
    (folder / "stereo.wav").unlink()
    sf.write(folder / "bare.wav", np.zeros((800, 4), np.float32), 22050)
    with pytest.raises(SonicMotionError, match="bare.wav: the file does not record its channel layout"):
        probe_generated(list_folder(folder, "generated"), None)
    assert probe_generated(list_folder(folder, "generated"), "fuma") == ({16000: 1, 22050: 1}, 4)
    stereo = tmp_path / "baseline"
    stereo.mkdir()
    sf.write(stereo / "a.wav", np.stack([np.full(800, 0.2), np.full(800, 0.4)], 1).astype(np.float32), 16000)
    assert probe_generated(list_folder(stereo, "generated"), None) == ({16000: 1}, 2)
    pressure, rate = decode_pressure((stereo / "a.wav").read_bytes(), "a.wav")
    assert rate == 16000 and np.allclose(pressure, 0.3, atol=1e-4)  # the mid (L + R) / 2, 16-bit file
    with pytest.raises(SonicMotionError, match="records layout 'fuma' but --layout 'ambix'"):
        foa_from_bytes((folder / "a.wav").read_bytes(), "a.wav", "ambix")


def test_shards_index_audio_and_metadata_in_any_order(tmp_path):
    (tmp_path / "test").mkdir()
    write_shard(tmp_path / "test" / "test-000000.tar", ["k0", "k1"], reverse=True)
    write_shard(tmp_path / "test" / "test-000001.tar", ["k2"], offset=2)
    reference = list_reference(tmp_path)
    assert sorted(reference.clips) == ["k0", "k1", "k2"]
    assert reference.metadata["k1"]["trajectory"] == PATHS[1].to_dict()
    clips = [reference.clips[k] for k in ("k0", "k1", "k2")]
    decoded = [foa_from_bytes(data, clip.name) for clip, data in iter_clip_bytes(clips)]
    # FLAC is 24-bit: compare with the clip written, to quantisation accuracy.
    np.testing.assert_allclose(decoded[1].samples, synth_clip(1) * 0.9, atol=1e-6)
    np.testing.assert_allclose(decoded[2].pressure(), synth_clip(2)[0] * 0.9 * np.sqrt(2), atol=1e-5)
    single = list_reference(tmp_path / "test" / "test-000001.tar")
    assert list(single.clips) == ["k2"]


def test_reference_errors(tmp_path):
    with pytest.raises(SonicMotionError, match="does not exist"):
        list_reference(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SonicMotionError, match="holds no .wav or .flac files"):
        list_reference(tmp_path / "empty")
    (tmp_path / "bad.tar").write_bytes(b"not a tar file at all" * 40)
    with pytest.raises(SonicMotionError, match="not a readable tar shard"):
        list_reference(tmp_path / "bad.tar")
