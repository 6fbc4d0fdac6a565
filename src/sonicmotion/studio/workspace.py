"""The studio's folder: uploads, the current scene, render jobs and their results.

Everything the studio reads or writes lies under one workspace folder::

    uploads/        audio files the user uploaded (checked as audio before they are kept)
    scene.json      the scene last sent for rendering (file paths relative to the workspace)
    result/         the last successful render (see RESULT_FILES), replaced only on success

A render writes into a fresh ``.staging-*`` folder and is swapped in for ``result/`` only
when every file is written, so a failed or cancelled render leaves the previous results.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sonicmotion.errors import SonicMotionError
from sonicmotion.files import atomic_path
from sonicmotion.scene.format import Scene, resolve_generators, scene_from_dict
from sonicmotion.scene.render import RenderCancelled, SceneRender, render_scene, stem_name, write_scene_render

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3")
MAX_UPLOAD_SECONDS = 600.0
MAX_UPLOAD_RATE, MAX_UPLOAD_CHANNELS = 48_000, 2  # with the seconds: the decoded-size limit of uploads
_UPLOAD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,99}$")


class RequestError(SonicMotionError):
    """A request the studio refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Job:
    """One render: state is running, done, failed or cancelled; progress in [0, 1]."""

    id: str
    state: str = "running"
    progress: float = 0.0
    message: str = "starting"
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "progress": round(self.progress, 3), "message": self.message,
                "error": self.error, "seconds": round((self.finished or time.time()) - self.started, 2)}


