"""POST /api/motion (words -> a path for the page's describe box), and scenes with distance,
Doppler and a room in the page's JSON form."""

import json

import numpy as np
import pytest
import soundfile as sf

from .conftest import SR

JSON = {"Content-Type": "application/json"}


def describe(client, body):
    return client.request("POST", "/api/motion", json.dumps(body), JSON)


def test_words_give_the_path_in_the_span_asked_for(studio):
    server, client = studio
    status, reply = describe(client, {"text": "a car passes from left to right behind me, slowly", "seconds": 8})
    assert status == 200 and reply["content"] == "a car passes" and reply["seconds"] == 8
    path = reply["trajectory"]
    assert path["type"] == "linear" and path["direction"] == "ccw"
    assert (path["start_azimuth"], path["end_azimuth"]) == (90, -90)
    assert (path["move_start"], path["move_end"]) == (0.0, 8.0)  # the slow band's 8.5 s, cut to the 8 s span
    assert any(p["phrase"] == "slowly" for p in reply["understood"]["phrases"])
    status, reply = describe(client, {"text": "a car passes close by on the left"})  # seconds: 10 by default
    assert status == 200 and reply["trajectory"] == {"type": "cartesian",
                                                     "keyframes": [[0.0, 6.0, 2.0, 0.0], [10.0, -6.0, 2.0, 0.0]]}


def test_words_without_a_place_give_no_path(studio):
    server, client = studio
    status, reply = describe(client, {"text": "a dog barks", "seconds": 5})
    assert status == 200 and reply["trajectory"] is None and reply["content"] == "a dog barks"


@pytest.mark.parametrize("body, message", [
    ({"text": "a bee circles clockwise and counter-clockwise on the left"}, "more than one direction"),
    ({"text": "a car moves from left to right between 2 and 12 seconds", "seconds": 10}, "outside the 10 s clip"),
    ({"text": "a train approaches from 5 m to 30 m"}, "ends no nearer"),
    ({"text": ""}, "description is empty"),
    ({"text": "on the left", "seconds": -1}, "positive number of seconds"),
    ({"text": "on the left", "seconds": "10"}, "seconds: expected a number"),
    ({"text": 3}, "text: expected words"),
    ({"words": "on the left"}, 'send {"text"'),
    (["on the left"], 'send {"text"'),
])
def test_contradictions_and_bad_requests_are_400_in_one_line(studio, body, message):
    server, client = studio
    status, reply = describe(client, body)
    assert status == 400 and message in reply["error"] and "\n" not in reply["error"], reply


def test_a_page_scene_with_distance_doppler_and_a_room_renders_with_them(studio, tmp_path):
    server, client = studio
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "noise.wav", 0.1 * rng.standard_normal(SR), SR)
    assert client.request("POST", "/api/upload?name=noise.wav", (tmp_path / "noise.wav").read_bytes())[0] == 201
    keys = [[0, 45, 0, "shortest", 3.0], [1, -45, 0, "cw", 1.5]]
    scene = {"version": 1, "duration": 1, "sample_rate": 16000, "layout": "ambix", "headroom_db": 1,
             "room": {"dimensions": [8, 6, 3], "rt60": 0.4},
             "sources": [{"name": "near", "file": "uploads/noise.wav", "gain_db": 0, "start": 0, "doppler": False,
                          "path": {"type": "keyframes", "keyframes": keys}},
                         {"name": "plane wave", "file": "uploads/noise.wav", "gain_db": 0, "start": 0,
                          "path": {"type": "static", "azimuth": 90, "elevation": 0}}]}
    info = client.render(scene)
    assert info["state"] == "done", info
    saved = json.loads((server.workspace.root / "scene.json").read_text())
    assert saved["room"]["dimensions"] == [8.0, 6.0, 3.0] and saved["room"]["rt60"] == 0.4
    assert saved["sources"][0]["doppler"] is False and "doppler" not in saved["sources"][1]
    assert saved["sources"][0]["path"]["keyframes"][1][-1] == 1.5
    parsed = server.workspace.parse_scene(saved)
    assert parsed.room is not None and parsed.sources[0].path.has_distance and not parsed.sources[0].doppler
    bad = dict(scene, room={"dimensions": [2, 2, 2], "rt60": 0.4})  # 3 m away lies outside a 2 m room
    status, reply = client.request("POST", "/api/render", json.dumps(bad), JSON)
    assert status == 400 and "room" in reply["error"] and "\n" not in reply["error"]
