"""Retrieve and place: a generator that needs no training.

Finds the source in a captioned sound library whose caption best matches the prompt
(cosine similarity of MiniLM sentence embeddings, the offline text encoder shipped with
the project) and puts it on the requested path with the spatial encoder. Real sounds on
exact paths in seconds: what a sound designer with a library wants, and the baseline (and
the upper bound for spatial accuracy) of the evaluation tables.

A library is a built SonicMotion dataset (``index.parquet`` + shards: the mono source of a
sample is its W channel times √2, so nothing is lost) or a manifest of mono recordings
(CSV or JSONL with ``path,caption[,split][,id]``, as ``dataset build --source manifest:``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sonicmotion.data.shards import read_sample_group, sample_pressure
from sonicmotion.errors import SonicMotionError
from sonicmotion.files import atomic_path
from sonicmotion.spatial import FUMA, FoaAudio, Trajectory, encode_foa

SAMPLE_RATE = 16000
ENCODER = "minilm"


@dataclass(frozen=True)
class LibraryEntry:
    """One retrievable source: where its audio is and what its captions say."""

    id: str
    captions: tuple[str, ...]
    path: str  # an audio file, or "SHARD.tar::KEY" for a dataset sample
    split: str | None


@dataclass(frozen=True)
class Match:
    entry: LibraryEntry
    caption: str  # the caption that matched best
    score: float  # cosine similarity in [-1, 1]


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sonicmotion" / "text-embeddings"


class SentenceEmbedder:
    """Mean-pooled, unit-length sentence embeddings of the MiniLM encoder, cached on disk by
    caption text (so a library is embedded once, and a changed caption is embedded anew)."""

    def __init__(self, cache_dir: str | os.PathLike | None = None):
        self.cache_path = Path(cache_dir or default_cache_dir()) / f"{ENCODER}.npz"
        self._cache: dict[str, np.ndarray] = {}
        if self.cache_path.is_file():
            with np.load(self.cache_path) as stored:
                self._cache = {key: stored[key] for key in stored.files}
        self._encoder = None

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]

    def __call__(self, texts: list[str]) -> np.ndarray:
        missing = sorted({t for t in texts if self._key(t) not in self._cache})
        if missing:
            import torch

            from sonicmotion.models.text import load_text_encoder

            encoder = load_text_encoder(ENCODER)
            for start in range(0, len(missing), 64):
                chunk = missing[start : start + 64]
                tokens, mask = encoder.encode_uncached(chunk)
                pooled = (tokens * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
                pooled = torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy().astype(np.float32)
                self._cache.update({self._key(t): v for t, v in zip(chunk, pooled)})
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.cache_path) as tmp:
                with open(tmp, "wb") as f:
                    np.savez(f, **self._cache)
        return np.stack([self._cache[self._key(t)] for t in texts])


class SoundLibrary:
    """Captioned sources to retrieve from; see the module docstring for what it can open."""

    def __init__(self, entries: list[LibraryEntry], name: str, embedder: SentenceEmbedder | None = None):
        if not entries:
            raise SonicMotionError(f"{name}: the library holds no usable sources")
        self.entries = sorted(entries, key=lambda e: e.id)
        self.name = name
        self.embedder = embedder or SentenceEmbedder()
        self._captions = [(i, c) for i, e in enumerate(self.entries) for c in e.captions]
        self._matrix: np.ndarray | None = None

    @classmethod
    def open(cls, path: str | os.PathLike, splits: tuple[str, ...] | None = None,
             embedder: SentenceEmbedder | None = None) -> "SoundLibrary":
        """A dataset folder, a manifest file, or a folder holding ``manifest.csv``/``.jsonl``.
        ``splits`` keeps only sources of those splits (e.g. ``("train",)``)."""
        path = Path(path)
        if (path / "index.parquet").is_file():
            entries = _dataset_entries(path)
        else:
            manifest = path
            if path.is_dir():
                found = [path / n for n in ("manifest.csv", "manifest.jsonl") if (path / n).is_file()]
                if not found:
                    raise SonicMotionError(
                        f"{path}: not a library: expected a dataset folder (index.parquet) or a manifest "
                        "(manifest.csv / manifest.jsonl with path,caption)")
                manifest = found[0]
            entries = _manifest_entries(manifest)
        if splits is not None:
            entries = [e for e in entries if e.split in splits]
        return cls(entries, str(path), embedder)

    def search(self, prompt: str, k: int = 1) -> list[Match]:
        """The ``k`` best-matching sources (each at most once), best first."""
        if not prompt.strip():
            raise SonicMotionError("the prompt is empty; describe the sound, e.g. 'a police siren'")
        if self._matrix is None:
            self._matrix = self.embedder([c for _, c in self._captions])
        scores = self._matrix @ self.embedder([prompt])[0]
        best: dict[int, tuple[float, str]] = {}
        for (index, caption), score in zip(self._captions, scores):
            if index not in best or score > best[index][0]:
                best[index] = (float(score), caption)
        ranked = sorted(best.items(), key=lambda item: (-item[1][0], self.entries[item[0]].id))[:k]
        return [Match(self.entries[i], caption, score) for i, (score, caption) in ranked]

    def mono(self, entry: LibraryEntry, seconds: float) -> np.ndarray:
        """The entry's mono sound at 16 kHz, trimmed and looped or cut to ``seconds``."""
        from sonicmotion.audio import fit_length
        from sonicmotion.data.preprocess import PreprocessConfig, SourceSkipped, load_clip

        if "::" in entry.path:
            shard, key = entry.path.split("::", 1)
            # The source's own (already trimmed and looped) mono sound, from either store.
            mono, rate = sample_pressure(read_sample_group(shard, key), f"{shard}: sample {key}")
            if rate != SAMPLE_RATE:
                raise SonicMotionError(f"{shard}: sample {key} is at {rate} Hz, expected {SAMPLE_RATE}")
            return np.ascontiguousarray(fit_length(mono, int(round(seconds * SAMPLE_RATE))))
        try:
            return load_clip(entry.path, PreprocessConfig(sample_rate=SAMPLE_RATE, clip_seconds=seconds))
        except SourceSkipped as err:
            raise SonicMotionError(f"{entry.path}: {err}") from None


