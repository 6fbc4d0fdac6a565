"""Write the FOA of a ``--store sources`` dataset: as ``--store foa`` shards, or as files.

Each output is written under a temporary name and renamed when whole, so an interrupted
run leaves only finished shards (or files) behind and a rerun does the rest. The index
and the report are the same for both stores and are copied as they are; the FOA comes
from the same decoder every reader uses (:func:`~sonicmotion.data.shards.decode_sample_foa`).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from sonicmotion.data.shards import (
    ShardWriter, decode_sample_foa, group_store, json_bytes, list_shards, read_shard, shard_store,
)
from sonicmotion.errors import SonicMotionError
from sonicmotion.files import atomic_path, read_json, remove_partial_files
from sonicmotion.spatial.io import foa_to_bytes

FILE_LAYOUTS = ("ambix", "fuma")
FILE_FORMATS = ("flac", "wav")


@dataclass(frozen=True)
class MaterializeJob:
    """One shard of the source dataset and where its FOA goes."""

    shard: str
    out: str  # the output shard (files=None) or the split folder of the files
    files: str | None  # None: a --store foa shard; "ambix"/"fuma": one audio file per sample
    audio_format: str = "flac"


def _samples(shard: str):
    for key, group in read_shard(shard):
        if group_store(group) != "sources":
            raise SonicMotionError(f"{shard}: sample {key} already stores FOA; materialize reads --store sources datasets")
        metadata = json.loads(group["json"].decode("utf-8"))
        yield key, metadata, decode_sample_foa(group, metadata, name=f"{shard}: sample {key}")


def materialize_shard(job: MaterializeJob) -> int:
    """Write one shard's FOA; returns the number of samples written (0 if already done)."""
    from sonicmotion.spatial.io import write_foa
    from sonicmotion.spatial.layout import FUMA, convert_layout

    out = Path(job.out)
    if job.files is None:
        if out.is_file():
            return 0
        count = 0
        with atomic_path(out) as tmp, open(tmp, "wb") as handle, ShardWriter(handle) as writer:
            for key, metadata, foa in _samples(job.shard):
                writer.add_sample(key, foa_to_bytes(foa, metadata["sample_rate"], "fuma"), metadata)
                count += 1
        return count
    count = 0
    for key, metadata, foa in _samples(job.shard):
        audio = out / f"{key}.{job.audio_format}"
        if audio.is_file():
            continue
        layout = job.files
        samples = foa if layout == "fuma" else convert_layout(foa, FUMA, layout)
        sidecar = dict(metadata, layout=layout)
        with atomic_path(out / f"{key}.json") as tmp:
            tmp.write_bytes(json_bytes(sidecar))
        write_foa(audio, samples, metadata["sample_rate"], layout)  # last: its presence marks the sample done
        count += 1
    return count


MARKER = Path(".build") / "materialized.json"


def _claim_folder(source: Path, out: Path, files: str | None, audio_format: str) -> None:
    """Record what ``out`` holds, or check that a rerun continues the same job: a folder
    holding anything else is refused rather than mixed into."""
    identity = {"source": str(source.resolve()), "files": files, "format": audio_format}
    build = source / ".build" / "build.json"
    if build.is_file():
        identity["fingerprint"] = read_json(build, "build record").get("fingerprint")
    marker = out / MARKER
    if marker.is_file():
        if read_json(marker, "materialize record") != identity:
            raise SonicMotionError(f"{out} holds the output of another materialize run (other dataset or options); "
                                   "use a new --out folder")
        return
    if out.exists() and any(out.iterdir()):
        raise SonicMotionError(f"{out} is not empty; materialize into a new folder")
    marker.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(marker) as tmp:
        tmp.write_text(json.dumps(identity, indent=2) + "\n", encoding="utf-8")


def materialize_dataset(
    source: str | os.PathLike, out: str | os.PathLike, files: str | None = None, audio_format: str = "flac",
    workers: int = 1, progress: bool = True,
) -> dict[str, int]:
    """Write the FOA of every sample of the sources dataset ``source`` into ``out``.

    ``files=None``: ``out`` becomes a ``--store foa`` dataset (shards of the same names, the
    same index and report). ``files="ambix"|"fuma"``: ``out/{split}/{key}.flac`` (or .wav)
    per sample with the layout recorded, and its metadata beside it as ``{key}.json``.
    Returns ``{"shards", "samples"}`` written by this run.
    """
    from tqdm import tqdm

    source, out = Path(source), Path(out)
    if files is not None and files not in FILE_LAYOUTS:
        raise SonicMotionError(f"files layout must be one of {', '.join(FILE_LAYOUTS)}, got {files!r}")
    if audio_format not in FILE_FORMATS:
        raise SonicMotionError(f"audio format must be one of {', '.join(FILE_FORMATS)}, got {audio_format!r}")
    if not source.is_dir():
        raise SonicMotionError(f"{source}: no such dataset folder")
    shards = list_shards(source)
    if not shards:
        raise SonicMotionError(f"{source}: no shards ({{split}}/{{split}}-NNNNNN.tar) to materialize")
    if out.resolve() == source.resolve():
        raise SonicMotionError("--out must be another folder than the dataset it is made from")
    if shard_store(shards[0]) != "sources":
        raise SonicMotionError(f"{source} stores FOA already; materialize reads --store sources datasets")
    _claim_folder(source, out, files, audio_format)
    remove_partial_files(out)  # a killed run's half-written shards or files (the folder is this job's)
    jobs = []
    for shard in shards:
        split = shard.parent.name
        (out / split).mkdir(parents=True, exist_ok=True)
        target = out / split / shard.name if files is None else out / split
        jobs.append(MaterializeJob(str(shard), str(target), files, audio_format))
    written = {"shards": 0, "samples": 0}
    with tqdm(total=len(jobs), unit="shard", disable=not progress, desc="dataset materialize") as bar:
        if workers <= 1:
            results = map(materialize_shard, jobs)
            for count in results:
                written["shards"] += count > 0
                written["samples"] += count
                bar.update()
        else:
            with multiprocessing.get_context("spawn").Pool(workers) as pool:
                for count in pool.imap(materialize_shard, jobs):
                    written["shards"] += count > 0
                    written["samples"] += count
                    bar.update()
    # The index and the report describe the samples, not how they are stored.
    if (source / "index.parquet").is_file():
        with atomic_path(out / "index.parquet") as tmp:
            shutil.copyfile(source / "index.parquet", tmp)
    if (source / "report").is_dir():
        for path in sorted((source / "report").iterdir()):
            if path.is_file():
                (out / "report").mkdir(exist_ok=True)
                with atomic_path(out / "report" / path.name) as tmp:
                    shutil.copyfile(path, tmp)
    return written
