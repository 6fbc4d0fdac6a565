"""QuickTime/MP4 files whose audio track carries Google's spatial-audio metadata.

360° players (YouTube, many VR players) recognise first-order Ambisonics in a video file
by an ``SA3D`` box inside the audio track's sample description (Spatial Audio RFC:
version 0, ambisonic type 0 = periphonic, order 1, channel ordering 0 = ACN,
normalisation 0 = SN3D, channel map 0..3). This module writes an audio-only MOV with
that box itself (no external tool), and adds the box to a MOV that ffmpeg muxed from a
video and that audio.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from sonicmotion.errors import SonicMotionError
from sonicmotion.files import atomic_path
from sonicmotion.spatial.layout import check_foa

IDENTITY_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _full_box(kind: bytes, payload: bytes, version: int = 0, flags: int = 0) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags) + payload)


def sa3d_box(channels: int = 4) -> bytes:
    """The spatial-audio box for first-order AmbiX (ACN, SN3D)."""
    order = int(round(np.sqrt(channels))) - 1
    payload = struct.pack(">BBIBBI", 0, 0, order, 0, 0, channels) + struct.pack(f">{channels}I", *range(channels))
    return _box(b"SA3D", payload)


def write_ambix_mov(path: str | os.PathLike, ambix: np.ndarray, sample_rate: int) -> None:
    """Write (4, n) AmbiX audio as 16-bit PCM (``sowt``) in an audio-only MOV with SA3D."""
    ambix = check_foa(ambix, "MOV export's AmbiX audio")
    peak = float(np.max(np.abs(ambix))) if ambix.size else 0.0
    if peak > 1.0:
        raise SonicMotionError(f"peak {peak:.3f} would clip in 16-bit MOV audio; lower it with --gain-db")
    if not 0 < sample_rate < 65536:
        raise SonicMotionError(f"MOV sound descriptions hold rates below 65536 Hz, got {sample_rate}")
    channels, frames = ambix.shape
    pcm = np.round(ambix.T * 32767.0).astype("<i2").tobytes()
    entry = _box(
        b"sowt",
        bytes(6) + struct.pack(">H", 1)  # data reference index
        + struct.pack(">HHI", 0, 0, 0)  # version 0, revision, vendor
        + struct.pack(">HHhH", channels, 16, 0, 0)  # channels, bits, compression id, packet size
        + struct.pack(">I", sample_rate << 16)  # 16.16 fixed point
        + sa3d_box(channels),
    )

    def moov(data_offset: int) -> bytes:
        stbl = _box(b"stbl", b"".join([
            _full_box(b"stsd", struct.pack(">I", 1) + entry),
            _full_box(b"stts", struct.pack(">III", 1, frames, 1)),
            _full_box(b"stsc", struct.pack(">IIII", 1, 1, frames, 1)),
            _full_box(b"stsz", struct.pack(">II", 2 * channels, frames)),
            _full_box(b"stco", struct.pack(">II", 1, data_offset)),
        ]))
        dinf = _box(b"dinf", _full_box(b"dref", struct.pack(">I", 1) + _full_box(b"url ", b"", flags=1)))
        minf = _box(b"minf", _full_box(b"smhd", struct.pack(">hH", 0, 0)) + dinf + stbl)
        hdlr = _full_box(b"hdlr", struct.pack(">I4s12x", 0, b"soun") + b"SonicMotion AmbiX\x00")
        mdhd = _full_box(b"mdhd", struct.pack(">IIIIHH", 0, 0, sample_rate, frames, 0x55C4, 0))
        tkhd = _full_box(b"tkhd", struct.pack(">IIIII8xhhhH", 0, 0, 1, 0, frames, 0, 0, 0x0100, 0)
                         + IDENTITY_MATRIX + struct.pack(">II", 0, 0), flags=0x7)
        mvhd = _full_box(b"mvhd", struct.pack(">IIIIIH10x", 0, 0, sample_rate, frames, 0x10000, 0x0100)
                         + IDENTITY_MATRIX + bytes(24) + struct.pack(">I", 2))
        return _box(b"moov", mvhd + _box(b"trak", tkhd + _box(b"mdia", mdhd + hdlr + minf)))

    ftyp = _box(b"ftyp", b"qt  " + struct.pack(">I", 0) + b"qt  ")
    header = len(ftyp) + len(moov(0)) + 8  # the data starts after the mdat header
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(ftyp + moov(header) + struct.pack(">I", 8 + len(pcm)) + b"mdat" + pcm)


def _children(data: bytearray, start: int, end: int):
    """(offset, header length, size, type) of each box in data[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise SonicMotionError("malformed MOV/MP4 file: a box runs past its parent")
        yield pos, header, size, kind
        pos += size


def _grow(data: bytearray, pos: int, delta: int) -> None:
    size = struct.unpack(">I", data[pos : pos + 4])[0]
    if size == 1:
        data[pos + 8 : pos + 16] = struct.pack(">Q", struct.unpack(">Q", data[pos + 8 : pos + 16])[0] + delta)
    else:
        data[pos : pos + 4] = struct.pack(">I", size + delta)


def add_spatial_audio_metadata(path: str | os.PathLike) -> bool:
    """Insert SA3D into the first sound track of a MOV/MP4 in place; False if already there."""
    data = bytearray(Path(path).read_bytes())
    top = list(_children(data, 0, len(data)))
    moov = next((b for b in top if b[3] == b"moov"), None)
    mdat = next((b for b in top if b[3] == b"mdat"), None)
    if moov is None:
        raise SonicMotionError(f"{path}: no moov box; not a MOV/MP4 file")
    for trak in (b for b in _children(data, moov[0] + moov[1], moov[0] + moov[2]) if b[3] == b"trak"):
        chain = [moov, trak]
        node = trak
        for kind in (b"mdia", b"minf", b"stbl", b"stsd"):
            node = next((b for b in _children(data, node[0] + node[1], node[0] + node[2]) if b[3] == kind), None)
            if node is None:
                break
            chain.append(node)
        mdia = chain[2] if len(chain) > 2 else None
        hdlr = mdia and next((b for b in _children(data, mdia[0] + mdia[1], mdia[0] + mdia[2]) if b[3] == b"hdlr"), None)
        if node is None or hdlr is None or data[hdlr[0] + hdlr[1] + 8 : hdlr[0] + hdlr[1] + 12] != b"soun":
            continue
        stsd = chain[-1]
        entry = next(_children(data, stsd[0] + stsd[1] + 8, stsd[0] + stsd[2]))
        version = struct.unpack(">H", data[entry[0] + 16 : entry[0] + 18])[0]
        fixed = {0: 28, 1: 44, 2: 64}.get(version)
        if fixed is None:
            raise SonicMotionError(f"{path}: unsupported sound description version {version}")
        inner_start, inner_end = entry[0] + entry[1] + fixed, entry[0] + entry[2]
        if any(b[3] == b"SA3D" for b in _children(data, inner_start, inner_end)):
            return False
        box = sa3d_box(struct.unpack(">H", data[entry[0] + 24 : entry[0] + 26])[0])
        data[inner_end:inner_end] = box
        for parent in chain + [entry]:
            _grow(data, parent[0], len(box))
        if mdat is not None and mdat[0] > moov[0]:
            _shift_chunk_offsets(data, moov[0], moov[2] + len(box), len(box))
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(bytes(data))
        return True
    raise SonicMotionError(f"{path}: no sound track to mark as spatial audio")


def _shift_chunk_offsets(data: bytearray, start: int, size: int, delta: int) -> None:
    """moov grew in front of mdat: every chunk offset moves by ``delta``."""
    for pos, header, box_size, kind in _children(data, start + 8, start + size):
        if kind in CONTAINERS:
            _shift_chunk_offsets(data, pos, box_size, delta)
        elif kind in (b"stco", b"co64"):
            wide = kind == b"co64"
            count = struct.unpack(">I", data[pos + header + 4 : pos + header + 8])[0]
            fmt, width = (">Q", 8) if wide else (">I", 4)
            for i in range(count):
                at = pos + header + 8 + i * width
                data[at : at + width] = struct.pack(fmt, struct.unpack(fmt, data[at : at + width])[0] + delta)


def mux_with_video(video: str | os.PathLike, ambix_mov: str | os.PathLike, out: str | os.PathLike) -> None:
    """Put the spatial audio of ``ambix_mov`` beside the video of ``video`` (ffmpeg, stream
    copy), then mark the audio track with SA3D."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SonicMotionError("muxing with a video needs ffmpeg on PATH (apt-get install ffmpeg)")
    if not os.path.isfile(video):
        raise SonicMotionError(f"{video}: no such video file")
    with tempfile.TemporaryDirectory(dir=Path(out).parent) as tmp:
        muxed = Path(tmp) / ("muxed" + Path(out).suffix)
        cmd = [ffmpeg, "-nostdin", "-v", "error", "-y", "-i", os.fspath(video), "-i", os.fspath(ambix_mov),
               "-map", "0:v:0", "-map", "1:a:0", "-c", "copy", "-shortest", os.fspath(muxed)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            reason = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
            raise SonicMotionError(f"ffmpeg could not mux {video}: {reason}")
        add_spatial_audio_metadata(muxed)
        os.replace(muxed, out)
