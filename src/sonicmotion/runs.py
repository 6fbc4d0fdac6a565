"""Run folders: where a training run keeps its checkpoints and which one is the latest.

A run folder holds ``checkpoints/step-NNNNNNNNN/`` (the step, zero-padded to 9 digits).
Hidden ``.partial-*`` folders (a save that did not finish) are never checkpoints.
Torch-free; ``training.checkpoint`` writes these folders, model loaders read them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sonicmotion.errors import SonicMotionError

CHECKPOINTS_DIR = "checkpoints"
_STEP_FOLDER = re.compile(r"^step-(\d{9})$")


def checkpoint_folder_name(step: int) -> str:
    """The folder name of the checkpoint saved at ``step``."""
    return f"step-{step:09d}"


def checkpoint_folders(directory: str | os.PathLike) -> list[Path]:
    """Complete checkpoint folders under ``directory`` (a run's ``checkpoints/``), oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if p.is_dir() and _STEP_FOLDER.match(p.name)]
    return sorted(found, key=lambda p: int(_STEP_FOLDER.match(p.name).group(1)))


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The newest checkpoint folder under ``directory``, or None."""
    found = checkpoint_folders(directory)
    return found[-1] if found else None


def resolve_checkpoint(run_dir_or_checkpoint: str | os.PathLike) -> Path:
    """A run folder's latest checkpoint folder; any other path is returned as is."""
    path = Path(run_dir_or_checkpoint)
    if not (path / CHECKPOINTS_DIR).is_dir():
        return path
    latest = latest_checkpoint(path / CHECKPOINTS_DIR)
    if latest is None:
        raise SonicMotionError(f"{path}: run folder has no checkpoints yet")
    return latest
