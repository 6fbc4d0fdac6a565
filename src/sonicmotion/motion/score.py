"""How close a path read from words lies to the path meant: the figures of docs/motion.md.

Two measures, both on paths directly (no audio is rendered):

- :func:`path_delta_angle`: the mean great-circle angle (haversine, Eq. 7-8) between two
  paths sampled every 50 ms (the frame hop of SPEC §2's frame resolution) over the clip:
  what frame Δangle would give for a perfect encoder of each path.
- :func:`movement_point_errors`: the angle at the start, quarter, middle, three-quarter and
  end of each path's own movement (static paths: their one position), so shape is scored
  apart from timing; :func:`timing_errors` scores the move window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sonicmotion.audio import CLIP_SECONDS
from sonicmotion.spatial.doa import HOP_SECONDS
from sonicmotion.spatial.metrics import angular_differences
from sonicmotion.spatial.trajectory import Trajectory

MOVEMENT_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)


def path_delta_angle(estimate: Trajectory, truth: Trajectory, seconds: float = CLIP_SECONDS,
                     hop_seconds: float = HOP_SECONDS) -> float:
    """Mean great-circle angle in degrees between two paths, sampled every ``hop_seconds`` s."""
    times = np.arange(0.0, seconds, hop_seconds) + hop_seconds / 2
    return float(np.mean(angular_differences(*estimate.positions(times), *truth.positions(times))[2]))


def _movement_times(path: Trajectory) -> np.ndarray:
    start, end = path.move_start, path.move_end
    return start + (end - start) * np.array(MOVEMENT_FRACTIONS)


def movement_point_errors(estimate: Trajectory, truth: Trajectory) -> np.ndarray:
    """Angles in degrees between the two paths at the five points of each one's movement."""
    a = estimate.positions(_movement_times(estimate))
    b = truth.positions(_movement_times(truth))
    return angular_differences(*a, *b)[2]


def timing_errors(estimate: Trajectory, truth: Trajectory) -> tuple[float, float]:
    """|Δ move_start| and |Δ move_end| in seconds."""
    return abs(estimate.move_start - truth.move_start), abs(estimate.move_end - truth.move_end)


@dataclass(frozen=True)
class CaptionScore:
    """Mean path Δangle (degrees) of the point estimates of builder captions, by motion."""

    static: float
    moving: float
    all: float
    count: int
    unread: int  # captions that gave no path (counted at the error of the opposite direction: 180°)
    static_errors: tuple[float, ...] = ()  # each sample's path Δangle, degrees
    moving_errors: tuple[float, ...] = ()

    def subset_means(self, static: int, moving: int, draws: int = 20000, seed: int = 0) -> np.ndarray:
        """Means over ``draws`` random sets of ``static`` + ``moving`` of these samples (drawn with
        replacement): how far the figure of a small test set, such as the demo's 8 + 8 prompts,
        moves with which prompts it happens to hold."""
        rng = np.random.default_rng(seed)
        picked = np.concatenate([rng.choice(self.static_errors, (draws, static)),
                                 rng.choice(self.moving_errors, (draws, moving))], axis=1)
        return picked.mean(axis=1)


def builder_caption_errors(count: int, seed: int = 0) -> CaptionScore:
    """Sample ``count`` static and ``count`` moving test-split-like samples by SPEC §3
    (:mod:`sonicmotion.data.sampling`), caption them with the builder's template captioner
    and the synthetic corpus's captions, read the captions back and score the point estimate
    against the true path with :func:`path_delta_angle`."""
    from sonicmotion.data.captions import template_caption
    from sonicmotion.data.sampling import sample_parameters, sample_seed
    from sonicmotion.data.synth import CAPTIONS
    from sonicmotion.motion.parse import describe_to_motion

    captions = [c for kind in sorted(CAPTIONS) for c in CAPTIONS[kind]]
    errors: dict[str, list[float]] = {"static": [], "moving": []}
    unread = 0
    for i in range(count):
        for kind in ("static", "moving"):
            sample = sample_seed(seed, "motion-check", f"{i:06d}", kind)
            params = sample_parameters(sample, kind)
            text = template_caption(captions[i % len(captions)], params, sample)
            estimate = describe_to_motion(text).trajectory
            if estimate is None:
                unread += 1
                errors[kind].append(180.0)
                continue
            errors[kind].append(path_delta_angle(estimate, params.trajectory()))
    static, moving = np.mean(errors["static"]), np.mean(errors["moving"])
    return CaptionScore(float(static), float(moving), float(np.mean(errors["static"] + errors["moving"])),
                        2 * count, unread, tuple(errors["static"]), tuple(errors["moving"]))
