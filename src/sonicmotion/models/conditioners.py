"""Conditioners: timing numbers and source trajectories -> conditioning tokens.

- :class:`NumberEmbedder`: seconds -> one token [B, 1, D] through learned Fourier features
  (Stable Audio's ``seconds_start`` / ``seconds_total``).
- :func:`state_matrix`: a :class:`~sonicmotion.spatial.Trajectory` -> the paper's position
  state matrix (Eq. 3-4): one-hot azimuth rows (bins over the full circle, wrapping)
  stacked on one-hot elevation rows (and, beyond the paper, log-spaced distance rows), one
  column per time step.
- :class:`PositionConditioner`: fuses the state matrix with the text tokens by a stack of
  cross-attention layers (text tokens are queries, state rows keys/values, as in
  "Both Ears Wide Open"); its output tokens join the DiT's cross-attention context.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from sonicmotion.models.config import PositionConfig
from sonicmotion.models.dit import CrossAttention, GatedMLP
from sonicmotion.spatial import Trajectory, wrap_azimuth
from sonicmotion.spatial.regions import speed_seconds, speed_word
from sonicmotion.spatial.trajectory import Keyframe


class NumberEmbedder(nn.Module):
    """Seconds in [0, max_seconds] -> [B, 1, dim] via learned Fourier features."""

    def __init__(self, dim: int, max_seconds: float, features: int = 256):
        super().__init__()
        self.max_seconds = float(max_seconds)
        self.frequencies = nn.Parameter(torch.randn(features // 2))
        self.proj = nn.Linear(features + 1, dim)

    def forward(self, seconds: torch.Tensor) -> torch.Tensor:
        x = (seconds.float().clamp(0, self.max_seconds) / self.max_seconds)[:, None]  # [B, 1]
        angles = 2 * math.pi * x * self.frequencies[None, :]
        features = torch.cat([x, angles.sin(), angles.cos()], dim=-1)
        return self.proj(features)[:, None, :]


def azimuth_bin(azimuth: np.ndarray | float, bins: int) -> np.ndarray:
    """Bin index of azimuth degrees; bin k is centred on -180 + k * 360 / bins and wraps."""
    width = 360.0 / bins
    shifted = np.asarray(wrap_azimuth(azimuth), dtype=np.float64) + 180.0
    return (np.floor(shifted / width + 0.5).astype(np.int64)) % bins


def elevation_bin(elevation: np.ndarray | float, bins: int) -> np.ndarray:
    """Bin index of elevation degrees; bin k is centred on -90 + k * 180 / (bins - 1)."""
    width = 180.0 / (bins - 1)
    index = np.floor((np.asarray(elevation, dtype=np.float64) + 90.0) / width + 0.5).astype(np.int64)
    return np.clip(index, 0, bins - 1)


def distance_bin(distance: np.ndarray | float, bins: int, low: float, high: float) -> np.ndarray:
    """Bin index of distances in metres; bin k is centred on ``low * (high / low) ** (k / (bins - 1))``
    (equal steps of log distance, so equal steps of 1/r level); beyond the ends: the end bins."""
    steps = np.log(np.asarray(distance, dtype=np.float64) / low) / np.log(high / low) * (bins - 1)
    return np.clip(np.floor(steps + 0.5), 0, bins - 1).astype(np.int64)


def step_times(time_steps: int, seconds: float) -> np.ndarray:
    """Centres (seconds) of ``time_steps`` equal steps covering [0, seconds]."""
    return (np.arange(time_steps) + 0.5) * (seconds / time_steps)


def _smooth_rows(onehot: np.ndarray, std: float, circular: bool) -> np.ndarray:
    bins = onehot.shape[0]
    offsets = np.arange(bins)[:, None] - np.arange(bins)[None, :]
    if circular:
        offsets = (offsets + bins // 2) % bins - bins // 2
    kernel = np.exp(-0.5 * (offsets / std) ** 2)
    smoothed = kernel @ onehot
    return smoothed / smoothed.max(axis=0, keepdims=True)


def conditioning_path(trajectory: Trajectory, timing: str, seconds: float) -> Trajectory:
    """The path the state matrix is built from, by ``PositionConfig.timing``:

    - ``"window"``: ``trajectory`` itself (its exact movement window);
    - ``"speed"``: a path with one move keeps its start, end and direction but moves for the
      middle of its speed band (Table 1's word for its duration), centred in the ``seconds``
      clip; static paths, paths of several moves (keyframes) and cartesian paths (straight
      lines whose timing is their speed in m/s, and whose distance passes a closest point
      between the ends) are kept as they are.
    """
    if timing == "window" or trajectory.is_static or trajectory.is_cartesian or len(trajectory.keyframes) != 2:
        return trajectory
    duration = min(speed_seconds(speed_word(trajectory.move_end - trajectory.move_start)), seconds)
    start = (seconds - duration) / 2
    first, last = trajectory.keyframes
    return Trajectory([Keyframe(start, first.azimuth, first.elevation, "shortest", first.distance),
                       Keyframe(start + duration, last.azimuth, last.elevation, last.direction, last.distance)],
                      kind=trajectory.kind)


def state_matrix(
    trajectory: Trajectory, config: PositionConfig, seconds: float, time_steps: int | None = None,
    times: np.ndarray | None = None,
) -> np.ndarray:
    """[azimuth_bins + elevation_bins + distance_bins, T] float32 state matrix of ``trajectory``.

    Column j holds a one in the azimuth bin and in the elevation bin of the source at time
    ``times[j]`` (default: the centres of ``time_steps`` steps over ``seconds``). Movement
    follows the trajectory (as ``config.timing`` reads it: :func:`conditioning_path`), so
    direction (cw / ccw) and wrap-around at ±180° are exact. With ``config.distance_bins``
    the column also holds a one in the bin of the path's distance then (:func:`distance_bin`);
    a path without distance leaves those rows zero ("not given", not a distance).
    """
    if times is None:
        times = step_times(time_steps or config.time_steps, seconds)
    trajectory = conditioning_path(trajectory, config.timing, seconds)
    azimuth, elevation = trajectory.positions(times)
    az_rows = np.zeros((config.azimuth_bins, len(times)), dtype=np.float64)
    el_rows = np.zeros((config.elevation_bins, len(times)), dtype=np.float64)
    columns = np.arange(len(times))
    az_rows[azimuth_bin(azimuth, config.azimuth_bins), columns] = 1.0
    el_rows[elevation_bin(elevation, config.elevation_bins), columns] = 1.0
    if config.smoothing_bins > 0:
        az_rows = _smooth_rows(az_rows, config.smoothing_bins, circular=True)
        el_rows = _smooth_rows(el_rows, config.smoothing_bins, circular=False)
    blocks = [az_rows, el_rows]
    if config.distance_bins:
        distance_rows = np.zeros((config.distance_bins, len(times)), dtype=np.float64)
        if trajectory.has_distance:
            index = distance_bin(trajectory.distances(times), config.distance_bins, config.distance_min,
                                 config.distance_max)
            distance_rows[index, columns] = 1.0
            if config.smoothing_bins > 0:
                distance_rows = _smooth_rows(distance_rows, config.smoothing_bins, circular=False)
        blocks.append(distance_rows)
    return np.concatenate(blocks).astype(np.float32)


class CrossAttentionLayer(nn.Module):
    """Pre-norm cross-attention + gated MLP, both residual. queries [B, L, D], memory [B, K, D]."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0):
        super().__init__()
        self.cross = CrossAttention(dim, dim, heads, norm_context=True)
        self.mlp = GatedMLP(dim, mlp_ratio)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        x = x + self.cross(x, memory)
        return x + self.mlp(x)


class PositionConditioner(nn.Module):
    """State matrix [B, A + E (+ D), T] + text tokens [B, L, D] -> fused position tokens [B, L, D].

    Each state row (one bin's occupancy over time) becomes a key/value token: a linear
    map of its T values plus a learned embedding saying which bin it is.
    """

    def __init__(self, config: PositionConfig, dim: int):
        super().__init__()
        self.config = config
        rows = config.rows
        self.row_proj = nn.Linear(config.time_steps, dim)
        self.row_embedding = nn.Parameter(torch.randn(rows, dim) * 0.02)
        self.layers = nn.ModuleList(CrossAttentionLayer(dim, config.heads) for _ in range(config.layers))
        self.norm_out = nn.LayerNorm(dim)

    def forward(self, state: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        memory = self.row_proj(state) + self.row_embedding[None]
        x = text
        for layer in self.layers:
            x = layer(x, memory)
        return self.norm_out(x)
