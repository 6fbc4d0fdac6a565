"""Scene files: several sources, each a prompt or an audio file, each on its own path.

A scene is YAML or JSON (see docs/scenes.md)::

    duration: 10          # seconds
    sample_rate: 16000    # Hz
    layout: fuma          # output layout: fuma or ambix
    sources:
      - name: car
        file: sounds/car.wav          # relative to the scene file's folder
        path: {type: linear, start_azimuth: 90, end_azimuth: -90, direction: cw}
      - name: bird
        prompt: a bird singing
        path: {type: keyframes, keyframes: [[0, 0, 40], [5, 180, 20, ccw], [10, 0, 40, ccw]]}
        gain_db: -3
        seed: 7

Path times are scene seconds (a source starting at 2 s with a keyframe at 3 s is there
1 s after it starts). Every error names the source and the field, e.g.
``sources[1] ("bird").path.keyframes[2]: ...``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial.trajectory import DIRECTIONS, Trajectory

SCENE_VERSION = 1
RENDER_FORMAT = "sonicmotion-scene-render"  # the sidecar written beside a rendered scene
MAX_SECONDS = 600.0
# Rendering holds each source's FOA for the whole scene: bound the count and the total work
# (sources x duration) so a small file cannot ask for gigabytes.
MAX_SOURCES = 64
MAX_SOURCE_SECONDS = 3600.0
PLACEMENTS = ("encode", "model")
_SCENE_KEYS = {"version", "duration", "sample_rate", "layout", "headroom_db", "seed", "model", "steps",
               "guidance", "sources"}
_SOURCE_KEYS = {"name", "prompt", "file", "path", "gain_db", "start", "seed", "loop", "placement", "sha256"}


class SceneError(SonicMotionError):
    """A scene file that cannot be used; the message names the source and field."""


@dataclass(frozen=True)
class SceneSource:
    """One sound in the scene: either ``prompt`` (generated) or ``file`` (spatialized)."""

    name: str
    path: Trajectory  # in scene seconds
    prompt: str | None = None
    file: Path | None = None  # resolved
    gain_db: float = 0.0
    start: float = 0.0  # seconds into the scene at which the source begins
    seed: int | None = None  # prompt sources; None = scene seed + index
    loop: bool = False  # file sources: repeat the file until the scene ends
    placement: str = "encode"  # prompt sources: "encode" the W channel on the path, or let the "model" place it
    sha256: str | None = None  # file sources: the content the scene was rendered with (sidecars)

    @property
    def kind(self) -> str:
        return "prompt" if self.prompt is not None else "file"


@dataclass(frozen=True)
class Scene:
    """A whole scene: ``duration`` seconds at ``sample_rate`` Hz, written in ``layout``."""

    sources: tuple[SceneSource, ...]
    duration: float = 10.0
    sample_rate: int = 16000
    layout: str = "fuma"
    headroom_db: float = 1.0  # the mix peak is kept at or below -headroom_db dBFS
    seed: int = 0
    model: Path | None = None
    steps: int = 50
    guidance: float = 7.0
    base_dir: Path = field(default=Path("."), compare=False)

    @property
    def num_samples(self) -> int:
        return int(round(self.duration * self.sample_rate))

    @property
    def needs_model(self) -> bool:
        return any(s.prompt is not None for s in self.sources)

    def source_seed(self, index: int) -> int:
        seed = self.sources[index].seed
        return self.seed + index if seed is None else seed

    def to_dict(self, relative_to: Path | None = None) -> dict[str, Any]:
        """JSON/YAML-ready scene; file paths relative to ``relative_to`` when inside it."""
        sources = []
        for s in self.sources:
            entry: dict[str, Any] = {"name": s.name}
            if s.prompt is not None:
                entry["prompt"] = s.prompt
                entry["placement"] = s.placement
                if s.seed is not None:
                    entry["seed"] = s.seed
            else:
                entry["file"] = _show_path(s.file, relative_to)
                if s.loop:
                    entry["loop"] = True
                if s.sha256:
                    entry["sha256"] = s.sha256
            entry.update(path=s.path.to_dict(), gain_db=s.gain_db, start=s.start)
            sources.append(entry)
        data: dict[str, Any] = {
            "version": SCENE_VERSION, "duration": self.duration, "sample_rate": self.sample_rate,
            "layout": self.layout, "headroom_db": self.headroom_db, "seed": self.seed,
        }
        if self.needs_model:
            data.update(steps=self.steps, guidance=self.guidance)
            if self.model is not None:
                data["model"] = _show_path(self.model, relative_to)
        data["sources"] = sources
        return data


def _show_path(path: Path | None, relative_to: Path | None) -> str | None:
    if path is None:
        return None
    if relative_to is not None:
        try:
            return Path(path).resolve().relative_to(Path(relative_to).resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


# -- reading ---------------------------------------------------------------------------
def load_scene(path: str | os.PathLike, root: str | os.PathLike | None = None) -> Scene:
    """Read a scene (``.yaml``/``.yml``/``.json``) or a render sidecar (``*.render.json``).

    Relative ``file`` paths are resolved against the scene's folder; with ``root`` every
    file must lie inside ``root`` (the studio's workspace).
    """
    path = Path(path)
    if not path.is_file():
        raise SceneError(f"{path}: no such scene file")
    from sonicmotion.files import read_text
    from sonicmotion.yaml_config import parse_yaml

    text = read_text(path, "scene file")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = parse_yaml(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise SceneError(f"{path}: not valid YAML{where} ({getattr(err, 'problem', None) or err})") from None
    elif path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise SceneError(f"{path}: not valid JSON at line {err.lineno} ({err.msg})") from None
    else:
        raise SceneError(f"{path}: a scene file must end in .yaml, .yml or .json")
    if isinstance(data, dict) and data.get("format") == RENDER_FORMAT:
        data = data.get("scene")
    try:
        return scene_from_dict(data, base_dir=path.parent, root=root)
    except SceneError as err:
        raise SceneError(f"{path}: {err}") from None


def scene_from_dict(data: Any, base_dir: str | os.PathLike = ".", root: str | os.PathLike | None = None) -> Scene:
    """Validate a parsed scene; errors read ``sources[i] ("name").field: problem``."""
    if not isinstance(data, dict):
        raise SceneError(f"a scene must be a mapping of fields, got {type(data).__name__}")
    _unknown(data, _SCENE_KEYS, "scene")
    version = data.get("version", SCENE_VERSION)
    if version != SCENE_VERSION:
        raise SceneError(f"version: this sonicmotion reads scene version {SCENE_VERSION}, got {version!r}")
    base_dir = Path(base_dir)
    duration = _number(data, "duration", "duration", 10.0, low=0.0, high=MAX_SECONDS, open_low=True)
    sample_rate = _integer(data, "sample_rate", "sample_rate", 16000, low=1000, high=192000)
    layout = _choice(data, "layout", "layout", "fuma", ("fuma", "ambix"))
    headroom = _number(data, "headroom_db", "headroom_db", 1.0, low=0.0, high=60.0)
    seed = _integer(data, "seed", "seed", 0, low=0, high=2**31 - 1)
    steps = _integer(data, "steps", "steps", 50, low=1, high=10000)
    guidance = _number(data, "guidance", "guidance", 7.0, low=0.0, high=100.0)
    model = data.get("model")
    if model is not None:
        if not isinstance(model, str) or not model.strip():
            raise SceneError(f"model: expected the path of a model folder, got {model!r}")
        model = _resolve(model, base_dir, root, "model", must_exist=False)
    raw_sources = data.get("sources")
    if not isinstance(raw_sources, list) or not raw_sources:
        raise SceneError("sources: expected a non-empty list of sources")
    if len(raw_sources) > MAX_SOURCES:
        raise SceneError(f"sources: {len(raw_sources)} sources; a scene takes at most {MAX_SOURCES} (mix groups of "
                         "them into stems first)")
    if len(raw_sources) * duration > MAX_SOURCE_SECONDS:
        raise SceneError(f"sources: {len(raw_sources)} sources x {duration:g} s = {len(raw_sources) * duration:g} s of "
                         f"audio to render; a scene takes at most {MAX_SOURCE_SECONDS:g} s (fewer sources or a "
                         "shorter duration)")
    sources = tuple(
        _source(raw, i, duration, base_dir, root) for i, raw in enumerate(raw_sources)
    )
    return Scene(sources, duration, sample_rate, layout, headroom, seed, model, steps, guidance, base_dir)


def _source(raw: Any, index: int, duration: float, base_dir: Path, root: str | os.PathLike | None) -> SceneSource:
    where = f"sources[{index}]"
    if not isinstance(raw, dict):
        raise SceneError(f"{where}: expected a mapping with a prompt or a file and a path, got {raw!r}")
    name = raw.get("name", f"source {index + 1}")
    if not isinstance(name, str) or not name.strip():
        raise SceneError(f"{where}.name: expected a non-empty string, got {name!r}")
    where = f'{where} ("{name}")'
    _unknown(raw, _SOURCE_KEYS, where)
    prompt, file = raw.get("prompt"), raw.get("file")
    if (prompt is None) == (file is None):
        raise SceneError(f"{where}: give exactly one of 'prompt' (generated by a model) or 'file' (an audio file)")
    if prompt is not None and (not isinstance(prompt, str) or not prompt.strip()):
        raise SceneError(f"{where}.prompt: expected a non-empty string, got {prompt!r}")
    resolved = None
    if file is not None:
        if not isinstance(file, str) or not file.strip():
            raise SceneError(f"{where}.file: expected the path of an audio file, got {file!r}")
        resolved = _resolve(file, base_dir, root, f"{where}.file", must_exist=True)
    for key, kind in (("loop", "file"), ("sha256", "file"), ("placement", "prompt"), ("seed", "prompt")):
        if key in raw and (kind == "file") != (file is not None):
            raise SceneError(f"{where}.{key}: only applies to {kind} sources")
    start = _number(raw, "start", f"{where}.start", 0.0, low=0.0)
    if start >= duration:
        raise SceneError(f"{where}.start: {start:g} s is not before the scene's end ({duration:g} s)")
    if "path" not in raw:
        raise SceneError(f"{where}.path: missing; give e.g. {{type: static, azimuth: 30, elevation: 0}}")
    loop = raw.get("loop", False)
    if not isinstance(loop, bool):
        raise SceneError(f"{where}.loop: expected true or false, got {loop!r}")
    sha = raw.get("sha256")
    if sha is not None and (not isinstance(sha, str) or len(sha) != 64):
        raise SceneError(f"{where}.sha256: expected 64 hex digits, got {sha!r}")
    return SceneSource(
        name=name.strip(),
        path=parse_path(raw["path"], f"{where}.path", duration),
        prompt=prompt.strip() if prompt is not None else None,
        file=resolved,
        gain_db=_number(raw, "gain_db", f"{where}.gain_db", 0.0, low=-120.0, high=40.0),
        start=start,
        seed=_integer(raw, "seed", f"{where}.seed", None, low=0, high=2**31 - 1),
        loop=loop,
        placement=_choice(raw, "placement", f"{where}.placement", "encode", PLACEMENTS),
        sha256=sha,
    )


def parse_path(raw: Any, where: str, duration: float) -> Trajectory:
    """A path mapping (``Trajectory.to_dict`` form; linear fields have defaults) -> Trajectory."""
    if not isinstance(raw, dict):
        raise SceneError(f"{where}: expected a mapping with a 'type' (static, linear or keyframes), got {raw!r}")
    kind = raw.get("type")
    fields = {
        "static": {"type", "azimuth", "elevation"},
        "linear": {"type", "start_azimuth", "start_elevation", "end_azimuth", "end_elevation", "direction",
                   "move_start", "move_end"},
        "keyframes": {"type", "keyframes"},
    }
    if kind not in fields:
        raise SceneError(f"{where}.type: expected static, linear or keyframes, got {kind!r}")
    _unknown(raw, fields[kind], where)
    try:
        if kind == "static":
            return Trajectory.static(_angle(raw, "azimuth", where, None), _angle(raw, "elevation", where, 0.0))
        if kind == "linear":
            el0 = _angle(raw, "start_elevation", where, 0.0)
            az0 = _angle(raw, "start_azimuth", where, None)
            move_start = _number(raw, "move_start", f"{where}.move_start", 0.0, low=0.0)
            move_end = _number(raw, "move_end", f"{where}.move_end", duration, low=0.0)
            if move_end > duration + 1e-9:
                raise SceneError(f"{where}.move_end: {move_end:g} s lies beyond the scene's {duration:g} s")
            if move_end <= move_start:
                raise SceneError(f"{where}.move_end: {move_end:g} s must be later than move_start {move_start:g} s")
            return Trajectory.linear(
                az0, el0, _angle(raw, "end_azimuth", where, az0), _angle(raw, "end_elevation", where, el0),
                _choice(raw, "direction", f"{where}.direction", "shortest", DIRECTIONS), move_start, move_end,
            )
        return Trajectory.from_keyframes(_keyframes(raw.get("keyframes"), f"{where}.keyframes", duration))
    except SceneError:
        raise
    except SonicMotionError as err:
        raise SceneError(f"{where}: {err}") from None


def _keyframes(rows: Any, where: str, duration: float) -> list[tuple]:
    if not isinstance(rows, list) or not rows:
        raise SceneError(f"{where}: expected a non-empty list of [time, azimuth, elevation(, cw|ccw)]")
    keys = []
    for k, row in enumerate(rows):
        at = f"{where}[{k}]"
        if isinstance(row, dict):
            _unknown(row, {"time", "azimuth", "elevation", "direction"}, at)
            row = [row.get("time"), row.get("azimuth"), row.get("elevation", 0.0), row.get("direction", "shortest")]
        if not isinstance(row, (list, tuple)) or len(row) not in (3, 4):
            raise SceneError(f"{at}: expected [time, azimuth, elevation] or [time, azimuth, elevation, cw|ccw], "
                             f"got {row!r}")
        time, azimuth, elevation = (_as_number(v, f"{at}.{n}") for v, n in zip(row, ("time", "azimuth", "elevation")))
        if time < 0 or time > duration + 1e-9:
            raise SceneError(f"{at}.time: {time:g} s lies outside the scene (0 to {duration:g} s)")
        if not -90.0 <= elevation <= 90.0:
            raise SceneError(f"{at}.elevation: must lie in [-90, 90] degrees, got {elevation:g}")
        direction = row[3] if len(row) == 4 else "shortest"
        if direction not in DIRECTIONS:
            raise SceneError(f"{at}.direction: expected one of {', '.join(DIRECTIONS)}, got {direction!r}")
        if keys and time <= keys[-1][0]:
            raise SceneError(f"{at}.time: {time:g} s must come after the previous keyframe ({keys[-1][0]:g} s)")
        keys.append((time, azimuth, elevation, direction))
    return keys


# -- field helpers -----------------------------------------------------------------------
def _unknown(data: dict, allowed: set[str], where: str) -> None:
    extra = sorted(str(k) for k in data if k not in allowed)
    if extra:
        raise SceneError(f"{where}: unknown field{'s' if len(extra) > 1 else ''} {', '.join(extra)} "
                         f"(allowed: {', '.join(sorted(allowed))})")


def _as_number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SceneError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _number(data: dict, key: str, where: str, default: float | None, low: float | None = None,
            high: float | None = None, open_low: bool = False) -> float:
    if key not in data or data[key] is None:
        if default is None:
            raise SceneError(f"{where}: missing")
        return default
    value = _as_number(data[key], where)
    if low is not None and (value <= low if open_low else value < low):
        raise SceneError(f"{where}: must be {'>' if open_low else '>='} {low:g}, got {value:g}")
    if high is not None and value > high:
        raise SceneError(f"{where}: must be <= {high:g}, got {value:g}")
    return value


def _integer(data: dict, key: str, where: str, default: int | None, low: int, high: int) -> int | None:
    if key not in data or data[key] is None:
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise SceneError(f"{where}: expected a whole number, got {value!r}")
    if not low <= value <= high:
        raise SceneError(f"{where}: must lie in [{low}, {high}], got {value}")
    return value


def _angle(data: dict, key: str, where: str, default: float | None) -> float:
    value = _number(data, key, f"{where}.{key}", default)
    if "elevation" in key and not -90.0 <= value <= 90.0:
        raise SceneError(f"{where}.{key}: must lie in [-90, 90] degrees, got {value:g}")
    return value


def _choice(data: dict, key: str, where: str, default: str, choices: tuple[str, ...]) -> str:
    value = data.get(key, default)
    if value not in choices:
        raise SceneError(f"{where}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def _resolve(name: str, base_dir: Path, root: str | os.PathLike | None, where: str, must_exist: bool) -> Path:
    path = Path(name).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    path = path.resolve()
    if root is not None:
        root = Path(root).resolve()
        if path != root and root not in path.parents:
            raise SceneError(f"{where}: {name!r} lies outside the workspace; only files inside it can be used")
    if must_exist and not path.is_file():
        raise SceneError(f"{where}: {name!r} is not a file (looked for {path})")
    return path


def with_seeds(scene: Scene) -> Scene:
    """The scene with every prompt source's seed written out (what a sidecar records)."""
    sources = tuple(
        replace(s, seed=scene.source_seed(i)) if s.prompt is not None else s for i, s in enumerate(scene.sources)
    )
    return replace(scene, sources=sources)
