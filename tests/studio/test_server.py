import json
import socket

import numpy as np

from sonicmotion.spatial import AMBIX, read_foa
from sonicmotion.studio.server import StudioServer, describe_host

from .conftest import BlockingGenerator, Client


def _get(server, path, headers):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_byte_ranges_follow_rfc_9110():
    from sonicmotion.studio.server import byte_range

    assert byte_range(None, 100) is None and byte_range("items=0-5", 100) is None
    assert byte_range("bytes=0-0", 100) == (0, 0) and byte_range("bytes=10-", 100) == (10, 99)
    assert byte_range("bytes=-1", 100) == (99, 99) and byte_range("bytes=-500", 100) == (0, 99)
    assert byte_range("bytes=90-1000", 100) == (90, 99)
    assert byte_range("bytes=100-", 100) == "unsatisfiable" and byte_range("bytes=-0", 100) == "unsatisfiable"
    assert byte_range("bytes=5-2", 100) is None and byte_range("bytes=a-b", 100) is None
    assert byte_range("bytes=0-1,4-5", 100) is None and byte_range("bytes=-", 100) is None


def upload(client, folder, name, as_name=None):
    return client.request("POST", f"/api/upload?name={as_name or name}", (folder / name).read_bytes())


def scene(*files, duration=6):
    paths = [{"type": "keyframes", "keyframes": [[0, 90, 0], [duration, -90, 0, "ccw"]]},
             {"type": "static", "azimuth": -45, "elevation": 20}]
    return {"duration": duration, "sources": [
        {"name": f"s{i}", "file": f, "path": paths[i % 2]} for i, f in enumerate(files)]}


def test_page_and_state(studio):
    server, client = studio
    status, page = client.request("GET", "/")
    assert status == 200 and b"SonicMotion studio" in page
    assert b"http" not in page.replace(b"http-equiv", b"")  # no external scripts, styles or fonts
    status, script = client.request("GET", "/static/app.js")
    assert status == 200 and b"strokeToKeys" in script and b"https://" not in script
    status, state = client.request("GET", "/api/state")
    assert status == 200 and state["uploads"] == [] and state["result"] is None and state["model"] is False
    assert "loopback" in describe_host("127.0.0.1") and describe_host("0.0.0.0").startswith("WARNING")


def test_upload_checks_audio_and_size(studio, audio_files):
    server, client = studio
    status, reply = upload(client, audio_files, "siren.wav")
    assert status == 201 and reply == {"name": "uploads/siren.wav", "seconds": 6.0, "channels": 1,
                                       "sample_rate": 16000}
    status, reply = client.request("POST", "/api/upload?name=notes.wav", b"RIFF but not really audio" * 10)
    assert status == 400 and "not usable audio" in reply["error"] and "partial" not in reply["error"]
    status, reply = client.request("POST", "/api/upload?name=big.wav", b"\0" * 2_500_000)
    assert status == 413 and "limit is 2.0 MB" in reply["error"]
    status, reply = client.request("POST", "/api/upload?name=tune.exe", b"MZ")
    assert status == 400 and "expected an audio file" in reply["error"]
    assert sorted(p.name for p in (server.workspace.root / "uploads").iterdir()) == ["siren.wav"]


def test_path_traversal_is_refused(studio, audio_files, tmp_path):
    server, client = studio
    root = server.workspace.root
    secret = tmp_path / "secret.wav"
    secret.write_bytes((audio_files / "siren.wav").read_bytes())
    for name in ("../evil.wav", "..%2Fevil.wav", "%2Ftmp%2Fevil.wav", ".hidden.wav"):
        status, reply = upload(client, audio_files, "siren.wav", as_name=name)
        assert status == 400 and "not allowed" in reply["error"], name
    assert not (root.parent / "evil.wav").exists()
    for path in ("/static/../workspace.py", "/static/..%2Fworkspace.py", "/api/result/..%2F..%2Fsecret.wav",
                 "/api/result/../scene.json", "/../../etc/passwd"):
        status, reply = client.request("GET", path)
        assert status == 404 and "error" in reply, path
    (root / "uploads" / "link.wav").symlink_to(secret)
    for name in (str(secret), "../secret.wav", "uploads/../../secret.wav", "uploads/link.wav"):
        status, reply = client.request("POST", "/api/render", json.dumps(scene(name)))
        assert status == 400 and "lies outside the workspace" in reply["error"], name
    status, reply = client.request("POST", "/api/render", json.dumps({**scene("x.wav"), "model": "/models/m"}))
    assert status == 400 and "the studio uses the model it was started with" in reply["error"]


