"""Frequency-dependent walls of a shoebox room (issue 28): wall filters per image source,
the late tail's RT60 per octave band, and mean-absorption rooms unchanged."""

import hashlib

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from sonicmotion.cli import main
from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial import Trajectory, encode_foa
from sonicmotion.spatial.room import Room
from sonicmotion.spatial.walls import BANDS_HZ, MATERIALS, SURFACES, parse_materials, wall_filter

RATE = 16_000
SOURCE = (1.5, 0.7, 0.4)  # metres from the listener: front, left, up
LISTENER = (3.0, 2.5, 1.2)
ABSORBING = [1.0] * 6  # a surface that reflects nothing


def _render(room, seconds, rate=RATE):
    path = Trajectory.cartesian([(0.0, *SOURCE)])
    signal = np.zeros(int(seconds * rate), np.float32)
    signal[0] = 1.0
    return encode_foa(signal, rate, path, room=room, air=None).astype(np.float64)


def _band_power(spectrum, frequencies, centre, octaves=1 / 3):
    inside = (frequencies >= centre * 2 ** (-octaves / 2)) & (frequencies <= centre * 2 ** (octaves / 2))
    return float(np.mean(np.abs(spectrum[inside]) ** 2))


@pytest.mark.parametrize("rate", [16_000, 48_000])
def test_wall_filters_meet_their_band_gains(rate):
    worst = 0.0
    for absorption in MATERIALS.values():
        gains = np.sqrt(1.0 - np.array(absorption))
        response = np.fft.rfft(wall_filter(tuple(gains), rate), 1 << 17)
        frequencies = np.fft.rfftfreq(1 << 17, 1.0 / rate)
        at_centres = np.abs(response[[int(np.argmin(np.abs(frequencies - c))) for c in BANDS_HZ]])
        worst = max(worst, float(np.max(np.abs(20 * np.log10(at_centres / gains)))))
    assert worst < 0.2  # dB (0.13 measured)


def test_a_carpet_reflection_loses_its_high_band_by_the_expected_decibels():
    """Only the floor reflects (heavy carpet: absorption 0.06 at 250 Hz, 0.65 at 4 kHz): the
    reflection's spectrum over the direct sound's falls by 10 log10(0.35 / 0.94) = -4.29 dB
    from 250 Hz to 4 kHz."""
    materials = {s: ABSORBING for s in SURFACES} | {"floor": "carpet_on_concrete"}
    room = Room((8, 6, 3), listener=LISTENER, order=1, tail=False, materials=materials)
    direct = _render(None, 0.25, 48_000)[0]  # the same path without the room
    reflection = _render(room, 0.25, 48_000)[0] - direct
    frequencies = np.fft.rfftfreq(reflection.size, 1 / 48_000)
    ratio = {c: _band_power(np.fft.rfft(reflection), frequencies, c) / _band_power(np.fft.rfft(direct), frequencies, c)
             for c in (250.0, 4000.0)}
    drop_db = 10 * np.log10(ratio[4000.0] / ratio[250.0])
    expected = 10 * np.log10((1 - 0.65) / (1 - 0.06))
    assert drop_db == pytest.approx(expected, abs=0.3)
    # and the level is the image's: 1/r of its distance times the carpet's factor at 250 Hz
    image = np.array(SOURCE) * [1, 1, -1] - [0, 0, 2 * LISTENER[2]]
    level_db = 10 * np.log10(ratio[250.0]) - 20 * np.log10(np.linalg.norm(SOURCE) / np.linalg.norm(image))
    assert level_db == pytest.approx(10 * np.log10(1 - 0.06), abs=0.3)


def _t30(pressure, rate):
    """RT60 (s) by Schroeder backward integration, fitted from -5 to -35 dB."""
    energy = np.cumsum(pressure[::-1] ** 2)[::-1]
    decay_db = 10 * np.log10(energy / energy[0])
    t = np.arange(pressure.size) / rate
    fit = (decay_db <= -5) & (decay_db >= -35)
    return -60.0 / np.polyfit(t[fit], decay_db[fit], 1)[0]


