"""Reading any audio file and shaping it: downmix, resample, loop or truncate.

Layout-free on purpose: this is for mono or multi-channel *source* audio. FOA files
go through :mod:`sonicmotion.spatial.io`, which carries their channel layout.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr

from sonicmotion.errors import SonicMotionError


@dataclass(frozen=True)
class Audio:
    """Samples (channels, n) float32 at ``sample_rate`` Hz."""

    samples: np.ndarray
    sample_rate: int

    @property
    def channels(self) -> int:
        return self.samples.shape[0]

    @property
    def seconds(self) -> float:
        return self.samples.shape[1] / self.sample_rate


SAMPLE_RATE = 16000  # Hz: the paper's rate for every clip, dataset and model
CLIP_SECONDS = 10.0  # the paper's clip length, in seconds

# The most samples (frames x channels) any reader decodes: 10 minutes of 48 kHz stereo, 230 MB
# as float32. A small compressed file can hold hours of silence; the limit is checked against
# the header before decoding and again while decoding, so such a file costs no memory.
MAX_DECODED_SAMPLES = 10 * 60 * 48_000 * 2
# The highest sample rate a command writes (Hz) and the longest clip it generates (seconds):
# checked before any work, so a typo cannot ask for gigabytes.
MAX_SAMPLE_RATE = 384_000
MAX_GENERATED_SECONDS = 600.0


def decode_audio(source, name: str, max_samples: int = MAX_DECODED_SAMPLES) -> tuple[np.ndarray, int]:
    """(samples (n, channels) float32, rate) of a path or file object, refusing more than
    ``max_samples`` decoded samples (frames x channels) before it spends the memory."""
    try:
        with sf.SoundFile(source) as f:
            channels, rate = f.channels, int(f.samplerate)
            frames = f.frames if 0 < f.frames < 2**62 else None  # streamed formats may not know
            if frames is not None and frames * channels > max_samples:
                raise _too_long(name, frames * channels, max_samples, channels, rate)
            blocks, total = [], 0
            block = max(1, min(1 << 16, max_samples // channels + 1))
            while True:
                part = f.read(block, dtype="float32", always_2d=True)
                if not len(part):
                    break
                total += part.size
                if total > max_samples:
                    raise _too_long(name, total, max_samples, channels, rate, at_least=True)
                blocks.append(part)
    except SonicMotionError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise SonicMotionError(f"{name}: cannot read audio ({reason})") from None
    data = np.concatenate(blocks) if blocks else np.zeros((0, channels), np.float32)
    if data.shape[0] == 0:
        raise SonicMotionError(f"{name}: the file holds no samples")
    if not np.all(np.isfinite(data)):
        raise SonicMotionError(f"{name}: the file contains NaN or infinite samples")
    return data, rate


def _too_long(name: str, samples: int, limit: int, channels: int, rate: int, at_least: bool = False):
    return SonicMotionError(
        f"{name}: {'at least ' if at_least else ''}{samples / channels / rate:.0f} s of {channels}-channel audio at "
        f"{rate} Hz ({samples:,} samples) is more than this reader decodes ({limit:,} samples: 10 min of "
        "48 kHz stereo); cut the file first"
    )


def read_audio(path: str | os.PathLike, max_samples: int = MAX_DECODED_SAMPLES) -> Audio:
    """Read any file libsndfile understands (WAV, FLAC, OGG, MP3, AIFF, ...), up to
    ``max_samples`` decoded samples (frames x channels)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise SonicMotionError(f"{path}: no such file")
    if os.path.isdir(path):
        raise SonicMotionError(f"{path}: is a folder, not an audio file")
    data, rate = decode_audio(path, path, max_samples)
    return Audio(np.ascontiguousarray(data.T), rate)


