"""WebDataset-style tar shards of the spatial dataset, in one of two stores.

- ``foa``: ``{key}.flac`` (4-channel FuMa FOA) + ``{key}.json`` (metadata) per sample;
- ``sources``: per source ``{source}.flac`` (its preprocessed mono clip, once) and one
  ``{source}.{kind}.json`` per sample made from it (``{source}-{kind}`` is the sample key);
  the FOA is made when read, by ``encode_foa`` from the clip and the sample's trajectory:
  a sample is one mono source times direction gains the metadata fixes exactly, so the
  FOA holds nothing the metadata and the source do not.

Readers take either without being told which: :func:`iter_shard_samples` yields one
``(key, group)`` per sample for both, and :func:`decode_sample_foa` makes its FOA.

This module is the one owner of tar I/O and of finding shards: writing
(:class:`ShardWriter`), streaming (:func:`iter_tar_samples`, :func:`read_shard`), random
access to a local shard (:class:`LocalShard`) and listing (:func:`list_shards`,
:func:`find_shards`). Latent shards (``data/latents.py``) use the same writer and readers.

Members carry fixed owner, mode and time so a shard's bytes depend only on its
samples. Audio members are 24-bit FLAC at compression level 0 (``audio.flac24_bytes``).
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

from sonicmotion.audio import decode_audio, flac24_bytes
from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial.io import foa_from_bytes, layout_in_comment
from sonicmotion.spatial.layout import FUMA

MEMBER_MTIME = 0  # seconds since the epoch, for every member


def shard_name(split: str, index: int) -> str:
    """Relative path of shard ``index`` of ``split``: ``{split}/{split}-{index:06d}.tar``."""
    return f"{split}/{split}-{index:06d}.tar"


STORES = ("foa", "sources")
SOURCE_COMMENT = "sonicmotion source clip (mono)"
# A sample of a sources shard is a group {"json": metadata, SOURCE_AUDIO: the mono clip's FLAC}.
SOURCE_AUDIO = "source.flac"


def source_flac_bytes(mono: np.ndarray, sample_rate: int) -> bytes:
    """A mono clip (n,) as the 24-bit FLAC a ``sources`` shard stores."""
    mono = np.asarray(mono, dtype=np.float32)
    if mono.ndim != 1:
        raise SonicMotionError(f"a source clip is mono (samples,), got shape {mono.shape}")
    return flac24_bytes(mono[None, :], sample_rate, SOURCE_COMMENT, "source")


def json_bytes(metadata: dict[str, Any]) -> bytes:
    return json.dumps(metadata, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class ShardWriter:
    """Append members to an open tar file with fixed headers (POSIX pax format)."""

    def __init__(self, fileobj: BinaryIO, tar_format: int = tarfile.PAX_FORMAT):
        self._tar = tarfile.open(fileobj=fileobj, mode="w", format=tar_format)
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
    store, data = _audio_member(group)
    if data is None or "json" not in group:
        raise SonicMotionError(f"{name} lacks its .flac or .json member")
    try:
        return _decode_sample_foa(store, data, metadata, start, length, name)
    except (sf.LibsndfileError, RuntimeError) as err:  # damaged FLAC bytes (e.g. "flac decoder lost sync")
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise SonicMotionError(f"{name}: damaged audio ({reason})") from None


def _decode_sample_foa(store: str, data: bytes, metadata: dict[str, Any], start: int, length: int | None,
                       name: str) -> np.ndarray:
    from sonicmotion.spatial import Trajectory

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
        # A path with distance hears at each time what the source emitted earlier (the
        # propagation delay, the delay line's and air filter's taps, a room's tail), so its
        # whole clip is rendered and the crop cut from it: the same samples as the whole.
        whole = store == "sources" and Trajectory.from_dict(metadata["trajectory"]).has_distance
        first, count = (0, f.frames) if whole else (start, length)
        f.seek(first)  # FLAC seeks to the sample: a 2 s crop decodes 2 s, not 10
        # Integers scaled here: the same float32 values as libsndfile's conversion (a
        # power-of-two scale of 24 significant bits is exact) in half the time.
        ints = f.read(count, dtype="int32", always_2d=True)
    audio = np.ascontiguousarray(ints.T, dtype=np.float32)
    audio *= np.float32(1.0 / 2**31)
    if store == "foa":
        return audio
    foa = encode_sample_foa(audio[0], metadata, first)
    return foa if not whole else np.ascontiguousarray(foa[:, start : start + length])


def encode_sample_foa(mono: np.ndarray, metadata: dict[str, Any], start: int = 0) -> np.ndarray:
    """The (4, n) float32 FuMa FOA of a sample from its mono source clip (n,), whose first
    sample is sample ``start`` of the clip: the sample's ``trajectory``, with its ``room``
    and ``doppler`` when it has them (distance samples; a path with distance starts at 0)."""
    from sonicmotion.spatial import Trajectory, encode_foa
    from sonicmotion.spatial.room import Room

    room = metadata.get("room")
    return encode_foa(mono, metadata["sample_rate"], Trajectory.from_dict(metadata["trajectory"]), "fuma",
                      first_sample=start, doppler=metadata.get("doppler", True),
                      room=None if room is None else Room.from_dict(room))


def sample_pressure(group: dict[str, bytes], name: str = "sample") -> tuple[np.ndarray, int]:
    """(pressure p (n,) float32, sample rate) of a sample of either store: the source clip,
    or the FOA's W rescaled (FuMa W = p/sqrt(2))."""
    store, data = _audio_member(group)
    if data is None:
        raise SonicMotionError(f"{name} has no audio member")
    if store == "sources":
        samples, rate = decode_audio(io.BytesIO(data), name)
        if samples.shape[1] != 1:
            raise SonicMotionError(f"{name}: its source is not mono ({samples.shape[1]} channels)")
        from sonicmotion.spatial import Trajectory

        metadata = json.loads(group["json"].decode("utf-8")) if "json" in group else {}
        if "trajectory" in metadata and Trajectory.from_dict(metadata["trajectory"]).has_distance:
            # A distance sample is heard delayed, at its level, through the air (and a room): not the clip.
            foa = decode_sample_foa(group, metadata, name=name)
            return (foa[0] / np.float32(FUMA.w_gain)).astype(np.float32), rate
        return np.ascontiguousarray(samples[:, 0]), rate
    foa = foa_from_bytes(data, name)
    if foa.layout != FUMA:
        raise SonicMotionError(f"{name} is not 4-channel FOA recorded as FuMa")
    return foa.pressure(), foa.sample_rate


