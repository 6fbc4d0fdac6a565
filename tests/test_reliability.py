"""The adversarial sweep of issue 27, one test per defect: inputs are never outputs, limits
are counted in samples and bytes before any work, sidecars check what they name, and every
bad input is one line with exit status 2 (no traceback), leaving nothing behind."""

import json

import numpy as np
import pytest
import soundfile as sf

from sonicmotion.cli import main
from tests.conftest import write_sound_library


def one_line_exit_2(argv, capsys, match: str) -> str:
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err
    return err


@pytest.fixture
def library(tmp_path):
    """A manifest library of three 2 s recordings at 16 kHz in tmp_path/library."""
    (tmp_path / "library").mkdir()
    return write_sound_library(tmp_path / "library", seconds=2.0, rate=16000, kinds=("siren", "dog_bark", "rain"))


def unchanged(paths):
    return {p: p.read_bytes() for p in paths}


# --- 2. inputs overwritten -------------------------------------------------------------------------

def test_generate_output_over_a_retrieved_library_recording_is_refused(library, capsys):
    before = unchanged([library / "siren.wav", library / "manifest.jsonl"])
    one_line_exit_2(["generate", "a police siren", "--library", library, "-o", library / "siren.wav",
                     "--seconds", 1], capsys, "is one of this command's inputs")
    assert unchanged(before) == before


def test_generate_output_over_the_library_manifest_is_refused(library, tmp_path, capsys):
    # The manifest named like the prompts file a --prompts folder gets: writing it would replace the library.
    manifest = library / "prompts.jsonl"
    manifest.write_bytes((library / "manifest.jsonl").read_bytes())
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "x", "prompt": "rain"}) + "\n")
    before = unchanged([manifest])
    one_line_exit_2(["generate", "--prompts", tmp_path / "p.jsonl", "--library", manifest, "-o", library,
                     "--seconds", 1], capsys, "prompts.jsonl: is one of this command's inputs")
    assert unchanged(before) == before and not (library / "x.wav").exists()


def test_generate_prompts_folder_over_a_library_recording_is_refused(library, tmp_path, capsys):
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "siren", "prompt": "a police siren"}) + "\n")
    before = unchanged([library / "siren.wav"])
    one_line_exit_2(["generate", "--prompts", tmp_path / "p.jsonl", "--library", library, "-o", library,
                     "--seconds", 1], capsys, "is one of this command's inputs")
    assert unchanged(before) == before


def test_scene_library_output_over_a_retrieved_recording_is_refused(library, tmp_path, capsys):
    (tmp_path / "s.yaml").write_text("duration: 1\nlibrary: library\nsources:\n"
                                     "  - {name: a, prompt: a police siren, path: {type: static, azimuth: 30}}\n")
    before = unchanged([library / "siren.wav", library / "manifest.jsonl"])
    one_line_exit_2(["scene", "render", tmp_path / "s.yaml", "-o", library / "siren.wav"], capsys,
                    "is one of this command's inputs")
    assert unchanged(before) == before


def test_scene_stems_over_a_source_file_is_refused(tmp_path, capsys):
    stems = tmp_path / "stems"
    stems.mkdir()
    sf.write(stems / "00_a.wav", np.zeros(16000, np.float32), 16000)
    (tmp_path / "s.yaml").write_text("duration: 1\nsources:\n"
                                     "  - {name: a, file: stems/00_a.wav, path: {type: static, azimuth: 30}}\n")
    before = unchanged([stems / "00_a.wav"])
    one_line_exit_2(["scene", "render", tmp_path / "s.yaml", "-o", tmp_path / "o.wav", "--stems", stems], capsys,
                    "is one of this command's inputs")
    assert unchanged(before) == before and not (tmp_path / "o.wav").exists()


def _generated_folder(tmp_path):
    from sonicmotion.spatial import Trajectory, encode_foa, write_foa

    gen = tmp_path / "gen"
    gen.mkdir()
    path = Trajectory.static(30, 0)
    write_foa(gen / "c0.wav", encode_foa(np.ones(16000, np.float32) * 0.1, 16000, path), 16000, "fuma")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "c0", "prompt": "x", "trajectory": path.to_dict()}) + "\n")
    return gen, prompts


