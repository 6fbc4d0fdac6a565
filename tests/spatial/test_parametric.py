"""The parametric representation (transport W + direction + diffuseness) keeps one source's path."""

import numpy as np
import pytest

from sonicmotion.data.synth import dog_bark, noise_bursts, siren
from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial import Trajectory, encode_foa, spatial_errors
from sonicmotion.spatial.parametric import (
    SpatialParameters,
    analyze_parametric,
    band_masks,
    interpolate_directions,
    parametric_round_trip,
    split_bands,
    synthesize_parametric,
    trajectory_parameters,
)

SR = 16000


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Voiced syllables: a 120 Hz pulse train through three formants, 3.5 syllables/s, with pauses."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    phase = np.cumsum(120.0 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))) / SR
    pulses = (np.diff(np.floor(phase), prepend=0.0) > 0).astype(float)
    freqs = np.fft.rfftfreq(n, 1 / SR)
    formants = sum(np.exp(-0.5 * ((freqs - fc) / bw) ** 2) for fc, bw in [(700, 120), (1200, 150), (2600, 250)])
    voiced = np.fft.irfft(np.fft.rfft(pulses) * formants, n)
    syllables = np.clip(np.sin(2 * np.pi * 3.5 * t + rng.uniform(0, 6)), 0, None) ** 2
    pauses = (rng.random(int(seconds * 2) + 1) > 0.3)[(t * 2).astype(int)]
    x = voiced * syllables * pauses + 0.02 * rng.standard_normal(n) * syllables
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


FAST = Trajectory.linear(90, 10, 45, -20, "ccw", 3.0, 4.0)  # 315° of azimuth in 1 s
SOUNDS = {"speech": speech_like(10.0), "bursts": noise_bursts(10.0, SR, 1), "dog": dog_bark(10.0, SR, 2),
          "siren": siren(10.0, SR, 3)}


@pytest.mark.parametrize("sound", sorted(SOUNDS))
@pytest.mark.parametrize("path", [FAST, Trajectory.linear(-150, 20, 150, -20, "cw", 2.0, 7.0)], ids=["fast", "moderate"])
def test_moving_source_round_trip_keeps_the_path(sound, path):
    foa = encode_foa(SOUNDS[sound], SR, path)
    out = parametric_round_trip(foa, SR, hop=2048)
    assert out.shape == foa.shape and out.dtype == np.float32
    assert np.array_equal(out[0], foa[0])  # W is the transport, untouched
    assert spatial_errors(out, path, SR).delta_angle < 1.0


@pytest.mark.parametrize("bands", [1, 4])
def test_static_source_round_trip_is_exact_per_channel(bands):
    path = Trajectory.static(60, 15)
    foa = encode_foa(SOUNDS["speech"], SR, path)
    out = parametric_round_trip(foa, SR, hop=2048, bands=bands)
    for channel in range(4):
        error_db = 10 * np.log10(np.sum((out[channel] - foa[channel]) ** 2) / np.sum(foa[channel] ** 2) + 1e-30)
        assert error_db < -30.0, (channel, error_db)


def test_filterbank_is_perfect_reconstruction():
    masks = band_masks(1025, SR, 5)
    assert np.allclose(masks.sum(0), 1.0) and masks.min() >= 0
    # Each band is centred somewhere else: the peaks rise with the band index.
    assert list(np.argmax(masks, axis=1)) == sorted(np.argmax(masks, axis=1))
    x = np.random.default_rng(0).standard_normal((4, 3000))
    bands = split_bands(x, SR, 5)
    assert bands.shape == (5, 4, 3000)
    assert np.allclose(bands.sum(0), x, atol=1e-10)


def test_diffuseness_of_a_plane_wave_and_of_a_diffuse_field():
    plane = encode_foa(noise_bursts(2.0, SR, 0), SR, Trajectory.static(-30, 10))
    assert analyze_parametric(plane, SR).diffuseness.max() < 1e-4
    # Isotropic diffuse field in FuMa: W = p/√2 and X, Y, Z each carry p²/3, uncorrelated.
    rng = np.random.default_rng(1)
    p = rng.standard_normal(4 * SR)
    diffuse = np.stack([p / np.sqrt(2), *(rng.standard_normal((3, 4 * SR)) * np.sqrt(1 / 3))]).astype(np.float32)
    assert analyze_parametric(diffuse, SR).diffuseness.mean() > 0.9


def test_synthesis_gives_back_the_diffuseness_it_was_given():
    transport = np.random.default_rng(5).standard_normal(32 * 2048) * 0.1
    frames = 32
    direction = np.tile(np.array([0.0, 1.0, 0.0])[None, :, None], (1, 1, frames))
    for psi in (0.2, 0.5):
        params = SpatialParameters(direction, np.full((1, frames), psi), 2048)
        foa = synthesize_parametric(transport, params, SR)
        measured = analyze_parametric(foa, SR)
        assert abs(np.median(measured.diffuseness) - psi) < 0.05, (psi, np.median(measured.diffuseness))
        assert spatial_errors(foa, Trajectory.static(90, 0), SR).delta_angle < 10.0  # diffuse part scatters frames


def test_silent_frames_hold_the_neighbouring_direction():
    mono = np.zeros(8 * 2048, dtype=np.float32)
    mono[2 * 2048 : 3 * 2048] = noise_bursts(2048 / SR, SR, 0)
    mono[6 * 2048 : 7 * 2048] = noise_bursts(2048 / SR, SR, 1)
    path = Trajectory.linear(0, 0, 90, 0, "ccw", 3 * 2048 / SR, 6 * 2048 / SR)
    params = analyze_parametric(encode_foa(mono, SR, path), SR)
    azimuth = np.degrees(np.arctan2(params.directions[0, 1], params.directions[0, 0]))
    assert np.allclose(azimuth[:4], 0.0, atol=1e-3)  # frames 0-1 take frame 2's; 3-5 hold it
    assert np.allclose(azimuth[6:], 90.0, atol=1e-3)  # frame 7 holds frame 6's


def test_directions_move_along_the_great_circle():
    a, b = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])  # front -> up
    hop = 100
    samples = interpolate_directions(np.stack([a, b], 1), 2 * hop, hop)
    assert np.allclose(np.linalg.norm(samples, axis=0), 1.0)
    middle = samples[:, hop - 1]  # about halfway between the centres (samples 49.5 and 149.5)
    assert np.allclose(middle, [np.sqrt(0.5), 0.0, np.sqrt(0.5)], atol=1e-2)
    assert np.allclose(samples[:, 0], a) and np.allclose(samples[:, -1], b)


def test_trajectory_parameters_match_the_analysis_of_a_steady_source():
    path = Trajectory.linear(-120, 0, 100, 30, "ccw", 0.5, 3.5)
    steady = (np.random.default_rng(2).standard_normal(4 * SR) * 0.1).astype(np.float32)
    analysed = analyze_parametric(encode_foa(steady, SR, path), SR, hop=512)
    expected = trajectory_parameters(path, analysed.frames, 512, SR)
    cosine = (analysed.directions * expected.directions).sum(1)
    assert np.degrees(np.arccos(np.clip(cosine, -1, 1))).mean() < 1.0


def test_bad_input_is_refused():
    with pytest.raises(SonicMotionError, match="shape"):
        analyze_parametric(np.zeros((2, 100)), SR)
    with pytest.raises(SonicMotionError, match="fewer than"):
        synthesize_parametric(np.zeros(5000), SpatialParameters(np.ones((1, 3, 1)), np.zeros((1, 1)), 2048), SR)
