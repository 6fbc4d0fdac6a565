import json
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from sonicmotion.cli import main
from sonicmotion.spatial import Trajectory, encode_foa, read_foa, spatial_errors, write_foa
from tests.conftest import SAMPLE_RATE


@pytest.fixture
def stereo_44k(tmp_path):
    """3 s of 44.1 kHz stereo noise: a source that must be downmixed and resampled."""
    rng = np.random.default_rng(3)
    path = tmp_path / "in" / "source.wav"
    path.parent.mkdir()
    sf.write(path, (0.2 * rng.standard_normal((3 * 44100, 2))).astype(np.float32), 44100)
    return path


@pytest.fixture
def foa_file(tmp_path, noise):
    return write_foa(tmp_path / "in_foa.wav", encode_foa(noise[:32000], SAMPLE_RATE, Trajectory.static(30, 0)),
                     SAMPLE_RATE, "fuma")


def files_in(folder):
    return sorted(p.name for p in folder.iterdir())


def test_spatialize_moving_stereo_source(tmp_path, stereo_44k, capsys):
    out = tmp_path / "out.wav"
    code = main(["spatialize", str(stereo_44k), "-o", str(out), "--azimuth", "45", "--to-azimuth", "-135",
                 "--direction", "ccw", "--elevation", "-10", "--to-elevation", "20", "--layout", "ambix"])
    assert code == 0
    captured = capsys.readouterr()
    assert "downmixed 2 channels" in captured.err and "44100 Hz (the input's)" in captured.out
    foa = read_foa(out)  # the input's rate is kept: no band is lost
    assert foa.layout.name == "ambix" and foa.sample_rate == 44100 and foa.samples.shape == (4, 3 * 44100)
    path = Trajectory.linear(45, -10, -135, 20, "ccw", 0.0, 3.0)  # the move spans the whole clip
    assert spatial_errors(foa.samples, path, 44100, layout="ambix").delta_angle < 0.5
    assert main(["analyze", str(out), "--azimuth", "45", "--to-azimuth", "-135", "--direction", "ccw",
                 "--elevation", "-10", "--to-elevation", "20"]) == 0  # any rate: frames are in seconds
    printed = capsys.readouterr().out
    assert "44100 Hz" in printed and float(re.search(r"delta angle ([\d.]+) deg", printed).group(1)) < 0.5
    assert main(["spatialize", str(stereo_44k), "-o", str(out), "--azimuth", "0", "--sample-rate", "16000"]) == 0
    assert "16000 Hz (resampled from the input's 44100 Hz)" in capsys.readouterr().out
    assert read_foa(out).sample_rate == 16000


def test_spatialize_describe_reads_the_path_from_words(tmp_path, stereo_44k, capsys):
    out = tmp_path / "described.wav"
    code = main(["spatialize", str(stereo_44k), "-o", str(out), "--describe", "from the left to the right, passing "
                 "behind you, between 0.5 and 2.5 seconds"])
    assert code == 0
    printed = capsys.readouterr().out
    assert '"direction": "ccw"' in printed and '"move_start": 0.5' in printed
    foa = read_foa(out)
    path = Trajectory.linear(90, 0, -90, 0, "ccw", 0.5, 2.5)  # the 3 s clip: left, behind, right
    assert spatial_errors(foa.samples, path, foa.sample_rate).delta_angle < 0.5


def test_spatialize_duration_loops(tmp_path, stereo_44k):
    out = tmp_path / "looped.flac"
    assert main(["spatialize", str(stereo_44k), "-o", str(out), "--azimuth", "0", "--duration", "10"]) == 0
    assert read_foa(out).samples.shape == (4, 441000)


