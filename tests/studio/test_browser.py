"""End to end in a real headless browser: Debian's chromium driven by Playwright.

Needs the system browser (``apt-get install chromium``) and the Playwright Python
package (``pip install playwright``; no browser download: we launch /usr/bin/chromium).
Skips, saying which is missing, when either is absent. Set SONICMOTION_CHROMIUM to use
another chromium binary, and SONICMOTION_STUDIO_SCREENSHOT=PATH to save a screenshot.
"""

import json
import math
import os
import shutil
import tempfile
import urllib.request

import numpy as np
import pytest
import soundfile as sf

from sonicmotion.spatial import AMBIX, read_foa
from sonicmotion.studio.server import StudioServer

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]  # containers often have a tiny /dev/shm

pytestmark = pytest.mark.browser


def chromium_path():
    path = os.environ.get("SONICMOTION_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


@pytest.fixture
def browser_page():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the Playwright package is not installed "
                                   "(pip install playwright; the browser itself comes from apt: chromium)")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no chromium browser found (apt-get install chromium, or set SONICMOTION_CHROMIUM)")
    with sync_api.sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1100, "height": 1120},
            bypass_csp=True,  # Playwright evaluates its wait predicates as strings; the page itself needs no eval
        )
        context.set_default_timeout(30_000)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        yield page, errors
        context.close()


