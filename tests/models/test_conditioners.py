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


# Beyond the paper: 8 distance bins log-spaced over 1-128 m (centres 1, 2, 4, ..., 128 m: 6 dB apart).
DISTANCE = PositionConfig(azimuth_bins=36, elevation_bins=19, time_steps=10, distance_bins=8, distance_min=1.0,
                          distance_max=128.0)


def test_distance_bins_are_log_spaced_and_clip_at_the_ends():
    from sonicmotion.models.conditioners import distance_bin

    # bin edges lie at the geometric means of neighbouring centres: 1.414, 2.83, ... m
    assert list(distance_bin([0.1, 1.0, 1.41, 1.42, 2.0, 10.0, 90.0, 91.0, 128.0, 5000.0], 8, 1.0, 128.0)) == [
        0, 0, 0, 1, 1, 3, 6, 7, 7, 7]


def test_distance_rows_follow_an_approach_from_20_m_to_2_m():
    # Approach from 20 m to 2 m in front between 0 and 10 s: distance 20 - 1.8 t at the centres t = 0.5, 1.5, ...
    path = Trajectory.linear(0, 0, 0, 0, "shortest", 0, 10, start_distance=20.0, end_distance=2.0)
    matrix = state_matrix(path, DISTANCE, seconds=10)
    assert matrix.shape == (36 + 19 + 8, 10)
    rows = matrix[55:]
    assert np.all(rows.sum(0) == 1)
    distances = 20 - 1.8 * (np.arange(10) + 0.5)  # 19.1, 17.3, ..., 2.9 m
    expected = [int(np.floor(np.log2(d) + 0.5)) for d in distances]
    assert list(rows.argmax(0)) == expected == [4, 4, 4, 4, 4, 3, 3, 3, 2, 2]  # edges at 11.3, 5.7 m
    az, el = bins(matrix[:55])
    assert az == [18] * 10 and el == [9] * 10  # the direction rows are those of the path without distance
    assert np.array_equal(matrix[:55], state_matrix(Trajectory.static(0, 0), CONFIG, seconds=10))


def test_a_cartesian_pass_by_puts_its_closest_point_in_the_nearest_bin():
    # a straight pass from 8 m right to 8 m left, 2 m ahead of the listener
    path = Trajectory.cartesian([(0.0, 2.0, -8.0, 0.0), (10.0, 2.0, 8.0, 0.0)])
    rows = state_matrix(path, DISTANCE, seconds=10)[55:]
    nearest = list(rows.argmax(0))
    # distance at the centres: sqrt(4 + (1.6 t - 8)^2): 7.5, 6.0, 4.6, 3.3, 2.2 (bin 1), 2.2, 3.3, ... m
    expected = [int(np.floor(np.log2(np.hypot(2, 1.6 * (i + 0.5) - 8)) + 0.5)) for i in range(10)]
    assert nearest == expected and min(nearest) == 1 and nearest[0] == nearest[-1] == 3


def test_a_path_without_distance_leaves_the_distance_rows_zero():
    matrix = state_matrix(Trajectory.linear(-150, 0, 150, 0, "cw", 0, 10), DISTANCE, seconds=10)
    assert np.all(matrix[55:] == 0)
    assert np.array_equal(matrix[:55], state_matrix(Trajectory.linear(-150, 0, 150, 0, "cw", 0, 10), CONFIG, 10))


def test_without_distance_rows_a_distance_path_gives_the_paper_matrix():
    # distance_bins 0 (the default, the paper's): the matrix and the conditioner are as before, distance ignored
    near_far = Trajectory.linear(30, 10, -60, 0, "cw", 1, 9, start_distance=2.0, end_distance=40.0)
    plane = Trajectory.linear(30, 10, -60, 0, "cw", 1, 9)
    assert np.array_equal(state_matrix(near_far, CONFIG, seconds=10), state_matrix(plane, CONFIG, seconds=10))
    assert CONFIG.rows == 36 + 19 and DISTANCE.rows == 36 + 19 + 8
    torch.manual_seed(0)
    before = PositionConditioner(CONFIG, 16)
    assert before.row_embedding.shape == (55, 16)
    torch.manual_seed(0)
    with_distance = PositionConditioner(DISTANCE, 16)
    assert with_distance.row_embedding.shape == (63, 16)


def test_distance_rows_are_smoothed_like_elevation_and_kept_by_speed_timing():
    import dataclasses

    import pytest

    from sonicmotion.errors import SonicMotionError

    smooth = dataclasses.replace(DISTANCE, smoothing_bins=1.0)
    rows = state_matrix(Trajectory.static(0, 0, distance=8.0), smooth, seconds=10)[55:, 0]
    assert rows[3] == 1.0 and np.isclose(rows[2], rows[4]) and 0.5 < rows[2] < 1 and rows[7] < 0.01
    # timing "speed" moves the window (fast: 4-6 s), and the distance moves with it: 2 m until 4 s,
    # 9.5 m at 4.5 s (bin 3), 24.5 m at 5.5 s (bin 5), then 32 m (bin 5)
    early = Trajectory.linear(0, 0, 0, 0, "shortest", 0.5, 2.0, start_distance=2.0, end_distance=32.0)
    speed = dataclasses.replace(DISTANCE, timing="speed")
    assert list(state_matrix(early, speed, seconds=10)[55:].argmax(0)) == [1, 1, 1, 1, 3, 5, 5, 5, 5, 5]
    # a cartesian pass keeps its own timing under "speed": its closest point stays in the middle
    passing = Trajectory.cartesian([(0.0, 2.0, -8.0, 0.0), (10.0, 2.0, 8.0, 0.0)])
    assert np.array_equal(state_matrix(passing, speed, seconds=10), state_matrix(passing, DISTANCE, seconds=10))
    for bad in (1, -2, 2.5, True):
        with pytest.raises(SonicMotionError, match="distance_bins must be 0"):
            PositionConfig(distance_bins=bad)
    with pytest.raises(SonicMotionError, match="0 < min < max"):
        PositionConfig(distance_bins=4, distance_min=10.0, distance_max=5.0)
