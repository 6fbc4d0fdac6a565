"""The adversarial sweep's cases (issue 15), one test per numbered item: each bad input gets
one line and exit status 2, nothing partial is left and nothing is clobbered."""

import time
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from sonicmotion.audio import MAX_DECODED_SAMPLES, read_audio
from sonicmotion.cli import main
from sonicmotion.errors import SonicMotionError


def one_line_exit_2(argv, capsys, match: str) -> str:
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err
    return err


def silent_flac(path, channels: int, rate: int, seconds: float) -> None:
    block = np.zeros((rate, channels), np.float32)
    with sf.SoundFile(path, "w", rate, channels, "PCM_16", format="FLAC") as f:
        for _ in range(int(seconds)):
            f.write(block)


def test_item_1_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path, capsys):
    bomb = tmp_path / "bomb.flac"
    silent_flac(bomb, 8, 192_000, 40)  # 61 M samples of silence in a small file
    assert bomb.stat().st_size < 2_000_000
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(SonicMotionError, match="more than this reader decodes"):
        read_audio(bomb)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20_000_000 and time.perf_counter() - start < 1.0  # refused from the header
    one_line_exit_2(["spatialize", bomb, "-o", tmp_path / "out.wav", "--azimuth", 0], capsys, "cut the file first")
    assert not (tmp_path / "out.wav").exists()
    # Within the limit, the same reader decodes in blocks and returns everything.
    small = tmp_path / "small.flac"
    silent_flac(small, 2, 48_000, 3)
    assert read_audio(small).samples.shape == (2, 144_000)
    with pytest.raises(SonicMotionError, match=r"at least|more than"):
        read_audio(small, max_samples=100_000)
    assert MAX_DECODED_SAMPLES == 10 * 60 * 48_000 * 2


def test_item_1_the_studio_counts_decoded_samples_of_uploads(tmp_path):
    from sonicmotion.studio.server import RequestError
    from sonicmotion.studio.workspace import Workspace

    workspace = Workspace(tmp_path / "ws")
    bomb = tmp_path / "bomb.flac"
    silent_flac(bomb, 8, 192_000, 40)
    with pytest.raises(RequestError, match="not usable audio"):
        workspace.save_upload("bomb.flac", bomb.read_bytes())
    assert workspace.upload_names() == []


def write_source(path, seconds: float = 1.0) -> None:
    sf.write(path, (0.1 * np.random.default_rng(0).standard_normal(int(16000 * seconds))).astype(np.float32), 16000)


def test_item_2_a_scene_of_a_thousand_sources_is_refused_from_its_text(tmp_path, capsys):
    import json

    write_source(tmp_path / "a.wav")
    source = {"file": "a.wav", "path": {"type": "static", "azimuth": 0}}
    scene = tmp_path / "big.json"
    scene.write_text(json.dumps({"duration": 10, "sources": [source] * 1000}))
    assert scene.stat().st_size < 100_000
    tracemalloc.start()
    one_line_exit_2(["scene", "render", scene, "-o", tmp_path / "mix.wav"], capsys, "at most 64")
    assert tracemalloc.get_traced_memory()[1] < 50_000_000
    tracemalloc.stop()
    scene.write_text(json.dumps({"duration": 600, "sources": [source] * 7}))
    one_line_exit_2(["scene", "render", scene, "-o", tmp_path / "mix.wav"], capsys, "4200 s of audio to render")
    assert not (tmp_path / "mix.wav").exists()
    from sonicmotion.studio.server import RequestError
    from sonicmotion.studio.workspace import Workspace

    with pytest.raises(RequestError, match="at most 64"):  # the studio takes scenes through the same check
        Workspace(tmp_path / "ws").parse_scene({"duration": 10, "sources": [source] * 2000})