def shard_store(path: str | os.PathLike) -> str:
    """``"foa"`` or ``"sources"``: the store of a local shard, from its first sample."""
    for _, group in read_shard(path):
        return group_store(group)
    raise SonicMotionError(f"{path}: an empty shard")


def read_sample_group(shard: str | os.PathLike, key: str) -> dict[str, bytes]:
    """One sample's group by key from a local shard of either store (random access)."""
    with LocalShard(shard) as local:
        return local.group(key)


class LocalShard:
    """Random access to the members of a local shard file, either store: an index of its
    samples' members by key, and reads by member name. Use as a context manager."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        try:
            self._tar = tarfile.open(self.path)
            self._names = [m.name for m in self._tar.getmembers() if m.isfile()]
        except (tarfile.TarError, OSError) as err:
            raise SonicMotionError(f"{self.path}: not a readable tar shard ({err})") from None

    def sample_members(self) -> dict[str, dict[str, str]]:
        """``{sample key: {"json": member, "audio": member}}`` in member order; the audio of a
        ``sources`` sample is its source's mono clip. Groups without audio are left out."""
        by_base = {os.path.basename(name): name for name in self._names}
        samples: dict[str, dict[str, str]] = {}
        for base, name in by_base.items():
            stem, dot, suffix = base.partition(".")
            if not dot or not suffix.endswith("json"):
                continue
            key = stem if suffix == "json" else f"{stem}-{suffix[: -len('.json')]}"
            audio = next((by_base[f"{stem}.{ext}"] for ext in ("flac", "wav") if f"{stem}.{ext}" in by_base), None)
            if audio is None:
                continue
            if key in samples:
                raise SonicMotionError(f"{self.path}: sample key {key!r} appears twice")
            samples[key] = {"json": name, "audio": audio}
        return samples

    def read(self, member: str) -> bytes:
        """The bytes of one member, by its name in the tar."""
        try:
            handle = self._tar.extractfile(member)
        except KeyError:
            raise SonicMotionError(f"{self.path}: no member {member!r}") from None
        except tarfile.TarError as err:
            raise SonicMotionError(f"{self.path}: not a readable tar shard ({err})") from None
        if handle is None:
            raise SonicMotionError(f"{self.path}: member {member!r} is not a regular file")
        return handle.read()

    def group(self, key: str) -> dict[str, bytes]:
        """One sample's group as :func:`iter_shard_samples` yields it."""
        members = self.sample_members().get(key)
        if members is None:
            raise SonicMotionError(f"{self.path}: no sample {key!r}")
        audio = SOURCE_AUDIO if os.path.basename(members["json"]).count(".") > 1 else "flac"
        return {"json": self.read(members["json"]), audio: self.read(members["audio"])}

    def close(self) -> None:
        self._tar.close()

    def __enter__(self) -> "LocalShard":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def list_shards(root: str | os.PathLike, split: str | None = None) -> list[Path]:
    """The shards of a dataset folder, ``{split}/{split}-*.tar`` (one split or all), sorted."""
    root = Path(root)
    splits = [split] if split else sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return sorted(p for s in splits for p in (root / s).glob(f"{s}-*.tar"))


def find_shards(path: str | os.PathLike, split: str | None = None) -> list[Path]:
    """The tar shards ``path`` names, sorted: one ``.tar`` file; a dataset folder's
    ``{split}/`` shards (every split's when ``split`` is None); or the ``.tar`` files of a
    folder of shards. Finding none is an error that says where it looked."""
    path = Path(path)
    if path.is_file():
        if path.suffix != ".tar":
            raise SonicMotionError(f"{path}: not a .tar shard")
        return [path]
    if not path.is_dir():
        raise SonicMotionError(f"shards {str(path)!r}: no such file or folder (it does not exist)")
    if split is not None and (path / split).is_dir():
        found = list_shards(path, split)
    else:
        found = sorted(p for p in path.glob("*.tar") if not p.name.startswith("."))
        if not found and split is None:
            found = list_shards(path)
    if not found:
        where = f"{path / split} or {path}" if split is not None else str(path)
        raise SonicMotionError(f"no {split + ' ' if split else ''}shards (.tar files) in {where}")
    return found
