import http.client
import json
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from sonicmotion.data.synth import noise_bursts, siren
from sonicmotion.studio.server import StudioServer
from tests.conftest import NoiseGenerator

SR = 16000


def wav_bytes(path, signal, rate=SR):
    sf.write(path, signal, rate)
    return path.read_bytes()


@pytest.fixture
def audio_files(tmp_path_factory):
    """A siren and knocks as WAV files outside any workspace."""
    folder = tmp_path_factory.mktemp("audio")
    sf.write(folder / "siren.wav", siren(6, SR, seed=1), SR)
    sf.write(folder / "knocks.wav", noise_bursts(6, SR, seed=2), SR)
    return folder


class Client:
    """Raw HTTP against the studio (http.client sends paths exactly as given)."""

    def __init__(self, server):
        self.server = server

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            kind = response.getheader("Content-Type", "")
            return response.status, json.loads(data) if kind.startswith("application/json") else data
        finally:
            conn.close()

    def render(self, scene, wait=True):
        status, reply = self.request("POST", "/api/render", json.dumps(scene), {"Content-Type": "application/json"})
        assert status == 202, reply
        if not wait:
            return reply["job"]
        return self.wait(reply["job"])

    def wait(self, job, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            status, info = self.request("GET", f"/api/jobs/{job}")
            assert status == 200
            if info["state"] != "running":
                return info
            time.sleep(0.05)
        raise AssertionError(f"job {job} still running after {timeout} s")


@pytest.fixture(scope="session")
def sound_library(tmp_path_factory):
    """A manifest library of every synthetic sound kind (4 s, 22.05 kHz files), for prompt sources."""
    from tests.conftest import write_sound_library

    return write_sound_library(tmp_path_factory.mktemp("library"), seconds=4.0)


@pytest.fixture
def studio(tmp_path):
    """A studio on 127.0.0.1 with an ephemeral port and a small upload limit."""
    server = StudioServer(tmp_path / "ws", port=0, max_upload_bytes=2_000_000).start()
    yield server, Client(server)
    server.close()


class BlockingGenerator(NoiseGenerator):
    """A generator that waits until released, to test cancelling and busy renders."""

    def __init__(self):
        super().__init__(name="blocking")
        self.release = threading.Event()
        self.started = threading.Event()

    def with_sampling(self, **changes):
        return self  # one generator, so the test can release it; its steps do not matter

    def identity(self):
        return {"model": "blocking", "sha256": "0" * 64, "parametric": False}

    def noise(self, request):
        self.started.set()
        self.release.wait(10)
        n = round(request.seconds * SR)
        return np.vstack([0.05 * np.random.default_rng(request.seed).standard_normal(n)] + [np.zeros(n)] * 3)


class RecordingGenerator(NoiseGenerator):
    """A model-like generator whose ``settings`` notes (text, seed, steps, guidance) per clip."""

    def __init__(self, parametric=False, name="recording", sampling=None, calls=None):
        super().__init__(parametric, name, sampling, calls)

    @property
    def settings(self):
        return [(text, seed, steps, guidance) for text, _, _, seed, steps, guidance in self.calls]
