"""WebDataset-style tar shards of the spatial dataset, in one of two stores.

- ``foa``: ``{key}.flac`` (4-channel FuMa FOA) + ``{key}.json`` (metadata) per sample;
- ``sources``: per source ``{source}.flac`` (its preprocessed mono clip, once) and one
  ``{source}.{kind}.json`` per sample made from it (``{source}-{kind}`` is the sample key);
  the FOA is made when read, by ``encode_foa`` from the clip and the sample's trajectory:
  a sample is one mono source times direction gains the metadata fixes exactly, so the
  FOA holds nothing the metadata and the source do not.

Readers take either without being told which: :func:`iter_shard_samples` yields one
``(key, group)`` per sample for both, and :func:`decode_sample_foa` makes its FOA.

Members carry fixed owner, mode and time so a shard's bytes depend only on its
samples. FLAC is 24-bit at compression level 0: the float -> integer conversion is done
here (libsndfile's own is ~7 ms per clip slower) and level 0 halves the encoder's time
for files barely larger than at the default level, because 24-bit audio is mostly noise
in its low bits.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import numpy as np
import soundfile as sf

from sonicmotion import __version__
from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial.io import layout_in_comment, layout_tag
from sonicmotion.spatial.layout import ChannelLayout, check_foa, get_layout

MEMBER_MTIME = 0  # seconds since the epoch, for every member
FULL_SCALE_24 = 8388607.0


def shard_name(split: str, index: int) -> str:
    """Relative path of shard ``index`` of ``split``: ``{split}/{split}-{index:06d}.tar``."""
    return f"{split}/{split}-{index:06d}.tar"


STORES = ("foa", "sources")
SOURCE_COMMENT = "sonicmotion source clip (mono)"
# A sample of a sources shard is a group {"json": metadata, SOURCE_AUDIO: the mono clip's FLAC}.
SOURCE_AUDIO = "source.flac"


def _flac_24(samples: np.ndarray, sample_rate: int, comment: str, what: str) -> bytes:
    """(channels, n) float in [-1, 1] as 24-bit FLAC bytes at compression level 0."""
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


def foa_flac_bytes(samples: np.ndarray, sample_rate: int, layout: str | ChannelLayout = "fuma") -> bytes:
    """(4, n) FOA as 24-bit FLAC bytes with the layout recorded, as :func:`write_foa` records it.

    Samples beyond full scale are refused, as by :func:`write_foa`.
    """
    return _flac_24(check_foa(samples), sample_rate, layout_tag(get_layout(layout)), "FOA")


def source_flac_bytes(mono: np.ndarray, sample_rate: int) -> bytes:
    """A mono clip (n,) as the 24-bit FLAC a ``sources`` shard stores."""
    mono = np.asarray(mono, dtype=np.float32)
    if mono.ndim != 1:
        raise SonicMotionError(f"a source clip is mono (samples,), got shape {mono.shape}")
    return _flac_24(mono[None, :], sample_rate, SOURCE_COMMENT, "source")


def source_key(sample_key: str) -> str:
    """The source part of a sample key ``{source}-{kind}`` (kinds hold no '-')."""
    return sample_key.rsplit("-", 1)[0]


def json_bytes(metadata: dict[str, Any]) -> bytes:
    return json.dumps(metadata, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class ShardWriter:
    """Append members to an open tar file with fixed headers (POSIX pax format)."""

    def __init__(self, fileobj: BinaryIO):
        self._tar = tarfile.open(fileobj=fileobj, mode="w", format=tarfile.PAX_FORMAT)
        self._tar.copybufsize = 1 << 22  # one write per member instead of 16 KB pieces

    def add(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = MEMBER_MTIME
        info.mode = 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        self._tar.addfile(info, io.BytesIO(data))

    def add_sample(self, key: str, flac: bytes, metadata: dict[str, Any]) -> None:
        """One sample of a ``foa`` shard."""
        _check_key(key)
        self.add(f"{key}.flac", flac)
        self.add(f"{key}.json", json_bytes(metadata))

    def add_source(self, key: str, flac: bytes, samples: dict[str, dict[str, Any]]) -> None:
        """One source of a ``sources`` shard: its clip and ``{kind: metadata}`` of its samples."""
        _check_key(key)
        self.add(f"{key}.flac", flac)
        for kind, metadata in samples.items():
            if metadata.get("key") != f"{key}-{kind}":
                raise SonicMotionError(f"sample {metadata.get('key')!r} of source {key!r} must be keyed {key}-{kind}")
            self.add(f"{key}.{kind}.json", json_bytes(metadata))

    def close(self) -> None:
        self._tar.close()

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_key(key: str) -> None:
    if "." in key or "/" in key:
        raise SonicMotionError(f"sample key {key!r} must not contain '.' or '/'")


def iter_tar_samples(fileobj: BinaryIO, name: str = "shard") -> Iterator[tuple[str, dict[str, bytes]]]:
    """Stream ``(key, {extension: bytes})`` member groups from a tar in member order."""
    key, group = None, {}
    try:
        with tarfile.open(fileobj=fileobj, mode="r|*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                base = os.path.basename(member.name)
                member_key, _, extension = base.partition(".")
                if member_key != key and group:
                    yield key, group
                    group = {}
                key = member_key
                group[extension] = tar.extractfile(member).read()
    except tarfile.TarError as err:
        raise SonicMotionError(f"{name}: not a readable tar shard ({err})") from None
    if group:
        yield key, group


def expand_group(key: str, group: dict[str, bytes]) -> Iterator[tuple[str, dict[str, bytes]]]:
    """The samples of one member group: itself, or for a source group (``{kind}.json``
    members beside its ``flac``) one ``{"json", SOURCE_AUDIO}`` group per kind, keyed
    ``{source}-{kind}``."""
    kinds = [ext[: -len(".json")] for ext in group if ext.endswith(".json")]
    if not kinds or "json" in group:
        yield key, group
        return
    audio = group.get("flac")
    if audio is None:
        raise SonicMotionError(f"source {key!r} lacks its .flac member")
    for kind in kinds:
        yield f"{key}-{kind}", {"json": group[f"{kind}.json"], SOURCE_AUDIO: audio}


def iter_shard_samples(fileobj: BinaryIO, name: str = "shard") -> Iterator[tuple[str, dict[str, bytes]]]:
    """Stream one ``(sample key, group)`` per sample of a shard of either store (and of
    latent shards), in member order."""
    for key, group in iter_tar_samples(fileobj, name):
        yield from expand_group(key, group)


def read_shard(path: str | os.PathLike) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Samples of a local shard, as :func:`iter_shard_samples`."""
    with open(path, "rb") as handle:
        yield from iter_shard_samples(handle, str(path))