def downmix(samples: np.ndarray) -> np.ndarray:
    """Average (channels, n) to mono (n,)."""
    return samples.mean(axis=0, dtype=np.float32) if samples.shape[0] > 1 else samples[0]


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample (channels, n) or (n,) float32 with soxr (high quality)."""
    if rate_in == rate_out:
        return samples
    if rate_in <= 0 or rate_out <= 0:
        raise SonicMotionError(f"sample rates must be positive, got {rate_in} -> {rate_out}")
    out = soxr.resample(np.ascontiguousarray(samples.T), rate_in, rate_out, quality="HQ")
    return np.ascontiguousarray(out.T, dtype=np.float32)


def fit_length(samples: np.ndarray, num_samples: int) -> np.ndarray:
    """Loop (repeat from the start) or truncate the last axis to ``num_samples``."""
    n = samples.shape[-1]
    if n == 0:
        raise SonicMotionError("cannot loop an empty signal")
    if n >= num_samples:
        return samples[..., :num_samples]
    repeats = -(-num_samples // n)
    return np.concatenate([samples] * repeats, axis=-1)[..., :num_samples]


_SFC_SET_ADD_PEAK_CHUNK = 0x1050  # from libsndfile's sndfile.h


def omit_peak_chunk(f: sf.SoundFile) -> None:
    """libsndfile stamps the PEAK chunk of float WAVs with the wall-clock time; leaving
    the chunk out makes the same samples give the same bytes (reproducible renders)."""
    snd, ffi = getattr(sf, "_snd", None), getattr(sf, "_ffi", None)
    if snd is not None and ffi is not None:
        snd.sf_command(f._file, _SFC_SET_ADD_PEAK_CHUNK, ffi.NULL, snd.SF_FALSE)


FULL_SCALE_24 = 8388607.0  # the largest 24-bit sample


def flac24_bytes(samples: np.ndarray, sample_rate: int, comment: str, what: str = "audio") -> bytes:
    """(channels, n) float in [-1, 1] as 24-bit FLAC bytes at compression level 0, with
    ``comment`` recorded; a peak beyond full scale is refused (it would clip).

    The float -> integer conversion is done here (libsndfile's own is ~7 ms per 10 s FOA
    clip slower), and level 0 halves the encoder's time for files barely larger than at
    the default level, because 24-bit audio is mostly noise in its low bits.
    """
    from sonicmotion import __version__

    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak > 1.0:
        raise SonicMotionError(f"{what} peak {peak:.3f} exceeds full scale and would clip in a 24-bit FLAC")
    # libsndfile takes int32 with the 24 bits in the top bytes.
    ints = np.rint(samples.T * np.float32(FULL_SCALE_24)).astype(np.int32)
    ints <<= 8
    buffer = io.BytesIO()
    with sf.SoundFile(
        buffer, "w", samplerate=int(sample_rate), channels=samples.shape[0], subtype="PCM_24", format="FLAC",
        compression_level=0.0,
    ) as f:
        f.comment = comment
        f.software = f"sonicmotion {__version__}"
        f.write(ints)
    return buffer.getvalue()


def write_audio(path: str | os.PathLike, samples: np.ndarray, sample_rate: int) -> None:
    """Write (channels, n) audio atomically: WAV as 32-bit float, FLAC as 24-bit (refusing
    to clip). Not for FOA, whose files must record their layout (see spatial.io)."""
    from sonicmotion.files import atomic_path

    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    subtypes = {".wav": "FLOAT", ".flac": "PCM_24"}
    if suffix not in subtypes:
        raise SonicMotionError(f"{path}: audio output must end in .wav or .flac")
    if not np.all(np.isfinite(samples)):
        raise SonicMotionError(f"{path}: refusing to write NaN or infinite samples")
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if suffix == ".flac" and peak > 1.0:
        raise SonicMotionError(f"{path}: peak {peak:.3f} would clip in FLAC; write .wav (32-bit float)")
    with atomic_path(path) as tmp:
        with sf.SoundFile(tmp, "w", int(sample_rate), samples.shape[0], subtypes[suffix],
                          format=suffix[1:].upper()) as f:
            omit_peak_chunk(f)
            f.write(np.ascontiguousarray(samples.T, dtype=np.float32))


SILENCE_DB = -60.0  # dBFS RMS over a frame: quieter frames count as silence
SILENCE_FRAME_SECONDS = 0.01


def frame_activity(mono: np.ndarray, frame_length: int, threshold_db: float = SILENCE_DB) -> np.ndarray:
    """Bool per frame of ``frame_length`` samples (the last may be shorter): RMS above ``threshold_db`` dBFS."""
    n = mono.shape[-1]
    if n == 0:
        return np.zeros(0, dtype=bool)
    whole = n // frame_length
    power = np.empty(whole + (n % frame_length > 0), dtype=np.float64)
    squares = np.square(mono, dtype=np.float32)
    if whole:
        power[:whole] = squares[: whole * frame_length].reshape(whole, frame_length).mean(axis=1, dtype=np.float64)
    if n % frame_length:
        power[-1] = float(squares[whole * frame_length :].mean(dtype=np.float64))
    return power > 10.0 ** (threshold_db / 10.0)
