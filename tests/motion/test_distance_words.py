"""Words with distance (issue 28 item 3): near/far, metres, approaches, recessions and passes.

The defaults are docs/motion.md's: near 2 m, very close 0.5 m, far 50 m; an approach runs far
to near, a recession near to far; a move in distance only, with no timing words, lasts the
whole clip; a pass with no speed runs from 3x its closest distance before to 3x after.
"""

import math

import numpy as np
import pytest

from sonicmotion.errors import SonicMotionError
from sonicmotion.motion import describe_to_motion
from sonicmotion.motion.words import FAR, NEAR, VERY_NEAR


def points(p):
    """A cartesian path's (time, x, y, z) keyframes as an array."""
    return np.array(p.cartesian_points)


def path(text, seconds=10.0):
    reading = describe_to_motion(text, seconds)
    assert reading.trajectory is not None, text
    return reading.trajectory


def test_defaults_are_the_documented_ones():
    assert (NEAR, VERY_NEAR, FAR) == (2.0, 0.5, 50.0)


@pytest.mark.parametrize("text, azimuth, metres", [
    ("a dog barks 2 m away", 0.0, 2.0),
    ("a dog barks two metres away on the left", 90.0, 2.0),
    ("a radio 12 feet behind you", -180.0, 12 * 0.3048),
    ("a bell far away on the right", -90.0, FAR),
    ("thunder in the distance, to the left", 90.0, FAR),
    ("a cricket close by on the right", -90.0, NEAR),
    ("a whisper very close at your left", 90.0, VERY_NEAR),
])
def test_a_fixed_distance(text, azimuth, metres):
    p = path(text)
    assert p.kind == "static" and p.has_distance
    assert p.start == pytest.approx((azimuth, 0.0)) and p.keyframes[0].distance == pytest.approx(metres)


def test_a_fixed_distance_on_a_moving_path_keeps_the_angles():
    plane = path("a bee moves from the left to the right behind you")
    near = path("a bee moves from the left to the right behind you, 3 m away")
    assert near.has_distance and not plane.has_distance
    assert near.to_dict() == {**plane.to_dict(), "start_distance": 3.0, "end_distance": 3.0}


def test_approaches_from_far_away():
    reading = describe_to_motion("a train approaches from far away")
    p = reading.trajectory
    assert p.to_dict() == {"type": "linear", "start_azimuth": 0.0, "start_elevation": 0.0, "end_azimuth": 0.0,
                           "end_elevation": 0.0, "direction": "shortest", "move_start": 0.0, "move_end": 10.0,
                           "start_distance": FAR, "end_distance": NEAR}
    assert reading.content == "a train approaches"
    assert "no horizontal direction given: front (azimuth 0)" in reading.assumed
    assert p.distances(np.array([0.0, 5.0, 10.0])) == pytest.approx([50.0, 26.0, 2.0])


def test_recedes_into_the_distance():
    p = path("a truck recedes into the distance on the right")
    assert p.start == p.end == (-90.0, 0.0)
    assert p.distances(np.array([0.0, 10.0])) == pytest.approx([NEAR, FAR]) and p.move_end == 10.0


def test_an_approach_with_stated_distances_and_times():
    p = path("a car approaches from 30 m to 5 m on the left between 2 and 6 seconds")
    assert (p.move_start, p.move_end) == (2.0, 6.0) and p.start == (90.0, 0.0)
    assert p.distances(np.array([0.0, 4.0, 9.0])) == pytest.approx([30.0, 17.5, 5.0])


def test_speed_words_time_a_move_in_distance():
    p = path("a bee comes closer from the right, slowly")
    assert p.move_end - p.move_start == pytest.approx(8.5)  # the slow band's middle, centred
    assert p.distances(np.array([0.0, 10.0])) == pytest.approx([FAR, NEAR])