def test_evaluate_generation_out_over_its_prompts_file_is_refused(tmp_path, capsys):
    gen, prompts = _generated_folder(tmp_path)
    before = unchanged([prompts])
    one_line_exit_2(["evaluate", "generation", "--generated", gen, "--prompts", prompts, "--metrics", "spatial",
                     "--out", prompts], capsys, "is one of this command's inputs")
    assert unchanged(before) == before


def test_evaluate_generation_out_over_one_of_its_clips_is_refused(tmp_path, capsys):
    gen, prompts = _generated_folder(tmp_path)
    before = unchanged([gen / "c0.wav"])
    one_line_exit_2(["evaluate", "generation", "--generated", gen, "--prompts", prompts, "--metrics", "spatial",
                     "--out", gen / "c0.wav"], capsys, "is one of this command's inputs")
    assert unchanged(before) == before


# --- 4. library sidecars verified ------------------------------------------------------------------

def _render_with_library(library, tmp_path):
    (tmp_path / "s.yaml").write_text("duration: 1\nlibrary: library\nsources:\n"
                                     "  - {name: a, prompt: a police siren, path: {type: static, azimuth: 30}}\n")
    assert main(["scene", "render", str(tmp_path / "s.yaml"), "-o", str(tmp_path / "out.wav")]) == 0
    return tmp_path / "out.render.json"


def test_rerendering_a_sidecar_after_the_manifest_changed_is_refused(library, tmp_path, capsys):
    sidecar = _render_with_library(library, tmp_path)
    with open(library / "manifest.jsonl", "a") as f:
        f.write("\n" + json.dumps({"path": "rain.wav", "caption": "a police siren, loud", "id": "other"}))
    capsys.readouterr()
    err = one_line_exit_2(["scene", "render", sidecar, "-o", tmp_path / "again.wav"], capsys,
                          "--allow-changed-library")
    assert "listing" in err and not (tmp_path / "again.wav").exists()
    assert main(["scene", "render", str(sidecar), "-o", str(tmp_path / "again.wav"), "--allow-changed-library"]) == 0
    assert "re-rendering anyway" in capsys.readouterr().err


def test_rerendering_a_sidecar_after_the_retrieved_recording_changed_is_refused(library, tmp_path, capsys):
    sidecar = _render_with_library(library, tmp_path)
    recording = json.loads(sidecar.read_text())["sources"][0]["retrieved"]["match"]
    assert len(recording["sha256"]) == 64
    sf.write(recording["file"], 0.5 * sf.read(recording["file"], dtype="float32")[0], 16000)
    capsys.readouterr()
    err = one_line_exit_2(["scene", "render", sidecar, "-o", tmp_path / "again.wav"], capsys, "siren.wav")
    assert "changed since the first render" in err and not (tmp_path / "again.wav").exists()


# --- 3. limits in samples and bytes, checked before work -----------------------------------------

def test_scene_limit_counts_samples_not_seconds(tmp_path, capsys):
    import time

    from sonicmotion.scene import scene_from_dict

    sources = "".join(f"  - {{name: s{i}, file: a.wav, path: {{type: static, azimuth: 0}}}}\n" for i in range(64))
    (tmp_path / "s.yaml").write_text(f"duration: 56.25\nsample_rate: 192000\nsources:\n{sources}")
    start = time.perf_counter()
    one_line_exit_2(["scene", "render", tmp_path / "s.yaml", "-o", tmp_path / "o.wav"], capsys, "samples")
    assert time.perf_counter() - start < 5.0 and not (tmp_path / "o.wav").exists()
    # The studio's jobs pass through the same check (the 7.5 GB job that failed as a MemoryError).
    with pytest.raises(Exception, match="samples"):
        scene_from_dict({"duration": 56.25, "sample_rate": 192000, "sources": [
            {"name": f"s{i}", "prompt": "x", "path": {"type": "static", "azimuth": 0}} for i in range(64)]})
    # The same seconds at the default 48 kHz are legal.
    scene = scene_from_dict({"duration": 56.25, "sources": [
        {"name": f"s{i}", "prompt": "x", "path": {"type": "static", "azimuth": 0}} for i in range(64)]})
    assert len(scene.sources) == 64


