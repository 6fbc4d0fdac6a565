"""The builder's own captions read back to paths: the issue 24 targets (path Δangle sampled
every 50 ms; 20 deg static, 30 deg moving, 25 deg all) guarded with a margin."""

import numpy as np
import pytest

from sonicmotion.motion.score import builder_caption_errors, path_delta_angle
from sonicmotion.spatial import Trajectory


def test_builder_captions_meet_the_targets():
    score = builder_caption_errors(300, seed=0)
    assert score.unread == 0 and score.count == 600
    assert score.static <= 20.0 - 0.5
    assert score.moving <= 30.0 - 2.0
    assert score.all <= 25.0 - 1.5
    # what the words cannot carry keeps the error well above zero: a reader that ignored the
    # sector half-widths or the unknown start time could not reach these without cheating
    assert score.static > 12.0 and score.moving > 15.0


def test_path_delta_angle():
    left, right = Trajectory.static(90, 0), Trajectory.static(-90, 0)
    assert path_delta_angle(left, right) == pytest.approx(180.0)
    move = Trajectory.linear(90, 0, -90, 0, "cw", 0.0, 10.0)
    # the move passes the front halfway: the mean angle from the left is 90 deg
    assert path_delta_angle(move, left) == pytest.approx(90.0, abs=0.5)


def test_subset_means_spread_like_a_small_test_set():
    from sonicmotion.motion.score import CaptionScore

    score = CaptionScore(10.0, 30.0, 20.0, 4, 0, (0.0, 20.0), (20.0, 40.0))
    means = score.subset_means(1, 1, draws=4000)
    # one static and one moving: the mean of the pair is 10, 20 or 30 deg, 20 twice as often
    assert set(np.unique(means)) == {10.0, 20.0, 30.0}
    assert means.mean() == pytest.approx(20.0, abs=0.5)
    assert (means == 20.0).mean() == pytest.approx(0.5, abs=0.04)