def test_malformed_requests_get_json_4xx(studio):
    server, client = studio
    cases = [
        (("POST", "/api/render", b"{not json"), 400, "not valid JSON"),
        (("POST", "/api/render", b"\xff\xfe"), 400, "not UTF-8"),
        (("POST", "/api/render", b"[1, 2]"), 400, "a scene must be a mapping"),
        (("POST", "/api/render", json.dumps({"sources": [{"file": "uploads/a.wav"}]}).encode()), 400,
         'sources[0] ("source 1")'),
        (("POST", "/api/render", b"{}" * 600_000), 413, "limit is 1.0 MB"),
        (("GET", "/api/jobs/nope", None), 404, "no render job"),
        (("GET", "/api/nothing", None), 404, "no such API call"),
        (("PUT", "/api/render", b"{}"), 405, "not supported"),
    ]
    for (method, path, body), code, message in cases:
        status, reply = client.request(method, path, body)
        assert status == code and message in reply["error"], (path, status, reply)
    status, reply = client.request("POST", "/api/render", json.dumps(scene("uploads/none.wav")))
    assert status == 400 and "is not a file" in reply["error"]
    status, reply = client.request("POST", "/api/render", json.dumps(
        {"sources": [{"prompt": "rain", "path": {"type": "static", "azimuth": 0}}]}))
    assert status == 400 and "a prompt source needs a library (--library DIR" in reply["error"]


def test_foreign_host_and_origin_are_refused(studio):
    server, client = studio
    status, reply = client.request("GET", "/api/state", headers={"Host": f"attacker.example:{server.port}"})
    assert status == 403 and "is not this studio" in reply["error"]
    status, reply = client.request("POST", "/api/render", b"{}", {"Origin": "http://attacker.example"})
    assert status == 403 and "not allowed" in reply["error"]


