import numpy as np
import pytest

from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial import Trajectory, TrajectoryError, azimuth_travel, wrap_azimuth


def test_wrap_azimuth_range():
    assert wrap_azimuth(180.0) == -180.0
    assert wrap_azimuth(-180.0) == -180.0
    assert wrap_azimuth(190.0) == -170.0
    assert wrap_azimuth(-540.0) == -180.0
    np.testing.assert_allclose(wrap_azimuth(np.array([359.0, 361.0])), [-1.0, 1.0])


def test_travel_directions():
    # cw = azimuth decreasing; from front-left (45) to front-right (-45): 90 cw, 270 ccw.
    assert azimuth_travel(45, -45, "cw") == -90
    assert azimuth_travel(45, -45, "ccw") == 270
    assert azimuth_travel(170, -170, "shortest") == 20
    assert azimuth_travel(10, 10, "cw") == 0


def test_linear_holds_moves_and_holds():
    path = Trajectory.linear(45, 0, -45, 30, "cw", move_start=2.0, move_end=6.0)
    az, el = path.positions(np.array([0.0, 2.0, 4.0, 6.0, 9.0]))
    np.testing.assert_allclose(az, [45, 45, 0, -45, -45])
    np.testing.assert_allclose(el, [0, 0, 15, 30, 30])


def test_cw_and_ccw_between_same_points_go_opposite_ways():
    cw = Trajectory.linear(45, 0, -45, 0, "cw", 0, 4)
    ccw = Trajectory.linear(45, 0, -45, 0, "ccw", 0, 4)
    az_cw, _ = cw.positions(2.0)
    az_ccw, _ = ccw.positions(2.0)
    assert az_cw == pytest.approx(0.0)  # through the front
    assert az_ccw == pytest.approx(-180.0)  # through the back
    # Step by step, cw decreases the unwrapped azimuth and ccw increases it.
    t = np.linspace(0, 4, 50)
    assert np.all(np.diff(cw.unwrapped_azimuth(t)) < 0)
    assert np.all(np.diff(ccw.unwrapped_azimuth(t)) > 0)


def test_ccw_across_back_wraps():
    path = Trajectory.linear(170, 0, -170, 0, "ccw", 0, 2)
    az, _ = path.positions(np.array([0.0, 1.0, 2.0]))
    np.testing.assert_allclose(az, [170, -180, -170])


def test_keyframes_with_per_segment_direction():
    path = Trajectory.parse_keyframes("0:0:0;2:90:0:ccw;4:0:45:cw;6:0:45")
    az, el = path.positions(np.array([1.0, 2.0, 3.0, 5.0]))
    np.testing.assert_allclose(az, [45, 90, 45, 0])
    np.testing.assert_allclose(el, [0, 0, 22.5, 45])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Trajectory.static(0, 91), "elevation must lie in"),
        (lambda: Trajectory.linear(0, 0, 10, 0, "cw", 3, 3), "must be later than move_start"),
        (lambda: Trajectory.linear(0, 0, 10, 0, "left", 0, 3), "direction must be one of"),
        (lambda: Trajectory.from_keyframes([(1, 0, 0), (0.5, 10, 0)]), "strictly increasing"),
        (lambda: Trajectory.parse_keyframes("0:a:0"), "non-numeric"),
        (lambda: Trajectory.static(float("nan"), 0), "finite"),
    ],
)
def test_validation_messages(make, message):
    with pytest.raises(SonicMotionError, match=message):
        make()


@pytest.mark.parametrize(
    "make, field, keyframe, detail",
    [
        (lambda: Trajectory.static(0, 91), "elevation", 0, "must lie in [-90, 90] degrees, got 91"),
        (lambda: Trajectory.linear(0, 0, 10, -95, "cw", 0, 3), "elevation", 1, "must lie in [-90, 90] degrees, got -95"),
        (lambda: Trajectory.linear(0, 0, 10, 0, "cw", 3, 2), "move_end", None, "2 s must be later than move_start 3 s"),
        (lambda: Trajectory.linear(0, 0, 10, 0, "cw", -1, 2), "move_start", None, "must be >= 0, got -1"),
        (lambda: Trajectory.from_keyframes([(0, 0, 0), (1, 0, 0, "up")]), "direction", 1,
         "expected one of cw, ccw, shortest, got 'up'"),
        (lambda: Trajectory.from_keyframes([(1, 0, 0), (0.5, 10, 0)]), "time", 1,
         "0.5 s must come after the previous keyframe (1 s)"),
        (lambda: Trajectory.from_keyframes([(0, 0, 0)]).check_within(-1), "time", 0, "0 s lies outside the clip (0 to -1 s)"),
        (lambda: Trajectory.from_keyframes([(0, 0, 0), (12, 0, 0)]).check_within(10, "scene"), "time", 1,
         "12 s lies outside the scene (0 to 10 s)"),
        (lambda: Trajectory.linear(0, 0, 10, 0, "cw", 0, 12).check_within(10), "move_end", None,
         "12 s lies beyond the clip's 10 s"),
    ],
)
def test_errors_name_the_value_for_scene_files_and_flags(make, field, keyframe, detail):
    with pytest.raises(TrajectoryError) as err:
        make()
    assert (err.value.field, err.value.keyframe, err.value.detail) == (field, keyframe, detail)


def test_a_path_within_its_clip_passes():
    Trajectory.linear(0, 0, 10, 0, "cw", 0, 10).check_within(10)
    Trajectory.parse_keyframes("0:0:0;10:90:0").check_within(10)
    Trajectory.static(30).check_within(0.5)


