import numpy as np

from sonicmotion.data.synth import noise_bursts, siren
from sonicmotion.spatial import Trajectory, encode_foa, estimate_doa
from sonicmotion.spatial.energy_map import directional_energy_map
from sonicmotion.visual.plots import plot_doa, plot_energy_map, plot_top_down
from tests.conftest import SAMPLE_RATE

PNG = b"\x89PNG\r\n\x1a\n"


def two_sources():
    a = siren(10, SAMPLE_RATE, seed=0)
    b = noise_bursts(10, SAMPLE_RATE, seed=1)
    b *= np.std(a) / np.std(b)
    moving = Trajectory.linear(90, 0, -90, 0, "cw", 0, 10)
    return encode_foa(a, SAMPLE_RATE, moving) + encode_foa(b, SAMPLE_RATE, Trajectory.static(150, 0)), moving


def test_energy_map_separates_two_sources():
    foa, moving = two_sources()
    energy = directional_energy_map(foa, SAMPLE_RATE)
    assert energy.energy.shape[0] == 72
    # Over the whole clip, the static bursts form the strongest fixed ridge at 150°.
    assert abs(energy.peaks(slice(None), count=1)[0] - 150.0) <= 5.0
    # Around t = 2.5 s and 7.5 s the siren is at 45° and -45°; both sources show.
    for t in (2.5, 7.5):
        frames = np.flatnonzero(np.abs(energy.times - t) < 0.5)
        found = energy.peaks(slice(frames[0], frames[-1] + 1), count=2)
        want_siren = float(moving.positions(t)[0])
        assert min(abs(f - want_siren) for f in found) <= 10.0
        assert min(abs(f - 150.0) for f in found) <= 10.0


def test_pictures_are_written(tmp_path):
    foa, moving = two_sources()
    estimate = estimate_doa(foa, SAMPLE_RATE)
    plot_doa(tmp_path / "doa.png", estimate, moving, 10.0)
    plot_top_down(tmp_path / "top.png", estimate, moving, 10.0)
    plot_energy_map(tmp_path / "map.png", directional_energy_map(foa, SAMPLE_RATE))
    for name in ("doa.png", "top.png", "map.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == PNG and len(data) > 5000
