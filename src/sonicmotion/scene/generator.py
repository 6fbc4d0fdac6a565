"""Where prompt sources come from: a captioned library or a diffusion model.

The scene renderer only needs :class:`SourceGenerator`. :class:`LibraryGenerator` retrieves
the recording whose caption best matches the prompt and places it on the path (no training,
exact placement); :class:`PipelineGenerator` wraps ``sonicmotion.pipeline.SonicMotionPipeline``
and imports torch only when a scene actually has model sources. Tests pass their own.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sonicmotion.audio import SAMPLE_RATE
from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial import FUMA, Trajectory, convert_layout


class SourceGenerator(Protocol):
    """Generates FOA for a prompt."""

    sample_rate: int  # Hz of what :meth:`generate` returns
    parametric: bool  # whether it can place the sound on a trajectory itself

    def identity(self) -> dict[str, Any]:
        """What a sidecar records so a render can be checked against the same model."""

    def generate(self, prompt: str, trajectory: Trajectory | None, seconds: float, seed: int,
                 steps: int, guidance: float) -> np.ndarray:
        """(4, n) float32 FuMa FOA at :attr:`sample_rate`, n = round(seconds * sample_rate)."""


class PipelineGenerator:
    """A :class:`SourceGenerator` over a SonicMotion diffusion model folder."""

    def __init__(self, model_dir: str | Path, device: str | None = None):
        try:
            import torch

            from sonicmotion.pipeline import SonicMotionPipeline, pipeline_dir
        except ImportError as err:
            raise SonicMotionError(
                f"prompt sources need the diffusion model code and PyTorch ({err}); "
                "install with pip install 'sonicmotion[ml]', or use file sources only"
            ) from None
        self.model_dir = Path(model_dir).resolve()
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.pipeline = SonicMotionPipeline.from_pretrained(self.model_dir, device=device)
        self.sample_rate = int(self.pipeline.sample_rate)
        self.parametric = bool(getattr(self.pipeline.config, "parametric", False))
        self._fingerprint = _folder_fingerprint(pipeline_dir(self.model_dir))

    def identity(self) -> dict[str, Any]:
        return {"model": str(self.model_dir), "sha256": self._fingerprint, "parametric": self.parametric}

    def generate(self, prompt: str, trajectory: Trajectory | None, seconds: float, seed: int,
                 steps: int, guidance: float) -> np.ndarray:
        audio = self.pipeline(prompt, trajectory=trajectory, seconds=seconds, steps=steps, guidance=guidance,
                              seed=seed)
        samples = getattr(audio, "samples", audio)
        layout = getattr(audio, "layout", FUMA)
        return np.asarray(convert_layout(np.asarray(samples), layout, FUMA), dtype=np.float32)


class LibraryGenerator:
    """A :class:`SourceGenerator` that retrieves from a sound library (a built dataset or a
    manifest of recordings) and places the sound exactly; ``last_retrieved`` describes the
    latest prompt's choice and the next-best matches."""

    sample_rate = SAMPLE_RATE
    parametric = True
    ALTERNATIVES = 3

    def __init__(self, path: str | Path, library: Any = None):
        from sonicmotion.retrieval import SoundLibrary

        from sonicmotion.files import file_sha256

        self.path = Path(path).resolve()
        self.library = library if library is not None else SoundLibrary.open(self.path)
        # What decides the library's contents: a dataset's index, or the manifest (not the audio files).
        listing = next((self.path / name for name in ("index.parquet", "manifest.csv", "manifest.jsonl")
                        if (self.path / name).is_file()), self.path)
        self._fingerprint = file_sha256(listing)
        self.last_retrieved: dict[str, Any] | None = None

    def identity(self) -> dict[str, Any]:
        return {"library": str(self.path), "sha256": self._fingerprint, "clips": len(self.library.entries)}

    def generate(self, prompt: str, trajectory: Trajectory | None, seconds: float, seed: int,
                 steps: int, guidance: float) -> np.ndarray:
        from sonicmotion.files import file_sha256
        from sonicmotion.spatial import encode_foa

        matches = self.library.search(prompt, 1 + self.ALTERNATIVES)
        rows = [{"id": m.entry.id, "caption": m.caption, "file": m.entry.path, "score": round(m.score, 4)}
                for m in matches]
        # The chosen recording's (or dataset shard's) sha256: a re-render of the sidecar checks it.
        rows[0]["sha256"] = file_sha256(matches[0].entry.path.split("::", 1)[0])
        self.last_retrieved = {"prompt": prompt, "match": rows[0], "alternatives": rows[1:]}
        mono = self.library.mono(matches[0].entry, seconds)
        return encode_foa(mono, self.sample_rate, trajectory or Trajectory.static(0.0, 0.0), FUMA)


def load_library_generator(path: str | Path | None) -> LibraryGenerator:
    """The library generator for ``path``, with a clear error when there is none."""
    if path is None:
        raise SonicMotionError("this scene has library prompt sources: give --library DIR (a built dataset or a "
                               "manifest of recordings), or 'library:' in the scene file")
    if not Path(path).exists():
        raise SonicMotionError(f"library {str(path)!r} does not exist")
    return LibraryGenerator(path)


def _folder_fingerprint(folder: Path) -> str:
    """sha256 over the names and bytes of every file under ``folder`` (weights included)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def load_generator(model_dir: str | Path | None) -> PipelineGenerator:
    """The generator for ``model_dir``, with a clear error when there is none."""
    if model_dir is None:
        raise SonicMotionError(
            "this scene has prompt sources, which need a diffusion model: give --model DIR "
            "(or 'model:' in the scene file), or retrieve them from a library (--library DIR, 'generator: library')"
        )
    if not Path(model_dir).exists():
        raise SonicMotionError(f"model folder {str(model_dir)!r} does not exist")
    return PipelineGenerator(model_dir)
