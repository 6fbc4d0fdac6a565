"""Issue 15, items 8, 10 (the rephraser part) and 11: damaged dataset state is one line, a
failed first attempt does not block the corrected one, and a shard damaged in place is rebuilt."""

import pytest

from sonicmotion.cli import main

BUILD = ["--shard-size", "2", "--no-progress", "--no-plots"]


def one_line_exit_2(argv, capsys, match: str) -> None:
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err


@pytest.fixture
def built(corpora, tmp_path):
    out = tmp_path / "data"
    assert main(["dataset", "build", "--source", corpora["clotho_dev"], "--out", str(out), *BUILD]) == 0
    return out


def test_item_8_a_damaged_index_or_report_is_one_line(built, tmp_path, capsys):
    capsys.readouterr()
    index = built / "index.parquet"
    original = index.read_bytes()
    index.write_bytes(original[: len(original) // 2])
    one_line_exit_2(["dataset", "stats", built], capsys, "the dataset index cannot be read")
    one_line_exit_2(["dataset", "verify", built, "--no-progress"], capsys, "cannot be read")
    one_line_exit_2(["generate", "a dog", "--library", built, "-o", tmp_path / "g.wav", "--azimuth", 0], capsys,
                    "cannot be read")
    assert not (tmp_path / "g.wav").exists()
    index.write_bytes(original)
    (built / "report" / "report.json").write_text("{not json")
    one_line_exit_2(["dataset", "stats", built], capsys, "not valid JSON")


def test_item_8_an_empty_build_record_is_one_line_when_shards_exist(built, corpora, capsys):
    capsys.readouterr()
    (built / ".build" / "build.json").write_text("")
    one_line_exit_2(["dataset", "build", "--source", corpora["clotho_dev"], "--out", built, *BUILD, "--resume"],
                    capsys, "build into a new folder")


def test_item_11_a_shard_damaged_in_place_is_rebuilt_on_resume(built, corpora, capsys):
    shard = sorted((built / "train").glob("*.tar"))[0]
    good = shard.read_bytes()
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0xFF  # same size, different bytes
    shard.write_bytes(bytes(damaged))
    capsys.readouterr()
    assert main(["dataset", "build", "--source", corpora["clotho_dev"], "--out", str(built), *BUILD, "--resume"]) == 0
    assert "does not match its recorded checksum" in capsys.readouterr().err
    assert shard.read_bytes() == good  # rebuilt, byte for byte


def test_item_10_a_failed_first_attempt_does_not_block_the_corrected_one(corpora, tmp_path, capsys):
    out = tmp_path / "data"
    # A first attempt whose rephraser cannot answer stops before any state is written ...
    assert main(["dataset", "build", "--source", corpora["clotho_dev"], "--out", str(out), *BUILD,
                 "--rephraser", f"transformers:{tmp_path / 'no-model'}"]) == 2
    capsys.readouterr()
    assert not (out / ".build" / "build.json").exists()
    # ... so the corrected command runs as a new build.
    assert main(["dataset", "build", "--source", corpora["clotho_dev"], "--out", str(out), *BUILD]) == 0
