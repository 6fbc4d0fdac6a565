"""``evaluate prompts``: the paper's three prompt files from a dataset index."""

import json


from sonicmotion.cli import main
from sonicmotion.data.index import IndexWriter
from sonicmotion.prompts import read_prompts
from sonicmotion.spatial import Trajectory

PATH = Trajectory.linear(90, 0, -90, 10, "cw", 2, 8)


def write_index(root, rows):
    root.mkdir()
    with IndexWriter(root / "index.parquet") as index:
        index.write(rows)


def row(key, split, trajectory):
    return {"key": key, "split": split, "caption": f"a dog barks {key}", "spatial_caption": f"at the left, {key}",
            "trajectory": trajectory.to_dict(), "sample_rate": 16000, "num_samples": 160000}


def test_the_three_files_hold_the_split_with_the_right_prompt_each(tmp_path, capsys):
    write_index(tmp_path / "data", [row("b", "test", PATH), row("a", "test", Trajectory.static(30, 0)),
                                    row("c", "train", PATH)])
    assert main(["evaluate", "prompts", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "p")]) == 0
    assert "2 test samples" in capsys.readouterr().out
    semantic, descriptive, parametric = ({p.id: p for p in read_prompts(tmp_path / "p" / f"{n}.jsonl")}
                                         for n in ("semantic", "descriptive", "parametric"))
    assert list(semantic) == list(descriptive) == list(parametric) == ["a", "b"]  # the test split, by key
    assert semantic["b"].prompt == semantic["b"].caption == "a dog barks b" and semantic["b"].trajectory is None
    assert descriptive["b"].prompt == "at the left, b" and descriptive["b"].caption == "a dog barks b"
    assert descriptive["b"].trajectory is None  # SM-D takes words; its paths come from the reference by id
    assert parametric["b"].prompt == "a dog barks b" and parametric["b"].trajectory == PATH
    assert parametric["a"].seconds == 10.0
    first = json.loads((tmp_path / "p" / "parametric.jsonl").read_text().splitlines()[0])
    assert set(first) == {"id", "prompt", "caption", "seconds", "trajectory"}


def test_a_missing_split_or_folder_is_one_line(tmp_path, capsys):
    write_index(tmp_path / "data", [row("c", "train", PATH)])
    assert main(["evaluate", "prompts", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "p")]) == 2
    assert "no 'test' samples" in capsys.readouterr().err
    assert main(["evaluate", "prompts", "--data", str(tmp_path / "data"), "--split", "train", "--limit", "0",
                 "--out", str(tmp_path / "p")]) == 2
    assert main(["evaluate", "prompts", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "p")]) == 2
    assert not (tmp_path / "p").exists()
