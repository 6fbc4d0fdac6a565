"""Source adapters: captioned mono corpora -> :class:`Source` lists, checked before any work.

Formats (``--source KIND:FILE[:AUDIO_DIR][:key=value...]`` on the command line):

- ``clotho:CAPTIONS_CSV:AUDIO_DIR`` — CSV ``file_name,caption_1..caption_5``; the split
  comes from the CSV's name (development -> train, validation, evaluation -> test) or
  ``split=...``.
- ``audiocaps:CSV:AUDIO_DIR`` — CSV ``audiocap_id,youtube_id,start_time,caption``; rows of
  one clip are merged into one source with all its captions; the audio file name comes
  from ``pattern=`` (default ``{youtube_id}.wav``; fields ``{audiocap_id}``,
  ``{youtube_id}``, ``{start_time}``); split from the CSV's name (train, val, test).
- ``wavcaps:JSON:AUDIO_DIR`` — WavCaps/FreeSound JSON ``{"data": [{"id", "caption", ...}]}``;
  the file is ``{id}.<any audio extension>`` in the folder (as WavCaps names them), else
  the entry's ``audio``/``wav_path``/``file_name`` if that file is there; split train
  unless ``split=...``; corpus name ``name=``.
- ``manifest:FILE`` — CSV or JSONL with ``path,caption[,split][,id]`` (paths relative to
  the manifest's folder); rows sharing an id add captions.

A wrong header or a missing folder is a :class:`SonicMotionError` before any work; a bad
row (no caption, no audio file, an id seen twice) is skipped with its reason.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from sonicmotion.errors import SonicMotionError
from sonicmotion.files import json_object_line

SPLITS = ("train", "validation", "test")
SPLIT_ALIASES = {
    "train": "train", "training": "train", "development": "train", "dev": "train",
    "validation": "validation", "valid": "validation", "val": "validation",
    "test": "test", "evaluation": "test", "eval": "test",
}
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".aiff", ".aif")
KINDS = ("clotho", "audiocaps", "wavcaps", "manifest")


@dataclass(frozen=True)
class Source:
    """One captioned recording: ``source_id`` is unique within ``corpus``."""

    corpus: str
    source_id: str
    split: str
    path: str
    captions: tuple[str, ...]


@dataclass(frozen=True)
class Skipped:
    """A source left out, and why."""

    corpus: str
    source_id: str
    reason: str
    split: str | None = None


@dataclass
class SourceSpec:
    """A parsed ``--source`` argument."""

    kind: str
    file: str
    audio_dir: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> "SourceSpec":
        kind, _, rest = text.partition(":")
        if kind not in KINDS:
            raise SonicMotionError(f"--source {text!r}: kind must be one of {', '.join(KINDS)}")
        fields = rest.split(":") if rest else []
        options = dict(f.split("=", 1) for f in fields if "=" in f)
        plain = [f for f in fields if "=" not in f]
        want = 1 if kind == "manifest" else 2
        if len(plain) != want:
            usage = "manifest:FILE" if kind == "manifest" else f"{kind}:FILE:AUDIO_DIR"
            raise SonicMotionError(f"--source {text!r}: expected {usage}[:key=value...]")
        unknown = set(options) - {"split", "pattern", "name"}
        if unknown:
            raise SonicMotionError(f"--source {text!r}: unknown option(s) {', '.join(sorted(unknown))}")
        return cls(kind, plain[0], plain[1] if want == 2 else None, options)


def normalise_split(value: str, where: str) -> str:
    split = SPLIT_ALIASES.get(value.strip().lower())
    if split is None:
        raise SonicMotionError(f"{where}: unknown split {value!r}; use train, validation or test")
    return split


def _split_from_name(path: str, options: dict[str, str], default: str | None) -> str:
    if "split" in options:
        return normalise_split(options["split"], path)
    tokens = re.split(r"[^a-z]+", Path(path).stem.lower())
    for word in tokens:
        if word in SPLIT_ALIASES:
            return SPLIT_ALIASES[word]
    if default:
        return default
    raise SonicMotionError(f"{path}: cannot tell the split from the file name; add :split=train|validation|test")


def _check_file(path: str) -> None:
    if not os.path.isfile(path):
        raise SonicMotionError(f"{path}: no such file")


def _check_dir(path: str) -> None:
    if not os.path.isdir(path):
        raise SonicMotionError(f"{path}: audio folder does not exist")


def _read_csv(path: str, required: tuple[str, ...]) -> tuple[list[str], list[dict[str, str]]]:
    from sonicmotion.files import read_text

    with io.StringIO(read_text(path, "captions CSV"), newline="") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in required if c not in header]
        if missing:
            raise SonicMotionError(
                f"{path}: CSV header {','.join(header) or '(empty)'} lacks column(s) {', '.join(missing)}; "
                f"expected {','.join(required)}"
            )
        reader.fieldnames = header
        return header, [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]


class _Collector:
    """Sources of one corpus with captions merged per id and duplicates flagged."""

    def __init__(self, corpus: str):
        self.corpus = corpus
        self.rows: dict[str, list] = {}
        self.skipped: list[Skipped] = []

    def add(self, source_id: str, split: str, path: str | None, captions: list[str], merge: bool) -> None:
        captions = [c for c in captions if c]
        if not source_id:
            self.skipped.append(Skipped(self.corpus, "(no id)", "row without an id or file name", split))
            return
        known = self.rows.get(source_id)
        if known is not None:
            if merge and known[1] == path and known[0] == split:
                known[2].extend(c for c in captions if c not in known[2])
            else:
                self.skipped.append(Skipped(self.corpus, source_id, f"duplicate id (first seen in {known[0]})", split))
            return
        self.rows[source_id] = [split, path, list(captions)]

    def sources(self) -> tuple[list[Source], list[Skipped]]:
        sources = []
        for source_id, (split, path, captions) in self.rows.items():
            if not captions:
                self.skipped.append(Skipped(self.corpus, source_id, "missing caption", split))
            elif path is None or not os.path.isfile(path):
                self.skipped.append(Skipped(self.corpus, source_id, f"audio file not found ({path})", split))
            else:
                sources.append(Source(self.corpus, source_id, split, path, tuple(captions)))
        return sources, self.skipped


def read_clotho(spec: SourceSpec) -> tuple[list[Source], list[Skipped]]:
    _check_file(spec.file)
    _check_dir(spec.audio_dir)
    split = _split_from_name(spec.file, spec.options, None)
    header, rows = _read_csv(spec.file, ("file_name", "caption_1"))
    caption_columns = [h for h in header if h.startswith("caption_")]
    out = _Collector(spec.options.get("name", "clotho"))
    for row in rows:
        name = row["file_name"]
        out.add(name, split, os.path.join(spec.audio_dir, name), [row[c] for c in caption_columns], merge=False)
    return out.sources()


def read_audiocaps(spec: SourceSpec) -> tuple[list[Source], list[Skipped]]:
    _check_file(spec.file)
    _check_dir(spec.audio_dir)
    split = _split_from_name(spec.file, spec.options, None)
    _, rows = _read_csv(spec.file, ("audiocap_id", "youtube_id", "start_time", "caption"))
    pattern = spec.options.get("pattern", "{youtube_id}.wav")
    out = _Collector(spec.options.get("name", "audiocaps"))
    for row in rows:
        try:
            name = pattern.format(**row)
        except (KeyError, IndexError, ValueError) as err:
            raise SonicMotionError(f"{spec.file}: pattern {pattern!r} cannot be filled ({err})") from None
        out.add(name, split, os.path.join(spec.audio_dir, name), [row["caption"]], merge=True)
    return out.sources()


def read_wavcaps(spec: SourceSpec) -> tuple[list[Source], list[Skipped]]:
    _check_file(spec.file)
    _check_dir(spec.audio_dir)
    split = normalise_split(spec.options.get("split", "train"), spec.file)
    try:
        from sonicmotion.files import read_text

        data = json.loads(read_text(spec.file, "WavCaps JSON"))
    except json.JSONDecodeError as err:
        raise SonicMotionError(f"{spec.file}: not valid JSON ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise SonicMotionError(f'{spec.file}: expected a JSON object {{"data": [{{"id", "caption", ...}}]}}')
    # One listing of the folder instead of a stat per candidate extension.
    by_stem: dict[str, str] = {}
    names = set()
    for entry in sorted(os.listdir(spec.audio_dir)):
        stem, ext = os.path.splitext(entry)
        if ext.lower() in AUDIO_EXTENSIONS:
            by_stem.setdefault(stem, entry)
            names.add(entry)
    out = _Collector(spec.options.get("name", "wavcaps"))
    for i, item in enumerate(data["data"]):
        if not isinstance(item, dict) or "id" not in item:
            raise SonicMotionError(f"{spec.file}: entry {i} has no 'id' field")
        source_id = str(item["id"])
        # WavCaps releases name files by id ("180913.flac"); "file_name" holds the uploader's
        # original name and "audio" may be a placeholder, so they count only if present.
        named = [os.path.basename(item[k]) for k in ("audio", "wav_path", "file_name") if isinstance(item.get(k), str)]
        candidates = [by_stem.get(source_id), by_stem.get(Path(source_id).stem)] + [n for n in named if n in names]
        filename = next((c for c in candidates if c), None)
        path = os.path.join(spec.audio_dir, filename) if filename else None
        captions = item.get("caption")
        captions = captions if isinstance(captions, list) else [captions]
        out.add(source_id, split, path, [str(c).strip() for c in captions if c], merge=False)
    return out.sources()


def _manifest_rows(path: str) -> list[dict]:
    if path.endswith((".jsonl", ".json")):
        rows = []
        from sonicmotion.files import read_text

        with io.StringIO(read_text(path, "manifest")) as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    rows.append(json_object_line(line, f"{path}:{number}"))
        if rows and not all("path" in r and "caption" in r for r in rows):
            raise SonicMotionError(f"{path}: every JSONL line needs 'path' and 'caption' fields")
        return rows
    return _read_csv(path, ("path", "caption"))[1]


def read_manifest(spec: SourceSpec) -> tuple[list[Source], list[Skipped]]:
    _check_file(spec.file)
    base = os.path.dirname(os.path.abspath(spec.file))
    default_split = normalise_split(spec.options.get("split", "train"), spec.file)
    out = _Collector(spec.options.get("name", "manifest"))
    for row in _manifest_rows(spec.file):
        rel = str(row["path"])
        split = normalise_split(str(row["split"]), spec.file) if row.get("split") else default_split
        captions = row["caption"] if isinstance(row["caption"], list) else [row["caption"]]
        source_id = str(row.get("id") or rel)
        out.add(source_id, split, os.path.join(base, rel), [str(c).strip() for c in captions if c], merge=True)
    return out.sources()


READERS = {"clotho": read_clotho, "audiocaps": read_audiocaps, "wavcaps": read_wavcaps, "manifest": read_manifest}


def read_sources(specs: list[SourceSpec]) -> tuple[list[Source], list[Skipped]]:
    """All sources of ``specs``, sorted by (split, corpus, id); a source in two splits is kept in
    the held-out one (test before validation before train) so no training clip leaks into it."""
    if not specs:
        raise SonicMotionError("give at least one --source")
    chosen: dict[tuple[str, str], Source] = {}
    skipped: list[Skipped] = []
    rank = {split: i for i, split in enumerate(reversed(SPLITS))}  # test first
    for spec in specs:
        sources, dropped = READERS[spec.kind](spec)
        skipped.extend(dropped)
        for source in sources:
            key = (source.corpus, source.source_id)
            other = chosen.get(key)
            if other is None:
                chosen[key] = source
                continue
            keep, drop = (other, source) if rank[other.split] <= rank[source.split] else (source, other)
            chosen[key] = keep
            why = "duplicate id" if keep.split == drop.split else f"also listed in split {keep.split}"
            skipped.append(Skipped(drop.corpus, drop.source_id, why, drop.split))
    ordered = sorted(chosen.values(), key=lambda s: (SPLITS.index(s.split), s.corpus, s.source_id))
    return ordered, skipped
