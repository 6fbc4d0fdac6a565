"""FOA files (WAV, FLAC) that record their channel layout and refuse to guess it.

The layout is written into the file's own metadata (the RIFF INFO comment of a WAV,
the Vorbis comment of a FLAC) as ``ambisonics layout: <name>``. Reading a file whose
layout is not recorded requires the caller to state it.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from sonicmotion import __version__
from sonicmotion.audio import decode_audio, flac24_bytes, omit_peak_chunk, read_audio
from sonicmotion.errors import SonicMotionError
from sonicmotion.files import atomic_path
from sonicmotion.spatial.layout import ChannelLayout, check_foa, get_layout

_TAG = re.compile(r"ambisonics layout:\s*([A-Za-z0-9_-]+)")
# Integer formats clip; FLAC has no float format, WAV defaults to float.
_SUBTYPES = {".wav": "FLOAT", ".flac": "PCM_24"}


FOA_SUFFIXES = tuple(_SUBTYPES)  # the FOA files the project writes (recording the layout in them)

@dataclass(frozen=True)
class FoaAudio:
    """(4, n) float32 samples at ``sample_rate`` Hz in ``layout``."""

    samples: np.ndarray
    sample_rate: int
    layout: ChannelLayout

    def pressure(self) -> np.ndarray:
        """The W channel rescaled to the pressure signal p (n,) float32 (FuMa W = p/sqrt(2))."""
        w = self.samples[self.layout.index("W")]
        return (w / np.float32(self.layout.w_gain)).astype(np.float32)


def layout_tag(layout: ChannelLayout) -> str:
    """The comment string recorded in files of this layout."""
    return f"ambisonics layout: {layout.name} ({layout.description})"


def layout_in_comment(comment: str | None) -> str | None:
    """The layout name a file's comment records (as :func:`layout_tag` writes it), or None."""
    match = _TAG.search(comment or "")
    return match.group(1) if match else None


def recorded_layout(path: str | os.PathLike) -> ChannelLayout | None:
    """The layout recorded in ``path``'s metadata, or None if there is none."""
    try:
        with sf.SoundFile(os.fspath(path)) as f:
            comment = f.comment or ""
    except (sf.LibsndfileError, RuntimeError):
        return None
    name = layout_in_comment(comment)
    return get_layout(name) if name else None


def _stated_or_recorded(
    recorded: ChannelLayout | None, stated: str | ChannelLayout | None, name: str
) -> ChannelLayout:
    """The one layout of a file: recorded, or stated by the caller; never guessed, never overridden."""
    stated = get_layout(stated) if stated is not None else None
    if recorded is None and stated is None:
        raise SonicMotionError(
            f"{name}: the file does not record its channel layout; state it with "
            "--layout fuma (W,X,Y,Z, W=p/sqrt2) or --layout ambix (ACN W,Y,Z,X, SN3D)"
        )
    if recorded is not None and stated is not None and recorded != stated:
        raise SonicMotionError(
            f"{name}: the file records layout {recorded.name!r} but --layout {stated.name!r} was given; "
            "convert it with 'sonicmotion convert' instead"
        )
    return recorded or stated


def read_foa(path: str | os.PathLike, layout: str | ChannelLayout | None = None) -> FoaAudio:
    """Read a 4-channel FOA file; ``layout`` states it for files that do not record one.

    A stated layout that contradicts the recorded one is an error, not an override.
    """
    audio = read_audio(path)
    if audio.channels != 4:
        raise SonicMotionError(f"{path}: FOA needs 4 channels, the file has {audio.channels}")
    return FoaAudio(audio.samples, audio.sample_rate, _stated_or_recorded(recorded_layout(path), layout, str(path)))


def foa_from_bytes(data: bytes, name: str, layout: str | ChannelLayout | None = None) -> FoaAudio:
    """Decode the bytes of a 4-channel FOA WAV/FLAC (a file's, a shard member's) as :func:`read_foa`
    reads a file; ``name`` is what errors call it."""
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            comment, channels = f.comment or "", f.channels
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise SonicMotionError(f"{name}: cannot read audio ({reason})") from None
    if channels != 4:
        raise SonicMotionError(f"{name}: FOA needs 4 channels, the file has {channels}")
    samples, rate = decode_audio(io.BytesIO(data), name)
    recorded = layout_in_comment(comment)
    layout = _stated_or_recorded(get_layout(recorded) if recorded else None, layout, name)
    return FoaAudio(np.ascontiguousarray(samples.T), rate, layout)


def foa_to_bytes(samples: np.ndarray, sample_rate: int, layout: str | ChannelLayout = "fuma") -> bytes:
    """(4, n) FOA as the bytes of a 24-bit FLAC with the layout recorded (as :func:`write_foa`
    records it); samples beyond full scale are refused."""
    return flac24_bytes(check_foa(samples), sample_rate, layout_tag(get_layout(layout)), "FOA")


def write_foa(
    path: str | os.PathLike, samples: np.ndarray, sample_rate: int, layout: str | ChannelLayout
) -> Path:
    """Write (4, n) FOA atomically as WAV (32-bit float) or FLAC (24-bit), layout recorded."""
    path = Path(path)
    layout = get_layout(layout)
    samples = check_foa(samples)
    subtype = _SUBTYPES.get(path.suffix.lower())
    if subtype is None:
        raise SonicMotionError(f"{path}: FOA output must end in .wav or .flac")
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if subtype.startswith("PCM") and peak > 1.0:
        raise SonicMotionError(
            f"{path}: peak {peak:.3f} exceeds full scale and would clip in {path.suffix}; "
            "lower the gain or write .wav (32-bit float)"
        )
    with atomic_path(path) as tmp:
        with sf.SoundFile(
            tmp, "w", samplerate=int(sample_rate), channels=4, subtype=subtype,
            format=path.suffix[1:].upper(),
        ) as f:
            omit_peak_chunk(f)
            f.comment = layout_tag(layout)
            f.software = f"sonicmotion {__version__}"
            f.write(np.ascontiguousarray(samples.T, dtype=np.float32))
    return path
