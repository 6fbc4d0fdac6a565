"""Training checkpoints that resume exactly: weights, optimiser/scheduler/EMA state, RNG state.

Layout of one checkpoint (``CHECKPOINTS/step-000001000/``)::

    {name}.safetensors   one per weight set (e.g. generator, ema, discriminator),
                         with the run's metadata (format, config) in the header
    state.pt             everything else: optimisers, schedulers, counters, RNG states
                         (plain tensors and containers: loads with ``weights_only=True``)
    sha256.json          the checksum of each file above; a resume passes over a damaged
                         checkpoint (with a warning) to the newest intact one

A checkpoint is written to a hidden ``.partial-*`` folder and renamed into place, so an
interrupted save never leaves a half checkpoint that ``latest()`` would pick; only the
newest ``keep_last`` are kept (folder names and the latest: ``sonicmotion.runs``). Both
trainers (autoencoder and diffusion) save and load through :func:`save_training` and
:func:`load_training`: each process's RNG states and data position are gathered into
``state.pt`` so every process resumes its own stream.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from sonicmotion.errors import SonicMotionError
from sonicmotion.files import file_sha256
from sonicmotion.runs import checkpoint_folder_name, checkpoint_folders, latest_checkpoint

STATE_FILE = "state.pt"
CHECKSUMS_FILE = "sha256.json"


class CheckpointManager:
    """Save, list, prune and load checkpoints under one folder."""

    def __init__(self, directory: str | os.PathLike, keep_last: int = 3):
        if keep_last < 1:
            raise SonicMotionError(f"keep_last must be >= 1, got {keep_last}")
        self.directory = Path(directory)
        self.keep_last = keep_last

    def checkpoints(self) -> list[Path]:
        """Complete checkpoints, oldest first."""
        return checkpoint_folders(self.directory)

    def latest(self) -> Path | None:
        return latest_checkpoint(self.directory)

    def latest_intact(self) -> tuple[Path | None, list[str]]:
        """The newest checkpoint whose files match their recorded sha256, and a warning for
        each newer one passed over (a crash or a full disk can damage the last save)."""
        warnings = []
        for folder in reversed(self.checkpoints()):
            problem = self.damage(folder)
            if problem is None:
                return folder, warnings
            warnings.append(f"checkpoint {folder.name} is damaged ({problem}); using an earlier one")
        return None, warnings

    @staticmethod
    def damage(folder: Path) -> str | None:
        """Why ``folder`` cannot be trusted, or None if every file matches its checksum (or it
        was written before checkpoints carried checksums: loading it then says what it lacks)."""
        sums_path = folder / CHECKSUMS_FILE
        if not sums_path.is_file():
            return None
        try:
            sums = json.loads(sums_path.read_text())
        except (OSError, ValueError):
            return f"{CHECKSUMS_FILE} is unreadable"
        if not isinstance(sums, dict) or STATE_FILE not in sums:
            return f"{CHECKSUMS_FILE} lists no {STATE_FILE}"
        for name, digest in sums.items():
            path = folder / name
            if not path.is_file():
                return f"{name} is missing"
            if file_sha256(path) != digest:
                return f"{name} does not match its checksum"
        return None

    def save(
        self,
        step: int,
        weights: dict[str, dict[str, torch.Tensor]],
        state: dict[str, Any],
        metadata: dict[str, str] | None = None,
    ) -> Path:
        """Write one checkpoint atomically and prune old ones; returns its folder."""
        from sonicmotion.files import write_safetensors

        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / checkpoint_folder_name(step)
        partial = self.directory / f".partial-{checkpoint_folder_name(step)}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        try:
            for name, tensors in weights.items():
                plain = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
                write_safetensors(partial / f"{name}.safetensors", plain, dict(metadata or {}))
            torch.save(state, partial / STATE_FILE)
            sums = {p.name: file_sha256(p) for p in sorted(partial.iterdir())}
            (partial / CHECKSUMS_FILE).write_text(json.dumps(sums, indent=1, sort_keys=True) + "\n")
            if final.exists():  # re-saving the same step (e.g. final save after a periodic one)
                shutil.rmtree(final)
            os.replace(partial, final)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        for old in self.checkpoints()[: -self.keep_last]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    @staticmethod
    def load_weights(folder: str | os.PathLike, name: str) -> dict[str, torch.Tensor]:
        from sonicmotion.files import read_safetensors

        path = Path(folder) / f"{name}.safetensors"
        if not path.is_file():
            raise SonicMotionError(f"{folder}: checkpoint has no {name} weights")
        return read_safetensors(path, f"checkpoint {name} weights")[0]

    @staticmethod
    def load_state(folder: str | os.PathLike) -> dict[str, Any]:
        path = Path(folder) / STATE_FILE
        if not path.is_file():
            raise SonicMotionError(f"{folder}: not a checkpoint folder (no {STATE_FILE})")
        from sonicmotion.files import read_torch_state

        return read_torch_state(path, "checkpoint state")


def save_training(checkpoints: CheckpointManager, accelerator, batches, step: int,
                  weights: dict[str, torch.nn.Module], state: dict[str, Any], metadata: dict[str, str],
                  process_state: dict[str, Any] | None = None) -> Path | None:
    """A training checkpoint at ``step``; every process calls it, the main process writes.

    ``weights``: modules (unwrapped) saved as ``{name}.safetensors``; ``state``: what goes in
    ``state.pt`` (objects with ``state_dict()``, such as optimisers and schedules, by their
    state dict; other values as they are); ``process_state``: more of this process's own
    state (e.g. a noise generator's) beside its RNG states and data position. Returns the
    folder on the main process, None on the others (which wait for it)."""
    from accelerate.utils import gather_object

    per_process = gather_object([{"rng": capture_rng_state(), "data": batches.state_dict(), **(process_state or {})}])
    path = None
    if accelerator.is_main_process:
        saved = {name: value.state_dict() if hasattr(value, "state_dict") else value for name, value in state.items()}
        saved["processes"] = per_process
        path = checkpoints.save(step, {name: module.state_dict() for name, module in weights.items()}, saved,
                                metadata)
    accelerator.wait_for_everyone()
    return path


def load_training(checkpoints: CheckpointManager, folder: Path, accelerator, batches,
                  weights: dict[str, torch.nn.Module], state: dict[str, Any],
                  check: Callable[[dict[str, Any]], None] | None = None) -> tuple[dict[str, Any], str | None]:
    """Restore what :func:`save_training` wrote: ``weights`` modules, the ``state`` objects with
    ``load_state_dict``, and this process's RNG states and data position. ``check`` sees the
    saved state first (to refuse a checkpoint of another model in one line). Returns the saved
    state (for plain values: step, counters) and a note when the data position could not be kept."""
    saved = checkpoints.load_state(folder)
    if check is not None:
        check(saved)
    if "processes" not in saved:
        raise SonicMotionError(f"{folder} was written before checkpoints recorded each process's data "
                               "position; it cannot be resumed, start a new --out (its weights still load)")
    for name, module in weights.items():
        module.load_state_dict(checkpoints.load_weights(folder, name))
    for name, value in state.items():
        if hasattr(value, "load_state_dict"):
            value.load_state_dict(saved[name])
    return saved, restore_process_state(saved, accelerator, batches)


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU and CUDA generator states, as plain containers and tensors."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def restore_process_state(state: dict[str, Any], accelerator, batches) -> str | None:
    """Give this process its own RNG states and data position from ``state["processes"]``
    (one entry per process of the run that saved it); returns a note when the number of
    processes changed and the data position could not be kept."""
    saved = state["processes"]
    rank = accelerator.process_index
    if len(saved) != accelerator.num_processes:
        restore_rng_state(saved[min(rank, len(saved) - 1)]["rng"])
        position = dict(saved[0]["data"], consumers=-1)  # the epoch is kept, its position is not
        batches.load_state_dict(position)
        return (f"the checkpoint was written by {len(saved)} process(es), this run has "
                f"{accelerator.num_processes}: epoch {batches.epoch} restarts from its beginning")
    restore_rng_state(saved[rank]["rng"])
    return batches.load_state_dict(saved[rank]["data"])