def draw_arc(page, start_az, end_az, radius=150, step=5):
    """Drag the mouse around the listener from start_az to end_az (degrees, +90 = left)."""
    box = page.locator("#editor").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    points = [start_az + k * step * (1 if end_az > start_az else -1) for k in range(abs(end_az - start_az) // step + 1)]
    xy = [(cx - radius * math.sin(math.radians(a)), cy - radius * math.cos(math.radians(a))) for a in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y)
    page.mouse.up()


def raise_keyframe(page, azimuth, steps):
    """Scroll up over a keyframe (following it inwards as it rises) to lift it 5 degrees a step."""
    box = page.locator("#editor").bounding_box()
    cx, cy, ring = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"] / 2 - 46
    for step in range(steps):
        radius = ring * math.cos(math.radians(5 * step))
        page.mouse.move(cx - radius * math.sin(math.radians(azimuth)), cy - radius * math.cos(math.radians(azimuth)))
        page.mouse.wheel(0, -100)
        page.wait_for_timeout(30)


def test_draw_render_play_and_download(browser_page, audio_files, tmp_path):
    page, errors = browser_page
    server = StudioServer(tmp_path / "ws", port=0).start()
    try:
        page.goto(server.url)
        page.wait_for_selector("body[data-ready=yes]")
        assert "no library or model: file sources only" in page.inner_text("#server-info")
        assert page.input_value("#rate") == "48000" and page.input_value("#layout") == "ambix"
        first = page.locator(".source").nth(0)
        first.locator(".upload-input").set_input_files(str(audio_files / "siren.wav"))
        page.wait_for_function("document.querySelectorAll('.source .file')[0].value === 'uploads/siren.wav'")
        second = page.locator(".source").nth(1)
        second.locator(".upload-input").set_input_files(str(audio_files / "knocks.wav"))
        page.wait_for_function("document.querySelectorAll('.source .file')[1].value === 'uploads/knocks.wav'")
        page.fill("#duration", "6")
        page.press("#duration", "Enter")
        page.locator(".source").nth(0).locator(".name").click()  # select the first source
        draw_arc(page, 90, 270)  # left, behind, to the right: counter-clockwise seen from above
        rows = page.locator(".source").nth(0).locator(".keys tbody tr")
        assert rows.count() == 7  # one keyframe about every 30 degrees of the 180 drawn
        raise_keyframe(page, azimuth=180, steps=6)  # the keyframe behind the listener, up 6 x 5 degrees
        assert rows.nth(3).locator("input").nth(2).input_value() == "30"
        page.click("#render")
        page.wait_for_function("document.body.dataset.lastJob !== undefined")
        assert page.evaluate("document.body.dataset.lastJob") == "done", page.inner_text("#error")
        assert "peak" in page.inner_text("#peak")
        page.wait_for_function("document.body.dataset.previews === state.result.job")
        assert page.inner_text("#time") == "0:00.0 / 0:06.0"
        page.click("#play")
        page.wait_for_selector("body[data-playing=yes]")
        page.wait_for_function("position() > 0.3")
        assert page.inner_text("#play") == "Stop" and page.inner_text("#time").startswith("0:00.")
        if os.environ.get("SONICMOTION_STUDIO_SCREENSHOT"):
            page.screenshot(path=os.environ["SONICMOTION_STUDIO_SCREENSHOT"], full_page=True)
        page.keyboard.press(" ")  # space stops (focus left the Play button's click)
        page.wait_for_selector("body[data-playing=no]")
        stopped_at = page.evaluate("position()")
        page.wait_for_timeout(150)
        assert page.evaluate("position()") == stopped_at > 0.3
        assert errors == []

        saved = json.loads((server.workspace.root / "scene.json").read_text())
        assert saved["sample_rate"] == 48000 and saved["layout"] == "ambix"
        keys = saved["sources"][0]["path"]["keyframes"]
        assert [k[0] for k in keys] == [0, 1, 2, 3, 4, 5, 6]  # times snapped to 0.1 s
        assert keys[0][1] == 90 and keys[-1][1] == -90 and all(k[1] % 5 == 0 for k in keys)  # angles to 5 degrees
        assert {k[3] for k in keys[1:]} == {"ccw"}
        assert [k[2] for k in keys] == [0, 0, 0, 30, 0, 0, 0]
        assert saved["sources"][1]["file"] == "uploads/knocks.wav"

        def download(element_id, name):
            href = page.get_attribute(f"#{element_id}", "href")
            with urllib.request.urlopen(server.url.rstrip("/") + href) as response:
                assert response.headers["Content-Disposition"] == f'attachment; filename="{name}"'
                (tmp_path / name).write_bytes(response.read())
            return tmp_path / name

        foa = read_foa(download("download-scene_ambix48k-wav", "scene_ambix48k.wav"))
        assert foa.layout == AMBIX and foa.sample_rate == 48000 and foa.samples.shape[1] == 6 * 48000
        scene = read_foa(download("download-scene-wav", "scene.wav"))
        stems = [read_foa(download(f"download-{name.replace('.', '-')}", name)) for name in ("00_source_1.wav", "01_source_2.wav")]
        assert all(s.layout == AMBIX and s.sample_rate == 48000 for s in [scene, *stems])
        assert abs(stems[0].samples + stems[1].samples - scene.samples).max() < 1e-6
        binaural, rate = sf.read(download("download-mix_binaural-flac", "mix_binaural.flac"))
        assert rate == 48000 and binaural.shape == (6 * 48000, 2)
        assert "stem: source 1 (FOA AmbiX)" in page.inner_text("#downloads")
    finally:
        server.close()


def test_a_prompt_source_from_the_library_lands_on_the_drawn_path(browser_page, sound_library, tmp_path):
    from sonicmotion.spatial import Trajectory, spatial_errors
    from sonicmotion.studio.server import StudioServer as Server

    page, errors = browser_page
    server = Server(tmp_path / "ws", port=0, library_dir=sound_library).start()
    try:
        page.goto(server.url)
        page.wait_for_selector("body[data-ready=yes]")
        assert "prompts retrieved from" in page.inner_text("#server-info")
        page.fill("#duration", "4")
        source = page.locator(".source").nth(0)
        assert source.locator(".kind").input_value() == "prompt"  # prompts first when a library can answer them
        assert source.locator(".steps").is_hidden()  # a library retrieves: no sampling settings
        source.locator(".prompt").fill("a dog barks")
        page.locator(".source").nth(1).locator(".remove").click()
        page.locator(".source").nth(0).locator(".name").click()
        draw_arc(page, 90, 270)
        page.click("#render")
        page.wait_for_function("document.body.dataset.lastJob !== undefined")
        assert page.evaluate("document.body.dataset.lastJob") == "done", page.inner_text("#error")
        shown = page.locator(".source").nth(0).locator(".retrieved")
        assert "dog" in shown.inner_text().lower() and "next best" in shown.inner_text()
        href = page.get_attribute("#download-scene_ambix48k-wav", "href")
        with urllib.request.urlopen(server.url.rstrip("/") + href) as response:
            (tmp_path / "dl.wav").write_bytes(response.read())
        saved = json.loads((server.workspace.root / "scene.json").read_text())
        path = Trajectory.from_dict(saved["sources"][0]["path"])
        foa = read_foa(tmp_path / "dl.wav")
        assert foa.layout == AMBIX
        errors_deg = spatial_errors(foa.samples, path, foa.sample_rate, "frame", layout="ambix")
        assert errors_deg.delta_angle < 3.0, errors_deg  # on the drawn path (independent DoA)
        assert errors == []
    finally:
        server.close()


def _open(page, server):
    page.goto(server.url)
    page.wait_for_selector("body[data-ready=yes]")


def test_undo_and_redo_of_path_drags_typed_prompts_sources_and_fields(browser_page, tmp_path):
    page, errors = browser_page
    server = StudioServer(tmp_path / "ws", port=0).start()
    try:
        _open(page, server)
        keys = lambda: page.evaluate("state.sources[0].keys.length")  # noqa: E731
        prompt = lambda: page.locator(".source").nth(0).locator(".prompt")  # noqa: E731  (cards are rebuilt)
        page.locator(".source").nth(0).locator(".kind").select_option("prompt")
        prompt().click()
        page.keyboard.type("a dog barks")
        draw_arc(page, 90, 270)  # straight from typing to the canvas: the typing is one step, the drag the next
        assert keys() == 7
        page.keyboard.press("Control+z")  # the drag, not the typed text
        assert keys() == 1 and prompt().input_value() == "a dog barks"
        page.keyboard.press("Control+z")  # now the prompt
        assert prompt().input_value() == "" and page.evaluate("state.sources[0].prompt") == ""
        page.keyboard.press("Control+Shift+z")
        assert prompt().input_value() == "a dog barks" and keys() == 1
        page.keyboard.press("Control+y")
        assert keys() == 7
        # In a field holding new typing, Ctrl+Z is the field's own text undo; the scene follows it.
        prompt().click()
        page.keyboard.press("End")
        page.keyboard.type(" loudly")
        assert page.evaluate("state.sources[0].prompt") == "a dog barks loudly"
        page.keyboard.press("Control+z")  # chromium takes back the last typed letter
        assert prompt().input_value() == "a dog barks loudl" == page.evaluate("state.sources[0].prompt")
        assert keys() == 7
        page.keyboard.press("Tab")  # leaving the field makes its typing one step of the scene's history
        page.keyboard.press("Control+z")
        assert prompt().input_value() == "a dog barks" and keys() == 7
        page.keyboard.press("Control+z")
        assert keys() == 1
        page.keyboard.press("Control+Shift+z")
        assert keys() == 7 and prompt().input_value() == "a dog barks"
        # Adding and removing sources, and a field, undo too (the buttons as well as the keys).
        page.click("#add-source")
        assert page.locator(".source").count() == 3
        page.locator(".source").nth(0).locator(".remove").click()
        assert page.locator(".source").count() == 2 and page.evaluate("state.sources[0].name") == "source 2"
        page.locator(".source").nth(0).locator(".gain").fill("-6")
        page.keyboard.press("Tab")
        assert page.evaluate("state.sources[0].gain") == -6
        page.keyboard.press("Control+z")
        assert page.evaluate("state.sources[0].gain") == 0
        page.click("#undo")
        assert page.locator(".source").count() == 3 and prompt().input_value() == "a dog barks" and keys() == 7
        page.keyboard.press("Control+z")
        assert page.locator(".source").count() == 2
        page.click("#redo")
        page.click("#redo")
        assert page.locator(".source").count() == 2 and page.evaluate("state.sources[0].name") == "source 2"
        page.fill("#duration", "8")
        page.keyboard.press("Tab")
        page.keyboard.press("Control+z")
        assert page.input_value("#duration") == "10" and page.evaluate("state.scene.duration") == 10
        assert errors == []
    finally:
        server.close()


def drag(page, points):
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point, steps=4)
    page.mouse.up()


def test_snapping_of_angles_and_times_and_shift_to_place_freely(browser_page, tmp_path):
    page, errors = browser_page
    server = StudioServer(tmp_path / "ws", port=0).start()
    try:
        _open(page, server)
        box = page.locator("#editor").bounding_box()
        cx, cy, ring = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"] / 2 - 46

        def at(azimuth):
            return cx - ring * math.sin(math.radians(azimuth)), cy - ring * math.cos(math.radians(azimuth))

        azimuth = lambda: page.evaluate("state.sources[0].keys[0][1]")  # noqa: E731
        assert azimuth() == 45  # the first new source's keyframe
        drag(page, [at(45), at(41), at(37.4)])
        assert azimuth() == 35  # 5 degrees by default
        page.select_option("#snap-angle", "15")
        drag(page, [at(35), at(45), at(52)])
        assert azimuth() == 45
        page.keyboard.down("Shift")
        drag(page, [at(45), at(40), at(37.4)])
        page.keyboard.up("Shift")
        assert azimuth() == pytest.approx(37.4, abs=1.0) and azimuth() % 1 != 0
        # Times: keyframe marks and source bars on the timeline move in 0.1 s steps.
        page.select_option("#snap-angle", "5")
        draw_arc(page, 90, 270)
        times = lambda: [k[0] for k in page.evaluate("state.sources[0].keys")]  # noqa: E731
        assert times() == [0, 1.7, 3.3, 5, 6.7, 8.3, 10]
        page.fill("#duration", "12")
        page.press("#duration", "Enter")
        lane = page.locator("#timeline .rows .lane").nth(0).bounding_box()
        y, per_second = lane["y"] + lane["height"] / 2, lane["width"] / 12
        mark = page.locator("#timeline .rows .track").nth(0).locator(".key").nth(1).bounding_box()
        x = mark["x"] + mark["width"] / 2
        drag(page, [(x, y), (x + 0.43 * per_second, y)])
        assert times()[1] == 2.1
        x0 = lane["x"] + 0.5 * per_second  # on the bar, between the first two marks
        drag(page, [(x0, y), (x0 + 1.234 * per_second, y)])  # the path moves with the source
        assert page.evaluate("state.sources[0].start") == 1.2 and times() == [1.2, 3.3, 4.5, 6.2, 7.9, 9.5, 11.2]
        assert page.locator(".source").nth(0).locator(".start").input_value() == "1.2"
        page.keyboard.down("Shift")
        drag(page, [(x0 + 1.2 * per_second, y), (x0 + 2.257 * per_second, y)])
        page.keyboard.up("Shift")
        start = page.evaluate("state.sources[0].start")
        assert start == pytest.approx(2.257, abs=0.05) and round(start * 10) != start * 10
        assert times()[-1] == 12  # the path stops at the scene's end; the start went on
        page.keyboard.press("Control+z")
        assert page.evaluate("state.sources[0].start") == 1.2 and times()[-1] == 11.2
        assert errors == []
    finally:
        server.close()


def test_transport_seek_loop_and_mute_solo_mix_the_stems(browser_page, tmp_path):
    page, errors = browser_page
    rng = np.random.default_rng(0)
    for name in ("left.wav", "right.wav"):  # steady noise, so a level meter reads the same at any moment
        sf.write(tmp_path / name, 0.1 * rng.standard_normal(3 * 16000).astype("float32"), 16000)
    server = StudioServer(tmp_path / "ws", port=0).start()
    try:
        for name in ("left.wav", "right.wav"):
            server.workspace.save_upload(name, (tmp_path / name).read_bytes())
        _open(page, server)
        page.fill("#duration", "2")
        page.press("#duration", "Enter")
        for i, (name, azimuth) in enumerate((("left", 90), ("right", -90))):
            card = page.locator(".source").nth(i)
            card.locator(".file").select_option(f"uploads/{name}.wav")
            card.locator(".name").fill(name)
            card.locator(".keys input").nth(1).fill(str(azimuth))
            card.locator(".keys input").nth(1).press("Enter")
        page.click("#render")
        page.wait_for_function("document.body.dataset.lastJob !== undefined")
        assert page.evaluate("document.body.dataset.lastJob") == "done", page.inner_text("#error")
        page.wait_for_function("document.body.dataset.previews === state.result.job")
        # Seek while stopped: the readout, the bar and the playhead follow.
        page.locator("#seek").fill("1.5")
        assert page.inner_text("#time") == "0:01.5 / 0:02.0" and page.evaluate("position()") == 1.5
        # Loop: from near the end, playback wraps to the start and goes on.
        page.check("#loop")
        page.locator("#seek").fill("1.7")
        page.click("#play")
        page.wait_for_timeout(700)
        assert page.evaluate("transport.playing") and 0.0 < page.evaluate("position()") < 1.2
        # Without loop it stops at the end and goes back to the start.
        page.uncheck("#loop")
        page.locator("#seek").fill("1.8")
        page.wait_for_selector("body[data-playing=no]", timeout=5000)
        assert page.evaluate("position()") == 0
        # Mute and solo: the page mixes the sources' binaural previews, so the ears tell which is heard.
        page.check("#loop")
        page.click("#play")
        tracks = page.locator("#timeline .rows .track")

        def ears():
            page.wait_for_timeout(250)
            return page.evaluate("levelsDb()")

        both = ears()
        # Soloed, one source at +-90 degrees: the near ear reads 5-8 dB above the far one with the
        # default binaural method (diffuse-field equalised, broadband noise); without the solo the
        # two symmetric sources give 0 dB. 3 dB tells the two apart on any machine.
        tracks.nth(0).locator(".solo").click()
        left, right = ears()
        assert left - right > 3, (left, right)
        assert tracks.nth(0).locator(".solo").get_attribute("aria-pressed") == "true"
        tracks.nth(0).locator(".solo").click()
        tracks.nth(0).locator(".mute").click()
        left, right = ears()
        assert right - left > 3, (left, right)
        tracks.nth(1).locator(".mute").click()
        assert max(ears()) < -100
        tracks.nth(1).locator(".solo").click()  # solo wins over mute
        left, right = ears()
        assert right - left > 3 and right > -40, (left, right)
        page.keyboard.press("Control+z")
        page.keyboard.press("Control+z")
        page.keyboard.press("Control+z")  # mute and solo are edits: undone, both sources are heard again
        assert ears() == pytest.approx(both, abs=1.5) and min(both) > -40
        assert errors == []
    finally:
        server.close()


def test_a_prompt_source_sends_its_generation_settings_to_the_model(browser_page, tmp_path):
    from .conftest import RecordingGenerator

    page, errors = browser_page
    generator = RecordingGenerator()
    server = StudioServer(tmp_path / "ws", port=0, generator=generator).start()
    try:
        _open(page, server)
        page.fill("#duration", "1")
        page.press("#duration", "Enter")
        page.locator(".source").nth(1).locator(".remove").click()
        source = page.locator(".source").nth(0)
        assert source.locator(".kind").input_value() == "prompt"
        for field, value in ((".prompt", "rain on a roof"), (".seed", "3"), (".steps", "7"), (".guidance", "2.5")):
            source.locator(field).fill(value)
        page.click("#render")
        page.wait_for_function("document.body.dataset.lastJob !== undefined")
        assert page.evaluate("document.body.dataset.lastJob") == "done", page.inner_text("#error")
        assert generator.settings == [("rain on a roof", 3, 7, 2.5)]
        saved = json.loads((server.workspace.root / "scene.json").read_text())
        assert saved["sources"][0]["steps"] == 7 and saved["sample_rate"] == 48000
        assert errors == []
    finally:
        server.close()