def _dataset_entries(root: Path) -> list[LibraryEntry]:
    from sonicmotion.data.report import iter_index

    columns = ["key", "source_id", "corpus", "split", "captions", "motion", "shard"]
    rows = [row for group in iter_index(root / "index.parquet", columns) for row in group]
    entries: dict[str, LibraryEntry] = {}
    for row in sorted(rows, key=lambda r: (r["motion"] != "static", r["key"])):
        source = f"{row['corpus']}:{row['source_id']}"
        if source not in entries:  # one entry per source: both of its samples hold the same sound
            captions = row["captions"] if isinstance(row["captions"], list) else json.loads(row["captions"])
            entries[source] = LibraryEntry(source, tuple(captions), f"{root / row['shard']}::{row['key']}", row["split"])
    return list(entries.values())


def _manifest_entries(manifest: Path) -> list[LibraryEntry]:
    from sonicmotion.data.corpora import SourceSpec, read_manifest

    sources, _ = read_manifest(SourceSpec.parse(f"manifest:{manifest}"))
    return [LibraryEntry(f"{s.corpus}:{s.source_id}", tuple(s.captions), s.path, s.split) for s in sources]


class RetrieveAndPlace:
    """The generator: the same call as :class:`~sonicmotion.pipeline.SonicMotionPipeline`
    (prompts and trajectories in, FOA out) for the command line and scenes."""

    parametric = True
    sample_rate = SAMPLE_RATE

    def __init__(self, library: SoundLibrary):
        self.library = library
        self.last_matches: list[Match] = []

    def __call__(self, prompts: str | list[str], trajectories=None, seconds: float = 10.0, **_ignored):
        """FoaAudio for one prompt, or a list for a list. A missing trajectory places the sound
        in front (azimuth 0, elevation 0)."""
        single = isinstance(prompts, str)
        prompts = [prompts] if single else list(prompts)
        if trajectories is None or isinstance(trajectories, (Trajectory, dict)):
            trajectories = [trajectories] * len(prompts)
        out, self.last_matches = [], []
        for prompt, path in zip(prompts, trajectories):
            if isinstance(path, dict):
                path = Trajectory.from_dict(path)
            match = self.library.search(prompt, 1)[0]
            mono = self.library.mono(match.entry, seconds)
            foa = encode_foa(mono, SAMPLE_RATE, path or Trajectory.static(0.0, 0.0))
            out.append(FoaAudio(foa, SAMPLE_RATE, FUMA))
            self.last_matches.append(match)
        return out[0] if single else out
