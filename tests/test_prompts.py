"""The prompts file: one reader for generate, the evaluation and the report; one writer."""

import json

import pytest

from sonicmotion.errors import SonicMotionError
from sonicmotion.prompts import read_prompts, write_prompts
from sonicmotion.spatial import Trajectory


def test_plain_lines_and_json_objects_read_alike(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text('a siren\n\n{"prompt": "rain", "seconds": 4}\n'
                    '{"id": "x", "prompt": "a dog", "caption": "dog", "trajectory": {"type": "static", "azimuth": 30}}\n')
    a, b, c = read_prompts(path)
    assert (a.id, a.prompt, a.caption, a.trajectory, a.seconds) == ("000000", "a siren", "a siren", None, None)
    assert (b.id, b.caption, b.seconds) == ("000001", "rain", 4.0)
    assert (c.id, c.caption, c.trajectory) == ("x", "dog", Trajectory.static(30, 0))
    assert c.row["trajectory"] == {"type": "static", "azimuth": 30}  # kept as written


@pytest.mark.parametrize("text, message", [
    ('{"id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}\n', "line 2: id 'a' appears twice"),
    ('{"id": "a", "prompt": ""}\n', "line 1: field 'prompt'"),
    ('{"id": "a"}\n', "line 1: field 'prompt'"),
    ('{"prompt": "x"\n', "line 1: not valid JSON"),
    ('{"prompt": "x", "trajectory": {"type": "spiral"}}\n', "line 1: unknown trajectory type"),
    ('{"prompt": "x", "trajectory": 5}\n', 'line 1: "trajectory" must be an object'),
    ('{"prompt": "x", "seconds": -1}\n', 'line 1: "seconds" must be a number > 0'),
    ("\n\n", "holds no prompts"),
])
def test_bad_prompts_files_name_the_line(tmp_path, text, message):
    path = tmp_path / "p.jsonl"
    path.write_text(text)
    with pytest.raises(SonicMotionError, match=message):
        read_prompts(path)


def test_writer_keeps_key_order_and_reads_back(tmp_path):
    rows = [{"id": "b", "prompt": "café", "caption": "café", "seconds": 2.0, "spatial_caption": "left"}]
    path = write_prompts(tmp_path / "p.jsonl", rows)
    assert path.read_text() == json.dumps(rows[0]) + "\n"  # ASCII escapes by default
    assert write_prompts(tmp_path / "u.jsonl", rows, ensure_ascii=False).read_text(encoding="utf-8") == (
        json.dumps(rows[0], ensure_ascii=False) + "\n")
    (p,) = read_prompts(path)
    assert (p.prompt, p.row["spatial_caption"]) == ("café", "left")
    with pytest.raises(SonicMotionError, match="appears twice"):
        write_prompts(tmp_path / "d.jsonl", rows + rows)