def group_store(group: dict[str, bytes]) -> str:
    """``"foa"`` or ``"sources"``: which store a sample group comes from."""
    return "sources" if SOURCE_AUDIO in group else "foa"


def _audio_member(group: dict[str, bytes]) -> tuple[str, bytes | None]:
    """(store, the sample's audio bytes: the FOA or the source clip, None if missing)."""
    store = group_store(group)
    return store, group.get(SOURCE_AUDIO if store == "sources" else "flac")


def decode_sample_foa(
    group: dict[str, bytes], metadata: dict[str, Any], start: int = 0, length: int | None = None,
    name: str = "sample",
) -> np.ndarray:
    """The (4, length) float32 FuMa FOA of one sample, samples ``[start, start + length)``
    (default: to the end), from either store; only that stretch is decoded and encoded.

    The audio must match its metadata (FuMa FOA or a mono source clip, at the metadata's
    rate, ``num_samples`` long); anything else is an error naming ``name``.
    """
    from sonicmotion.spatial import Trajectory, encode_foa

    store, data = _audio_member(group)
    if data is None or "json" not in group:
        raise SonicMotionError(f"{name} lacks its .flac or .json member")
    rate = metadata.get("sample_rate")
    with sf.SoundFile(io.BytesIO(data)) as f:
        if store == "foa" and (f.channels != 4 or layout_in_comment(f.comment) != "fuma"):
            raise SonicMotionError(f"{name} is not 4-channel FOA recorded as FuMa")
        if store == "sources" and (f.channels != 1 or (f.comment or "") != SOURCE_COMMENT):
            raise SonicMotionError(f"{name}: its source is not a mono source clip ({f.channels} channels)")
        if f.samplerate != rate:
            raise SonicMotionError(f"{name} has rate {f.samplerate}, metadata says {rate}")
        if f.frames != metadata.get("num_samples"):
            raise SonicMotionError(f"{name} has {f.frames} samples, metadata says {metadata.get('num_samples')}")
        length = f.frames - start if length is None else length
        if not (0 <= start and length >= 0 and start + length <= f.frames):
            raise SonicMotionError(f"{name}: samples {start}..{start + length} lie outside its {f.frames}")
        f.seek(start)  # FLAC seeks to the sample: a 2 s crop decodes 2 s, not 10
        # Integers scaled here: the same float32 values as libsndfile's conversion (a
        # power-of-two scale of 24 significant bits is exact) in half the time.
        ints = f.read(length, dtype="int32", always_2d=True)
    audio = np.ascontiguousarray(ints.T, dtype=np.float32)
    audio *= np.float32(1.0 / 2**31)
    if store == "foa":
        return audio
    trajectory = Trajectory.from_dict(metadata["trajectory"])
    return encode_foa(audio[0], rate, trajectory, "fuma", first_sample=start)


