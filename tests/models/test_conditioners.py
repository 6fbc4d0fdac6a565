import numpy as np
import torch

from sonicmotion.models.config import PositionConfig
from sonicmotion.models.conditioners import (
    NumberEmbedder,
    PositionConditioner,
    azimuth_bin,
    elevation_bin,
    state_matrix,
)
from sonicmotion.spatial import Trajectory

# 36 azimuth bins of 10° (bin k centred on -180 + 10 k), 19 elevation bins of 10°.
CONFIG = PositionConfig(azimuth_bins=36, elevation_bins=19, time_steps=10)


def bins(matrix: np.ndarray) -> tuple[list[int], list[int]]:
    az, el = matrix[:36], matrix[36:]
    assert np.all(az.sum(0) == 1) and np.all(el.sum(0) == 1)  # exactly one hot per column
    return list(az.argmax(0)), list(el.argmax(0))


def test_bin_centres_and_wrap():
    assert list(azimuth_bin([-180, -175.1, -174.9, 0, 4.9, 5.1, 174.9, 175.1, 179.9], 36)) == [
        0, 0, 1, 18, 18, 19, 35, 0, 0]
    assert list(elevation_bin([-90, -85.1, 0, 35, 90], 19)) == [0, 0, 9, 13, 18]


def test_static_state_matrix():
    az, el = bins(state_matrix(Trajectory.static(90, -20), CONFIG, seconds=10))
    assert az == [27] * 10 and el == [7] * 10


def test_clockwise_across_the_back():
    # cw = azimuth decreasing: -150 -> -180 = 180 -> 150 over 0..10 s (60°), 1 s steps at centres.
    az, el = bins(state_matrix(Trajectory.linear(-150, 0, 150, 0, "cw", 0, 10), CONFIG, seconds=10))
    # azimuth at t = 0.5, 1.5, ... : -153, -159, -165, -171, -177, 177, 171, 165, 159, 153
    assert az == [3, 2, 2, 1, 0, 0, 35, 35, 34, 33]
    assert el == [9] * 10


def test_counter_clockwise_across_the_back_and_window():
    # ccw = azimuth increasing: 150 -> 180 -> -150 (60°, 10°/s) between 2.2 and 8.2 s.
    traj = Trajectory.linear(150, 0, -150, 0, "ccw", 2.2, 8.2)
    az, _ = bins(state_matrix(traj, CONFIG, seconds=10))
    # t: 0.5 1.5 hold 150; 2.5 -> 153; 3.5 -> 163; 4.5 -> 173; 5.5 -> -177; 6.5 -> -167;
    # 7.5 -> -157; 8.5 9.5 hold -150
    assert az == [33, 33, 33, 34, 35, 0, 1, 2, 3, 3]
    # the same end points the other way round (cw, 300°) give a different path
    az_cw, _ = bins(state_matrix(Trajectory.linear(150, 0, -150, 0, "cw", 2.2, 8.2), CONFIG, seconds=10))
    assert az_cw[3] != az[3] and az_cw[-1] == az[-1]


def test_elevation_move():
    traj = Trajectory.linear(0, -30, 0, 60, "shortest", 0, 10)
    az, el = bins(state_matrix(traj, CONFIG, seconds=10))
    # elevation at centres: -25.5, -16.5, ..., 55.5 (9° per s) -> bins round((el + 90) / 10)
    expected = [int(np.floor((-30 + 9 * (i + 0.5) + 90) / 10 + 0.5)) for i in range(10)]
    assert el == expected == [6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
    assert az == [18] * 10


def test_smoothing_wraps_around_the_circle():
    config = PositionConfig(azimuth_bins=36, elevation_bins=19, time_steps=2, smoothing_bins=1.0)
    matrix = state_matrix(Trajectory.static(-180, 0), config, seconds=1)
    az = matrix[:36, 0]
    assert az[0] == 1.0 and np.isclose(az[1], az[35]) and az[1] > 0.5 and az[18] < 1e-6


def test_number_embedder_and_position_conditioner_shapes():
    emb = NumberEmbedder(32, max_seconds=64)
    assert emb(torch.tensor([0.0, 10.0, 100.0])).shape == (3, 1, 32)
    cond = PositionConditioner(CONFIG, 32)
    state = torch.from_numpy(np.stack([state_matrix(Trajectory.static(0, 0), CONFIG, 10)] * 2))
    out = cond(state, torch.randn(2, 5, 32))
    assert out.shape == (2, 5, 32)
    # different paths give different tokens for the same text
    other = torch.from_numpy(np.stack([state_matrix(Trajectory.static(90, 0), CONFIG, 10)] * 2))
    text = torch.randn(2, 5, 32)
    assert not torch.allclose(cond(state, text), cond(other, text))


def test_speed_timing_moves_for_the_band_middle_centred_and_window_timing_keeps_the_window():
    import dataclasses

    import pytest

    from sonicmotion.errors import SonicMotionError
    from sonicmotion.models.conditioners import conditioning_path

    speed = dataclasses.replace(CONFIG, timing="speed")
    assert CONFIG.timing == "window"  # the paper config's reading
    # fast (1.5 s) at 0.5-2.0 s: "speed" keeps only start, end, direction and "fast" -> 2 s centred, 4-6 s.
    early = Trajectory.linear(0, 0, -90, 0, "cw", 0.5, 2.0)
    az_window, _ = bins(state_matrix(early, CONFIG, seconds=10))
    az_speed, _ = bins(state_matrix(early, speed, seconds=10))
    # window: t=0.5 holds 0°, 1.5 -> -60° (bin 12), then -90° (bin 9) from 2 s on
    assert az_window == [18, 12, 9, 9, 9, 9, 9, 9, 9, 9]
    # speed: 0° until 4 s, t=4.5 -> -22.5° (bin 16), 5.5 -> -67.5° (bin 11), then -90°
    assert az_speed == [18, 18, 18, 18, 16, 11, 9, 9, 9, 9]
    path = conditioning_path(early, "speed", 10.0)
    assert (path.move_start, path.move_end) == (4.0, 6.0) and path.keyframes[1].direction == "cw"

    # A move already lasting its band's middle and centred (moderate: 5 s at 2.5-7.5 s): the same matrix.
    centred = Trajectory.linear(150, 10, -150, -20, "ccw", 2.5, 7.5)
    assert np.array_equal(state_matrix(centred, CONFIG, seconds=10), state_matrix(centred, speed, seconds=10))
    static = Trajectory.static(45, 20)
    assert np.array_equal(state_matrix(static, CONFIG, seconds=10), state_matrix(static, speed, seconds=10))
    with pytest.raises(SonicMotionError, match="position.timing must be one of window, speed"):
        PositionConfig(timing="exact")