class Workspace:
    """Uploads, scene and render jobs inside one folder (see the module docstring)."""

    def __init__(self, folder: str | Path, model_dir: str | Path | None = None, generator=None,
                 library_dir: str | Path | None = None, library=None):
        self.root = Path(folder).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.uploads = self.root / "uploads"
        self.uploads.mkdir(exist_ok=True)
        self.result = self.root / "result"
        self.model_dir = Path(model_dir).resolve() if model_dir else None
        self._generator = generator
        self.library_dir = Path(library_dir).resolve() if library_dir else None
        self._library = library  # a retrieval.RetrieveAndPlace, loaded on first use from library_dir
        self._lock = threading.Lock()
        self.jobs: dict[str, Job] = {}
        self._running: Job | None = None

    @property
    def has_model(self) -> bool:
        return self._generator is not None or self.model_dir is not None

    @property
    def has_library(self) -> bool:
        return self._library is not None or self.library_dir is not None

    def library_info(self) -> dict[str, Any] | None:
        """What the page shows about the library: its path and size (loads it on first call)."""
        if not self.has_library:
            return None
        library = self._library_generator()
        return {"path": library.library.name, "clips": len(library.library.entries)}

    def _library_generator(self):
        with self._lock:
            if self._library is None:
                from sonicmotion.scene.generator import load_library_generator

                self._library = load_library_generator(self.library_dir)
            return self._library

    # -- uploads --------------------------------------------------------------------------
    def upload_names(self) -> list[str]:
        return sorted(f"uploads/{p.name}" for p in self.uploads.iterdir()
                      if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES and not p.name.startswith("."))

    def upload_seconds(self) -> dict[str, float | None]:
        """Each upload's length in seconds (None when its header cannot be read), for the timeline."""
        import soundfile as sf

        lengths: dict[str, float | None] = {}
        for name in self.upload_names():
            try:
                info = sf.info(str(self.root / name))
                lengths[name] = round(info.frames / info.samplerate, 3)
            except RuntimeError:  # soundfile's errors are RuntimeErrors
                lengths[name] = None
        return lengths

    def save_upload(self, name: str, data: bytes) -> dict[str, Any]:
        """Keep ``data`` as ``uploads/<name>`` if it is readable audio; describe it."""
        from sonicmotion.audio import read_audio

        if not _UPLOAD_NAME.match(name or "") or ".." in name:
            raise RequestError(400, f"upload name {name!r} is not allowed: use letters, digits, spaces, . _ - ( ) "
                               "and no folders")
        if Path(name).suffix.lower() not in AUDIO_SUFFIXES:
            raise RequestError(400, f"upload {name!r}: expected an audio file ({', '.join(AUDIO_SUFFIXES)})")
        target = self.uploads / name
        with atomic_path(target) as tmp:
            tmp.write_bytes(data)
            try:
                # The decoded size is limited too: a small compressed file can hold hours of audio.
                audio = read_audio(tmp, max_samples=int(MAX_UPLOAD_SECONDS * MAX_UPLOAD_RATE * MAX_UPLOAD_CHANNELS))
            except SonicMotionError as err:
                # The reason without the temporary file's name: "cannot read audio (... Format not recognised.)"
                reason = str(err).replace(str(tmp), name).replace(f"{name}: ", "", 1)
                raise RequestError(400, f"upload {name!r} is not usable audio: {reason}") from None
            if audio.seconds > MAX_UPLOAD_SECONDS:
                raise RequestError(400, f"upload {name!r} lasts {audio.seconds:.0f} s; the studio takes up to "
                                   f"{MAX_UPLOAD_SECONDS:.0f} s")
        return {"name": f"uploads/{name}", "seconds": round(audio.seconds, 3), "channels": audio.channels,
                "sample_rate": audio.sample_rate}

    # -- scenes ---------------------------------------------------------------------------
    def parse_scene(self, data: Any) -> Scene:
        """Validate a scene sent by the page; files must lie inside the workspace."""
        for key, flag in (("model", "--model"), ("library", "--library")):
            if isinstance(data, dict) and key in data:
                raise RequestError(400, f"{key}: the studio uses the {key} it was started with ({flag}); "
                                   f"remove '{key}' from the scene")
        try:
            scene = scene_from_dict(data, base_dir=self.root, root=self.root)
            scene = resolve_generators(scene, model=self.has_model, library=self.has_library)
        except SonicMotionError as err:
            message = str(err)
            if "needs a library" in message:
                message += "; restart the studio with --library DIR or --model DIR, or use uploaded files"
            raise RequestError(400, message) from None
        return scene

    @staticmethod
    def describe_motion(data: Any) -> dict[str, Any]:
        """``{"text": WORDS, "seconds": S}`` -> the path the words give in an S s span (the
        source's time, 0 = its start; default 10 s): ``MotionReading.to_dict()``, with
        ``trajectory`` None when the words say nothing about position (docs/motion.md)."""
        from sonicmotion.audio import CLIP_SECONDS
        from sonicmotion.motion import describe_to_motion

        if not isinstance(data, dict) or set(data) - {"text", "seconds"}:
            raise RequestError(400, 'send {"text": "words about where the sound is", "seconds": length}')
        text, seconds = data.get("text"), data.get("seconds", CLIP_SECONDS)
        if not isinstance(text, str):
            raise RequestError(400, f"text: expected words, got {text!r}")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise RequestError(400, f"seconds: expected a number of seconds, got {seconds!r}")
        return describe_to_motion(text, float(seconds)).to_dict()  # SonicMotionError -> 400, one line

    def saved_scene(self) -> dict[str, Any] | None:
        path = self.root / "scene.json"
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def manifest(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.result / "manifest.json").read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def result_file(self, name: str) -> Path:
        """A file of the current result, only if the manifest lists it (no other path is served)."""
        manifest = self.manifest()
        if manifest is None or name not in manifest.get("files", {}):
            raise RequestError(404, f"no result file {name!r}")
        return self.result / name

    # -- jobs -----------------------------------------------------------------------------
    def start_render(self, scene: Scene) -> Job:
        with self._lock:
            if self._running is not None and self._running.state == "running":
                raise RequestError(409, "a render is already running; wait for it or cancel it")
            job = Job(uuid.uuid4().hex[:12])
            self.jobs[job.id] = job
            self._running = job
        with atomic_path(self.root / "scene.json") as tmp:
            tmp.write_text(json.dumps(scene.to_dict(relative_to=self.root), indent=2))
        threading.Thread(target=self._run, args=(job, scene), name=f"render-{job.id}", daemon=True).start()
        return job

    def job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise RequestError(404, f"no render job {job_id!r}")
        return job

    def _generator_for(self, scene: Scene):
        if not scene.needs_model:
            return None
        if self._generator is None:
            from sonicmotion.scene.generator import load_generator

            self._generator = load_generator(self.model_dir)
        return self._generator

    def _run(self, job: Job, scene: Scene) -> None:
        staging = self.root / f".staging-{job.id}"
        try:
            staging.mkdir()

            def progress(done: int, total: int, message: str) -> None:
                if job.cancel.is_set():
                    raise RenderCancelled("cancelled")
                job.progress, job.message = 0.7 * done / total, message

            job.message = ("loading the model" if scene.needs_model else
                           "searching the library" if scene.needs_library else "rendering")
            library = self._library_generator() if scene.needs_library else None
            render = render_scene(scene, self._generator_for(scene), progress, library=library)
            self._write_result(render, scene, staging, job)
            if job.cancel.is_set():
                raise RenderCancelled("cancelled")
            self._swap_in(staging)
            job.state, job.progress, job.message = "done", 1.0, "done"
        except RenderCancelled:
            job.state, job.message = "cancelled", "cancelled; the previous result is kept"
        except SonicMotionError as err:
            job.state, job.error, job.message = "failed", str(err), "failed; the previous result is kept"
        except Exception as err:  # a bug: report it to the page in one line, the traceback to the terminal
            traceback.print_exc()
            job.state, job.error = "failed", f"internal error ({type(err).__name__}: {err})"
            job.message = "failed; the previous result is kept"
        finally:
            job.finished = time.time()
            shutil.rmtree(staging, ignore_errors=True)

    def _write_result(self, render: SceneRender, scene: Scene, staging: Path, job: Job) -> None:
        import yaml

        from sonicmotion.audio import write_audio
        from sonicmotion.render.binaural import default_hrtf, render_binaural
        from sonicmotion.render.export import EXPORT_RATE, to_ambix
        from sonicmotion.spatial import AMBIX, write_foa

        def step(fraction: float, message: str) -> None:
            if job.cancel.is_set():
                raise RenderCancelled("cancelled")
            job.progress, job.message = fraction, message

        files: dict[str, str] = {}
        step(0.72, "writing the scene and its stems")
        write_scene_render(render, staging / "scene.wav", stems_dir=staging)
        files["scene.wav"] = f"the scene, FOA {render.layout}, {render.sample_rate} Hz"
        files["scene.render.json"] = "what was rendered (seeds, file hashes, peaks)"
        stems = [stem_name(i, source.name) for i, source in enumerate(render.scene.sources)]
        for name, source in zip(stems, render.scene.sources):
            files[name] = f"stem of {source.name!r}: FOA {render.layout}, {render.sample_rate} Hz (the stems sum to the scene)"
        ambix = to_ambix(render.mix, render.sample_rate, render.layout)
        write_foa(staging / "scene_ambix48k.wav", ambix, EXPORT_RATE, AMBIX)
        files["scene_ambix48k.wav"] = "the scene for DAWs: AmbiX (ACN/SN3D), 48 kHz, 32-bit float"
        with atomic_path(staging / "scene.yaml") as tmp:
            tmp.write_text(yaml.safe_dump(scene.to_dict(relative_to=self.root), sort_keys=False))
        files["scene.yaml"] = "the scene file (paths relative to the workspace)"
        # Binaural previews share one gain so their levels compare; FLAC must not clip.
        signals = [render.mix, *render.stems]
        binaural = []
        for i, foa in enumerate(signals):
            step(0.75 + 0.15 * i / len(signals), "binaural previews")
            binaural.append(render_binaural(foa, render.sample_rate, render.layout))
        loudest = max(float(np.max(np.abs(b))) for b in binaural)
        gain = min(1.0, 0.98 / loudest) if loudest > 0 else 1.0
        previews = ["mix_binaural.flac"] + [f"source{i:02d}_binaural.flac" for i in range(len(render.stems))]
        for name, signal in zip(previews, binaural):
            write_audio(staging / name, (signal * gain).astype(np.float32), render.sample_rate)
            files[name] = f"binaural preview (headphones; HRTF: {default_hrtf(render.sample_rate).name})"
        step(0.92, "estimating directions")
        analysis = _analysis(render, scene)
        with atomic_path(staging / "analysis.json") as tmp:
            tmp.write_text(json.dumps(analysis))
        files["analysis.json"] = "estimated directions over time"
        manifest = {
            "job": job.id, "files": files, "mix_preview": previews[0],
            "source_previews": previews[1:], "stems": stems, "names": [s.name for s in render.scene.sources],
            "sample_rate": render.sample_rate,
            "peak_dbfs": round(render.peak_dbfs, 2), "peak_before_dbfs": round(render.peak_before_dbfs, 2),
            "gain_db": round(render.gain_db, 2), "seconds": scene.duration, "layout": render.layout,
            "retrieved": list(render.retrieved),  # per source: the library's choice and the next-best, or null
        }
        with atomic_path(staging / "manifest.json") as tmp:
            tmp.write_text(json.dumps(manifest, indent=2))

    def _swap_in(self, staging: Path) -> None:
        old = self.root / f".old-{uuid.uuid4().hex[:8]}"
        with self._lock:
            if self.result.exists():
                self.result.rename(old)
            staging.rename(self.result)
        shutil.rmtree(old, ignore_errors=True)