def test_studio_job_over_the_sample_limit_is_a_400(tmp_path):
    from sonicmotion.studio.server import RequestError
    from sonicmotion.studio.workspace import Workspace

    workspace = Workspace(tmp_path / "ws")
    with pytest.raises(RequestError, match="samples") as refused:
        workspace.parse_scene({"duration": 56.25, "sample_rate": 192000, "sources": [
            {"name": f"s{i}", "file": "uploads/a.wav", "path": {"type": "static", "azimuth": 0}} for i in range(64)]})
    assert refused.value.status == 400


def test_a_huge_scene_file_is_refused_before_parsing(tmp_path, capsys):
    import time
    import tracemalloc

    source = "  - {name: a, file: a.wav, path: {type: static, azimuth: 0}}\n"
    (tmp_path / "big.yaml").write_text("duration: 1\nsources:\n" + source * 100_000)
    assert (tmp_path / "big.yaml").stat().st_size > 4 * 2**20
    tracemalloc.start()
    start = time.perf_counter()
    one_line_exit_2(["scene", "render", tmp_path / "big.yaml", "-o", tmp_path / "o.wav"], capsys, "bytes")
    assert time.perf_counter() - start < 2.0 and tracemalloc.get_traced_memory()[1] < 50_000_000
    tracemalloc.stop()
    # Under the byte limit, sources are counted while parsing: refused after 200,000 values, not after the file.
    (tmp_path / "many.yaml").write_text("duration: 1\nsources:\n" + "  - [0, 0, 0, 0, 0, 0, 0, 0]\n" * 40_000)
    assert (tmp_path / "many.yaml").stat().st_size < 4 * 2**20
    one_line_exit_2(["scene", "render", tmp_path / "many.yaml", "-o", tmp_path / "o.wav"], capsys, "values")


def test_generate_seconds_limit_is_checked_before_work(library, tmp_path, capsys):
    one_line_exit_2(["generate", "rain", "--library", library, "-o", tmp_path / "o.wav", "--seconds", "1e6"], capsys,
                    "at most 600 s")
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "x", "prompt": "rain", "seconds": 1e6}) + "\n")
    one_line_exit_2(["generate", "--prompts", tmp_path / "p.jsonl", "--library", library, "-o", tmp_path / "out"],
                    capsys, "(0, 600]")
    assert not (tmp_path / "o.wav").exists() and not (tmp_path / "out" / "x.wav").exists()


def test_render_sample_rate_limit_is_checked_before_work(tmp_path, capsys):
    from sonicmotion.spatial import Trajectory, encode_foa, write_foa

    write_foa(tmp_path / "foa.wav", encode_foa(np.ones(1600, np.float32) * 0.1, 16000, Trajectory.static(0, 0)),
              16000, "fuma")
    one_line_exit_2(["render", tmp_path / "foa.wav", "-o", tmp_path / "o.wav", "--to", "binaural",
                     "--sample-rate", 1_000_000_000], capsys, "at most 384000 Hz")
    assert not (tmp_path / "o.wav").exists()
    assert main(["render", str(tmp_path / "foa.wav"), "-o", str(tmp_path / "o.wav"), "--to", "stereo",
                 "--sample-rate", "48000"]) == 0
    assert sf.info(tmp_path / "o.wav").samplerate == 48000


# --- 6. one line instead of a traceback ------------------------------------------------------------

