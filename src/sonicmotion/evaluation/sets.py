"""The audio sets an evaluation reads: generated folders, reference folders or shards, prompts.

A clip is addressed by a :class:`ClipRef` (a file, or a member of a dataset shard) so
workers can read it themselves; clips pair across sets by id (file stem, shard key).
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from sonicmotion.data.shards import LocalShard, find_shards
from sonicmotion.errors import SonicMotionError
from sonicmotion.prompts import Prompt
from sonicmotion.spatial.io import foa_from_bytes, layout_in_comment
from sonicmotion.spatial.layout import ChannelLayout

AUDIO_SUFFIXES = (".wav", ".flac")


@dataclass(frozen=True)
class ClipRef:
    """Where a clip's bytes live: a file, or ``member`` inside the tar file ``path``."""

    id: str
    path: str
    member: str | None = None

    @property
    def name(self) -> str:
        return f"{self.path}:{self.member}" if self.member else self.path

    def read_bytes(self) -> bytes:
        if self.member is None:
            with open(self.path, "rb") as f:
                return f.read()
        with LocalShard(self.path) as shard:
            return shard.read(self.member)


PLAIN_CHANNELS = {1: "mono", 2: "stereo"}


def decode_pressure(data: bytes, name: str, layout: str | ChannelLayout | None = None) -> tuple[np.ndarray, int]:
    """(pressure signal (n,) float32, sample rate) of a clip: an FOA clip's W as pressure, a
    mono clip as it is, a stereo clip's mid (L + R) / 2. The semantic metrics read this."""
    try:
        channels = sf.info(io.BytesIO(data)).channels
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise SonicMotionError(f"{name}: cannot read audio ({reason})") from None
    if channels not in PLAIN_CHANNELS:
        clip = foa_from_bytes(data, name, layout)
        return clip.pressure(), clip.sample_rate
    from sonicmotion.audio import decode_audio

    samples, rate = decode_audio(io.BytesIO(data), name)
    return np.ascontiguousarray(samples.mean(axis=1, dtype=np.float32)), rate


@dataclass
class ClipSet:
    """Clips by id, with per-id metadata (shard JSON) where there is some."""

    description: str
    clips: dict[str, ClipRef]
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.clips)


def _audio_files(folder: Path) -> dict[str, ClipRef]:
    clips: dict[str, ClipRef] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in AUDIO_SUFFIXES or not path.is_file():
            continue
        if path.stem in clips:
            raise SonicMotionError(f"{folder}: two files share the id {path.stem!r} ({clips[path.stem].path}, {path})")
        clips[path.stem] = ClipRef(path.stem, str(path))
    return clips


def list_folder(folder: str | os.PathLike, what: str) -> ClipSet:
    """The .wav/.flac files directly inside ``folder``, by file stem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SonicMotionError(f"{what} {str(folder)!r} is not a folder")
    clips = _audio_files(folder)
    if not clips:
        raise SonicMotionError(f"{what} {str(folder)!r} holds no .wav or .flac files")
    return ClipSet(f"{what} folder {folder} ({len(clips)} clips)", clips)


def read_shards(shards: list[Path]) -> ClipSet:
    """Index dataset shards of either store: per sample ``{key}.flac`` + ``{key}.json``, or
    a source's ``{source}.flac`` with one ``{source}.{kind}.json`` per sample (the clip is
    then the source's mono clip: the pressure the semantic metrics read)."""
    clips: dict[str, ClipRef] = {}
    metadata: dict[str, dict[str, Any]] = {}
    for shard in shards:
        with LocalShard(shard) as local:
            for key, members in local.sample_members().items():
                if key in clips:
                    raise SonicMotionError(f"{shard}: sample key {key!r} appears twice in the reference shards")
                clips[key] = ClipRef(key, str(shard), members["audio"])
                try:
                    metadata[key] = json.loads(local.read(members["json"]))
                except json.JSONDecodeError as err:
                    raise SonicMotionError(f"{shard}: {members['json']} is not valid JSON ({err.msg})") from None
    if not clips:
        raise SonicMotionError(f"no audio samples in {len(shards)} shard(s) starting {shards[0]}")
    return ClipSet(f"dataset shards {shards[0].parent} ({len(shards)} shards, {len(clips)} clips)", clips, metadata)


