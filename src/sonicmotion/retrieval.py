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
from typing import Any, Sequence

import numpy as np

from sonicmotion.audio import MAX_GENERATED_SECONDS, SAMPLE_RATE
from sonicmotion.data.shards import read_sample_group, sample_pressure
from sonicmotion.errors import SonicMotionError
from sonicmotion.files import atomic_path, make_folder
from sonicmotion.generation import (
    Generated,
    GenerationRequest,
    Progress,
    RetrievedSound,
    Retrieval,
    check_requests,
)
from sonicmotion.spatial import FUMA, FoaAudio, Trajectory, encode_foa

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
    """Mean-pooled, unit-length sentence embeddings of the MiniLM encoder.

    ``embed_set`` embeds a library's whole caption list once and keeps it on disk as one
    matrix named by a hash of the encoder and the captions (so reopening a library of
    10,000 clips reads one file, and a changed caption makes a new one); calling the
    embedder (prompts) caches in memory only.
    """

    def __init__(self, cache_dir: str | os.PathLike | None = None):
        self.cache_dir = Path(cache_dir or default_cache_dir())
        self._memory: dict[str, np.ndarray] = {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        missing = sorted({t for t in texts if t not in self._memory})
        if missing:
            self._memory.update(zip(missing, self._encode(missing)))
        return np.stack([self._memory[t] for t in texts])

    def set_path(self, texts: list[str]) -> Path:
        """Where :meth:`embed_set` keeps the matrix of ``texts``."""
        digest = hashlib.sha256(ENCODER.encode())
        for text in texts:
            digest.update(b"\0" + text.encode("utf-8"))
        return self.cache_dir / f"{ENCODER}-{digest.hexdigest()[:32]}.npy"

    def embed_set(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, from the disk cache when this exact list was embedded before."""
        path = self.set_path(texts)
        if path.is_file():
            try:
                matrix = np.load(path)
                if matrix.ndim == 2 and matrix.shape[0] == len(texts):
                    return matrix
            except (OSError, ValueError):
                pass  # a damaged cache file is made again
        make_folder(path.parent, "text embedding cache")  # before the work, not after
        matrix = self._encode(texts)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, matrix)
        return matrix

    @staticmethod
    def _encode(texts: list[str]) -> np.ndarray:
        import torch

        from sonicmotion.models.text import load_text_encoder

        encoder = load_text_encoder(ENCODER)
        rows = []
        for start in range(0, len(texts), 64):
            tokens, mask = encoder.encode_uncached(texts[start : start + 64], to_longest=True)
            pooled = (tokens * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
            rows.append(torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy().astype(np.float32))
        return np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)


class SoundLibrary:
    """Captioned sources to retrieve from; see the module docstring for what it can open."""

    def __init__(self, entries: list[LibraryEntry], name: str, embedder: SentenceEmbedder | None = None,
                 listing: Path | None = None):
        if not entries:
            raise SonicMotionError(f"{name}: the library holds no usable sources")
        self.entries = sorted(entries, key=lambda e: e.id)
        self.name = name
        self.listing = listing  # the file that decides the contents (a dataset's index or a manifest), if any
        self.embedder = embedder or SentenceEmbedder()
        self._captions = [(i, c) for i, e in enumerate(self.entries) for c in e.captions]
        # Captions are grouped by entry: entry i's rows start at _starts[i].
        counts = np.array([len(e.captions) for e in self.entries])
        self._starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self._matrix: np.ndarray | None = None

    @classmethod
    def open(cls, path: str | os.PathLike, splits: tuple[str, ...] | None = None,
             embedder: SentenceEmbedder | None = None) -> "SoundLibrary":
        """A dataset folder, a manifest file, or a folder holding ``manifest.csv``/``.jsonl``.
        ``splits`` keeps only sources of those splits (e.g. ``("train",)``)."""
        path = Path(path).resolve()
        if (path / "index.parquet").is_file():
            listing = path / "index.parquet"
            entries = _dataset_entries(path)
        else:
            listing = path
            if path.is_dir():
                found = [path / n for n in ("manifest.csv", "manifest.jsonl") if (path / n).is_file()]
                if not found:
                    raise SonicMotionError(
                        f"{path}: not a library: expected a dataset folder (index.parquet) or a manifest "
                        "(manifest.csv / manifest.jsonl with path,caption)")
                listing = found[0]
            entries = _manifest_entries(listing)
        if splits is not None:
            entries = [e for e in entries if e.split in splits]
        return cls(entries, str(path), embedder, listing)

    def fingerprint(self) -> str:
        """sha256 of what decides the contents: the listing file (not the audio), else the entries."""
        from sonicmotion.files import file_sha256

        if self.listing is not None:
            return file_sha256(self.listing)
        return hashlib.sha256(json.dumps([[e.id, e.captions, e.path] for e in self.entries]).encode()).hexdigest()

    def input_files(self) -> list[Path]:
        """Every file this library reads: its index or manifest and each recording or shard
        (an output must never be one of them)."""
        files = {Path(e.path.split("::", 1)[0]) for e in self.entries}
        return sorted(files | ({Path(self.listing)} if self.listing is not None else set()))

    def search(self, prompt: str, k: int = 1) -> list[Match]:
        """The ``k`` best-matching sources (each at most once), best first."""
        if not prompt.strip():
            raise SonicMotionError("the prompt is empty; describe the sound, e.g. 'a police siren'")
        scores = self.caption_matrix() @ self.embedder([prompt])[0]
        best = np.maximum.reduceat(scores, self._starts)  # each entry's best caption
        k = min(k, len(self.entries))
        # Entries are sorted by id, so a stable sort on the score breaks ties by id.
        order = np.argsort(-best, kind="stable")[:k]
        matches = []
        for i in order:
            rows = np.arange(self._starts[i], self._starts[i] + len(self.entries[i].captions))
            caption = self._captions[int(rows[np.argmax(scores[rows])])][1]
            matches.append(Match(self.entries[int(i)], caption, float(best[i])))
        return matches

    def caption_matrix(self) -> np.ndarray:
        """(captions, dim) embeddings of every caption, built (or read from the cache) once."""
        if self._matrix is None:
            captions = [c for _, c in self._captions]
            embed_set = getattr(self.embedder, "embed_set", None)
            self._matrix = np.asarray(embed_set(captions) if embed_set else self.embedder(captions), dtype=np.float32)
        return self._matrix

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
    from sonicmotion.data.index import iter_index

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
    """Retrieve and place as a :class:`~sonicmotion.generation.Generator`: the best-matching
    library sound on the request's path (in front, azimuth 0 and elevation 0, without one),
    exactly; its provenance names the sound and the next-best ``alternatives``."""

    parametric = True
    can_pin_path = False  # placement is exact by construction; there is no generated direction to pin
    needs_path = False
    follows_distance = True  # placed with the path's delay, 1/r level and air absorption (encode_foa)
    max_seconds = MAX_GENERATED_SECONDS  # a library sound is looped to the length
    sample_rate = SAMPLE_RATE
    progress_steps = 1

    def __init__(self, library: SoundLibrary, batch_size: int = 8, alternatives: int = 3):
        self.library = library
        self.batch_size = batch_size
        self.alternatives = alternatives

    def identity(self) -> dict[str, Any]:
        """The library (its path and a sha256 of its listing) and its size, for scene sidecars."""
        return {"library": self.library.name, "sha256": self.library.fingerprint(), "clips": len(self.library.entries)}

    def generate(self, requests: Sequence[GenerationRequest], progress: Progress | None = None) -> list[Generated]:
        check_requests(self, requests)
        out = []
        for request in requests:
            matches = self.library.search(request.text, 1 + self.alternatives)
            sounds = tuple(RetrievedSound(m.entry.id, m.caption, m.entry.path, m.score) for m in matches)
            mono = self.library.mono(matches[0].entry, request.seconds)
            path = request.trajectory or Trajectory.static(0.0, 0.0)
            foa = FoaAudio(encode_foa(mono, SAMPLE_RATE, path), SAMPLE_RATE, FUMA)
            out.append(Generated(foa, request, path, Retrieval(sounds[0], sounds[1:])))
            if progress is not None:
                progress(1)
        return out


def open_library(path: str | os.PathLike | None, batch_size: int = 8) -> RetrieveAndPlace:
    """Retrieve and place from the library at ``path``, with a clear error when there is none."""
    if path is None:
        raise SonicMotionError("no library given: give --library DIR (a built dataset or a manifest of recordings)")
    if not Path(path).exists():
        raise SonicMotionError(f"library {str(path)!r} does not exist")
    return RetrieveAndPlace(SoundLibrary.open(path), batch_size)