def test_the_tail_decays_with_eyrings_rt60_in_every_octave_band():
    room = Room((8, 6, 3), listener=LISTENER,
                materials={"floor": "carpet_on_concrete", "walls": "plasterboard", "ceiling": "acoustic_tile"})
    expected = room.band_reverberation_times
    assert expected.max() / expected.min() > 2.5  # a room whose bands differ
    pressure = _render(room, 1.5 * expected.max() + 0.2)[0] * np.sqrt(2.0)
    # Half-octave Butterworth bands at the band centres (where each tail band is alone; a third
    # octave at 125 Hz is too narrow for one noise realisation: 12 % scatter on the tail alone),
    # run over the time-reversed response so the filters' own ringing does not lengthen the decay.
    measured = []
    for centre in BANDS_HZ:
        sos = butter(3, [centre * 2 ** (-1 / 4), centre * 2 ** (1 / 4)], "bandpass", fs=RATE, output="sos")
        measured.append(_t30(sosfilt(sos, pressure[::-1])[::-1], RATE))
    np.testing.assert_allclose(measured, expected, rtol=0.10)  # worst 5.6 % measured (250 Hz)


def test_materials_flat_across_the_bands_render_as_that_mean_absorption():
    """Six equal coefficients on every surface: the images' gains, and the band-split tail
    recombined, give the broadband room's render to float32 rounding."""
    path = Trajectory.cartesian([(0.0, -0.6, 1.5, 0.2), (0.5, 0.6, 1.5, 0.2)])
    mono = np.random.default_rng(3).standard_normal(RATE // 2).astype(np.float32)
    flat = Room((6, 5, 3), absorption=0.25, order=2)
    banded = Room((6, 5, 3), order=2, materials={"walls": [0.25] * 6, "floor": [0.25] * 6, "ceiling": [0.25] * 6})
    assert banded.reverberation_time == pytest.approx(flat.reverberation_time, rel=1e-12)
    a, b = (encode_foa(mono, RATE, path, room=room) for room in (flat, banded))
    assert np.max(np.abs(a - b)) < 1e-5 * np.max(np.abs(a))


# sha256 of encode_foa's bytes for mean-absorption rooms, recorded before materials existed
# (valid where test_distance.py's float32 trigonometry canary matches).
_ROOMS_BEFORE = {
    "rt60": "7085ee97d91717a5",
    "rt60 no doppler": "ec6432d561f7b91d",
    "absorption order 2": "aeb8e94161bb440c",
    "absorption order 2 no doppler": "c094a3a8dbddb616",
    "no tail": "662bb1b54392f157",
    "no tail no doppler": "cf1d86be415e86c2",
}


def test_mean_absorption_rooms_render_bit_for_bit_as_before():
    from tests.spatial.test_distance import _TRIG_CANARY, _sha

    ramp = np.arange(100000, dtype=np.float32) * np.float32(1e-4)  # test_distance.py's canary
    if _sha(np.concatenate([np.sin(ramp), np.cos(ramp)])) != _TRIG_CANARY:
        pytest.skip("this CPU's float32 trigonometry differs from the one the hashes were recorded on")
    mono = np.random.default_rng(0).standard_normal(48_000).astype(np.float32)
    walker = Trajectory.cartesian([(0.0, -0.7, 1.5, 0.2), (1.0, 0.7, 1.5, 0.2)])
    rooms = {"rt60": Room((8, 6, 3), rt60=0.5), "absorption order 2": Room((8, 6, 3), absorption=0.2, order=2),
             "no tail": Room((5, 4, 3), listener=(1, 1, 1), tail=False)}
    for name, room in rooms.items():
        for doppler in (True, False):
            key = name + ("" if doppler else " no doppler")
            foa = encode_foa(mono, 48_000, walker, doppler=doppler, room=room)
            assert hashlib.sha256(foa.tobytes()).hexdigest()[:16] == _ROOMS_BEFORE[key], key


def test_each_image_bounces_off_the_surfaces_it_names():
    room = Room((4, 5, 3), listener=(1.0, 2.0, 1.0), order=3)
    source = np.array([2.5, 3.0, 2.0])  # room coordinates
    sides = {"back": (0, -1), "front": (0, 1), "right": (1, -1), "left": (1, 1), "floor": (2, -1), "ceiling": (2, 1)}
    for signs, offsets, bounces in room.image_sources():
        hits = room.wall_hits(signs, offsets)
        assert hits.sum() == bounces
        if bounces == 1:  # the image lies beyond the one surface it hit
            image = signs * source + offsets
            surface = SURFACES[int(np.argmax(hits))]
            axis, side = sides[surface]
            assert (image[axis] < 0) if side < 0 else (image[axis] > room.dimensions[axis])


def test_materials_round_trip_and_bad_values_are_one_line_errors():
    room = Room((8, 6, 3), absorption=0.1, materials={"walls": "brick", "left": "glass_window",
                                                    "ceiling": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]})
    data = room.to_dict()
    assert data["materials"]["left"] == "glass_window" and data["materials"]["front"] == "brick"
    assert "floor" not in data["materials"] and Room.from_dict(data) == room
    # the floor, left out, has the flat absorption 0.1
    np.testing.assert_allclose(room.surface_absorption[SURFACES.index("floor")], 0.1)
    bad = [
        ({"floor": "carpet"}, "unknown material 'carpet' for floor"),
        ({"floor": [0.1, 0.2]}, "floor must be a material name or six absorption coefficients"),
        ({"floor": [0.1, 0.2, 0.3, 0.4, 0.5, 1.5]}, "six absorption coefficients in \\[0, 1\\]"),
        ({"roof": "concrete"}, "unknown surface roof"),
        ({s: [0.0] * 6 for s in SURFACES}, "RT60 of inf s at 125 Hz; at most 20 s"),
        ("brick", "must map surfaces"),
    ]
    for materials, message in bad:
        with pytest.raises(SonicMotionError, match=message) as err:
            Room((8, 6, 3), materials=materials)
        assert "\n" not in str(err.value)
    with pytest.raises(SonicMotionError, match="rt60 or its materials, not both"):
        Room.from_dict({"dimensions": [8, 6, 3], "rt60": 0.5, "materials": {"floor": "concrete"}})


