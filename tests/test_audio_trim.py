import numpy as np

from sonicmotion.audio import frame_activity, trim_silence


def test_trim_silence_cuts_leading_and_trailing_frames_below_threshold():
    rate = 16000
    tone = (0.1 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)).astype(np.float32)
    quiet = np.full(rate // 2, 1e-4, np.float32)  # -80 dBFS: silence at the -60 dB default
    signal = np.concatenate([quiet, tone, quiet])
    trimmed = trim_silence(signal, rate)
    assert trimmed.shape[0] == rate  # 0.5 s and 1.0 s are whole numbers of 10 ms frames
    np.testing.assert_array_equal(trimmed, tone)


def test_trim_silence_threshold_is_in_dbfs_rms():
    rate = 1000
    x = np.concatenate([np.full(100, 0.005, np.float32), np.full(100, 0.5, np.float32)])  # -46 dB, -6 dB
    assert trim_silence(x, rate, threshold_db=-60.0).shape[0] == 200
    assert trim_silence(x, rate, threshold_db=-40.0).shape[0] == 100


def test_all_silent_gives_empty_and_partial_last_frame_counts():
    assert trim_silence(np.zeros(1000, np.float32), 16000).shape[0] == 0
    active = frame_activity(np.r_[np.zeros(20), np.ones(5)].astype(np.float32), 10)
    assert active.tolist() == [False, False, True]
