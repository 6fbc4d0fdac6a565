import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sonicmotion.cli import main
from sonicmotion.data import builder
from sonicmotion.data.builder import BuildConfig, build_dataset, merge_parts
from sonicmotion.data.corpora import SourceSpec, read_sources
from sonicmotion.data.index import iter_index
from sonicmotion.data.shards import read_shard
from sonicmotion.data.verify import verify_dataset
from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial import read_foa

from tests.data.dataset_corpora import make_clotho, write_sound

ALL = ("clotho_dev", "clotho_eval", "audiocaps", "wavcaps", "manifest")


def _build(corpora, out, keys=ALL, resume=False, **settings):
    sources, skipped = read_sources([SourceSpec.parse(corpora[k]) for k in keys])
    config = BuildConfig(progress=False, **{"shard_size": 4, "plots": False, **settings})
    return build_dataset(sources, skipped, out, config, resume=resume)


def _shard_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.glob("*/*.tar"))}


def _index_rows(out: Path) -> list[dict]:
    return [row for rows in iter_index(out / "index.parquet") for row in rows]


@pytest.fixture(scope="module")
def reference(corpora, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "data"
    result = _build(corpora, out, plots=True)
    return out, result


def test_build_writes_shards_index_and_report(reference):
    out, result = reference
    rows = _index_rows(out)
    assert len(rows) == 2 * 13 == result.report["samples"]
    assert result.report["samples_per_split"] == {"test": 6, "train": 16, "validation": 4}
    assert sorted(p.name for p in (out / "train").glob("*.tar")) == [f"train-{i:06d}.tar" for i in range(4)]
    first = rows[0]
    with tarfile.open(out / first["shard"]) as tar:
        members = tar.getmembers()
        assert [m.name for m in members[:2]] == [f"{first['key']}.flac", f"{first['key']}.json"]
        assert {(m.mtime, m.uid, m.gid, m.mode, m.uname) for m in members} == {(0, 0, 0, 0o644, "")}
        meta = json.loads(tar.extractfile(members[1]).read())
        flac = tar.extractfile(members[0]).read()
    assert meta == {k: v for k, v in first.items() if k != "shard"} | {"trajectory": meta["trajectory"]}
    assert json.loads(first["trajectory"]) == meta["trajectory"]
    for field in ("source_id", "corpus", "split", "caption", "captions", "spatial_caption", "motion", "moving_parts",
                  "start_azimuth", "end_azimuth", "start_elevation", "end_elevation", "clockwise", "direction",
                  "speed", "move_start", "move_end", "seed", "layout", "sample_rate", "num_samples", "trajectory"):
        assert field in meta
    assert meta["layout"] == "fuma" and meta["sample_rate"] == 16000 and meta["num_samples"] == 160000
    assert meta["caption"] in meta["captions"]
    # The FLAC is a normal FOA file: read_foa finds its layout without being told.
    (out.parent / "one.flac").write_bytes(flac)
    foa = read_foa(out.parent / "one.flac")
    assert foa.samples.shape == (4, 160000) and foa.layout.name == "fuma" and foa.sample_rate == 16000
    report = json.loads((out / "report" / "report.json").read_text())
    assert report["counts"]["train/clotho/moving"] == 3
    assert sum(report["histograms"]["start_azimuth"]["counts"]) == 26
    assert all((out / "report" / name).stat().st_size > 1000 for name in ("angles.png", "timing.png", "movement.png"))


def test_verify_passes_on_a_built_set_and_catches_a_wrong_sample(reference, tmp_path):
    out, _ = reference
    result = verify_dataset(out, progress=False)
    assert result.ok and len(result.checks) == 26
    assert max(c.delta_angle for c in result.checks) < 0.05
    # Swap two samples' metadata in a copy of one shard: verify must notice.
    shard = sorted(out.glob("train/*.tar"))[0]
    samples = list(read_shard(shard))
    moving = next(g for k, g in samples if json.loads(g["json"])["motion"] == "moving")
    static_meta = json.loads(next(g for k, g in samples if json.loads(g["json"])["motion"] == "static")["json"])
    tampered = tmp_path / "data"
    (tampered / "train").mkdir(parents=True)
    with tarfile.open(tampered / "train" / "train-000000.tar", "w") as tar:
        meta = dict(static_meta, key="x")
        for name, data in (("x.flac", moving["flac"]), ("x.json", json.dumps(meta).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    bad = verify_dataset(tampered, progress=False)
    assert not bad.ok and bad.outliers[0].delta_angle > 2.0


def test_same_bytes_with_one_and_two_workers(reference, corpora, tmp_path):
    out, _ = reference
    two = tmp_path / "two"
    _build(corpora, two, workers=2)
    assert _shard_bytes(two) == _shard_bytes(out)
    assert _index_rows(two) == _index_rows(out)


def test_adding_sources_does_not_change_existing_samples(reference, corpora, tmp_path):
    out, _ = reference
    partial = tmp_path / "partial"
    _build(corpora, partial, keys=("clotho_dev", "wavcaps"))
    before = {r["key"]: r for r in _index_rows(out)}
    for row in _index_rows(partial):
        same = {k: v for k, v in before[row["key"]].items() if k != "shard"}
        assert {k: v for k, v in row.items() if k != "shard"} == same


def test_resume_after_an_interruption_gives_the_same_set(reference, corpora, tmp_path, monkeypatch):
    out, _ = reference
    interrupted = tmp_path / "interrupted"
    real = builder.build_shard
    calls = []

    def dying(task):
        if len(calls) == 3:
            # What a kill leaves: a half-written temporary shard.
            (interrupted / task.split / f".{task.split}-{task.index:06d}.tar.partial").write_bytes(b"half")
            raise KeyboardInterrupt
        calls.append(task.name)
        return real(task)

    monkeypatch.setattr(builder, "build_shard", dying)
    with pytest.raises(KeyboardInterrupt):
        _build(corpora, interrupted)
    monkeypatch.setattr(builder, "build_shard", real)
    assert not (interrupted / "index.parquet").exists()
    with pytest.raises(SonicMotionError, match="--resume"):
        _build(corpora, interrupted)
    result = _build(corpora, interrupted, resume=True)
    assert (result.kept_shards, result.built_shards) == (3, 4)
    assert _shard_bytes(interrupted) == _shard_bytes(out)
    assert _index_rows(interrupted) == _index_rows(out)
    assert not list(interrupted.glob("*/.*partial"))
    with pytest.raises(SonicMotionError, match="other sources or settings"):
        _build(corpora, interrupted, resume=True, seed=5)


def test_parts_built_separately_merge_into_the_same_index(reference, corpora, tmp_path):
    out, result = reference
    shared = tmp_path / "shared"
    _build(corpora, shared, part=(0, 3))
    _build(corpora, shared, part=(2, 3))
    with pytest.raises(SonicMotionError, match="parts 1 of 3 are missing"):
        merge_parts(shared)
    elsewhere = tmp_path / "node1"
    _build(corpora, elsewhere, part=(1, 3))
    merged = merge_parts(shared, [elsewhere], plots=False)
    assert _shard_bytes(shared) == _shard_bytes(out)
    assert _index_rows(shared) == _index_rows(out)
    assert merged.report["counts"] == result.report["counts"]
    assert merged.report["histograms"] == result.report["histograms"]


def test_bad_sources_are_skipped_and_reported(tmp_path):
    table, audio = make_clotho(tmp_path, "development", 2)
    (audio / "corrupt.wav").write_bytes(b"RIFF....WAVEfmt " + bytes(100))
    sf.write(audio / "empty.wav", np.zeros((0, 2), np.float32), 44100)
    sf.write(audio / "silent.wav", np.zeros((44100 * 2, 2), np.float32), 44100)
    write_sound(audio / "short.wav", 0.3, seed=0)
    with open(table, "a") as handle:
        for name in ("corrupt.wav", "empty.wav", "silent.wav", "short.wav"):
            handle.write(f"{name},a caption,,,,\n")
        handle.write("development clip 0.wav,duplicate,,,,\n")
        handle.write("nofile.wav,a caption,,,,\n")
    out = tmp_path / "out"
    code = main(["dataset", "build", "--source", f"clotho:{table}:{audio}", "--out", str(out),
                 "--no-progress", "--no-plots"])
    assert code == 0
    report = json.loads((out / "report" / "report.json").read_text())
    reasons = {s["source_id"]: s["reason"] for s in report["skipped"]}
    assert reasons["corrupt.wav"].startswith("unreadable audio")
    assert reasons["empty.wav"].startswith("empty audio")
    assert reasons["silent.wav"].startswith("silent audio")
    assert reasons["short.wav"].startswith("too short")
    assert reasons["development clip 0.wav"].startswith("duplicate id")
    assert reasons["nofile.wav"].startswith("audio file not found")
    assert report["samples"] == 4
    assert main(["dataset", "verify", str(out), "--no-progress"]) == 0


def test_cli_errors_are_one_line_and_leave_nothing(tmp_path, capsys):
    table, audio = make_clotho(tmp_path, "development", 1)
    table.write_text("filename,caption\nx.wav,y\n")
    out = tmp_path / "out"
    assert main(["dataset", "build", "--source", f"clotho:{table}:{audio}", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "lacks column(s) file_name" in err
    assert not out.exists()
    assert main(["dataset", "build", "--source", f"clotho:{table}:{tmp_path / 'none'}", "--out", str(out)]) == 2
    assert "audio folder does not exist" in capsys.readouterr().err


def test_limit_and_a_non_empty_folder(corpora, tmp_path):
    out = tmp_path / "limited"
    result = _build(corpora, out, limit=1)
    assert result.report["samples_per_split"] == {"test": 2, "train": 2, "validation": 2}
    assert result.report["sources_beyond_limit"] == 10 and result.report["skipped"] == []
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    for resume in (False, True):
        with pytest.raises(SonicMotionError, match="not empty"):
            _build(corpora, tmp_path / "other", resume=resume)


def _children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (via /proc; Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if entry.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    from tests.processes import alive

    return alive(pid)


@pytest.mark.slow
def test_resume_after_a_real_kill(reference, corpora, tmp_path):
    """SIGKILL a two-worker build mid-way, resume it, and get the uninterrupted bytes."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out, _ = reference
    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "sonicmotion", "dataset", "build", "--out", str(killed), "--shard-size", "4",
               "--workers", "2", "--no-progress", "--no-plots"]
    for key in ALL:
        command += ["--source", corpora[key]]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((killed / ".build" / "shards").glob("*.json"))) < 2:
        time.sleep(0.05)
    workers = _children(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "index.parquet").exists() and len(workers) >= 2
    time.sleep(3.0)  # the workers notice within a second that the build is gone, and exit
    assert [pid for pid in workers if _alive(pid)] == []
    subprocess.run(command + ["--resume"], env=env, check=True, stdout=subprocess.DEVNULL)
    assert _shard_bytes(killed) == _shard_bytes(out)
    assert _index_rows(killed) == _index_rows(out)


def test_stats_and_merge_commands(reference, tmp_path, capsys):
    out, result = reference
    assert main(["dataset", "stats", str(out), "--plots", str(tmp_path / "plots")]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("26 samples: test 6, train 16, validation 4")
    assert "train/clotho/moving" in printed and (tmp_path / "plots" / "angles.png").stat().st_size > 1000
    assert main(["dataset", "merge", str(out)]) == 2
    assert "no parts to merge" in capsys.readouterr().err
    assert main(["dataset", "build", "--out", str(tmp_path / "x"), "--shard", "3/2"]) == 2
    assert "need 0 <= i < N" in capsys.readouterr().err
