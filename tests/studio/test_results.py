"""The studio's results for the page's transport and downloads: FOA stems, the sample rate,
upload lengths, and per-source generation settings."""

import json

import numpy as np
import soundfile as sf

from sonicmotion.spatial import AMBIX, read_foa
from sonicmotion.studio.server import StudioServer

from .conftest import Client, RecordingGenerator


def _upload(client, folder, name):
    status, reply = client.request("POST", f"/api/upload?name={name}", (folder / name).read_bytes())
    assert status == 201, reply


def test_stems_sum_to_the_scene_and_source_previews_to_the_mix_preview(studio, audio_files, tmp_path):
    server, client = studio
    _upload(client, audio_files, "siren.wav")
    _upload(client, audio_files, "knocks.wav")
    state = client.request("GET", "/api/state")[1]
    assert state["upload_seconds"] == {"uploads/knocks.wav": 6.0, "uploads/siren.wav": 6.0}
    job = client.render({"duration": 4, "sample_rate": 48000, "layout": "ambix", "sources": [
        {"name": "Siren!", "file": "uploads/siren.wav", "start": 1.0,
         "path": {"type": "keyframes", "keyframes": [[1, 90, 0], [4, -90, 0, "ccw"]]}},
        {"name": "knocks", "file": "uploads/knocks.wav", "path": {"type": "static", "azimuth": -45}}]})
    assert job["state"] == "done", job
    result = client.request("GET", "/api/state")[1]["result"]
    assert result["stems"] == ["00_siren.wav", "01_knocks.wav"] and result["sample_rate"] == 48000
    status, mix = client.request("GET", "/api/result/scene.wav?download=1")
    assert status == 200
    (tmp_path / "mix.wav").write_bytes(mix)
    scene = read_foa(tmp_path / "mix.wav")
    total = np.zeros_like(scene.samples)
    for name in result["stems"]:
        status, data = client.request("GET", f"/api/result/{name}?download=1")
        assert status == 200 and result["files"][name].startswith("stem of")
        (tmp_path / name).write_bytes(data)
        stem = read_foa(tmp_path / name)
        assert stem.layout == AMBIX and stem.sample_rate == 48000 and stem.samples.shape == (4, 4 * 48000)
        total += stem.samples
    assert np.max(np.abs(scene.samples)) > 0.05 and np.allclose(total, scene.samples, atol=1e-6)
    siren = read_foa(tmp_path / "00_siren.wav").samples
    assert np.max(np.abs(siren[:, : 48000 - 10])) == 0.0  # it starts at 1 s
    # The page mixes the sources' binaural previews for mute and solo: they sum to the mix preview.
    previews = []
    for name in ["mix_binaural.flac", *result["source_previews"]]:
        status, data = client.request("GET", f"/api/result/{name}")
        (tmp_path / name).write_bytes(data)
        samples, rate = sf.read(tmp_path / name, dtype="float32")
        assert rate == 48000 and samples.shape == (4 * 48000, 2)
        previews.append(samples)
    assert np.max(np.abs(previews[0])) > 0.05
    assert np.max(np.abs(previews[1] + previews[2] - previews[0])) < 1e-5  # 24-bit FLAC rounding
    assert client.request("GET", "/static/transport.js")[0] == 200


def test_prompt_sources_take_their_own_steps_guidance_and_seed(tmp_path):
    generator = RecordingGenerator()
    server = StudioServer(tmp_path / "ws", port=0, generator=generator).start()
    try:
        client = Client(server)
        job = client.render({"duration": 1, "steps": 20, "guidance": 3.0, "sources": [
            {"name": "rain", "prompt": "rain", "seed": 4, "steps": 8, "guidance": 2.5,
             "path": {"type": "static", "azimuth": 0}},
            {"name": "wind", "prompt": "wind", "path": {"type": "static", "azimuth": 90}}]})
        assert job["state"] == "done", job
        assert generator.settings == [("rain", 4, 8, 2.5), ("wind", 1, 20, 3.0)]
        record = json.loads((server.workspace.result / "scene.render.json").read_text())
        rain, wind = record["scene"]["sources"]
        assert (rain["steps"], rain["guidance"]) == (8, 2.5) and "steps" not in wind and "guidance" not in wind
        for field, value, message in (("steps", 0, "steps: must lie in [1, 10000]"),
                                      ("guidance", -1, "guidance: must be >= 0")):
            status, reply = client.request("POST", "/api/render", json.dumps({"duration": 1, "sources": [
                {"name": "x", "prompt": "rain", field: value, "path": {"type": "static", "azimuth": 0}}]}))
            assert status == 400 and message in reply["error"], reply
        (server.workspace.uploads / "tone.wav").write_bytes((tmp_path / "ws" / "result" / "00_rain.wav").read_bytes())
        status, reply = client.request("POST", "/api/render", json.dumps({"duration": 1, "sources": [
            {"name": "f", "file": "uploads/tone.wav", "steps": 4, "path": {"type": "static", "azimuth": 0}}]}))
        assert status == 400 and "steps: only applies to prompt sources" in reply["error"], reply
    finally:
        server.close()
