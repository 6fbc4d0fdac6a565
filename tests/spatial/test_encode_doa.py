import numpy as np
import pytest

from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial import (
    Trajectory,
    angular_differences,
    encode_foa,
    estimate_doa,
    rotate_foa,
    spatial_errors,
)
from tests.conftest import SAMPLE_RATE
from tests.spatial.reference import circular_difference, reference_frame_doa

PATHS = [
    Trajectory.static(-120.0, 25.0),
    Trajectory.linear(60.0, -20.0, -150.0, 30.0, "ccw", 2.0, 8.0),
    Trajectory.linear(-170.0, 0.0, 170.0, 0.0, "cw", 1.0, 5.0),
    Trajectory.parse_keyframes("0:0:0;3:90:30:ccw;6:-90:-30:cw;9:0:0"),
]


def test_encoding_matches_per_sample_formula(noise):
    path = PATHS[1]
    foa = encode_foa(noise, SAMPLE_RATE, path)
    az, el = np.radians(path.positions(np.arange(noise.size) / SAMPLE_RATE))
    p = noise.astype(np.float64)
    expected = np.stack([p / np.sqrt(2), p * np.cos(az) * np.cos(el), p * np.sin(az) * np.cos(el), p * np.sin(el)])
    assert foa.dtype == np.float32 and foa.shape == (4, noise.size)
    assert np.max(np.abs(foa - expected)) < 2e-6


@pytest.mark.parametrize("path", PATHS, ids=["static", "linear", "wrap", "keyframes"])
@pytest.mark.parametrize("first", [0, 1, 15999, 40001, 95000, 150000])
def test_a_crop_encodes_as_the_same_stretch_of_the_whole_clip(noise, path, first):
    whole = encode_foa(noise, SAMPLE_RATE, path)
    length = min(32000, noise.size - first)
    crop = encode_foa(noise[first : first + length], SAMPLE_RATE, path, first_sample=first)
    # Angles ramp in float32 from the crop's own start: at most one float32 step of the
    # angle apart, far below a 24-bit step (1.2e-7) times two.
    assert np.max(np.abs(crop - whole[:, first : first + length])) < 2.4e-7
    if first >= SAMPLE_RATE - 1:
        shifted = encode_foa(noise[first : first + length], SAMPLE_RATE, path)  # the clock matters
        assert path.is_static or np.max(np.abs(shifted - crop)) > 1e-3
    with pytest.raises(SonicMotionError, match="first_sample"):
        encode_foa(noise[:10], SAMPLE_RATE, path, first_sample=-1)


def test_gains_change_smoothly():
    ones = np.ones(10 * SAMPLE_RATE, dtype=np.float32)
    foa = encode_foa(ones, SAMPLE_RATE, Trajectory.linear(0, 0, 180, 0, "ccw", 2.0, 3.0))
    # 180 degrees in 1 s: at most pi/16000 rad of change per sample, no steps.
    assert np.max(np.abs(np.diff(foa[1:], axis=1))) < np.pi / SAMPLE_RATE * 1.01


@pytest.mark.parametrize("path", PATHS, ids=["static", "linear-ccw", "across-back-cw", "keyframes"])
def test_encode_then_analyse_recovers_path(noise, path):
    foa = encode_foa(noise, SAMPLE_RATE, path)
    times, ref_az, ref_el = reference_frame_doa(foa, SAMPLE_RATE)
    want_az, want_el = path.positions(times)
    # A frame that straddles a keyframe sees a bent path whose mean is off the corner point.
    straight = np.all(np.abs(times[:, None] - path.knots[0][None, :]) >= 0.05, axis=1)
    assert straight.sum() > 150
    assert np.max(circular_difference(ref_az, want_az)[straight]) < 0.5
    assert np.max(np.abs(ref_el - want_el)[straight]) < 0.5
    est = estimate_doa(foa, SAMPLE_RATE)
    np.testing.assert_allclose(est.times, times)
    assert np.max(circular_difference(est.azimuth, ref_az)) < 1e-3
    assert np.max(np.abs(est.elevation - ref_el)) < 1e-3
    err = spatial_errors(foa, path, SAMPLE_RATE)
    assert err.delta_angle < 0.5 and err.count == times.size


def test_ambix_encoding_gives_same_directions(noise):
    path = PATHS[1]
    fuma = estimate_doa(encode_foa(noise, SAMPLE_RATE, path), SAMPLE_RATE)
    ambix = estimate_doa(encode_foa(noise, SAMPLE_RATE, path, layout="ambix"), SAMPLE_RATE, layout="ambix")
    np.testing.assert_allclose(ambix.azimuth, fuma.azimuth, atol=1e-4)
    np.testing.assert_allclose(ambix.elevation, fuma.elevation, atol=1e-4)