def test_analyze_energy_map_of_a_one_sample_file_is_not_a_traceback(tmp_path, capsys):
    from sonicmotion.spatial import write_foa

    write_foa(tmp_path / "one.wav", np.full((4, 1), 0.1, np.float32), 16000, "fuma")
    for flag in ("--plot", "--top-down", "--energy-map"):
        assert main(["analyze", str(tmp_path / "one.wav"), flag, str(tmp_path / "x.png")]) == 0, flag
        assert (tmp_path / "x.png").stat().st_size > 0
        (tmp_path / "x.png").unlink()
    capsys.readouterr()


def _report_run(tmp_path):
    gen, _ = _generated_folder(tmp_path)
    (gen / "prompts.jsonl").write_bytes((tmp_path / "prompts.jsonl").read_bytes())
    return gen


def test_report_with_a_damaged_metrics_json_is_one_line(tmp_path, capsys):
    run = _report_run(tmp_path)
    (run / "metrics.json").write_text('{"spatial": {"frame": ')
    one_line_exit_2(["report", run, "-o", tmp_path / "r.html"], capsys, "not valid JSON")
    (run / "metrics.json").write_text("[1, 2]")
    one_line_exit_2(["report", run, "-o", tmp_path / "r.html"], capsys, "expected the JSON object")
    assert not (tmp_path / "r.html").exists()


def test_report_with_a_run_json_holding_a_list_is_one_line(tmp_path, capsys):
    run = _report_run(tmp_path)
    (run / "run.json").write_text('["sm-p"]')
    one_line_exit_2(["report", run, "-o", tmp_path / "r.html"], capsys, "expected a JSON object")
    assert not (tmp_path / "r.html").exists()


def _sources_dataset(tmp_path):
    from sonicmotion.data.builder import BuildConfig, build_dataset
    from sonicmotion.data.corpora import SourceSpec, read_sources

    (tmp_path / "corpus").mkdir()
    write_sound_library(tmp_path / "corpus", seconds=2.0, rate=16000, kinds=("siren", "rain"))
    sources, skipped = read_sources([SourceSpec.parse(f"manifest:{tmp_path / 'corpus' / 'manifest.jsonl'}")])
    build_dataset(sources, skipped, tmp_path / "ds", BuildConfig(shard_size=8, progress=False, plots=False,
                                                                   store="sources"))
    return tmp_path / "ds"


def test_materialize_of_a_shard_with_a_bit_flipped_flac_is_one_line(tmp_path, capsys):
    import tarfile

    from sonicmotion.data.shards import list_shards

    dataset = _sources_dataset(tmp_path)
    shard = list_shards(dataset)[0]
    with tarfile.open(shard) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".flac"))
    data = bytearray(shard.read_bytes())
    for offset in range(member.offset_data + member.size // 3, member.offset_data + member.size // 3 + 64):
        data[offset] ^= 0xA5  # damage the middle of the FLAC stream (frames, not the header)
    shard.write_bytes(bytes(data))
    assert main(["dataset", "materialize", str(dataset), "--out", str(tmp_path / "foa")]) == 2
    err = capsys.readouterr().err.strip().splitlines()  # the progress bar, then the error in one line
    assert "damaged audio" in err[-1] and member.name.split(".")[0] in err[-1] and "Traceback" not in "".join(err)
    assert not any(p.suffix == ".tar" for p in (tmp_path / "foa").rglob("*"))


def test_materialize_rerun_removes_the_partial_files_a_killed_run_left(tmp_path, capsys):
    dataset = _sources_dataset(tmp_path)
    out = tmp_path / "foa"
    assert main(["dataset", "materialize", str(dataset), "--out", str(out)]) == 0
    split = next(p for p in out.iterdir() if p.is_dir() and (p / f"{p.name}-000000.tar").is_file())
    (split / f"{split.name}-000000.tar").unlink()
    left = split / f".{split.name}-000000.k1ll3d.partial.tar"  # what atomic_path leaves under kill -9
    left.write_bytes(b"half a shard")
    assert main(["dataset", "materialize", str(dataset), "--out", str(out)]) == 0
    assert not left.exists() and (split / f"{split.name}-000000.tar").is_file()
    assert not list(out.rglob(".*.partial*"))
    capsys.readouterr()


def test_evaluate_prompts_out_on_a_file_or_unwritable_folder_is_one_line(tmp_path, capsys):
    import os

    dataset = _sources_dataset(tmp_path)
    (tmp_path / "file").write_text("x")
    one_line_exit_2(["evaluate", "prompts", "--data", dataset, "--out", tmp_path / "file"], capsys, "is a file")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        one_line_exit_2(["evaluate", "prompts", "--data", dataset, "--out", locked / "p"], capsys, "not writable")


def test_studio_workspace_on_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "ws").write_text("x")
    one_line_exit_2(["studio", "--workspace", tmp_path / "ws", "--port", 0, "--library", tmp_path], capsys,
                    "is a file, not a folder")