def test_item_3_a_scene_render_never_writes_over_one_of_its_sources(tmp_path, capsys):
    import json

    write_source(tmp_path / "x.wav")
    before = (tmp_path / "x.wav").read_bytes()
    scene = tmp_path / "s.json"
    scene.write_text(json.dumps({"duration": 1, "sources": [{"file": "x.wav", "path": {"type": "static",
                                                                                      "azimuth": 30}}]}))
    one_line_exit_2(["scene", "render", scene, "-o", tmp_path / "x.wav"], capsys, "is one of this command's inputs")
    assert (tmp_path / "x.wav").read_bytes() == before
    one_line_exit_2(["spatialize", tmp_path / "x.wav", "-o", tmp_path / "x.wav", "--azimuth", 0], capsys,
                    "is one of this command's inputs")
    assert (tmp_path / "x.wav").read_bytes() == before


@pytest.mark.parametrize("problem", ["folder-is-output", "read-only-folder", "out-is-a-file"])
def test_item_4_output_paths_are_checked_before_the_work(tmp_path, capsys, problem):
    import os

    write_source(tmp_path / "in.wav")
    locked = tmp_path / "locked"
    locked.mkdir()
    (tmp_path / "taken.wav").mkdir()
    (tmp_path / "a-file").write_text("x")
    if problem == "read-only-folder":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        locked.chmod(0o500)
    target = {"folder-is-output": tmp_path / "taken.wav", "read-only-folder": locked / "o.wav",
              "out-is-a-file": tmp_path / "a-file"}[problem]
    match = {"folder-is-output": "is a folder", "read-only-folder": "is not writable",
             "out-is-a-file": "is a file, not a folder"}[problem]
    if problem == "out-is-a-file":
        one_line_exit_2(["dataset", "build", "--source", f"manifest:{tmp_path / 'none.csv'}", "--out", target],
                        capsys, match)
        one_line_exit_2(["train", "autoencoder", "--config", "tiny", "--data", tmp_path, "--out", target], capsys,
                        match)
        one_line_exit_2(["generate", "--prompts", tmp_path / "none.jsonl", "--model", tmp_path, "-o", target],
                        capsys, match)
        assert (tmp_path / "a-file").read_text() == "x"
        return
    for argv in (["spatialize", tmp_path / "in.wav", "-o", target, "--azimuth", 0],
                 ["render", tmp_path / "in.wav", "--to", "stereo", "-o", target, "--layout", "fuma"]):
        one_line_exit_2(argv, capsys, match)
    assert (tmp_path / "taken.wav").is_dir() and not list((tmp_path / "taken.wav").iterdir())


def test_item_7_text_that_is_not_utf8_is_one_line_naming_file_and_line(tmp_path, capsys):
    bad = "caption\n".encode() + "caf\xe9 sounds\n".encode("latin-1")
    prompts = tmp_path / "p.jsonl"
    prompts.write_bytes(b'{"prompt": "ok"}\n' + '{"prompt": "caf\xe9"}\n'.encode("latin-1"))
    one_line_exit_2(["generate", "--prompts", prompts, "--model", tmp_path, "-o", tmp_path / "out"], capsys,
                    "line 2: not UTF-8 text")
    config = tmp_path / "c.yaml"
    config.write_bytes(bad)
    one_line_exit_2(["train", "autoencoder", "--config", config, "--data", tmp_path, "--out", tmp_path / "run"],
                    capsys, "not UTF-8")
    csv = tmp_path / "clotho_captions_development.csv"
    csv.write_bytes(b"file_name,caption_1\n" + "a.wav,caf\xe9\n".encode("latin-1"))
    (tmp_path / "audio").mkdir()
    one_line_exit_2(["dataset", "build", "--source", f"clotho:{csv}:{tmp_path / 'audio'}", "--out",
                     tmp_path / "ds"], capsys, "not UTF-8")
    from sonicmotion.prompts import read_prompts

    with pytest.raises(SonicMotionError, match="line 2: not UTF-8"):
        read_prompts(prompts)


