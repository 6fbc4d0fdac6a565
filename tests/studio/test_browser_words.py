"""The studio's describe box, distance in the top view, the room box and Doppler, in chromium
(see test_browser.py for what the browser tests need and how they skip)."""

import math

import pytest

from sonicmotion.studio.server import StudioServer

from .test_browser import browser_page  # noqa: F401  (the fixture)

pytestmark = pytest.mark.browser


@pytest.fixture
def page_on_studio(browser_page, tmp_path):  # noqa: F811
    page, errors = browser_page
    server = StudioServer(tmp_path / "ws", port=0).start()
    try:
        page.goto(server.url)
        page.wait_for_selector("body[data-ready=yes]")
        yield page, errors
    finally:
        server.close()


def sent(page):
    """The scene the page would send to render (the scene file's format)."""
    return page.evaluate("sceneFromPage()")


def test_words_draw_an_editable_path_that_undo_takes_back(page_on_studio):
    page, errors = page_on_studio
    box = page.locator(".source").nth(0).locator(".describe")
    box.fill("a car passes close by on the left")
    box.press("Enter")
    page.wait_for_selector("body[data-described='1']")
    source = sent(page)["sources"][0]
    assert source["motion"] == "a car passes close by on the left"
    keys = source["path"]["keyframes"]
    # the pass's straight line (2 m to the left, 6 m ahead to 6 m behind over the clip) as 13 keyframes with distance
    assert source["path"]["type"] == "keyframes" and len(keys) == 13 and all(len(k) == 5 for k in keys)
    assert [k[0] for k in keys] == pytest.approx([10 * i / 12 for i in range(13)], abs=1e-3)
    assert keys[6][1] == 90 and keys[6][4] == 2  # closest at the middle, on the left
    assert keys[0][1] == pytest.approx(math.degrees(math.atan2(2, 6)), abs=0.01) and keys[0][4] == pytest.approx(
        math.hypot(2, 6), abs=1e-3)
    assert keys[-1][1] == pytest.approx(180 - math.degrees(math.atan2(2, 6)), abs=0.01)
    rows = page.locator(".source").nth(0).locator(".keys tbody tr")
    assert rows.count() == 13 and rows.nth(6).locator("input.distance").input_value() == "2"
    assert page.locator(".source").nth(0).locator(".doppler").is_enabled()
    assert "close by" in page.locator(".source").nth(0).locator(".understood").inner_text()
    # editable: a typed distance changes that keyframe only
    rows.nth(6).locator("input.distance").fill("3")
    rows.nth(6).locator("input.distance").press("Enter")
    assert sent(page)["sources"][0]["path"]["keyframes"][6][4] == 3
    page.keyboard.press("Control+z")  # the edit
    assert sent(page)["sources"][0]["path"]["keyframes"][6][4] == 2
    page.keyboard.press("Control+z")  # the drawn path: back to the source's one plane-wave keyframe
    assert sent(page)["sources"][0]["path"] == {"type": "static", "azimuth": 45, "elevation": 0}
    assert "motion" not in sent(page)["sources"][0] and box.input_value() == ""
    page.keyboard.press("Control+Shift+z")
    assert len(sent(page)["sources"][0]["path"]["keyframes"]) == 13
    # words the reader refuses, or that name no place, leave the path as it is and say why in one line
    box = page.locator(".source").nth(0).locator(".describe")
    box.fill("a train approaches from 5 m to 30 m")
    box.press("Enter")
    page.wait_for_function("document.querySelector('#error').textContent.includes('no nearer')")
    box.fill("a dog barks")
    box.press("Enter")
    page.wait_for_function("document.querySelector('#error').textContent.includes('say nothing about where')")
    assert len(sent(page)["sources"][0]["path"]["keyframes"]) == 13
    assert errors == []


def test_alt_drag_sets_distance_and_the_room_and_doppler_reach_the_scene(page_on_studio):
    page, errors = page_on_studio
    canvas = page.locator("#editor").bounding_box()
    cx, cy, ring = canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2, canvas["width"] / 2 - 46

    def at(radius, azimuth=45):
        return cx - radius * math.sin(math.radians(azimuth)), cy - radius * math.cos(math.radians(azimuth))

    def alt_drag(start, end):
        page.keyboard.down("Alt")
        page.mouse.move(*start)
        page.mouse.down()
        page.mouse.move(*end, steps=5)
        page.mouse.up()
        page.keyboard.up("Alt")

    path = lambda: sent(page)["sources"][0]["path"]  # noqa: E731
    assert path() == {"type": "static", "azimuth": 45, "elevation": 0}
    alt_drag(at(ring), at(ring + 40))  # a plane wave first gets 5 m; 40 px outwards doubles it
    assert path()["distance"] == pytest.approx(10, rel=0.03) and path()["azimuth"] == 45
    alt_drag(at(ring), at(ring - 80))  # 80 px inwards: a quarter
    assert path()["distance"] == pytest.approx(2.5, rel=0.03)
    doppler = page.locator(".source").nth(0).locator(".doppler")
    assert doppler.is_enabled() and doppler.is_checked() and "doppler" not in sent(page)["sources"][0]
    doppler.uncheck()
    assert sent(page)["sources"][0]["doppler"] is False
    assert "room" not in sent(page)
    page.check("#room-on")
    assert sent(page)["room"] == {"dimensions": [8, 6, 3], "rt60": 0.5}
    page.fill("#room-rt60", "0.8")
    page.keyboard.press("Tab")
    assert sent(page)["room"]["rt60"] == 0.8
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+z")
    assert "room" not in sent(page) and page.locator("#room-rt60").is_disabled()
    page.keyboard.press("Control+z")  # Doppler back on
    page.keyboard.press("Control+z")  # the second drag
    assert path()["distance"] == pytest.approx(10, rel=0.03)
    page.keyboard.press("Control+z")
    assert path() == {"type": "static", "azimuth": 45, "elevation": 0}
    assert page.locator(".source").nth(0).locator(".doppler").is_disabled()
    assert errors == []


def test_a_loaded_room_keeps_its_materials_until_an_rt60_replaces_them(page_on_studio):
    page, errors = page_on_studio
    materials = {"floor": "carpet_on_concrete", "walls": "plaster"}
    page.evaluate("(room) => { loadScene({duration: 10, sample_rate: 48000, room, sources: []}); showScene(); }",
                  {"dimensions": [8, 6, 3], "materials": materials, "order": 2})
    assert page.locator("#room-rt60").input_value() == ""  # no single RT60 to show
    page.fill("#room-x", "10")
    page.keyboard.press("Tab")
    assert sent(page)["room"] == {"dimensions": [10, 6, 3], "materials": materials, "order": 2}
    page.fill("#room-rt60", "0.7")
    page.keyboard.press("Tab")
    assert sent(page)["room"] == {"dimensions": [10, 6, 3], "order": 2, "rt60": 0.7}
    assert not errors
