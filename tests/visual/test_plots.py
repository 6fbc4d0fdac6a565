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


def test_azimuth_is_unwrapped_across_the_back():
    from sonicmotion.visual.plots import unwrap_azimuth

    # A source passing behind: -160 and +145 are 55 degrees apart, not 305.
    np.testing.assert_allclose(unwrap_azimuth(np.array([170.0, 179.0, -179.0, -160.0])), [170, 179, 181, 200])
    np.testing.assert_allclose(unwrap_azimuth(np.array([-160.0, np.nan, 145.0])), [-160, np.nan, -215])
    # Against a reference path, each estimate lies within 180 degrees of it: the gap is the error.
    np.testing.assert_allclose(unwrap_azimuth(np.array([-175.0, 150.0]), np.array([190.0, 140.0])), [185, 150])


def test_doa_plot_through_the_back_is_one_line(tmp_path):
    from matplotlib import pyplot as plt

    behind = Trajectory.linear(150, 0, -150, 0, "ccw", 0, 10)  # +150 -> +210 through the back
    foa = encode_foa(siren(10, SAMPLE_RATE, seed=0), SAMPLE_RATE, behind)
    estimate = estimate_doa(foa, SAMPLE_RATE)
    captured = {}
    original = plt.Figure.savefig

    def keep(fig, *args, **kwargs):
        captured["lines"] = [line.get_ydata() for line in fig.axes[0].get_lines()]
        captured["limits"] = fig.axes[0].get_ylim()
        return original(fig, *args, **kwargs)

    plt.Figure.savefig = keep
    try:
        plot_doa(tmp_path / "doa.webp", estimate, behind, 10.0)
    finally:
        plt.Figure.savefig = original
    requested, estimated = (np.asarray(y, dtype=float) for y in captured["lines"])
    assert np.nanmax(np.abs(np.diff(requested))) < 1.0  # no jump of 360 degrees
    assert 150 <= np.nanmin(requested) and np.nanmax(requested) <= 210
    finite = estimated[np.isfinite(estimated)]
    assert finite.size and np.nanmax(np.abs(np.diff(finite))) < 20 and 140 < finite.min() and finite.max() < 220
    assert captured["limits"] == (90.0, 270.0)
    assert (tmp_path / "doa.webp").read_bytes()[8:12] == b"WEBP"
    # lossless on a palette: at most WEBP_COLOURS colours, more than a handful (antialiased edges)
    from PIL import Image

    from sonicmotion.visual.plots import WEBP_COLOURS

    with Image.open(tmp_path / "doa.webp") as picture:
        colours = picture.convert("RGB").getcolors(maxcolors=4096)
    assert colours is not None and 8 < len(colours) <= WEBP_COLOURS
