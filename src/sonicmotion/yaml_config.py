"""Frozen dataclass configs filled from YAML: unknown keys are errors, types are checked."""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from sonicmotion.errors import SonicMotionError

T = TypeVar("T")

# The shipped configs live inside the package, so an installed wheel has them too; the
# repository's top-level ``configs`` is a link to this folder.
CONFIG_ROOT = Path(__file__).resolve().parent / "configs"


def find_config(name_or_path: str | os.PathLike, family: str) -> Path:
    """A config file: an existing path, a shipped config's name (``tiny`` ->
    ``configs/{family}/tiny.yaml``), or a ``configs/{family}/...`` path resolved against the
    shipped configs when the current folder has no such file."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    candidates = []
    if not path.suffix and len(path.parts) == 1:
        candidates.append(CONFIG_ROOT / family / f"{path.name}.yaml")
    if path.parts[:1] == ("configs",):
        candidates.append(CONFIG_ROOT.joinpath(*path.parts[1:]))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    shipped = ", ".join(sorted(p.stem for p in (CONFIG_ROOT / family).glob("*.yaml")))
    raise SonicMotionError(f"config file {str(name_or_path)!r} does not exist (give a YAML path, or the name of "
                           f"a shipped {family} config: {shipped})")


def _convert(value: Any, annotation: Any, where: str, accept_renamed: bool = False) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):  # already built (e.g. a config passed through)
            return value
        if not isinstance(value, dict):
            raise SonicMotionError(f"{where}: expected a mapping, got {value!r}")
        return config_from_dict(annotation, value, where, accept_renamed)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], where, accept_renamed)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise SonicMotionError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis or len(args) == 1:  # tuple[X, ...]
            return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if args and len(args) != len(value):
            raise SonicMotionError(f"{where}: expected {len(args)} values, got {len(value)}")
        items = args or (Any,) * len(value)
        return tuple(_convert(v, t, f"{where}[{i}]") for i, (v, t) in enumerate(zip(value, items)))
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SonicMotionError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SonicMotionError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise SonicMotionError(f"{where}: expected true or false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise SonicMotionError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def config_from_dict(cls: type[T], data: dict, where: str = "config", accept_renamed: bool = False) -> T:
    """Build dataclass ``cls`` from a (YAML) mapping; unknown keys raise SonicMotionError.

    A class may list keys it once had under other names in ``RENAMED_KEYS`` (old -> new,
    a ``ClassVar``): an old key is refused in one line naming the new one, or, with
    ``accept_renamed`` (a run folder's own saved config, written before the rename), read
    under its new name."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    renamed = {old: new for old, new in getattr(cls, "RENAMED_KEYS", {}).items() if old in data}
    if renamed:
        if not accept_renamed:
            old, new = sorted(renamed.items())[0]
            raise SonicMotionError(f"{where}: {old!r} is now called {new!r}; rename the key")
        data = {renamed.get(key, key): value for key, value in data.items()}
    unknown = sorted(set(data) - names)
    if unknown:
        raise SonicMotionError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    kwargs = {key: _convert(value, hints[key], f"{where}.{key}", accept_renamed) for key, value in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise SonicMotionError(f"{where}: {err}") from None


def config_to_dict(config: Any) -> dict:
    """Plain dict (lists instead of tuples) for YAML/JSON."""

    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(config))


def renamed_batch_size(data: dict, where: str) -> None:
    """One line for configs written before batch sizes became global."""
    if isinstance(data.get("training"), dict) and "batch_size" in data["training"]:
        raise SonicMotionError(
            f"{where}: training.batch_size was per process; it is now training.global_batch_size (samples per "
            "optimizer step over all processes and accumulation steps), with training.gradient_accumulation_steps"
        )


def parse_yaml(text: str, max_nodes: int | None = None):
    """YAML as people write it: ``1e9`` and ``1e-4`` are numbers (PyYAML's safe loader, which
    follows YAML 1.1, reads a float without a dot as a string). With ``max_nodes``, a document
    of more values (scalars, lists and mappings) is refused while it is parsed, not after."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        nodes = 0

        def compose_node(self, parent, index):
            self.nodes += 1
            if max_nodes is not None and self.nodes > max_nodes:
                raise SonicMotionError(f"more than {max_nodes:,} values (lists, mappings and scalars)")
            return super().compose_node(parent, index)

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
        list("-+0123456789."),
    )
    return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass


def load_yaml(path: str | os.PathLike) -> dict:
    import yaml

    from sonicmotion.files import read_text

    path = Path(path)
    if not path.is_file():
        raise SonicMotionError(f"config file {str(path)!r} does not exist")
    try:
        data = parse_yaml(read_text(path, "config file"))
    except yaml.YAMLError as err:
        raise SonicMotionError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise SonicMotionError(f"{path}: expected a mapping at the top level")
    return data
