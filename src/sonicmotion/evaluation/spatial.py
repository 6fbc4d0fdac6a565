"""Spatial accuracy of generated FOA against the path each clip was asked for.

For every clip: L1 azimuth, L1 elevation and Δangle (paper Eq. 7-8) at both
resolutions (``frame``: the default for generated audio; ``sample``: the paper's
literal per-sample intensity), then means over clips for all, static and moving
requests. Needs no embedding model.

Each clip is judged by the spatial core's ``trajectory_errors`` (both resolutions from
one intensity pass); this module spreads clips over processes and aggregates.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import numpy as np

from sonicmotion.errors import SonicMotionError
from sonicmotion.evaluation.sets import ClipRef
from sonicmotion.spatial.doa import FRAME_SECONDS, GATE, HOP_SECONDS, RESOLUTIONS
from sonicmotion.spatial.io import foa_from_bytes
from sonicmotion.spatial.layout import ChannelLayout
from sonicmotion.spatial.metrics import SpatialErrors, trajectory_errors
from sonicmotion.spatial.trajectory import Trajectory

ERROR_NAMES = ("l1_azimuth", "l1_elevation", "delta_angle")
GROUPS = ("all", "static", "moving")


def clip_spatial_errors(
    foa: np.ndarray, sample_rate: int, trajectory: Trajectory, layout: str | ChannelLayout = "fuma"
) -> dict[str, SpatialErrors]:
    """Both resolutions' errors of one clip against its path (the spatial core's
    :func:`~sonicmotion.spatial.metrics.trajectory_errors`, one intensity pass)."""
    return trajectory_errors(foa, sample_rate=sample_rate, trajectory=trajectory, layout=layout)


@dataclass(frozen=True)
class SpatialTask:
    """One clip to judge: where it is and the path it was asked for."""

    clip: ClipRef
    trajectory: dict[str, Any]  # Trajectory.to_dict(), so tasks pickle cheaply
    layout: str | None  # stated layout for files that do not record one


def _run_task(task: SpatialTask) -> tuple[str, dict[str, Any] | None, str | None]:
    """(id, per-resolution errors, None) or (id, None, reason); never raises for bad clips."""
    try:
        clip = foa_from_bytes(task.clip.read_bytes(), task.clip.name, task.layout)
        errors = clip_spatial_errors(clip.samples, clip.sample_rate, Trajectory.from_dict(task.trajectory), clip.layout)
        return task.clip.id, {name: e.as_dict() for name, e in errors.items()}, None
    except (SonicMotionError, OSError) as err:
        return task.clip.id, None, str(err)


def run_tasks(tasks: list[SpatialTask], workers: int, progress: bool = True) -> Iterator[tuple]:
    """Results of :func:`_run_task` in task order, ``workers`` processes at a time."""
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), desc="spatial", unit="clip", disable=not progress, dynamic_ncols=True)
    try:
        if workers <= 1 or len(tasks) < 8:
            results: Iterable = map(_run_task, tasks)
            for result in results:
                bar.update()
                yield result
            return
        # fork shares the imported modules; spawn elsewhere. Chunks amortise pickling.
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with multiprocessing.get_context(method).Pool(workers) as pool:
            for result in pool.imap(_run_task, tasks, chunksize=max(1, min(32, len(tasks) // (workers * 8)))):
                bar.update()
                yield result
    finally:
        bar.close()


def summarise(per_clip: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over clips (each clip weighs the same) per resolution and motion group."""
    summary: dict[str, Any] = {}
    for resolution in RESOLUTIONS:
        summary[resolution] = {}
        for group in GROUPS:
            rows = [c[resolution] for c in per_clip if group == "all" or c["motion"] == group]
            if not rows:
                summary[resolution][group] = {"n": 0}
                continue
            summary[resolution][group] = {name: float(np.mean([r[name] for r in rows], dtype=np.float64)) for name in ERROR_NAMES}
            summary[resolution][group]["n"] = len(rows)
    return summary


def evaluate_spatial(
    clips: dict[str, ClipRef],
    trajectories: dict[str, Trajectory],
    layout: str | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Spatial errors of every clip with a requested path; a JSON-ready report.

    Clips without a path, and clips that cannot be judged (silent, unreadable), are
    listed under ``not_computed`` with the reason and left out of the means.
    """
    workers = workers or min(os.cpu_count() or 1, 8)
    tasks = [SpatialTask(clips[i], trajectories[i].to_dict(), layout) for i in sorted(clips) if i in trajectories]
    not_computed = [{"id": i, "reason": "no requested trajectory (prompts file or reference metadata)"}
                    for i in sorted(clips) if i not in trajectories]
    per_clip = []
    for clip_id, errors, reason in run_tasks(tasks, workers, progress):
        if errors is None:
            not_computed.append({"id": clip_id, "reason": reason})
            continue
        motion = "static" if trajectories[clip_id].is_static else "moving"
        per_clip.append({"id": clip_id, "motion": motion, **errors})
    report: dict[str, Any] = {
        "settings": {
            "resolutions": {
                "frame": f"intensity summed over {FRAME_SECONDS * 1000:g} ms frames every {HOP_SECONDS * 1000:g} ms; "
                         f"frames below {GATE:g} of the loudest frame's W energy left out; the requested direction "
                         "of a frame is the path averaged over it, weighted by W energy",
                "sample": "per-sample intensity (paper §2.7.1); samples with zero intensity left out",
            },
            "aggregation": "mean over clips of each clip's mean error (degrees)",
            "reference": "the trajectory each clip was requested with",
        },
        "n": len(per_clip),
        "not_computed": not_computed,
    }
    if not per_clip:
        reasons = sorted({c["reason"] for c in not_computed})
        report["value"] = None
        report["reason"] = "no clip could be judged: " + "; ".join(reasons[:3])
        return report
    report.update(summarise(per_clip))
    report["per_clip"] = per_clip
    return report