def test_materials_flag_parses_names_and_coefficients():
    assert parse_materials("floor=carpet_on_concrete, ceiling=0.1 0.2 0.3 0.4 0.5 0.6") == {
        "floor": "carpet_on_concrete", "ceiling": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}
    with pytest.raises(SonicMotionError, match="must read surface=material"):
        parse_materials("floor carpet")


def test_spatialize_with_materials(tmp_path, capsys):
    import soundfile as sf

    source = tmp_path / "click.wav"
    sf.write(source, np.random.default_rng(1).standard_normal(8000).astype(np.float32) * 0.1, RATE)
    out = tmp_path / "out.wav"
    args = ["spatialize", str(source), "-o", str(out), "--azimuth", "30", "--distance", "2", "--room", "8x6x3"]
    assert main(args + ["--materials", "floor=carpet_on_concrete, walls=plaster, ceiling=acoustic_tile"]) == 0
    assert "RT60 2.44 0.93 0.48 0.33 0.26 0.24 s at 125 Hz-4 kHz" in capsys.readouterr().out and out.exists()
    assert main(args + ["-o", str(tmp_path / "bad.wav"), "--materials", "floor=shag"]) == 2
    err = capsys.readouterr().err
    assert "unknown material 'shag' for floor" in err and not (tmp_path / "bad.wav").exists()


def test_filtered_reflections_arrive_at_their_image_sources_delay_and_direction():
    """Zero-phase wall filters: each first-order reflection peaks at its geometric arrival
    sample and comes from its image source (as without materials, test_distance.py)."""
    room = Room((8, 6, 3), listener=LISTENER, tail=False,
                materials={"floor": "carpet_on_underlay", "walls": "glass_window", "ceiling": "acoustic_tile"})
    foa = _render(room, 0.05, 48_000)
    source, listener = np.array(SOURCE), np.array(LISTENER)
    for signs, offsets, bounces in room.image_sources()[1:]:
        image = signs * (source + listener) + offsets - listener
        arrival = np.linalg.norm(image) / 343.0 * 48_000
        part = foa[:, int(arrival) - 20 : int(arrival) + 21]
        assert abs(int(arrival) - 20 + int(np.argmax(np.abs(part[0]))) - arrival) <= 1.0
        measured = part[1:] @ part[0]
        cos = measured @ image / (np.linalg.norm(measured) * np.linalg.norm(image))
        assert np.degrees(np.arccos(min(1.0, cos))) < 2.0
