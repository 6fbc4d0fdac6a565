import numpy as np

from sonicmotion.audio import frame_activity


def test_silence_threshold_is_in_dbfs_rms_per_frame():
    x = np.concatenate([np.full(100, 0.005, np.float32), np.full(100, 0.5, np.float32)])  # -46 dB, -6 dB
    assert frame_activity(x, 10, threshold_db=-60.0).tolist() == [True] * 20
    assert frame_activity(x, 10, threshold_db=-40.0).tolist() == [False] * 10 + [True] * 10


def test_all_silent_and_a_partial_last_frame():
    assert not frame_activity(np.zeros(1000, np.float32), 160).any()
    active = frame_activity(np.r_[np.zeros(20), np.ones(5)].astype(np.float32), 10)
    assert active.tolist() == [False, False, True]