def test_text_embedding_cache_path_that_is_a_file_is_one_line(tmp_path):
    from sonicmotion.errors import SonicMotionError
    from sonicmotion.retrieval import SentenceEmbedder

    (tmp_path / "cache").write_text("x")
    with pytest.raises(SonicMotionError, match="a file stands where the folder should be"):
        SentenceEmbedder(tmp_path / "cache").embed_set(["a dog barks"])


def test_evaluation_embedding_cache_path_that_is_a_file_is_one_line(tmp_path):
    from sonicmotion.errors import SonicMotionError
    from sonicmotion.evaluation.cache import EmbeddingCache

    (tmp_path / "cache").write_text("x")
    with pytest.raises(SonicMotionError, match="a file stands where the folder should be"):
        EmbeddingCache(tmp_path / "cache", "aisfx", "0123456789abcdef0123456789")


# --- 5/7. the studio checks --library and --model at start ----------------------------------------

@pytest.mark.parametrize("case", ["empty folder", "garbage manifest", "missing model"])
def test_studio_bad_library_or_model_is_refused_at_start(tmp_path, capsys, case):
    if case == "empty folder":
        (tmp_path / "lib").mkdir()
        argv, match = ["--library", tmp_path / "lib"], "not a library"
    elif case == "garbage manifest":
        (tmp_path / "lib.csv").write_bytes(b"\x00\xff garbage, not a manifest\n")
        argv, match = ["--library", tmp_path / "lib.csv"], "lib.csv"
    else:
        argv, match = ["--model", tmp_path / "nope"], "does not exist"
    one_line_exit_2(["studio", "--workspace", tmp_path / "ws", "--port", 0, *argv], capsys, match)


# --- 5. the studio: whole-request deadlines, per-client limits, 400 not 500 --------------------------

def _raw(port: int, data: bytes, timeout: float = 10.0, source: str | None = None) -> bytes:
    import socket

    sock = socket.socket()
    sock.settimeout(timeout)
    if source:
        sock.bind((source, 0))
    with sock:
        sock.connect(("127.0.0.1", port))
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_studio_a_header_dripped_byte_by_byte_cannot_hold_a_slot(tmp_path):
    import socket
    import threading
    import time

    from sonicmotion.studio.server import StudioServer

    server = StudioServer(tmp_path / "ws", port=0, request_timeout=20.0, header_deadline=1.0, max_connections=2).start()
    request = f"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
    stop = threading.Event()

    def drip():  # one header byte every 0.2 s: each read is well within the 20 s per-read timeout
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            for byte in request[:-2]:
                if stop.is_set():
                    return
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.2)

    drippers = [threading.Thread(target=drip, daemon=True) for _ in range(2)]
    try:
        for thread in drippers:
            thread.start()
        time.sleep(0.3)
        assert _raw(server.port, request, timeout=5).startswith(b"HTTP/1.1 503")  # both slots held
        time.sleep(1.5)  # past the header deadline: the drippers' slots are free again
        assert _raw(server.port, request, timeout=5).startswith(b"HTTP/1.1 200")
    finally:
        stop.set()
        server.close()


