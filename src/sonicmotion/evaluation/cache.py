"""Embedding cache keyed by the audio file's content and the model's identity.

``ROOT/<model>-<model identity>/<sha256 of the clip's bytes and read options>.npy``.
The model identity hashes the weight files' bytes, the model config and the
preprocessing version, so a changed clip, changed weights or changed preprocessing
never reuses a stale entry. Entries are written atomically; a run that stops half
way resumes from what is cached.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from sonicmotion.errors import SonicMotionError
from sonicmotion.files import atomic_path, make_folder

DEFAULT_CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sonicmotion" / "embeddings"


def content_key(data: bytes, options: str = "") -> str:
    """sha256 hex of a clip's bytes plus the options that change how it is read."""
    digest = hashlib.sha256(data)
    digest.update(b"\0" + options.encode())
    return digest.hexdigest()


def files_digest(paths: list[Path], extra: str = "") -> str:
    """sha256 hex over the names and bytes of ``paths`` (sorted) and ``extra``."""
    digest = hashlib.sha256(extra.encode())
    for path in sorted(paths):
        digest.update(b"\0" + path.name.encode() + b"\0")
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                digest.update(chunk)
    return digest.hexdigest()


class EmbeddingCache:
    """Arrays by content key for one model; ``root=None`` disables caching."""

    def __init__(self, root: str | os.PathLike | None, model_name: str, model_identity: str):
        self.folder = None if root is None else Path(root) / f"{model_name}-{model_identity[:20]}"
        if root is not None and Path(root).exists() and not Path(root).is_dir():  # before any embedding is computed
            raise SonicMotionError(f"embedding cache {str(root)!r}: a file stands where the folder should be")

    def get(self, key: str) -> np.ndarray | None:
        if self.folder is None:
            return None
        path = self.folder / f"{key}.npy"
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None  # absent, or unreadable: recompute and overwrite

    def put(self, key: str, value: np.ndarray) -> None:
        if self.folder is None:
            return
        make_folder(self.folder, "embedding cache")
        with atomic_path(self.folder / f"{key}.npy") as tmp:
            with open(tmp, "wb") as f:
                np.save(f, np.asarray(value), allow_pickle=False)
