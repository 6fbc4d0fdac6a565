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

import pytest

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


def test_draw_render_and_play(browser_page, audio_files, tmp_path):
    page, errors = browser_page
    server = StudioServer(tmp_path / "ws", port=0).start()
    try:
        media = []
        page.on("response", lambda r: media.append((r.url, r.status)) if "binaural.flac" in r.url else None)
        page.goto(server.url)
        page.wait_for_selector("body[data-ready=yes]")
        assert "no library or model: file sources only" in page.inner_text("#server-info")
        first, second = page.locator(".source").nth(0), page.locator(".source").nth(1)
        first.locator(".upload-input").set_input_files(str(audio_files / "siren.wav"))
        page.wait_for_function("document.querySelectorAll('.source .file')[0].value === 'uploads/siren.wav'")
        second = page.locator(".source").nth(1)
        second.locator(".upload-input").set_input_files(str(audio_files / "knocks.wav"))
        page.wait_for_function("document.querySelectorAll('.source .file')[1].value === 'uploads/knocks.wav'")
        page.fill("#duration", "6")
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
        page.click("#play-mix")
        page.wait_for_selector("body[data-playing=yes]")
        page.wait_for_function("document.getElementById('player').currentTime > 0.3")
        assert page.inner_text("#play-mix") == "Stop"
        if os.environ.get("SONICMOTION_STUDIO_SCREENSHOT"):
            page.screenshot(path=os.environ["SONICMOTION_STUDIO_SCREENSHOT"], full_page=True)
        page.click("#play-mix")
        assert page.evaluate("document.getElementById('player').paused")
        page.locator(".source").nth(1).locator(".play").click()  # one source alone
        page.wait_for_function("document.getElementById('player').currentTime > 0.1")
        assert page.evaluate("document.getElementById('player').src").endswith("source01_binaural.flac?v="
                                                                               + page.evaluate("state.result.job"))
        # Seeking a preview needs HTTP ranges: without them the browser keeps seekable at [0, 0]
        # and snaps currentTime back to 0.
        page.wait_for_function("document.getElementById('player').seekable.length > 0")
        assert page.evaluate("document.getElementById('player').seekable.end(0)") == pytest.approx(6.0, abs=0.1)
        page.evaluate("document.getElementById('player').currentTime = 4.0")
        page.wait_for_function("document.getElementById('player').currentTime >= 4.0")
        page.wait_for_timeout(200)
        assert page.evaluate("document.getElementById('player').currentTime") >= 4.0
        # The media element asked for byte ranges and got them (a short file may be seekable from
        # the memory cache alone; a long one is not, so the 206 is what matters).
        assert any(status == 206 for url, status in media), media
        assert errors == []

        saved = json.loads((server.workspace.root / "scene.json").read_text())
        keys = saved["sources"][0]["path"]["keyframes"]
        assert [k[0] for k in keys] == pytest.approx([0, 1, 2, 3, 4, 5, 6], abs=0.02)
        assert keys[0][1] == pytest.approx(90, abs=3) and keys[-1][1] == pytest.approx(-90, abs=3)
        assert {k[3] for k in keys[1:]} == {"ccw"}
        assert [k[2] for k in keys] == [0, 0, 0, 30, 0, 0, 0]
        assert saved["sources"][1]["file"] == "uploads/knocks.wav"
        href = page.get_attribute("#download-scene_ambix48k-wav", "href")
        with urllib.request.urlopen(server.url.rstrip("/") + href) as response:
            (tmp_path / "dl.wav").write_bytes(response.read())
        foa = read_foa(tmp_path / "dl.wav")
        assert foa.layout == AMBIX and foa.sample_rate == 48000 and foa.samples.shape[1] == 6 * 48000
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
        source.locator(".kind").select_option("prompt")
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
