import json
import subprocess
import sys

import pytest

from sonicmotion.cli import main


def test_motion_json_is_one_object(capsys):
    assert main(["motion", "a car passes from left to right behind me, slowly", "--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out)  # exactly one JSON object: anything else on stdout fails here
    assert out.count("\n") == 1
    assert report["trajectory"] == {"type": "linear", "start_azimuth": 90.0, "start_elevation": 0.0,
                                    "end_azimuth": -90.0, "end_elevation": 0.0, "direction": "ccw",
                                    "move_start": 0.75, "move_end": 9.25}
    assert report["content"] == "a car passes"
    assert {"phrase": "behind me", "sets": "leg 1 passes azimuth 180: direction ccw"} in \
        report["understood"]["phrases"]


def test_motion_text_output_and_samples(capsys):
    assert main(["motion", "a dog barks at two o'clock", "--samples", "3", "--seed", "4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert json.loads(out[0]) == {"trajectory": {"type": "static", "azimuth": -60.0, "elevation": 0.0}}
    samples = [json.loads(line.split(": ", 1)[1]) for line in out if line.startswith("sample: ")]
    assert len(samples) == 3 and all(-75 <= s["azimuth"] <= -45 for s in samples)
    assert main(["motion", "a dog barks at two o'clock", "--samples", "3", "--seed", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == samples


def test_motion_nothing_about_position_exits_0_with_null(capsys):
    assert main(["motion", "a dog barks", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["trajectory"] is None and report["content"] == "a dog barks"
    assert main(["motion", "a dog barks"]) == 0
    assert "no path" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["fast and slowly from the left to the right"], "more than one speed"),
    (["from the left to the right", "--seconds", "4", "--json"], None),
    (["from the left to the right starting 6 seconds in", "--seconds", "4"], "outside the 4 s clip"),
    (["a dog barks", "--plot", "x.png"], "no path to draw"),
])
def test_motion_errors_are_one_line_exit_2(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["motion", *args])
    captured = capsys.readouterr()
    if message is None:
        assert code == 0 and json.loads(captured.out)["trajectory"]["move_end"] == 4.0
        return
    assert code == 2 and captured.out == ""
    assert message in captured.err and len(captured.err.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_motion_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "path.png"
    assert main(["motion", "a jet flies from behind you over your head to the front", "--plot", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_motion_process_imports_no_torch():
    code = ("import sys; from sonicmotion.cli import main; "
            "main(['motion', 'a bee circles around you twice clockwise, starting on the left', '--json']); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["trajectory"]["type"] == "keyframes"