def test_analyze_json_and_errors(tmp_path, noise, capsys):
    path = Trajectory.linear(90, 0, -90, 0, "cw", 2, 8)
    clip = write_foa(tmp_path / "clip.flac", encode_foa(noise, SAMPLE_RATE, path), SAMPLE_RATE, "fuma")
    assert main(["analyze", str(clip), "--json", "--azimuth", "90", "--to-azimuth", "-90",
                 "--direction", "cw", "--move-start", "2", "--move-end", "8"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["times"]) == len(report["azimuth"]) == 199
    assert report["azimuth"][0] == pytest.approx(90, abs=0.01)
    assert report["times"][99] == pytest.approx(5.0)
    assert report["azimuth"][99] == pytest.approx(0, abs=0.05)  # cw from left to right passes the front
    assert report["errors"]["delta_angle"] < 0.5


def test_analyze_summary_and_plot(tmp_path, foa_file, capsys):
    plot = tmp_path / "doa.png"
    assert main(["analyze", str(foa_file), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "azimuth   +30.0" in out and "front-left" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_analyze_silence(tmp_path, capsys):
    clip = write_foa(tmp_path / "silent.wav", np.zeros((4, 16000), np.float32), SAMPLE_RATE, "fuma")
    assert main(["analyze", str(clip)]) == 0
    out = capsys.readouterr().out
    assert "no active frames" in out and "azimuth" not in out


def test_convert_and_rotate(tmp_path, foa_file):
    ambix = tmp_path / "ambix.flac"
    assert main(["convert", str(foa_file), str(ambix), "--to", "ambix"]) == 0
    back = tmp_path / "back.wav"
    assert main(["convert", str(ambix), str(back), "--to", "fuma"]) == 0
    np.testing.assert_allclose(read_foa(back).samples, read_foa(foa_file).samples, atol=2**-21)
    turned = tmp_path / "turned.wav"
    assert main(["rotate", str(ambix), str(turned), "--yaw", "30"]) == 0
    rotated = read_foa(turned)
    assert rotated.layout.name == "ambix"
    assert spatial_errors(rotated.samples, Trajectory.static(60, 0), SAMPLE_RATE, layout="ambix").delta_angle < 0.01


def _corrupt(tmp_path):
    path = tmp_path / "in" / "corrupt.wav"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    return path


def _nan(tmp_path):
    path = tmp_path / "in" / "nan.wav"
    path.parent.mkdir(exist_ok=True)
    data = np.zeros((1000, 1), np.float32)
    data[10] = np.nan
    sf.write(path, data, SAMPLE_RATE, subtype="FLOAT")
    return path


def _stereo(tmp_path):
    path = tmp_path / "in" / "stereo.wav"
    path.parent.mkdir(exist_ok=True)
    sf.write(path, np.zeros((1000, 2), np.float32), SAMPLE_RATE)
    return path


def _unlabelled(tmp_path):
    path = tmp_path / "in" / "unlabelled.wav"
    path.parent.mkdir(exist_ok=True)
    sf.write(path, np.zeros((1000, 4), np.float32), SAMPLE_RATE)
    return path


OUT = "{out}/result.wav"
BAD_INPUTS = {
    "missing input": (lambda t, s: ["spatialize", str(t / "nope.wav"), "-o", OUT, "--azimuth", "0"], "no such file"),
    "corrupt input": (lambda t, s: ["spatialize", str(_corrupt(t)), "-o", OUT, "--azimuth", "0"], "cannot read"),
    "nan samples": (lambda t, s: ["spatialize", str(_nan(t)), "-o", OUT, "--azimuth", "0"], "NaN"),
    "elevation 100": (lambda t, s: ["spatialize", str(s), "-o", OUT, "--azimuth", "0", "--elevation", "100"],
                      "elevation"),
    "to-elevation -100": (lambda t, s: ["spatialize", str(s), "-o", OUT, "--azimuth", "0", "--to-elevation", "-100"],
                          "--to-elevation must lie in [-90, 90] degrees, got -100"),
    "move end before start": (lambda t, s: ["spatialize", str(s), "-o", OUT, "--azimuth", "0", "--to-azimuth", "90",
                                            "--move-start", "2", "--move-end", "1"], "later than"),
    "move end after clip": (lambda t, s: ["spatialize", str(s), "-o", OUT, "--azimuth", "0", "--to-azimuth", "90",
                                          "--move-end", "30"], "beyond"),
    "keyframes out of order": (lambda t, s: ["spatialize", str(s), "-o", OUT, "--keyframes", "2:0:0;1:90:0"],
                               "increasing"),
    "no position": (lambda t, s: ["spatialize", str(s), "-o", OUT], "position is needed"),
    "describe and flags": (lambda t, s: ["spatialize", str(s), "-o", OUT, "--describe", "on the left", "--azimuth",
                                         "10"], "--describe gives the whole path; drop --azimuth"),
    "describe says no place": (lambda t, s: ["spatialize", str(s), "-o", OUT, "--describe", "a dog barks"],
                               "says nothing about where the sound is"),
    "describe contradicts": (lambda t, s: ["spatialize", str(s), "-o", OUT, "--describe",
                                           "from the left to the right starting 5 seconds in"], "outside the 3 s clip"),
    "missing folder": (lambda t, s: ["spatialize", str(s), "-o", "{out}/missing/x.wav", "--azimuth", "0"],
                       "does not exist"),
    "bad extension": (lambda t, s: ["spatialize", str(s), "-o", "{out}/x.mp3", "--azimuth", "0"], ".wav or .flac"),
    "analyze stereo": (lambda t, s: ["analyze", str(_stereo(t)), "--layout", "fuma"], "4 channels"),
    "analyze unlabelled": (lambda t, s: ["analyze", str(_unlabelled(t))], "--layout"),
    "convert stereo": (lambda t, s: ["convert", str(_stereo(t)), OUT, "--to", "ambix", "--layout", "fuma"],
                       "4 channels"),
    "convert missing": (lambda t, s: ["convert", str(t / "nope.wav"), OUT, "--to", "ambix"], "no such file"),
    "rotate unlabelled": (lambda t, s: ["rotate", str(_unlabelled(t)), OUT, "--yaw", "10"], "--layout"),
    "rotate nan yaw": (lambda t, s: ["rotate", str(s), OUT, "--yaw", "nan"], "finite"),
    "rotate into missing folder": (lambda t, s: ["rotate", str(s), "{out}/no/x.wav", "--yaw", "1"], "does not exist"),
    "to-distance alone": (lambda t, s: ["spatialize", str(s), "-o", OUT, "--azimuth", "0", "--to-distance", "3"],
                          "--to-distance needs --distance"),
    "distance too far": (lambda t, s: ["spatialize", str(s), "-o", OUT, "--azimuth", "0", "--distance", "20000"],
                         "--distance must lie in (0, 10000] metres, got 20000"),
    "supersonic": (lambda t, s: ["spatialize", str(s), "-o", OUT, "--azimuth", "0", "--to-azimuth", "10",
                                 "--distance", "1", "--to-distance", "2000"], "below the speed of sound"),
    "cartesian and azimuth": (lambda t, s: ["spatialize", str(s), "-o", OUT, "--cartesian", "0,1,0,0", "--azimuth",
                                            "0"], "--cartesian cannot be combined"),
    "cartesian at the listener": (lambda t, s: ["spatialize", str(s), "-o", OUT, "--cartesian", "0,0,0,0"],
                                  "--cartesian keyframe 1: (0, 0, 0) m lies 0 m from the listener"),
    "cartesian text": (lambda t, s: ["spatialize", str(s), "-o", OUT, "--cartesian", "0,1,2"], "must read t,x,y,z"),
    "cartesian after clip": (lambda t, s: ["spatialize", str(s), "-o", OUT, "--cartesian", "0,1,0,0; 9,2,0,0"],
                             "beyond the clip"),
    "keyframe distance": (lambda t, s: ["spatialize", str(s), "-o", OUT, "--keyframes", "0:0:0:2;1:90:0:ccw:-1"],
                          "keyframe 2 distance must lie in (0, 10000] metres, got -1"),
    "room without distance": (lambda t, s: ["spatialize", str(s), "-o", OUT, "--azimuth", "0", "--room", "8x6x3"],
                              "--room needs a path with distance"),
    "no-doppler without distance": (lambda t, s: ["spatialize", str(s), "-o", OUT, "--azimuth", "0", "--no-doppler"],
                                    "--no-doppler needs a path with distance"),
    "rt60 without room": (lambda t, s: ["spatialize", str(s), "-o", OUT, "--azimuth", "0", "--distance", "2",
                                        "--rt60", "0.5"], "--rt60 needs --room"),
    "bad room": (lambda t, s: ["spatialize", str(s), "-o", OUT, "--azimuth", "0", "--distance", "2", "--room",
                               "8x6"], "--room: room dimensions must read XxYxZ"),
    "source outside the room": (lambda t, s: ["spatialize", str(s), "-o", OUT, "--azimuth", "0", "--distance", "9",
                                              "--room", "8x6x3"], "leaves the 8x6x3 m room"),
    "listener outside the room": (lambda t, s: ["spatialize", str(s), "-o", OUT, "--azimuth", "0", "--distance",
                                                "2", "--room", "8x6x3", "--listener", "9,1,1"], "listener must be"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_exit_2_one_line_no_file(tmp_path, stereo_44k, case, capsys):
    make, message = BAD_INPUTS[case]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    args = [a.replace("{out}", str(out_dir)) for a in make(tmp_path, stereo_44k)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert files_in(out_dir) == []


def test_spatialize_a_car_passing_on_the_left(tmp_path, stereo_44k, capsys):
    """--cartesian at 48 kHz: the car is at the left as it passes, and the output is later
    and quieter than the plane wave at the ends (distance, Doppler and air)."""
    out = tmp_path / "car.wav"
    args = ["spatialize", str(stereo_44k), "-o", str(out), "--cartesian", "0,-40,4,0; 3,20,4,0",
            "--sample-rate", "48000"]
    assert main(args) == 0
    assert "with distance and Doppler" in capsys.readouterr().out
    foa = read_foa(out)
    path = Trajectory.parse_cartesian("0,-40,4,0; 3,20,4,0")
    errors = spatial_errors(foa.samples[:, 48000:96000], Trajectory.static(*path.positions(1.5 + 4 / 343)),
                            48000, "frame")
    assert errors.l1_elevation < 1.0
    assert np.max(np.abs(foa.samples[:, : int(40 / 343 * 48000) - 80])) < 1e-5  # 40 m away: heard after 117 ms
    roomy = tmp_path / "roomy.wav"
    assert main(["spatialize", str(stereo_44k), "-o", str(roomy), "--azimuth", "30", "--distance", "2",
                 "--room", "8x6x3", "--rt60", "0.4", "--sample-rate", "48000", "--layout", "ambix"]) == 0
    assert "in a 8x6x3 m room (RT60 0.40 s)" in capsys.readouterr().out
    assert read_foa(roomy).layout.name == "ambix"


def test_entry_point_exit_status(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "sonicmotion", "analyze", str(tmp_path / "missing.wav")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"sonicmotion analyze: error: {tmp_path / 'missing.wav'}: no such file"


def test_every_command_has_help_with_examples(capsys):
    for command in ["spatialize", "analyze", "convert", "rotate", "demo", "motion"]:
        assert main([command, "--help"]) == 0
        assert "examples:" in capsys.readouterr().out