def sample_pressure(group: dict[str, bytes], name: str = "sample") -> tuple[np.ndarray, int]:
    """(pressure p (n,) float32, sample rate) of a sample of either store: the source clip,
    or the FOA's W rescaled (FuMa W = p/sqrt(2))."""
    from sonicmotion.spatial.layout import FUMA

    store, data = _audio_member(group)
    if data is None:
        raise SonicMotionError(f"{name} has no audio member")
    samples, rate, layout = decode_flac(data)
    if store == "sources":
        if samples.shape[0] != 1:
            raise SonicMotionError(f"{name}: its source is not mono ({samples.shape[0]} channels)")
        return samples[0], rate
    if samples.shape[0] != 4 or layout != "fuma":
        raise SonicMotionError(f"{name} is not 4-channel FOA recorded as FuMa")
    return np.ascontiguousarray(samples[FUMA.index("W")] / np.float32(FUMA.w_gain)), rate


def shard_store(path: str | os.PathLike) -> str:
    """``"foa"`` or ``"sources"``: the store of a local shard, from its first sample."""
    for _, group in read_shard(path):
        return group_store(group)
    raise SonicMotionError(f"{path}: an empty shard")


def read_sample_group(shard: str | os.PathLike, key: str) -> dict[str, bytes]:
    """One sample's group by key from a local shard of either store (random access)."""
    try:
        with tarfile.open(shard) as tar:
            names = set(tar.getnames())
            base = os.path.dirname(next(iter(names), ""))
            prefix = f"{base}/" if base else ""
            if f"{prefix}{key}.json" in names:
                members = {"json": f"{prefix}{key}.json", "flac": f"{prefix}{key}.flac"}
            else:
                source, kind = source_key(key), key.rsplit("-", 1)[-1]
                members = {"json": f"{prefix}{source}.{kind}.json", SOURCE_AUDIO: f"{prefix}{source}.flac"}
            if not all(m in names for m in members.values()):
                raise SonicMotionError(f"{shard}: no sample {key!r}")
            return {ext: tar.extractfile(m).read() for ext, m in members.items()}
    except tarfile.TarError as err:
        raise SonicMotionError(f"{shard}: not a readable tar shard ({err})") from None


def decode_flac(data: bytes) -> tuple[np.ndarray, int, str | None]:
    """FLAC bytes -> ((channels, n) float32, sample rate, recorded layout name or None)."""
    with sf.SoundFile(io.BytesIO(data)) as f:
        samples = f.read(dtype="float32", always_2d=True)
        return np.ascontiguousarray(samples.T), int(f.samplerate), layout_in_comment(f.comment)


def list_shards(root: str | os.PathLike, split: str | None = None) -> list[Path]:
    """Tar shards under ``root`` (one split or all), sorted."""
    root = Path(root)
    splits = [split] if split else sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return sorted(p for s in splits for p in (root / s).glob(f"{s}-*.tar"))