def test_item_9_numbers_are_checked_where_they_are_read(tmp_path, capsys):
    write_source(tmp_path / "in.wav", 3.0)
    out = tmp_path / "o.wav"
    for argv, match in [
        (["generate", "x", "--model", tmp_path, "-o", out, "--batch-size", "0"], "must be at least 1"),
        (["train", "diffusion", "--config", "parametric-tiny", "--autoencoder", "patch:64", "--data", tmp_path,
          "--out", tmp_path / "r", "--steps", "0"], "must be at least 1"),
        (["train", "diffusion", "--config", "parametric-tiny", "--autoencoder", "patch:64", "--data", tmp_path,
          "--out", tmp_path / "r", "--checkpoint-every", "0"], "must be at least 1"),
        (["dataset", "build", "--source", "x", "--out", tmp_path / "d", "--min-seconds", "nan"], "finite"),
        (["dataset", "verify", tmp_path, "--tolerance", "-1"], "must be positive"),
        (["dataset", "verify", tmp_path, "--tolerance", "nan"], "finite"),
        (["spatialize", tmp_path / "in.wav", "-o", out, "--azimuth", "0", "--duration", "1e7"], "longer than"),
        (["spatialize", tmp_path / "in.wav", "-o", out, "--keyframes", "0:0:0;100:90:0"], "beyond the clip"),
        (["evaluate", "autoencoder", "--checkpoint", "patch:64", "--data", tmp_path, "--out", tmp_path / "m.json",
          "--device", "banana"], "--device 'banana'"),
    ]:
        one_line_exit_2(argv, capsys, match)
    assert not out.exists()
    prompts = tmp_path / "p.jsonl"
    for row, match in [('{"prompt": "x", "seconds": "long"}', '"seconds" must be a number'),
                       ('{"prompt": "x", "trajectory": 5}', '"trajectory" must be an object')]:
        prompts.write_text(row + "\n")
        one_line_exit_2(["generate", "--prompts", prompts, "--model", tmp_path, "-o", tmp_path / "g"], capsys, match)
    from sonicmotion.yaml_config import parse_yaml

    assert parse_yaml("steps: 1e9\nlr: 1e-4\nname: 1e") == {"steps": 1e9, "lr": 1e-4, "name": "1e"}


