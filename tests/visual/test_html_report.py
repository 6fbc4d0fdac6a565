import base64
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

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
    from sonicmotion.visual.html_report import Formats

    formats = Formats.best()
    out = tmp_path / "report.html"
    assert main(["report", str(run_dir), "-o", str(out)]) == 0
    parser = Sources()
    parser.feed(out.read_text())
    text = " ".join(parser.text)
    assert "smoke-scale model" in text and "not computed: no CLAP model" in text
    assert "azimuth 45° → -90° (ccw)" in text
    audio = [src for tag, src in parser.sources if tag == "audio"]
    images = [src for tag, src in parser.sources if tag == "img"]
    links = [src for tag, src in parser.sources if tag == "a"]
    assert len(audio) == 2 and len(images) == 4
    assert links == ["#clip-0-clip0", "#clip-0-clip1"]  # the clip index
    assert all(src.startswith("data:") for src in audio + images)  # nothing to fetch, nothing missing
    rate = 48000 if formats.opus else SAMPLE_RATE
    for src in audio:
        assert src.startswith("data:audio/ogg; codecs=opus;" if formats.opus else "data:audio/flac;")
        ears, got = sf.read(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert got == rate and abs(ears.shape[0] - 4 * rate) <= 0.01 * rate and ears.shape[1] == 2
        assert np.abs(ears).max() > 0.1
    for src in images:
        head = base64.b64decode(src.split(",", 1)[1])[:12]
        assert head[8:12] == b"WEBP" if formats.webp else head[:8] == b"\x89PNG\r\n\x1a\n"
    assert ("Previews are Opus" if formats.opus else "Previews are FLAC") in text
    # Frame-mode errors of an exact placement are ~0.
    frame_row = re.search(r"<td>frame</td><td>([\d.]+)</td><td>([\d.]+)</td><td>([\d.]+)</td>", out.read_text())
    assert frame_row and float(frame_row.group(3)) < 0.01
    again = tmp_path / "again.html"
    assert main(["report", str(run_dir), "-o", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()  # the same bytes (Ogg serial numbers fixed)


def test_report_falls_back_to_flac_and_png(tmp_path, run_dir):
    from sonicmotion.visual.html_report import Formats, write_html_report

    out = write_html_report([run_dir], tmp_path / "plain.html", progress=False, formats=Formats(opus=False, webp=False))
    parser = Sources()
    parser.feed(out.read_text())
    assert "Previews are FLAC (this libsndfile has no Opus encoder). Pictures are PNG" in " ".join(parser.text)
    audio = [src for tag, src in parser.sources if tag == "audio"]
    images = [src for tag, src in parser.sources if tag == "img"]
    assert all(src.startswith("data:audio/flac;") for src in audio)
    assert all(base64.b64decode(src.split(",", 1)[1])[:4] == b"\x89PNG" for src in images)
    ears, rate = sf.read(io.BytesIO(base64.b64decode(audio[0].split(",", 1)[1])))
    assert rate == SAMPLE_RATE and ears.shape == (4 * SAMPLE_RATE, 2)


def many_clips(folder, count, seconds=0.25):
    """A run of ``count`` tiny clips with prompts of a realistic length (about 90 characters)."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i in range(count):
        path = Trajectory.linear(float(rng.uniform(-180, 180)), 0, float(rng.uniform(-180, 180)), 20, "cw", 0, seconds)
        mono = (0.2 * rng.standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32)
        write_foa(folder / f"sample_{i:05d}.flac", encode_foa(mono, SAMPLE_RATE, path), SAMPLE_RATE, "fuma")
        rows.append({"id": f"sample_{i:05d}", "prompt": f"a dog barks twice while a car passes by from the left "
                     f"to the right behind the listener, take {i}", "trajectory": path.to_dict(), "seconds": seconds})
    (folder / "prompts.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    return folder


def test_linked_report_of_a_thousand_clips_stays_small(tmp_path):
    """Issue 25's target: 1,000 clips with --link in at most 2 MB of HTML. The page grows by the
    same bytes per clip, so two sizes (3 and 9 clips) give the size at 1,000."""
    from sonicmotion.visual.html_report import Formats

    formats = Formats.best()
    run = many_clips(tmp_path / "run", 9)
    sizes = {}
    for count in (3, 9):
        out = tmp_path / f"r{count}.html"
        assert main(["report", str(run), "-o", str(out), "--link", "--max-clips", str(count)]) == 0
        page = out.read_text()
        sizes[count] = len(page.encode())
        parser = Sources()
        parser.feed(page)
        files = [src for tag, src in parser.sources if tag in ("audio", "img")]
        assert len(files) == 3 * count and not any(src.startswith("data:") for src in files)
        for src in files:  # every link resolves to a file beside the page
            assert src.startswith(f"r{count}_files/") and (tmp_path / src).is_file(), src
        suffixes = {Path(src).suffix for src in files}
        assert suffixes == {".opus" if formats.opus else ".flac", ".webp" if formats.webp else ".png"}
        index = [src for tag, src in parser.sources if tag == "a"]
        assert len(index) == count and all(f'id="{a[1:]}"' in page for a in index)
        if count < 9:
            assert f"clip index: {count} clips (the first {count} of 9: --max-clips)" in " ".join(parser.text)
    per_clip = (sizes[9] - sizes[3]) / 6
    projected = sizes[3] + 997 * per_clip
    assert projected <= 2_000_000, (per_clip, projected)
    # Written again: the folder is replaced as a whole, nothing stale left beside it.
    (tmp_path / "r3_files" / "stale.txt").write_text("old")
    assert main(["report", str(run), "-o", str(tmp_path / "r3.html"), "--link", "--max-clips", "3"]) == 0
    assert not (tmp_path / "r3_files" / "stale.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_report_bad_run_folder(tmp_path, run_dir):
    (run_dir / "clip1.flac").unlink()
    with pytest.raises(SonicMotionError, match="clip1"):
        load_run(run_dir)
    assert main(["report", str(tmp_path), "-o", str(tmp_path / "r.html")]) == 2
    assert not (tmp_path / "r.html").exists()


def test_describe_keyframes():
    text = describe_trajectory(Trajectory.parse_keyframes("0:0:0;2:90:10:ccw"))
    assert text == "keyframes 0 s: 0°/0°; 2 s: 90°/10° ccw"