def test_passes_close_by_on_the_left():
    p = path("a car passes close by on the left")
    assert p.is_cartesian
    # a straight line 2 m to the left, front to back, from 6 m ahead to 6 m behind over the clip
    assert points(p) == pytest.approx(np.array(((0.0, 6.0, 2.0, 0.0), (10.0, -6.0, 2.0, 0.0))))
    assert p.distances(np.array([5.0])) == pytest.approx([2.0])
    az, _ = p.positions(np.array([0.0, 5.0, 10.0]))
    assert az == pytest.approx([math.degrees(math.atan2(2, 6)), 90.0, 180 - math.degrees(math.atan2(2, 6))])


def test_a_car_passes_four_metres_to_my_left_at_50_km_h():
    reading = describe_to_motion("a car passes 4 metres to my left at 50 km/h")
    p = reading.trajectory
    half = 50 / 3.6 * 5.0  # metres covered in half the 10 s clip
    assert points(p) == pytest.approx(np.array(((0.0, half, 4.0, 0.0), (10.0, -half, 4.0, 0.0))))
    speed = np.linalg.norm(np.diff(p.coordinates(np.array([2.0, 3.0])), axis=1))
    assert speed == pytest.approx(50 / 3.6)
    assert reading.content == "a car passes"


def test_a_pass_in_front_goes_left_to_right_and_a_route_sets_the_way():
    front = path("a cyclist rides past 3 m in front of you")
    assert points(front) == pytest.approx(np.array(((0.0, 3.0, 9.0, 0.0), (10.0, 3.0, -9.0, 0.0))))
    behind = path("a car passes from left to right 10 metres behind me")
    assert points(behind) == pytest.approx(np.array(((0.0, -10.0, 30.0, 0.0), (10.0, -10.0, -30.0, 0.0))))


def test_flies_over_at_100_m():
    reading = describe_to_motion("a plane flies over at 100 m")
    p = reading.trajectory
    assert points(p) == pytest.approx(np.array(((0.0, 300.0, 0.0, 100.0), (10.0, -300.0, 0.0, 100.0))))
    assert p.positions(5.0)[1] == pytest.approx(90.0) and p.distances(np.array([5.0])) == pytest.approx([100.0])
    assert reading.content == "a plane flies"  # "over" goes with the motion words


def test_a_timed_pass_at_a_speed():
    p = path("a motorbike zooms past on the right at 20 m/s between 4 and 8 seconds")
    # 20 m/s for 4 s, closest at the default 5 m
    assert points(p) == pytest.approx(np.array(((4.0, 40.0, -5.0, 0.0), (8.0, -40.0, -5.0, 0.0))))


def test_words_without_distance_keep_the_plane_wave():
    for text in ("a car passes from left to right behind me, slowly", "church bells far off to the right",
                 "a plane flies from behind you over your head to the front", "distant thunder on the left"):
        assert not path(text).has_distance, text


def test_samples_keep_the_distances():
    reading = describe_to_motion("a car passes close by on the left")
    for sample in reading.sample(np.random.default_rng(0), 5):
        assert sample.is_cartesian and min(sample.distances(np.linspace(0, 10, 201))) == pytest.approx(2.0, abs=0.05)


@pytest.mark.parametrize("text, message", [
    ("a car approaches and recedes on the left", "both approaches and recedes"),
    ("a train approaches from 5 m to 30 m", "approaches but ends no nearer"),
    ("a dog barks 2 m away and 10 m away on the left", "more than one distance"),
    ("a car passes 4 m to my left at 50 km/h and 20 km/h", "more than one speed"),
])
def test_contradictions_are_refused_in_one_line(text, message):
    with pytest.raises(SonicMotionError, match=message) as err:
        describe_to_motion(text)
    assert "\n" not in str(err.value)


def test_a_pass_in_a_scene_starts_with_its_source():
    from sonicmotion.scene.format import path_from_words

    p = path_from_words("a car passes close by on the left", "sources[0].motion", start=2.0, duration=12.0)
    assert points(p) == pytest.approx(np.array(((2.0, 6.0, 2.0, 0.0), (12.0, -6.0, 2.0, 0.0))))