def _analysis(render: SceneRender, scene: Scene) -> dict[str, Any]:
    """Energy map (dB re its maximum, floored at -40), frame DoA and each requested path."""
    from sonicmotion.spatial.doa import estimate_doa
    from sonicmotion.spatial.energy_map import directional_energy_map

    energy = directional_energy_map(render.mix, render.sample_rate, render.layout)
    level = 10 * np.log10(energy.energy + 1e-20)
    level = np.clip(level - level.max(), -40.0, 0.0)
    doa = estimate_doa(render.mix, render.sample_rate, layout=render.layout, resolution="frame")
    grid = np.round(np.arange(0.0, scene.duration + 1e-9, 0.05), 3)
    paths = []
    for source in scene.sources:
        azimuth, elevation = source.path.positions(grid)
        paths.append({"name": source.name, "start": source.start, "azimuth": np.round(azimuth, 1).tolist(),
                      "elevation": np.round(elevation, 1).tolist()})
    return {
        "energy": {"times": np.round(energy.times, 3).tolist(), "azimuths": energy.azimuths.tolist(),
                   "level_db": np.round(level.T, 1).tolist()},  # [frame][azimuth cell]
        "doa": {"times": np.round(doa.times, 3).tolist(), "azimuth": np.round(doa.azimuth, 1).tolist(),
                "elevation": np.round(doa.elevation, 1).tolist(), "active": doa.active.tolist()},
        "paths": {"times": grid.tolist(), "sources": paths},
    }
