"""Spatial errors of generated clips against requested paths."""

import numpy as np
import pytest

from sonicmotion.data.synth import siren
from sonicmotion.errors import SonicMotionError
from sonicmotion.evaluation.sets import list_folder
from sonicmotion.evaluation.spatial import clip_spatial_errors, evaluate_spatial
from sonicmotion.spatial import Trajectory, convert_layout, encode_foa, spatial_errors, write_foa

SR = 16000
PATHS = [
    Trajectory.static(30.0, 0.0),
    Trajectory.linear(45.0, 0.0, -90.0, 30.0, "ccw", 2.0, 8.0),
    Trajectory.linear(-100.0, 10.0, 20.0, -80.0, "cw", 1.0, 5.0),
    Trajectory.static(0.0, 90.0),
    Trajectory.from_keyframes([(0, 170, 0), (3, -170, 20, "shortest"), (6, 100, -30, "cw")]),
]


@pytest.mark.parametrize("path", PATHS)
def test_fused_errors_match_the_spatial_core(path):
    rng = np.random.default_rng(0)
    foa = encode_foa(siren(4.0, SR), SR, PATHS[1]) + 0.05 * rng.standard_normal((4, 4 * SR)).astype(np.float32)
    ours = clip_spatial_errors(foa, SR, path)
    for resolution in ("frame", "sample"):
        core = spatial_errors(foa, path, SR, resolution=resolution)
        got = ours[resolution]
        assert got.count == core.count
        for name in ("l1_azimuth", "l1_elevation", "delta_angle"):
            assert getattr(got, name) == pytest.approx(getattr(core, name), abs=2e-4), (resolution, name)


def test_layout_does_not_change_the_errors():
    foa = encode_foa(siren(2.0, SR), SR, PATHS[1])
    ambix = convert_layout(foa, "fuma", "ambix").astype(np.float32)
    a = clip_spatial_errors(foa, SR, PATHS[2])
    b = clip_spatial_errors(ambix, SR, PATHS[2], layout="ambix")
    assert a["frame"].delta_angle == pytest.approx(b["frame"].delta_angle, abs=1e-4)
    assert a["sample"].delta_angle == pytest.approx(b["sample"].delta_angle, abs=1e-3)


def test_right_path_ranks_far_better_than_another_path():
    requested = Trajectory.linear(-60.0, 0.0, 90.0, 25.0, "ccw", 1.0, 7.0)
    other = Trajectory.linear(120.0, -10.0, 0.0, 0.0, "cw", 2.0, 9.0)
    rng = np.random.default_rng(1)
    mono = siren(10.0, SR, seed=3)
    noise = 0.02 * rng.standard_normal((4, mono.size)).astype(np.float32)
    right = clip_spatial_errors(encode_foa(mono, SR, requested) + noise, SR, requested)
    wrong = clip_spatial_errors(encode_foa(mono, SR, other) + noise, SR, requested)
    # Frames average the noise away; single samples keep some of it.
    assert right["frame"].delta_angle < 2.0
    assert wrong["frame"].delta_angle > 40.0 and wrong["frame"].delta_angle > 20 * right["frame"].delta_angle
    assert right["sample"].delta_angle < 15.0
    assert wrong["sample"].delta_angle > 40.0 and wrong["sample"].delta_angle > 3 * right["sample"].delta_angle


def test_silent_clip_is_an_error():
    with pytest.raises(SonicMotionError, match="silent"):
        clip_spatial_errors(np.zeros((4, SR), np.float32), SR, PATHS[0])


def test_evaluate_spatial_groups_reasons_and_workers(tmp_path):
    ids = [f"clip{i:02d}" for i in range(10)]
    trajectories = {}
    for i, clip_id in enumerate(ids):
        path = PATHS[i % 3]
        trajectories[clip_id] = path
        foa = encode_foa(siren(1.0, SR, seed=i), SR, path) if i != 4 else np.zeros((4, SR), np.float32)
        write_foa(tmp_path / f"{clip_id}.wav", foa, SR, "fuma")
    del trajectories["clip07"]
    clips = list_folder(tmp_path, "generated").clips
    serial = evaluate_spatial(clips, trajectories, workers=1, progress=False)
    parallel = evaluate_spatial(clips, trajectories, workers=2, progress=False)
    assert serial["per_clip"] == parallel["per_clip"]
    reasons = {row["id"]: row["reason"] for row in serial["not_computed"]}
    assert set(reasons) == {"clip04", "clip07"}
    assert "silent" in reasons["clip04"] and "no requested trajectory" in reasons["clip07"]
    frame = serial["frame"]
    statics = [c for c in serial["per_clip"] if c["motion"] == "static"]
    assert frame["all"]["n"] == 8 and frame["static"]["n"] == len(statics) == 4  # clips 0, 3, 6, 9
    assert frame["moving"]["n"] == 4  # 1, 2, 5, 8 (4 is silent, 7 has no path)
    expected = np.mean([c["frame"]["delta_angle"] for c in statics])
    assert frame["static"]["delta_angle"] == pytest.approx(expected, rel=1e-12)
    assert frame["all"]["delta_angle"] < 1.0  # every clip was rendered on its own path
