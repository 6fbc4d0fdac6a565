import shutil
import struct
import subprocess

import numpy as np
import pytest

from sonicmotion.cli import main
from sonicmotion.render import mov
from sonicmotion.spatial import Trajectory, encode_foa, write_foa
from tests.conftest import SAMPLE_RATE


def find(data: bytes, path: list[bytes]):
    """(offset, header, size) of the box at ``path`` (descending into the sound entry)."""
    start, end = 0, len(data)
    for kind in path:
        for pos, header, size, found in mov._children(bytearray(data), start, end):
            if found == kind:
                break
        else:
            raise AssertionError(f"no {kind!r} box")
        start, end = pos + header, pos + size
        if kind == b"stsd":
            start += 8  # version/flags + entry count
        elif kind == b"sowt":
            start += 28  # fixed fields of a version-0 sound description
    return pos, header, size


def sa3d_fields(data: bytes):
    pos, header, size = find(data, [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"sowt", b"SA3D"])
    fields = struct.unpack(">BBIBBI", data[pos + 8 : pos + 20])
    channel_map = struct.unpack(">4I", data[pos + 20 : pos + 36])
    return fields, channel_map, size


def audio_of(data: bytes) -> np.ndarray:
    pos, _, size = find(data, [b"mdat"])
    stco, _, _ = find(data, [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stco"])
    offset = struct.unpack(">I", data[stco + 16 : stco + 20])[0]
    assert pos + 8 == offset  # the chunk offset points at the samples
    return np.frombuffer(data[offset : pos + size], "<i2").reshape(-1, 4).T / 32767.0


@pytest.fixture
def ambix():
    rng = np.random.default_rng(0)
    return encode_foa((0.2 * rng.uniform(-1, 1, 4800)).astype(np.float32), 48000, Trajectory.static(30, 10), "ambix")


def test_audio_only_mov_has_sa3d_and_samples(tmp_path, ambix):
    path = tmp_path / "a.mov"
    mov.write_ambix_mov(path, ambix, 48000)
    data = path.read_bytes()
    fields, channel_map, size = sa3d_fields(data)
    assert fields == (0, 0, 1, 0, 0, 4)  # version, periphonic, order 1, ACN, SN3D, 4 channels
    assert channel_map == (0, 1, 2, 3) and size == 36
    np.testing.assert_allclose(audio_of(data), ambix, atol=1 / 32767)


def strip_sa3d(data: bytes) -> bytes:
    """Undo the box, as a muxer that drops unknown boxes would (moov stays before mdat)."""
    buf = bytearray(data)
    chain = [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"sowt"]
    parents = [find(data, chain[: i + 1])[0] for i in range(len(chain))]
    pos, _, size = find(data, chain + [b"SA3D"])
    del buf[pos : pos + size]
    for parent in parents:
        mov._grow(buf, parent, -size)
    moov_pos, _, moov_size = find(bytes(buf), [b"moov"])
    mov._shift_chunk_offsets(buf, moov_pos, moov_size, -size)
    return bytes(buf)


def test_metadata_added_to_a_file_without_it(tmp_path, ambix):
    path = tmp_path / "a.mov"
    mov.write_ambix_mov(path, ambix, 48000)
    stripped = strip_sa3d(path.read_bytes())
    with pytest.raises(AssertionError):
        sa3d_fields(stripped)
    plain = tmp_path / "plain.mov"
    plain.write_bytes(stripped)
    assert mov.add_spatial_audio_metadata(plain) is True
    assert mov.add_spatial_audio_metadata(plain) is False  # never twice
    data = plain.read_bytes()
    assert sa3d_fields(data)[0] == (0, 0, 1, 0, 0, 4)
    np.testing.assert_allclose(audio_of(data), ambix, atol=1 / 32767)  # offsets were shifted


def test_export_mov_cli(tmp_path):
    foa = write_foa(tmp_path / "a.wav", encode_foa(np.zeros(1600, np.float32), SAMPLE_RATE, Trajectory.static(0, 0)),
                    SAMPLE_RATE, "fuma")
    out = tmp_path / "a.mov"
    assert main(["export", str(foa), "-o", str(out), "--format", "mov"]) == 0
    assert audio_of(out.read_bytes()).shape == (4, 4800)
    assert main(["export", str(foa), "-o", str(tmp_path / "b.mp4"), "--format", "mov"]) == 2


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_mux_with_video_is_seen_as_ambisonic_by_ffprobe(tmp_path, noise):
    video = tmp_path / "v.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x32:rate=5", "-t", "2",
                    "-c:v", "mpeg4", str(video)], check=True)
    foa = write_foa(tmp_path / "a.wav", encode_foa(noise[:32000], SAMPLE_RATE, Trajectory.static(0, 0)), SAMPLE_RATE,
                    "fuma")
    out = tmp_path / "out.mov"
    assert main(["export", str(foa), "-o", str(out), "--format", "mov", "--video", str(video)]) == 0
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_streams", str(out)], capture_output=True, text=True)
    assert "channel_layout=ambisonic 1" in probe.stdout and "codec_type=video" in probe.stdout