@pytest.mark.parametrize(
    "path",
    [
        Trajectory.static(-30, 10),
        Trajectory.linear(170, -20, -100, 30, "ccw", 1, 7),
        Trajectory.parse_keyframes("0:0:0;2:90:10:ccw;4:-90:-10:cw"),
    ],
)
def test_dict_round_trip(path):
    assert Trajectory.from_dict(path.to_dict()) == path


# -- distance (SPEC §6) --------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        Trajectory.static(-30, 10, 4.5),
        Trajectory.linear(170, -20, -100, 30, "ccw", 1, 7, 2.0, 40.0),
        Trajectory.parse_keyframes("0:0:0:3;2:90:10:ccw:5;4:-90:-10:cw:1.5"),
        Trajectory.parse_cartesian("0,-60,4,0; 8.64,60,4,0"),
    ],
    ids=["static", "linear", "keyframes", "cartesian"],
)
def test_paths_with_distance_round_trip(path):
    again = Trajectory.from_dict(path.to_dict())
    assert again == path and again.has_distance
    assert again.to_dict() == path.to_dict()


def test_plane_wave_dicts_have_no_distance_keys():
    for path in (Trajectory.static(10), Trajectory.linear(0, 0, 90, 0, "ccw", 0, 2),
                 Trajectory.parse_keyframes("0:0:0;1:10:0")):
        assert not path.has_distance
        assert "distance" not in str(path.to_dict())
    assert Trajectory.parse_keyframes("0:0:0;1:10:0").to_dict()["keyframes"][1] == [1.0, 10.0, 0.0, "shortest"]


def test_linear_distance_is_linear_in_time_and_the_end_defaults_to_the_start():
    path = Trajectory.linear(90, 0, -90, 0, "cw", 2, 6, 10.0, 2.0)
    np.testing.assert_allclose(path.distances([0, 2, 4, 6, 9]), [10, 10, 6, 2, 2])
    assert Trajectory.linear(0, 0, 90, 0, "ccw", 0, 2, 5.0).keyframes[1].distance == 5.0


def test_cartesian_geometry():
    # A car on a straight road 4 m to the left at 50 km/h (13.89 m/s), from 60 m behind to 60 m ahead.
    path = Trajectory.parse_cartesian("0,-60,4,0; 8.64,60,4,0")
    az, el = path.positions(np.array([0.0, 4.32, 8.64, 20.0]))
    np.testing.assert_allclose(az, [np.degrees(np.arctan2(4, -60)), 90.0, np.degrees(np.arctan2(4, 60)),
                                    np.degrees(np.arctan2(4, 60))], atol=1e-9)
    np.testing.assert_allclose(el, 0.0)
    np.testing.assert_allclose(path.distances([0.0, 4.32]), [np.hypot(60, 4), 4.0])
    np.testing.assert_allclose(path.coordinates(2.16), [-30.0, 4.0, 0.0])
    # Overhead: elevation from the geometry.
    over = Trajectory.cartesian([(0, 0, 0, 100)])
    assert over.positions(0.0)[1] == pytest.approx(90.0)
    assert path.is_cartesian and not path.is_static and over.is_static


def test_keyframe_distance_per_keyframe():
    path = Trajectory.from_keyframes([(0, 0, 0, 2.0), (2, 90, 0, "ccw", 4.0)])
    np.testing.assert_allclose(path.distances([0, 1, 2]), [2, 3, 4])
    np.testing.assert_allclose(path.coordinates(2.0), [0.0, 4.0, 0.0], atol=1e-12)


@pytest.mark.parametrize(
    "make, field, keyframe, detail",
    [
        (lambda: Trajectory.static(0, 0, -2), "distance", 0, "must lie in (0, 10000] metres, got -2"),
        (lambda: Trajectory.static(0, 0, float("inf")), "distance", 0, "must lie in (0, 10000] metres, got inf"),
        (lambda: Trajectory.linear(0, 0, 0, 0, "cw", 0, 1, None, 3.0), "distance", 0,
         "an end distance needs a start distance"),
        (lambda: Trajectory.from_keyframes([(0, 0, 0, 2.0), (1, 0, 0)]), "distance", 1,
         "give a distance at every keyframe or at none"),
        (lambda: Trajectory.cartesian([(0, 0, 0, 0)]), "distance", 0,
         "(0, 0, 0) m lies 0 m from the listener; a keyframe must lie in (0, 10000] m"),
        (lambda: Trajectory.cartesian([(0, 1, 0, 0), (1, 400, 0, 0)]), "speed", 1,
         "the source would move at 399 m/s between 0 s and 1 s; a path must stay below the speed of sound "
         "(343 m/s)"),
        (lambda: Trajectory.cartesian([(0, 1, float("nan"), 0)]), "y", 0, "must be a finite number, got nan"),
        (lambda: Trajectory.linear(0, 0, 0, 0, "cw", 0, 0.1, 1.0, 100.0), "speed", 1,
         "the source would move at 990 m/s between 0 s and 0.1 s; a path must stay below the speed of sound "
         "(343 m/s)"),
    ],
)
def test_distance_errors_name_the_value(make, field, keyframe, detail):
    with pytest.raises(TrajectoryError) as err:
        make()
    assert (err.value.field, err.value.keyframe, err.value.detail) == (field, keyframe, detail)
    assert "\n" not in str(err.value)


def test_parse_cartesian_and_distance_keyframes_refuse_bad_text():
    with pytest.raises(SonicMotionError, match="must read t,x,y,z"):
        Trajectory.parse_cartesian("0,1,2")
    with pytest.raises(SonicMotionError, match="non-numeric"):
        Trajectory.parse_cartesian("0,a,2,3")
    with pytest.raises(SonicMotionError, match="direction must be one of"):
        Trajectory.parse_keyframes("0:0:0:up")
