import base64
import io
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest
import soundfile as sf

from sonicmotion.cli import main
from sonicmotion.data.synth import noise_bursts, siren
from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial import Trajectory, encode_foa, write_foa
from sonicmotion.visual.html_report import describe_trajectory, load_run
from tests.conftest import SAMPLE_RATE


class Sources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources = []  # (tag, src)
        self.text = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href"):
                self.sources.append((tag, value))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture
def run_dir(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    paths = [Trajectory.linear(45, 0, -90, 40, "ccw", 1, 3), Trajectory.static(-60, 20)]
    rows = []
    for i, (sound, path) in enumerate(zip((siren, noise_bursts), paths)):
        write_foa(run / f"clip{i}.flac", encode_foa(sound(4, SAMPLE_RATE, seed=i), SAMPLE_RATE, path), SAMPLE_RATE,
                  "fuma")
        rows.append({"id": f"clip{i}", "prompt": f"a {sound.__name__}", "trajectory": path.to_dict(), "seconds": 4})
    (run / "prompts.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (run / "run.json").write_text(json.dumps({"name": "tiny run", "note": "smoke-scale model"}))
    (run / "metrics.json").write_text(json.dumps({"clap": {"computed": False, "reason": "no CLAP model"},
                                                  "spatial": {"computed": True, "delta_angle": 1.5}}))
    return run


def test_report_is_self_contained(tmp_path, run_dir):
    out = tmp_path / "report.html"
    assert main(["report", str(run_dir), "-o", str(out)]) == 0
    parser = Sources()
    parser.feed(out.read_text())
    text = " ".join(parser.text)
    assert "smoke-scale model" in text and "not computed: no CLAP model" in text
    assert "azimuth 45° → -90° (ccw)" in text
    audio = [src for tag, src in parser.sources if tag == "audio"]
    images = [src for tag, src in parser.sources if tag == "img"]
    assert len(audio) == 2 and len(images) == 4
    assert all(src.startswith("data:") for _, src in parser.sources)  # nothing to fetch, nothing missing
    for src in audio:
        ears, rate = sf.read(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert ears.shape == (4 * SAMPLE_RATE, 2) and rate == SAMPLE_RATE and np.abs(ears).max() > 0.1
    for src in images:
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    # Frame-mode errors of an exact placement are ~0.
    frame_row = re.search(r"<td>frame</td><td>([\d.]+)</td><td>([\d.]+)</td><td>([\d.]+)</td>", out.read_text())
    assert frame_row and float(frame_row.group(3)) < 0.01


def test_report_bad_run_folder(tmp_path, run_dir):
    (run_dir / "clip1.flac").unlink()
    with pytest.raises(SonicMotionError, match="clip1"):
        load_run(run_dir)
    assert main(["report", str(tmp_path), "-o", str(tmp_path / "r.html")]) == 2
    assert not (tmp_path / "r.html").exists()


def test_describe_keyframes():
    text = describe_trajectory(Trajectory.parse_keyframes("0:0:0;2:90:10:ccw"))
    assert text == "keyframes 0 s: 0°/0°; 2 s: 90°/10° ccw"