def test_yaw_shifts_azimuth(noise):
    foa = encode_foa(noise, SAMPLE_RATE, Trajectory.static(-20.0, 15.0))
    est = estimate_doa(rotate_foa(foa, yaw=30.0), SAMPLE_RATE)
    np.testing.assert_allclose(est.azimuth, 10.0, atol=1e-3)
    np.testing.assert_allclose(est.elevation, 15.0, atol=1e-3)


@pytest.mark.parametrize(
    "kwargs, source, expected",
    [
        (dict(pitch=30.0), (0.0, 0.0), (0.0, 30.0)),  # front goes up
        (dict(roll=30.0), (90.0, 0.0), (90.0, 30.0)),  # left goes up
        (dict(yaw=90.0, pitch=10.0), (0.0, 0.0), (90.0, 10.0)),  # pitch first, then yaw
    ],
)
def test_pitch_and_roll_conventions(noise, kwargs, source, expected):
    foa = encode_foa(noise[:16000], SAMPLE_RATE, Trajectory.static(*source))
    est = estimate_doa(rotate_foa(foa, **{"yaw": 0.0, **kwargs}), SAMPLE_RATE)
    np.testing.assert_allclose(est.azimuth, expected[0], atol=1e-3)
    np.testing.assert_allclose(est.elevation, expected[1], atol=1e-3)


def test_haversine_equals_arccos_of_dot_product():
    rng = np.random.default_rng(0)
    az, ref_az = rng.uniform(-180, 180, (2, 1000))
    el, ref_el = rng.uniform(-90, 90, (2, 1000))
    _, _, angle = angular_differences(az, el, ref_az, ref_el)

    def unit(a, e):
        a, e = np.radians(a), np.radians(e)
        return np.stack([np.cos(a) * np.cos(e), np.sin(a) * np.cos(e), np.sin(e)])

    dot = np.clip(np.sum(unit(az, el) * unit(ref_az, ref_el), axis=0), -1, 1)
    np.testing.assert_allclose(angle, np.degrees(np.arccos(dot)), atol=1e-6)


def test_circular_azimuth_error():
    d_az, d_el, _ = angular_differences(np.array([179.0, -90.0]), np.array([0.0, 10.0]),
                                        np.array([-179.0, 90.0]), np.array([0.0, -10.0]))
    np.testing.assert_allclose(d_az, [2.0, 180.0])
    np.testing.assert_allclose(d_el, [0.0, 20.0])


def test_sample_vs_frame_on_noisy_signal(noise):
    """Documented behaviour: diffuse noise scatters per-sample directions widely, while
    frame sums average it out, so frame errors are far smaller."""
    path = Trajectory.static(45.0, 10.0)
    foa = encode_foa(noise, SAMPLE_RATE, path)
    rng = np.random.default_rng(7)
    noisy = foa + (0.3 * np.std(foa[0]) * rng.standard_normal(foa.shape)).astype(np.float32)
    frame = spatial_errors(noisy, path, SAMPLE_RATE, "frame")
    sample = spatial_errors(noisy, path, SAMPLE_RATE, "sample")
    assert frame.delta_angle < 5.0
    assert sample.delta_angle > 4 * frame.delta_angle
    # Clean, both resolutions are exact.
    assert spatial_errors(foa, path, SAMPLE_RATE, "sample").delta_angle < 1e-3


def test_errors_between_two_foa_signals(noise):
    a = encode_foa(noise, SAMPLE_RATE, Trajectory.static(10.0, 0.0))
    b = encode_foa(noise, SAMPLE_RATE, Trajectory.static(40.0, 0.0))
    err = spatial_errors(a, b, SAMPLE_RATE)
    assert err.l1_azimuth == pytest.approx(30.0, abs=1e-3)
    assert err.delta_angle == pytest.approx(30.0, abs=1e-3)
    assert spatial_errors(a, b, SAMPLE_RATE, "sample").l1_azimuth == pytest.approx(30.0, abs=1e-2)


def test_silence_gating():
    quiet = np.zeros(2 * SAMPLE_RATE, dtype=np.float32)
    quiet[:SAMPLE_RATE] = 0.5 * np.random.default_rng(0).standard_normal(SAMPLE_RATE)
    est = estimate_doa(encode_foa(quiet, SAMPLE_RATE, Trajectory.static(0, 0)), SAMPLE_RATE)
    assert est.active[:18].all() and not est.active[-18:].any()
    with pytest.raises(SonicMotionError, match="no active frames"):
        spatial_errors(np.zeros((4, SAMPLE_RATE), np.float32), Trajectory.static(0, 0), SAMPLE_RATE)


def test_bad_shapes_and_values():
    with pytest.raises(SonicMotionError, match="shape"):
        estimate_doa(np.zeros((2, 100)), SAMPLE_RATE)
    bad = np.zeros((4, 100))
    bad[1, 5] = np.nan
    with pytest.raises(SonicMotionError, match="NaN"):
        estimate_doa(bad, SAMPLE_RATE)
    with pytest.raises(SonicMotionError, match="mono"):
        encode_foa(np.zeros((2, 100)), SAMPLE_RATE, Trajectory.static(0, 0))
