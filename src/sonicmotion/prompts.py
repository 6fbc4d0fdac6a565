"""The prompts file: what clips are generated from, and what a generated folder was made from.

UTF-8 text, one clip per non-blank line. A line is either

- plain text: the prompt itself (id = the line's position among the prompts, ``000000``...);
- a JSON object: ``prompt`` (string, required), ``id`` (string or integer; default as for a
  plain line), ``caption`` (the original non-spatial caption the CLAP score uses; default
  the prompt), ``trajectory`` (``Trajectory.to_dict()``, or null: no path), ``seconds``
  (clip length in s, > 0). Other keys (``spatial_caption``, ``retrieved``...) are kept.

Ids are unique within a file. ``sonicmotion generate --prompts`` reads it and writes one
next to the clips (``{id}.wav`` + ``prompts.jsonl``); the evaluation reads it to pair
clips with prompts by id; ``evaluation.protocol`` and the demo write it.

Layer: just above ``spatial`` (it reads trajectories), so evaluation and generation share it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from sonicmotion.errors import SonicMotionError
from sonicmotion.files import json_object_line
from sonicmotion.spatial.trajectory import Trajectory

PROMPTS_FILE = "prompts.jsonl"  # the prompts file inside a generated folder


@dataclass(frozen=True)
class Prompt:
    """One line of a prompts file; ``row`` is the line as read (a plain line: ``{"prompt": text}``)."""

    id: str
    prompt: str
    caption: str
    trajectory: Trajectory | None
    seconds: float | None  # s; None: the generator's default
    row: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)


def read_prompts(path: str | os.PathLike) -> list[Prompt]:
    """The prompts of a prompts file, in file order (see the module docstring for the format)."""
    from sonicmotion.files import read_text

    path = Path(path)
    if not path.is_file():
        raise SonicMotionError(f"prompts file {str(path)!r} does not exist")
    prompts: list[Prompt] = []
    ids: set[str] = set()
    for number, line in enumerate(read_text(path, "prompts file").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        prompt = _parse_line(line, f"{len(prompts):06d}", where)
        if prompt.id in ids:
            raise SonicMotionError(f"{where}: id {prompt.id!r} appears twice")
        ids.add(prompt.id)
        prompts.append(prompt)
    if not prompts:
        raise SonicMotionError(f"prompts file {str(path)!r} holds no prompts")
    return prompts


def _parse_line(line: str, default_id: str, where: str) -> Prompt:
    if not line.lstrip().startswith("{"):
        text = line.strip()
        return Prompt(default_id, text, text, None, None, {"prompt": text})
    row = json_object_line(line, where)
    prompt_id = row.get("id", default_id)
    if isinstance(prompt_id, bool) or not isinstance(prompt_id, (str, int)) or not str(prompt_id).strip():
        raise SonicMotionError(f"{where}: field 'id' must be a non-empty string")
    for name in ("prompt", "caption"):
        if name in row and (not isinstance(row[name], str) or not row[name].strip()):
            raise SonicMotionError(f"{where}: field {name!r} must be a non-empty string")
    if "prompt" not in row:
        raise SonicMotionError(f"{where}: field 'prompt' must be a non-empty string")
    trajectory = row.get("trajectory")
    if trajectory is not None:
        if not isinstance(trajectory, dict):
            raise SonicMotionError(f"{where}: \"trajectory\" must be an object (Trajectory.to_dict()), "
                                   f"got {trajectory!r}")
        try:
            trajectory = Trajectory.from_dict(trajectory)
        except SonicMotionError as err:
            raise SonicMotionError(f"{where}: {err}") from None
    seconds = row.get("seconds")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                or not 0 < seconds < math.inf):
        raise SonicMotionError(f"{where}: \"seconds\" must be a number > 0, got {seconds!r}")
    return Prompt(str(prompt_id), row["prompt"], row.get("caption", row["prompt"]), trajectory,
                  None if seconds is None else float(seconds), row)


def write_prompts(path: str | os.PathLike, rows: Iterable[dict[str, Any]], ensure_ascii: bool = True) -> Path:
    """Write rows (JSON objects, keys in their order) as a prompts file, atomically.

    Each row needs non-empty string ``id``, ``prompt`` and ``caption``; ids unique.
    ``ensure_ascii``: escape non-ASCII characters (``json.dumps``'s default).
    """
    from sonicmotion.files import atomic_path

    path = Path(path)
    rows = list(rows)
    ids = set()
    for row in rows:
        if not all(isinstance(row.get(k), str) and row[k].strip() for k in ("id", "prompt", "caption")):
            raise SonicMotionError(f"prompt row {row!r}: id, prompt and caption must be non-empty strings")
        if row["id"] in ids:
            raise SonicMotionError(f"prompt id {row['id']!r} appears twice")
        ids.add(row["id"])
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(row, ensure_ascii=ensure_ascii) + "\n" for row in rows),
                       encoding="utf-8")
    return path
