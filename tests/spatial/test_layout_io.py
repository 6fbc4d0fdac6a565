import numpy as np
import pytest
import soundfile as sf

from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial import AMBIX, FUMA, Trajectory, convert_layout, encode_foa, read_foa, write_foa
from tests.conftest import SAMPLE_RATE


def test_ambix_round_trip_is_exact(noise):
    foa = encode_foa(noise, SAMPLE_RATE, Trajectory.linear(30, 10, -60, -20, "cw", 1, 4))
    ambix = convert_layout(foa, FUMA, AMBIX)
    back = convert_layout(ambix, AMBIX, FUMA).astype(np.float32)
    assert np.array_equal(back, foa)


def test_ambix_order_and_scale(noise):
    p = noise[:1000]
    foa = encode_foa(p, SAMPLE_RATE, Trajectory.static(90.0, 0.0))  # pure left: Y = p
    ambix = convert_layout(foa, "fuma", "ambix")
    np.testing.assert_allclose(ambix[0], p, atol=1e-6)  # W = p (SN3D)
    np.testing.assert_allclose(ambix[1], p, atol=1e-6)  # ACN 1 = Y
    np.testing.assert_allclose(ambix[2:], 0.0, atol=1e-6)  # Z and X
    np.testing.assert_allclose(foa[0], p / np.sqrt(2), atol=1e-6)


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
@pytest.mark.parametrize("layout", ["fuma", "ambix"])
def test_file_records_layout(tmp_path, noise, suffix, layout):
    foa = encode_foa(noise[:8000], SAMPLE_RATE, Trajectory.static(20, 5), layout=layout)
    path = write_foa(tmp_path / f"clip{suffix}", foa, SAMPLE_RATE, layout)
    back = read_foa(path)
    assert back.layout.name == layout and back.sample_rate == SAMPLE_RATE
    tolerance = 0 if suffix == ".wav" else 2.0**-22
    assert np.max(np.abs(back.samples - foa)) <= tolerance
    assert [p.name for p in tmp_path.iterdir()] == [f"clip{suffix}"]  # no temporary left


def test_unknown_layout_is_refused_until_stated(tmp_path, noise):
    path = tmp_path / "plain.wav"
    sf.write(path, np.zeros((100, 4), np.float32), SAMPLE_RATE)
    with pytest.raises(SonicMotionError, match="--layout"):
        read_foa(path)
    assert read_foa(path, layout="ambix").layout is AMBIX


def test_contradicting_layout_is_refused(tmp_path, noise):
    path = write_foa(tmp_path / "a.wav", np.zeros((4, 100), np.float32), SAMPLE_RATE, "fuma")
    with pytest.raises(SonicMotionError, match="records layout 'fuma'"):
        read_foa(path, layout="ambix")


def test_non_foa_file_refused(tmp_path):
    path = tmp_path / "stereo.wav"
    sf.write(path, np.zeros((100, 2), np.float32), SAMPLE_RATE)
    with pytest.raises(SonicMotionError, match="4 channels"):
        read_foa(path, layout="fuma")


def test_flac_clipping_refused_and_nothing_written(tmp_path):
    loud = np.full((4, 100), 1.5, np.float32)
    with pytest.raises(SonicMotionError, match="clip"):
        write_foa(tmp_path / "loud.flac", loud, SAMPLE_RATE, "fuma")
    assert list(tmp_path.iterdir()) == []