def test_studio_a_stalled_upload_body_is_a_400_not_a_500(tmp_path):
    import time

    from sonicmotion.studio.server import StudioServer

    server = StudioServer(tmp_path / "ws", port=0, request_timeout=1.0).start()
    try:
        start = time.perf_counter()
        reply = _raw(server.port, f"POST /api/upload?name=a.wav HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                     "Content-Length: 1000\r\n\r\n".encode() + b"RIFF" + b"\0" * 60, timeout=10)
        assert reply.startswith(b"HTTP/1.1 400") and b"stalled" in reply, reply[:300]
        assert time.perf_counter() - start < 5
    finally:
        server.close()


def test_studio_a_5000_digit_json_integer_is_a_400_not_a_500(tmp_path):
    from sonicmotion.studio.server import StudioServer

    server = StudioServer(tmp_path / "ws", port=0).start()
    try:
        body = b'{"duration": ' + b"9" * 5000 + b', "sources": []}'
        reply = _raw(server.port, f"POST /api/render HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        assert reply.startswith(b"HTTP/1.1 400") and b"too long" in reply, reply[:300]
    finally:
        server.close()


def test_studio_one_client_cannot_take_every_connection(tmp_path):
    import socket
    import time

    from sonicmotion.studio.server import StudioServer

    server = StudioServer(tmp_path / "ws", port=0, max_connections=4, max_client_connections=2).start()
    request = f"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
    held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(2)]  # idle, from 127.0.0.1
    try:
        time.sleep(0.3)
        assert _raw(server.port, request, timeout=5).startswith(b"HTTP/1.1 503")  # its third: refused
        # Another address (Linux routes all of 127/8 to loopback) still gets served.
        assert _raw(server.port, request, timeout=5, source="127.0.0.2").startswith(b"HTTP/1.1 200")
    finally:
        for sock in held:
            sock.close()
        server.close()


# --- 6/7. loader workers: one line naming the data --------------------------------------------------

def _all_bad_shard(tmp_path, count: int) -> str:
    from sonicmotion.data.shards import ShardWriter

    url = tmp_path / "train" / "train-000000.tar"
    url.parent.mkdir(parents=True)
    with open(url, "wb") as handle, ShardWriter(handle) as writer:
        for i in range(count):
            writer.add_sample(f"s{i:03d}", b"fLaC not really", {"key": f"s{i:03d}", "sample_rate": 16000,
                                                                  "num_samples": 16000, "trajectory": None})
    return str(url)


def _loader_error(url: str, workers: int):
    import torch

    from sonicmotion.data.loader import FoaShardDataset
    from sonicmotion.errors import SonicMotionError

    with pytest.raises(SonicMotionError) as raised:
        list(torch.utils.data.DataLoader(FoaShardDataset([url]), batch_size=None, num_workers=workers))
    return raised.value


def test_more_than_20_bad_samples_in_one_loader_worker_is_one_line(tmp_path, capfd):
    from sonicmotion.errors import one_line

    err = _loader_error(_all_bad_shard(tmp_path, 25), workers=1)
    assert "Original Traceback" in str(err)  # what torch hands back from a worker: a whole traceback
    line = one_line(err)
    assert len(line.splitlines()) == 1 and line.startswith("21 samples could not be read by one reader"), line
    capfd.readouterr()


def test_all_bad_data_read_by_four_workers_names_the_data_and_the_damage(tmp_path, capfd):
    """It ended "use more data or a smaller batch", naming neither the shards nor the damage."""
    from sonicmotion.data.loader import FoaShardDataset, collate_samples
    from sonicmotion.errors import SonicMotionError
    from sonicmotion.training.batches import TrainingBatches, plan_batches

    url = _all_bad_shard(tmp_path, 8)  # 2 per reader: under the per-reader limit, so every reader just skips
    batches = TrainingBatches(lambda epoch: FoaShardDataset([url]), plan_batches(4, 1, 1), collate_samples,
                              num_workers=4)
    with pytest.raises(SonicMotionError) as raised:
        next(iter(batches))
    message = str(raised.value)
    assert f"(1 shard: {url})" in message and "sonicmotion dataset verify" in message, message
    assert "skipped sample" in capfd.readouterr().err
