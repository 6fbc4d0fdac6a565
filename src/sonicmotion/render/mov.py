"""QuickTime/MP4 files whose audio track carries Google's spatial-audio metadata.

360° players (YouTube, many VR players) recognise first-order Ambisonics in a video file
by an ``SA3D`` box inside the audio track's sample description (Spatial Audio RFC:
version 0, ambisonic type 0 = periphonic, order 1, channel ordering 0 = ACN,
normalisation 0 = SN3D, channel map 0..3). This module writes an audio-only MOV with
that box itself (no external tool), and adds the box to a MOV that ffmpeg muxed from a
video and that audio. The video's own spherical-video metadata (Spherical Video V2 RFC:
``st3d``/``sv3d`` in the sample description; V1 RFC: a ``uuid`` box of XML in the track) is
copied into the muxed file, since ffmpeg's stream copy into MOV leaves it behind.
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


def _child(data: bytearray, parent: tuple, kind: bytes, skip: int = 0):
    """The first ``kind`` box inside ``parent`` (after ``skip`` bytes of its payload), or None."""
    return next((b for b in _children(data, parent[0] + parent[1] + skip, parent[0] + parent[2]) if b[3] == kind),
                None)


def _track(data: bytearray, handler: bytes):
    """(moov, mdat, [moov, trak, mdia, minf, stbl, stsd], sample entry) of the first track whose
    handler is ``handler`` (b"soun", b"vide"), or None."""
    top = list(_children(data, 0, len(data)))
    moov = next((b for b in top if b[3] == b"moov"), None)
    mdat = next((b for b in top if b[3] == b"mdat"), None)
    if moov is None:
        raise SonicMotionError("no moov box; not a MOV/MP4 file")
    for trak in (b for b in _children(data, moov[0] + moov[1], moov[0] + moov[2]) if b[3] == b"trak"):
        chain = [moov, trak]
        node = trak
        for kind in (b"mdia", b"minf", b"stbl", b"stsd"):
            node = _child(data, node, kind)
            if node is None:
                break
            chain.append(node)
        hdlr = _child(data, chain[2], b"hdlr") if len(chain) > 2 else None
        if node is None or hdlr is None or data[hdlr[0] + hdlr[1] + 8 : hdlr[0] + hdlr[1] + 12] != handler:
            continue
        stsd = chain[-1]
        entry = next(_children(data, stsd[0] + stsd[1] + 8, stsd[0] + stsd[2]), None)
        if entry is not None:
            return moov, mdat, chain, entry
    return None


def _insert(data: bytearray, at: int, box: bytes, parents: list, moov: tuple, mdat: tuple | None) -> None:
    """Put ``box`` at offset ``at``, growing every box of ``parents`` (moov first) and moving
    the chunk offsets if the samples (mdat) come after moov."""
    data[at:at] = box
    for parent in parents:
        _grow(data, parent[0], len(box))
    if mdat is not None and mdat[0] > moov[0]:
        _shift_chunk_offsets(data, moov[0], moov[2] + len(box), len(box))


SOUND_ENTRY_FIXED = {0: 28, 1: 44, 2: 64}  # bytes of a sound sample description's fixed fields, by version
VISUAL_ENTRY_FIXED = 78  # bytes of a visual sample description's fixed fields (ISO 14496-12)
SPHERICAL_V1_UUID = bytes.fromhex("ffcc8263f8554a938814587a02521fdd")  # Spherical Video RFC v1 (XML)
SPHERICAL_V2_BOXES = (b"st3d", b"sv3d")  # Spherical Video V2 RFC: stereo mode, projection


def add_spatial_audio_metadata(path: str | os.PathLike) -> bool:
    """Insert SA3D into the first sound track of a MOV/MP4 in place; False if already there."""
    data = bytearray(Path(path).read_bytes())
    try:
        found = _track(data, b"soun")
    except SonicMotionError as err:
        raise SonicMotionError(f"{path}: {err}") from None
    if found is None:
        raise SonicMotionError(f"{path}: no sound track to mark as spatial audio")
    moov, mdat, chain, entry = found
    version = struct.unpack(">H", data[entry[0] + 16 : entry[0] + 18])[0]
    fixed = SOUND_ENTRY_FIXED.get(version)
    if fixed is None:
        raise SonicMotionError(f"{path}: unsupported sound description version {version}")
    if _child(data, entry, b"SA3D", fixed) is not None:
        return False
    box = sa3d_box(struct.unpack(">H", data[entry[0] + 24 : entry[0] + 26])[0])
    _insert(data, entry[0] + entry[2], box, chain + [entry], moov, mdat)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(bytes(data))
    return True


def spherical_video_boxes(path: str | os.PathLike) -> dict[str, list[bytes]]:
    """The spherical-video metadata of the first video track of a MOV/MP4, as whole boxes:
    ``"entry"``: st3d/sv3d (V2, inside the sample description), ``"track"``: the V1 uuid
    box (XML, inside the trak). Empty lists when the video is flat."""
    data = bytearray(Path(path).read_bytes())
    try:
        found = _track(data, b"vide")
    except SonicMotionError as err:
        raise SonicMotionError(f"{path}: {err}") from None
    boxes: dict[str, list[bytes]] = {"entry": [], "track": []}
    if found is None:
        return boxes
    _, _, chain, entry = found
    for pos, header, size, kind in _children(data, entry[0] + entry[1] + VISUAL_ENTRY_FIXED, entry[0] + entry[2]):
        if kind in SPHERICAL_V2_BOXES:
            boxes["entry"].append(bytes(data[pos : pos + size]))
    trak = chain[1]
    for pos, header, size, kind in _children(data, trak[0] + trak[1], trak[0] + trak[2]):
        if kind == b"uuid" and data[pos + header : pos + header + 16] == SPHERICAL_V1_UUID:
            boxes["track"].append(bytes(data[pos : pos + size]))
    return boxes


def add_spherical_video_metadata(path: str | os.PathLike, boxes: dict[str, list[bytes]]) -> int:
    """Put ``boxes`` (from :func:`spherical_video_boxes`) into the first video track of the
    MOV/MP4 at ``path``, in place, skipping kinds it already has; the number inserted."""
    data = bytearray(Path(path).read_bytes())
    inserted = 0
    for where in ("entry", "track"):
        for box in boxes.get(where, []):
            found = _track(data, b"vide")
            if found is None:
                raise SonicMotionError(f"{path}: no video track to carry the spherical-video metadata")
            moov, mdat, chain, entry = found
            if where == "entry":
                parent, parents, skip = entry, chain + [entry], VISUAL_ENTRY_FIXED
            else:
                parent, parents, skip = chain[1], chain[:2], 0
            kind, tag = box[4:8], box[8:24]
            if any(k == kind and (kind != b"uuid" or data[p + h : p + h + 16] == tag)
                   for p, h, _, k in _children(data, parent[0] + parent[1] + skip, parent[0] + parent[2])):
                continue
            _insert(data, parent[0] + parent[2], box, parents, moov, mdat)
            inserted += 1
    if inserted:
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(bytes(data))
    return inserted


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
    copy), then mark the audio track with SA3D and give the video track ``video``'s
    spherical-video metadata (V1 and V2 boxes)."""
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
        # ffmpeg's stream copy into MOV drops the video's spherical boxes (sv3d/st3d, the v1
        # uuid): copied here byte for byte, or YouTube would show the 360° video flat.
        add_spherical_video_metadata(muxed, spherical_video_boxes(video))
        os.replace(muxed, out)