def list_reference(path: str | os.PathLike) -> ClipSet:
    """A reference set: a folder of FOA files, one shard, or a folder holding shards."""
    path = Path(path)
    if not path.exists():
        raise SonicMotionError(f"reference {str(path)!r} does not exist")
    try:
        shards = find_shards(path)
    except SonicMotionError:  # no shards: a folder of audio files, or a wrong file
        shards = []
    if shards:
        return read_shards(shards)
    if path.is_file():
        raise SonicMotionError(f"reference {str(path)!r} must be a folder of .wav/.flac files or .tar shards")
    return list_folder(path, "reference")


def describe_ids(ids: list[str] | set[str], limit: int = 3) -> str:
    """``"N (e.g. a, b, c)"`` for error messages."""
    ids = sorted(ids)
    return f"{len(ids)} (e.g. {', '.join(repr(i) for i in ids[:limit])})"


def check_prompts_match(generated: ClipSet, prompts: dict[str, Prompt]) -> None:
    """Every prompt has a generated clip and every generated clip a prompt, by id."""
    missing = set(prompts) - set(generated.clips)
    extra = set(generated.clips) - set(prompts)
    if missing:
        raise SonicMotionError(f"{describe_ids(missing)} prompts have no generated file ({{id}}.wav) in the generated folder")
    if extra:
        raise SonicMotionError(f"{describe_ids(extra)} generated files have no line in the prompts file")


def iter_clip_bytes(clips: list[ClipRef]):
    """Yield ``(clip, bytes)`` in the given order, opening each tar shard once."""
    current: LocalShard | None = None
    try:
        for clip in clips:
            if clip.member is None:
                yield clip, clip.read_bytes()
                continue
            if current is None or current.path != clip.path:
                # Shards are read front to back, so keep only the current one open.
                if current is not None:
                    current.close()
                current = LocalShard(clip.path)
            yield clip, current.read(clip.member)
    finally:
        if current is not None:
            current.close()


def probe_generated(clips: ClipSet, layout: str | None) -> tuple[dict[int, int], int]:
    """Check every generated file's header: 4 channels and a known layout (FOA), or all
    mono or all stereo (made elsewhere, e.g. a text-to-audio baseline: semantic columns only).

    Returns (clip counts by sample rate, channels). Reads headers only (fast); a bad file
    is an error naming it, before any metric runs.
    """
    rates: dict[int, int] = {}
    counts: dict[int, str] = {}
    for clip in clips.clips.values():
        try:
            with sf.SoundFile(clip.path) as f:
                channels, rate, comment = f.channels, int(f.samplerate), f.comment or ""
        except (sf.LibsndfileError, RuntimeError) as err:
            raise SonicMotionError(f"{clip.path}: cannot read audio ({str(err).splitlines()[0]})") from None
        if channels != 4 and channels not in PLAIN_CHANNELS:
            raise SonicMotionError(f"{clip.path}: FOA needs 4 channels, the file has {channels} (mono or stereo "
                                   "clips are measured in the semantic columns only)")
        if channels == 4 and layout is None and not layout_in_comment(comment):
            raise SonicMotionError(f"{clip.path}: the file does not record its channel layout; "
                                   "state it with --layout fuma|ambix")
        counts.setdefault(channels, clip.path)
        if len(counts) > 1:
            first, second = sorted(counts)
            raise SonicMotionError(f"the generated folder mixes {first}-channel ({counts[first]}) and {second}-channel "
                                   f"({counts[second]}) files; one run is one format")
        rates[rate] = rates.get(rate, 0) + 1
    return rates, next(iter(counts))