def test_item_13_renders_and_weights_are_the_same_bytes_every_run(tmp_path):
    import subprocess
    import sys

    from sonicmotion.spatial import Trajectory, encode_foa, write_foa

    foa = encode_foa((0.1 * np.random.default_rng(1).standard_normal(8000)).astype(np.float32), 16000,
                     Trajectory.static(40, 10))
    write_foa(tmp_path / "in.wav", foa, 16000, "fuma")
    outputs = []
    for run in range(2):
        out = tmp_path / f"b{run}.wav"
        assert main(["render", str(tmp_path / "in.wav"), "--to", "binaural", "-o", str(out)]) == 0
        outputs.append(out.read_bytes())
        time.sleep(1.1)  # the PEAK chunk's timestamp has one-second resolution
    assert outputs[0] == outputs[1]
    # Safetensors metadata: written by two processes (different hash seeds), identical bytes.
    script = ("import sys, torch; from sonicmotion.files import write_safetensors; "
              "write_safetensors(sys.argv[1], {'b': torch.ones(3), 'a': torch.zeros(2)}, "
              "{k: str(i) for i, k in enumerate('zyxwvutsrq')})")
    files = []
    for seed in ("1", "2"):
        path = tmp_path / f"w{seed}.safetensors"
        subprocess.run([sys.executable, "-c", script, str(path)], check=True, env={"PYTHONHASHSEED": seed,
                       "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)})
        files.append(path.read_bytes())
    assert files[0] == files[1]
    from safetensors.torch import load_file

    assert load_file(str(tmp_path / "w1.safetensors"))["b"].tolist() == [1.0, 1.0, 1.0]


def test_item_6_a_damaged_sample_in_a_shard_is_skipped_by_name_and_many_stop_the_run(tmp_path, capsys):
    import io
    import tarfile

    from sonicmotion.data import loader
    from sonicmotion.data.loader import FoaShardDataset
    from sonicmotion.training.batches import TrainingBatches, plan_batches
    from sonicmotion.data.loader import collate_samples as collate
    from tests.foa_fixtures import synthetic_sample, write_shards

    (url,) = write_shards(tmp_path, "train", [synthetic_sample(i, 0.25) for i in range(4)], per_shard=4)
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(url) as source, tarfile.open(damaged, "w") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if member.name == "clip0001.flac":
                data = data[:200]  # a truncated FLAC
            member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    keys = [item["key"] for item in FoaShardDataset([str(damaged)])]
    assert keys == ["clip0000", "clip0002", "clip0003"]
    assert "skipped sample 'clip0001'" in capsys.readouterr().err
    stream = iter(TrainingBatches(lambda epoch: FoaShardDataset([str(damaged)]), plan_batches(3, 1, 1), collate))
    assert next(stream)[0]["key"] == ["clip0000", "clip0002", "clip0003"]
    dataset = FoaShardDataset([str(damaged)])
    dataset.max_bad_samples = 0
    with pytest.raises(SonicMotionError, match="1 samples could not be read.*dataset verify"):
        list(dataset)
    assert loader.MAX_BAD_SAMPLES == 20


def test_item_5_damaged_weights_are_one_line_and_a_resume_falls_back_to_an_intact_checkpoint(tmp_path, capsys):
    import torch

    from sonicmotion.training.diffusion import load_train_config
    from sonicmotion.training.autoencoder import AutoencoderRunConfig, AutoencoderTrainer, override_training
    from sonicmotion.training.diffusion import DiffusionTrainer
    from sonicmotion.models.pretransform import load_pretransform
    from tests.foa_fixtures import fake_factory, synthetic_sample, write_shards

    torch.set_num_threads(1)
    samples = [synthetic_sample(i, 0.5) for i in range(2)]
    write_shards(tmp_path / "data", "test", samples)
    config = override_training(AutoencoderRunConfig.from_yaml("tiny"), global_batch_size=2, crop_seconds=0.25,
                               checkpoint_every=1, keep_checkpoints=3, log_every=1)
    run = tmp_path / "ae"
    AutoencoderTrainer(config, run, fake_factory(samples, config.training), progress=False).fit(max_steps=2)
    latest = run / "checkpoints" / "step-000000002"
    ema = latest / "ema.safetensors"
    ema.write_bytes(ema.read_bytes()[:500])  # truncated, as by a full disk
    one_line_exit_2(["evaluate", "autoencoder", "--checkpoint", run, "--data", tmp_path / "data", "--out",
                     tmp_path / "m.json"], capsys, "cannot be read")
    one_line_exit_2(["encode-latents", "--autoencoder", ema, "--data", tmp_path / "data", "--out", tmp_path / "lat"],
                    capsys, "damaged")
    resumed = AutoencoderTrainer(config, run, fake_factory(samples, config.training), progress=False)
    resumed.fit(resume=True, max_steps=3)
    assert "checkpoint step-000000002 is damaged (ema.safetensors does not match its checksum)" in \
        capsys.readouterr().err
    from sonicmotion.training.runtime import read_jsonl

    assert [r["step"] for r in read_jsonl(run / "log.jsonl")] == [1, 2, 3]  # step 2 redone from step 1

    # A pipeline folder with damaged weights or a damaged description.
    dm = load_train_config("parametric-tiny", {"training.max_steps": 1, "training.global_batch_size": 2})
    pretransform, info = load_pretransform("parametric:patch:256")
    DiffusionTrainer(dm, tmp_path / "dm", lambda epoch: samples, pretransform=pretransform, pretransform_info=info,
                     progress=False).fit()
    weights = tmp_path / "dm" / "model" / "diffusion.safetensors"
    weights.write_bytes(weights.read_bytes()[:300])
    one_line_exit_2(["generate", "a dog", "--model", tmp_path / "dm", "-o", tmp_path / "g.wav", "--azimuth", 0],
                    capsys, "diffusion weights")
    description = tmp_path / "dm" / "model" / "pipeline.json"
    for text, match in (("[1, 2]", "expected a JSON object"), ('{"format": "x"}', "lacks 'model'")):
        description.write_text(text)
        one_line_exit_2(["generate", "a dog", "--model", tmp_path / "dm", "-o", tmp_path / "g.wav", "--azimuth",
                         0], capsys, match)
    assert not (tmp_path / "g.wav").exists()


def test_item_10_several_outputs_land_together_or_not_at_all(tmp_path, capsys, monkeypatch):
    import json

    from sonicmotion.spatial import Trajectory, encode_foa, write_foa
    from sonicmotion.visual import plots

    foa = encode_foa((0.1 * np.random.default_rng(2).standard_normal(16000)).astype(np.float32), 16000,
                     Trajectory.static(60, 0))
    write_foa(tmp_path / "in.wav", foa, 16000, "fuma")

    def broken(*args, **kwargs):
        raise SonicMotionError("the third picture failed")

    monkeypatch.setattr(plots, "plot_energy_map", broken)
    pictures = [tmp_path / "p.png", tmp_path / "t.png", tmp_path / "e.png"]
    one_line_exit_2(["analyze", tmp_path / "in.wav", "--plot", pictures[0], "--top-down", pictures[1],
                     "--energy-map", pictures[2]], capsys, "the third picture failed")
    assert not any(p.exists() for p in pictures) and not list(tmp_path.glob(".*partial*"))
    monkeypatch.undo()

    # A scene whose sidecar cannot be written: no stems, no mix, and an existing mix kept.
    write_source(tmp_path / "a.wav")
    scene = tmp_path / "s.json"
    scene.write_text(json.dumps({"duration": 1, "sources": [{"file": "a.wav", "path": {"type": "static",
                                                                                      "azimuth": 10}}]}))
    (tmp_path / "stems").mkdir()
    (tmp_path / "mix.wav").write_bytes(b"an earlier mix")
    (tmp_path / "mix.render.json").mkdir()  # the sidecar's path is a folder
    one_line_exit_2(["scene", "render", scene, "-o", tmp_path / "mix.wav", "--stems", tmp_path / "stems"], capsys,
                    "is a folder")
    assert (tmp_path / "mix.wav").read_bytes() == b"an earlier mix" and not list((tmp_path / "stems").iterdir())
    (tmp_path / "mix.render.json").rmdir()
    assert main(["scene", "render", str(scene), "-o", str(tmp_path / "mix.wav"), "--stems",
                 str(tmp_path / "stems")]) == 0
    sidecar = json.loads((tmp_path / "mix.render.json").read_text())
    from sonicmotion.files import file_sha256

    assert sidecar["output_sha256"] == file_sha256(tmp_path / "mix.wav")  # hashed from the staged file
    assert len(list((tmp_path / "stems").iterdir())) == 1


def test_items_1_and_2_peak_memory_of_the_bomb_and_the_thousand_sources_stays_under_500_mb(tmp_path):
    import json
    import subprocess
    import sys

    bomb = tmp_path / "bomb.flac"
    silent_flac(bomb, 8, 192_000, 40)
    write_source(tmp_path / "a.wav")
    scene = tmp_path / "big.json"
    scene.write_text(json.dumps({"duration": 10, "sources": [{"file": "a.wav", "path": {"type": "static",
                                                                                       "azimuth": 0}}] * 1000}))
    # VmHWM: this process image's peak (ru_maxrss would carry over the forking parent's peak).
    probe = ("import re, sys; from sonicmotion.cli import main; code = main(sys.argv[1:]); "
             "print(code, re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))")
    for argv in (["spatialize", str(bomb), "-o", str(tmp_path / "o.wav"), "--azimuth", "0"],
                 ["scene", "render", str(scene), "-o", str(tmp_path / "mix.wav")]):
        done = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True)
        code, peak_kb = map(int, done.stdout.split()[-2:])
        assert code == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert peak_kb < 500 * 1024, (argv[0], peak_kb)  # the whole process, imports included (KiB)
