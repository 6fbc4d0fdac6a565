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


# A small MP4 writer of the test's own: one video track, its sample description carrying the
# given boxes, the given boxes in the trak, moov before mdat (so inserting moves the samples).
def video_mp4(entry_boxes: bytes = b"", track_boxes: bytes = b"", frames: int = 3) -> bytes:
    box, full = mov._box, mov._full_box
    samples = [bytes([i]) * 10 for i in range(frames)]
    visual = (bytes(6) + struct.pack(">H", 1) + bytes(16) + struct.pack(">HHII", 64, 32, 0x480000, 0x480000)
              + bytes(4) + struct.pack(">H", 1) + bytes(32) + struct.pack(">Hh", 24, -1))
    assert len(visual) == mov.VISUAL_ENTRY_FIXED
    entry = box(b"mp4v", visual + entry_boxes)

    def moov(offset):
        stbl = box(b"stbl", full(b"stsd", struct.pack(">I", 1) + entry)
                   + full(b"stts", struct.pack(">III", 1, frames, 1))
                   + full(b"stsc", struct.pack(">IIII", 1, 1, frames, 1))
                   + full(b"stsz", struct.pack(">II", 0, frames) + struct.pack(f">{frames}I", *[10] * frames))
                   + full(b"stco", struct.pack(">II", 1, offset)))
        minf = box(b"minf", full(b"vmhd", bytes(8), flags=1) + stbl)
        mdia = box(b"mdia", full(b"mdhd", struct.pack(">IIIIHH", 0, 0, 5, frames, 0x55C4, 0))
                   + full(b"hdlr", struct.pack(">I4s12x", 0, b"vide") + b"video\x00") + minf)
        trak = box(b"trak", full(b"tkhd", bytes(80), flags=3) + mdia + track_boxes)
        return box(b"moov", full(b"mvhd", bytes(96)) + trak)

    ftyp = box(b"ftyp", b"isom" + bytes(4) + b"isom")
    start = len(ftyp) + len(moov(0)) + 8
    return ftyp + moov(start) + box(b"mdat", b"".join(samples))


def spherical_v2() -> bytes:
    box, full = mov._box, mov._full_box
    projection = box(b"proj", full(b"prhd", struct.pack(">iii", 0, 0, 0)) + full(b"equi", struct.pack(">4I", 0, 0, 0, 0)))
    return full(b"st3d", b"\x00") + box(b"sv3d", full(b"svhd", b"test\x00") + projection)


def spherical_v1() -> bytes:
    xml = (b'<?xml version="1.0"?><rdf:SphericalVideo xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
           b'xmlns:GSpherical="http://ns.google.com/videos/1.0/spherical/"><GSpherical:Spherical>true'
           b'</GSpherical:Spherical><GSpherical:Stitched>true</GSpherical:Stitched><GSpherical:ProjectionType>'
           b'equirectangular</GSpherical:ProjectionType></rdf:SphericalVideo>')
    return mov._box(b"uuid", mov.SPHERICAL_V1_UUID + xml)


def video_samples(data: bytes) -> bytes:
    stco, _, _ = find(data, [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stco"])
    offset = struct.unpack(">I", data[stco + 16 : stco + 20])[0]
    return data[offset : offset + 30]


@pytest.mark.parametrize("kind", ["v1", "v2", "both"])
def test_spherical_video_metadata_is_read_and_copied(tmp_path, kind):
    entry = spherical_v2() if kind in ("v2", "both") else b""
    track = spherical_v1() if kind in ("v1", "both") else b""
    source = tmp_path / "360.mp4"
    source.write_bytes(video_mp4(entry, track))
    boxes = mov.spherical_video_boxes(source)
    assert b"".join(boxes["entry"]) == entry and b"".join(boxes["track"]) == track
    flat = tmp_path / "flat.mp4"
    flat.write_bytes(video_mp4())
    assert mov.spherical_video_boxes(flat) == {"entry": [], "track": []}
    before = video_samples(flat.read_bytes())
    assert mov.add_spherical_video_metadata(flat, boxes) == len(boxes["entry"]) + len(boxes["track"])
    data = flat.read_bytes()
    assert mov.spherical_video_boxes(flat) == boxes
    assert video_samples(data) == before == b"".join(bytes([i]) * 10 for i in range(3))  # offsets moved
    if entry:
        pos, header, size = find(data, [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"])
        assert data[pos + 16 + 4 : pos + 16 + 8] == b"mp4v"
        assert struct.unpack(">I", data[pos + 16 : pos + 20])[0] == 8 + mov.VISUAL_ENTRY_FIXED + len(entry)
    assert mov.add_spherical_video_metadata(flat, boxes) == 0  # never twice
    assert flat.read_bytes() == data


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_export_keeps_the_videos_spherical_metadata(tmp_path, noise, kind):
    video = tmp_path / "v.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x32:rate=5", "-t", "2",
                    "-c:v", "mpeg4", str(video)], check=True)
    boxes = {"entry": [spherical_v2()] if kind == "v2" else [], "track": [spherical_v1()] if kind == "v1" else []}
    assert mov.add_spherical_video_metadata(video, boxes) == 1
    boxes = mov.spherical_video_boxes(video)
    assert len(boxes["entry"] if kind == "v2" else boxes["track"]) == (2 if kind == "v2" else 1)
    foa = write_foa(tmp_path / "a.wav", encode_foa(noise[:32000], SAMPLE_RATE, Trajectory.static(0, 0)), SAMPLE_RATE,
                    "fuma")
    out = tmp_path / "out.mov"
    assert main(["export", str(foa), "-o", str(out), "--format", "mov", "--video", str(video)]) == 0
    assert mov.spherical_video_boxes(out) == boxes
    assert mov.add_spatial_audio_metadata(out) is False  # SA3D is there too
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_streams", str(out)], capture_output=True, text=True)
    assert "channel_layout=ambisonic 1" in probe.stdout and probe.returncode == 0
    if kind == "v2":  # ffprobe reads sv3d: the projection survives
        side = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream_side_data", str(out)],
                              capture_output=True, text=True).stdout
        assert "equirectangular" in side.lower() or "spherical" in side.lower(), side