def test_render_results_and_a_failed_render_keeps_them(studio, audio_files):
    server, client = studio
    for name in ("siren.wav", "knocks.wav"):
        assert upload(client, audio_files, name)[0] == 201
    job = client.render(scene("uploads/siren.wav", "uploads/knocks.wav"))
    assert job["state"] == "done", job
    status, state = client.request("GET", "/api/state")
    result = state["result"]
    assert result["job"] == job["id"] and result["names"] == ["s0", "s1"] and result["peak_dbfs"] <= -1.0
    assert state["scene"]["sources"][0]["file"] == "uploads/siren.wav"
    status, ambix = client.request("GET", "/api/result/scene_ambix48k.wav?download=1")
    assert status == 200
    (server.workspace.root.parent / "ambix.wav").write_bytes(ambix)
    foa = read_foa(server.workspace.root.parent / "ambix.wav")
    assert foa.layout == AMBIX and foa.sample_rate == 48000 and foa.samples.shape == (4, 6 * 48000)
    status, analysis = client.request("GET", "/api/result/analysis.json")
    level = np.array(analysis["energy"]["level_db"])  # [frame][azimuth cell], dB re the maximum
    assert level.shape == (len(analysis["energy"]["times"]), 72) and level.max() == 0.0 and level.min() >= -40
    siren_path = analysis["paths"]["sources"][0]["azimuth"]
    assert siren_path[0] == 90 and siren_path[-1] == -90 and analysis["paths"]["times"][-1] == 6.0
    assert analysis["paths"]["sources"][0]["azimuth"][0] == 90 and len(analysis["doa"]["times"]) > 100
    status, preview = client.request("GET", "/api/result/source01_binaural.flac")
    assert status == 200 and preview[:4] == b"fLaC"
    # Seeking: a browser asks for parts of the file (206 with the part and its place).
    for header, part, first, last in (("bytes=0-99", preview[:100], 0, 99), ("bytes=100-", preview[100:], 100, len(preview) - 1),
                                      ("bytes=-10", preview[-10:], len(preview) - 10, len(preview) - 1),
                                      (f"bytes=5-{10 * len(preview)}", preview[5:], 5, len(preview) - 1)):
        status, headers, body = _get(server, "/api/result/source01_binaural.flac", {"Range": header})
        assert status == 206 and body == part, header
        assert headers["Content-Range"] == f"bytes {first}-{last}/{len(preview)}"
        assert int(headers["Content-Length"]) == len(part) and headers["Accept-Ranges"] == "bytes"
    status, headers, _ = _get(server, "/api/result/source01_binaural.flac", {"Range": f"bytes={len(preview)}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(preview)}"
    status, headers, body = _get(server, "/api/result/source01_binaural.flac", {"Range": "bytes=0-1,5-9"})
    assert status == 200 and body == preview and headers["Accept-Ranges"] == "bytes"  # several ranges: all of it
    before = (server.workspace.result / "scene.wav").read_bytes()
    # passes validation (the file exists) but cannot be read: the job fails, results stay
    (server.workspace.root / "uploads" / "broken.wav").write_bytes(b"not audio at all")
    failed = client.render(scene("uploads/broken.wav"))
    assert failed["state"] == "failed" and "cannot read audio" in failed["error"]
    status, state = client.request("GET", "/api/state")
    assert state["result"]["job"] == job["id"]
    assert (server.workspace.result / "scene.wav").read_bytes() == before
    assert not list(server.workspace.root.glob(".staging-*"))


def test_bad_request_line_gets_json(studio):
    server, client = studio
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /api/state HTTP/1.1 trailing junk\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):  # the server closes the connection after the answer
            chunks.append(chunk)
        reply = b"".join(chunks).decode()
    head, body = reply.split("\r\n\r\n", 1)
    assert head.startswith("HTTP/1.1 400") and "application/json" in head
    assert "error" in json.loads(body) and "Traceback" not in body


def test_prompt_sources_render_with_the_studio_generator(tmp_path):
    generator = BlockingGenerator()
    generator.release.set()
    server = StudioServer(tmp_path / "ws", port=0, generator=generator).start()
    try:
        client = Client(server)
        assert client.request("GET", "/api/state")[1]["model"] is True
        job = client.render({"duration": 2, "sources": [
            {"name": "rain", "prompt": "rain on a roof", "seed": 5, "path": {"type": "static", "azimuth": 120}}]})
        assert job["state"] == "done", job
        record = json.loads((server.workspace.result / "scene.render.json").read_text())
        assert record["generator"]["model"] == "blocking" and record["scene"]["sources"][0]["seed"] == 5
    finally:
        server.close()


def test_prompt_sources_are_retrieved_from_a_library_and_placed_on_their_paths(tmp_path, sound_library):
    from sonicmotion.spatial import AMBIX, Trajectory, spatial_errors

    server = StudioServer(tmp_path / "ws", port=0, library_dir=sound_library).start()
    try:
        client = Client(server)
        state = client.request("GET", "/api/state")[1]
        assert state["model"] is False and state["library"] == {"path": str(sound_library), "clips": 8}
        keys = [[0, 90, 0], [4, -90, 20, "cw"]]
        job = client.render({"duration": 4, "sources": [{"name": "dog", "prompt": "a dog barks", "path": {
            "type": "keyframes", "keyframes": keys}}]})
        assert job["state"] == "done", job
        manifest = client.request("GET", "/api/state")[1]["result"]
        chosen = manifest["retrieved"][0]
        assert chosen["match"]["id"] == "manifest:dog_bark" and len(chosen["alternatives"]) == 3
        assert chosen["match"]["file"].endswith("dog_bark.wav") and chosen["match"]["score"] > chosen["alternatives"][0]["score"]
        status, ambix = client.request("GET", "/api/result/scene_ambix48k.wav?download=1")
        (tmp_path / "dl.wav").write_bytes(ambix)
        foa = read_foa(tmp_path / "dl.wav")
        assert foa.layout == AMBIX
        errors = spatial_errors(foa.samples, Trajectory.from_keyframes(keys), foa.sample_rate, "frame", layout="ambix")
        assert errors.delta_angle < 3.0
        record = json.loads((server.workspace.result / "scene.render.json").read_text())
        assert record["library"]["clips"] == 8 and record["sources"][0]["retrieved"]["match"]["id"] == chosen["match"]["id"]
        assert record["scene"]["sources"][0]["generator"] == "library"
        # A model source with only a library: refused with what to do.
        status, reply = client.request("POST", "/api/render", json.dumps({"duration": 2, "sources": [
            {"name": "x", "prompt": "rain", "generator": "model", "path": {"type": "static", "azimuth": 0}}]}),
            {"Content-Type": "application/json"})
        assert status == 400 and "--model" in reply["error"]
    finally:
        server.close()


def test_without_library_or_model_prompts_say_what_to_give(studio):
    server, client = studio
    assert client.request("GET", "/api/state")[1]["library"] is None
    status, reply = client.request("POST", "/api/render", json.dumps({"duration": 2, "sources": [
        {"name": "x", "prompt": "rain", "path": {"type": "static", "azimuth": 0}}]}), {"Content-Type": "application/json"})
    assert status == 400 and "--library DIR" in reply["error"]


def test_cancel_and_busy(tmp_path, audio_files):
    generator = BlockingGenerator()
    server = StudioServer(tmp_path / "ws", port=0, generator=generator).start()
    client = Client(server)
    try:
        prompt_scene = {"duration": 2, "sources": [
            {"prompt": "rain", "path": {"type": "static", "azimuth": 0}},
            {"prompt": "thunder", "path": {"type": "static", "azimuth": 90}}]}
        job = client.render(prompt_scene, wait=False)
        assert generator.started.wait(10)
        status, reply = client.request("POST", "/api/render", json.dumps(prompt_scene))
        assert status == 409 and "already running" in reply["error"]
        status, reply = client.request("POST", f"/api/jobs/{job}/cancel")
        assert status == 202
        generator.release.set()
        info = client.wait(job)
        assert info["state"] == "cancelled" and "previous result is kept" in info["message"]
        assert client.request("GET", "/api/state")[1]["result"] is None
    finally:
        server.close()
