"""Build the spatial dataset: sources -> shards of static + moving FOA samples (and, with
``--motions paper+distance``, approach / recede / pass samples with distance), index, report.

Two stores (``BuildConfig.store``, see ``data/shards.py``): ``foa`` writes each sample's
FOA; ``sources`` writes each source's clip once with its samples' metadata, and readers
encode the FOA. Index and report are the same for both.

Plan: sources are sorted by (split, corpus, id); shard ``j`` of a split holds the
sources at positions ``[j * S, (j + 1) * S)`` of that split (S = shard size / samples per
source: 2 for ``paper``, 5 for ``paper+distance``). Which shard a source lands in therefore depends only on the source list
and the shard size, never on the worker count; ``--shard i/N`` takes every N-th shard of
the global list. A shard is built whole by one process, written to a temporary file
and renamed, then recorded in ``.build/shards/``; ``--resume`` keeps every recorded
shard and redoes the rest, so nothing is lost or duplicated.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
import re
import shutil
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from sonicmotion import __version__
from sonicmotion.data.build_report import ReportAccumulator, plot_report
from sonicmotion.data.captions import template_caption
from sonicmotion.data.corpora import SPLITS, Skipped, Source
from sonicmotion.data.preprocess import PreprocessConfig, SourceSkipped, load_clip
from sonicmotion.data.index import IndexWriter, require_pyarrow
from sonicmotion.data.sampling import motion_kinds, sample_parameters, sample_seed
from sonicmotion.data.shards import STORES, ShardWriter, encode_sample_foa, shard_name, source_flac_bytes
from sonicmotion.errors import SonicMotionError
from sonicmotion.files import atomic_path, file_sha256, read_json, write_json
from sonicmotion.optional import has_module
from sonicmotion.spatial.io import foa_to_bytes

FORMAT_VERSION = 1
STATE_DIR = ".build"


@dataclass(frozen=True)
class BuildConfig:
    """Everything that decides a build's bytes (plus how to run it: ``workers``, ``part``)."""

    seed: int = 0
    shard_size: int = 1000  # samples per shard; len(kinds) per source
    limit: int | None = None  # at most this many sources per split
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    rephraser: Any = None  # a sonicmotion.data.rephrase.RephraserSpec or None
    workers: int = 1
    part: tuple[int, int] = (0, 1)  # (i, N): build every N-th shard starting at i
    progress: bool = True
    plots: bool = True  # histogram PNGs in the report (matplotlib takes seconds)
    store: str = "foa"  # "foa": each sample's FOA; "sources": each source's clip once (data/shards.py)
    motions: str = "paper"  # "paper": static + moving; "paper+distance": + approach, recede, pass (sampling.MOTIONS)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The sample kinds of every source."""
        return motion_kinds(self.motions)

    @property
    def sources_per_shard(self) -> int:
        return max(1, self.shard_size // len(self.kinds))


@dataclass(frozen=True)
class ShardTask:
    split: str
    index: int
    sources: tuple[Source, ...]

    @property
    def name(self) -> str:
        return shard_name(self.split, self.index)

    @property
    def stem(self) -> str:
        return f"{self.split}-{self.index:06d}"

    def digest(self) -> str:
        text = json.dumps([[s.corpus, s.source_id, s.split, s.path, s.captions] for s in self.sources])
        return hashlib.sha256(text.encode()).hexdigest()


def plan_shards(sources: list[Source], config: BuildConfig) -> list[ShardTask]:
    """All shards of the build in global order (train, validation, test; index within split)."""
    tasks = []
    per = config.sources_per_shard
    for split in SPLITS:
        members = sorted((s for s in sources if s.split == split), key=lambda s: (s.corpus, s.source_id))
        if config.limit is not None:
            members = members[: config.limit]
        for index, start in enumerate(range(0, len(members), per)):
            tasks.append(ShardTask(split, index, tuple(members[start : start + per])))
    return tasks


def fingerprint(tasks: list[ShardTask], config: BuildConfig) -> str:
    """What a resumed build must share with the interrupted one."""
    settings = {
        "format": FORMAT_VERSION,
        "seed": config.seed,
        "shard_size": config.shard_size,
        "preprocess": asdict(config.preprocess),
        "rephraser": None if config.rephraser is None else config.rephraser.identity(),
    }
    if config.store != "foa":  # builds made before there were stores keep their fingerprint
        settings["store"] = config.store
    if config.motions != "paper":  # and before there were distance samples
        settings["motions"] = config.motions
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for task in tasks:
        digest.update(f"{task.name}:{task.digest()}\n".encode())
    return digest.hexdigest()


def source_member_key(source: Source) -> str:
    """A readable, unique, dot-free key of a source: ``{corpus}-{name}-{hash}``."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(source.source_id).stem).strip("_")[:48] or "source"
    digest = hashlib.sha1(f"{source.corpus}/{source.source_id}".encode()).hexdigest()[:10]
    corpus = re.sub(r"[^A-Za-z0-9_-]+", "_", source.corpus)
    return f"{corpus}-{slug}-{digest}"


def sample_key(source: Source, kind: str) -> str:
    """The key of one sample of a source: ``{corpus}-{name}-{hash}-{kind}``."""
    return f"{source_member_key(source)}-{kind}"


def sample_metadata(source: Source, kind: str, config: BuildConfig, rephraser=None) -> dict[str, Any]:
    """The SPEC §3 metadata of one sample (everything except its audio)."""
    seed = sample_seed(config.seed, source.corpus, source.source_id, kind)
    params = sample_parameters(seed, kind)
    # Streams (seed, 1) and (seed, 2) pick the caption and the phrasing; sample_parameters
    # uses the seed itself, so none of the three choices depends on another.
    caption = source.captions[int(np.random.default_rng((seed, 1)).integers(len(source.captions)))]
    spatial_caption = template_caption(caption, params, seed)
    origin = "template"
    if rephraser is not None:
        spatial_caption, origin = rephraser.rephrase(caption, params, spatial_caption)
    preprocess = config.preprocess
    return {
        "key": sample_key(source, kind),
        "source_id": source.source_id,
        "corpus": source.corpus,
        "split": source.split,
        "caption": caption,
        "captions": list(source.captions),
        "spatial_caption": spatial_caption,
        "caption_origin": origin,
        **params.as_metadata(),
        "seed": seed,
        "layout": "fuma",
        "sample_rate": preprocess.sample_rate,
        "num_samples": preprocess.num_samples,
    }


# -- one shard (runs in a worker process) ----------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(config: BuildConfig, out_dir: str, counter) -> None:
    _WORKER.update(config=config, out_dir=out_dir, counter=counter, rephraser=None)
    if config.rephraser is not None:
        from sonicmotion.data.rephrase import make_rephraser

        _WORKER["rephraser"] = make_rephraser(config.rephraser)


def _init_pool_worker(config: BuildConfig, out_dir: str, counter) -> None:
    _init_worker(config, out_dir, counter)
    # A killed build must not leave workers behind that go on writing into its folder
    # (while a resumed build writes there too): exit once the parent is gone.
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _advance(count: int) -> None:
    counter = _WORKER["counter"]
    if counter is not None:
        with counter.get_lock():
            counter.value += count


def build_shard(task: ShardTask) -> dict[str, Any]:
    """Write one shard (atomically) and its record; returns the record."""
    config: BuildConfig = _WORKER["config"]
    out = Path(_WORKER["out_dir"])
    rephraser = _WORKER["rephraser"]
    rate = config.preprocess.sample_rate
    rows, skipped = [], []
    path = out / task.name
    # Unique per process: a worker of a killed build may be finishing this shard for up to a second.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(tmp, "wb") as handle, ShardWriter(handle) as writer:
            for source in task.sources:
                try:
                    mono = load_clip(source.path, config.preprocess)
                except SourceSkipped as err:
                    skipped.append(asdict(Skipped(source.corpus, source.source_id, err.reason, source.split)))
                    _advance(len(config.kinds))
                    continue
                except Exception as err:  # the build never dies on one source
                    reason = f"unexpected error ({type(err).__name__}: {err})"
                    skipped.append(asdict(Skipped(source.corpus, source.source_id, reason, source.split)))
                    _advance(len(config.kinds))
                    continue
                samples = {kind: sample_metadata(source, kind, config, rephraser) for kind in config.kinds}
                if config.store == "sources":
                    writer.add_source(source_member_key(source), source_flac_bytes(mono, rate), samples)
                else:
                    for meta in samples.values():
                        foa = encode_sample_foa(mono, meta)
                        writer.add_sample(meta["key"], foa_to_bytes(foa, rate, "fuma"), meta)
                rows += [{**meta, "shard": task.name} for meta in samples.values()]
                _advance(len(samples))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    record = {
        "shard": task.name, "task": task.digest(), "bytes": path.stat().st_size, "sha256": file_sha256(path),
        "rows": rows, "skipped": skipped,
    }
    write_json(out / STATE_DIR / "shards" / f"{task.stem}.json", record, readable=False)
    return record


# -- the whole build --------------------------------------------------------------
def _record_path(out: Path, task: ShardTask) -> Path:
    return out / STATE_DIR / "shards" / f"{task.stem}.json"


def load_record(out: Path, task: ShardTask, check_sum: bool = True) -> dict[str, Any] | None:
    """The record of a finished shard, or None if the shard must be (re)built.
    ``check_sum=False`` skips reading the shard for its checksum (a shard this run wrote)."""
    path = _record_path(out, task)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    tar = out / task.name
    if record.get("task") != task.digest() or not tar.is_file() or tar.stat().st_size != record.get("bytes"):
        return None
    if check_sum and "sha256" in record and file_sha256(tar) != record["sha256"]:  # damaged in place, same size
        print(f"warning: {tar} does not match its recorded checksum; building it again", file=sys.stderr)
        return None
    return record


def _prepare_folder(
    out: Path, tasks: list[ShardTask], mine: list[ShardTask], config: BuildConfig, resume: bool
) -> None:
    state = out / STATE_DIR
    build_file = state / "build.json"
    print_id = fingerprint(tasks, config)
    if build_file.is_file():
        started = [t for t in mine if _record_path(out, t).exists() or (out / t.name).exists()]
        try:
            previous = read_json(build_file, "build record")
        except SonicMotionError as err:
            if started:
                raise SonicMotionError(f"{err}; it says which build {out} holds, so the shards there cannot be "
                                       "trusted: build into a new folder") from None
            previous = {"fingerprint": print_id}  # nothing built yet: the record is simply rewritten
        if not isinstance(previous, dict):
            previous = {}
        if previous.get("fingerprint") != print_id and started:
            raise SonicMotionError(
                f"{out} holds a build with other sources or settings (seed, shard size, preprocessing, "
                "rephraser); use a new --out folder"
            )
        if previous.get("fingerprint") != print_id:  # no shard started (e.g. a failed rephraser probe)
            build_file.unlink()
        if started and not resume:
            raise SonicMotionError(
                f"{out} already holds {len(started)} shard(s) of this build; pass --resume to continue it"
            )
    elif out.exists() and any(p.name != STATE_DIR for p in out.iterdir()):
        raise SonicMotionError(f"{out} is not empty and holds no build to resume; build into a new folder")
    (state / "shards").mkdir(parents=True, exist_ok=True)
    if not build_file.is_file():
        write_json(build_file, {
            "fingerprint": print_id, "version": __version__, "format": FORMAT_VERSION,
            "seed": config.seed, "shard_size": config.shard_size, "shards": len(tasks), "store": config.store,
            **({} if config.motions == "paper" else {"motions": config.motions}),
        })
    for split in {t.split for t in mine}:
        (out / split).mkdir(exist_ok=True)
        # Temporary files of a killed build.
        for leftover in (out / split).glob(".*.partial"):
            leftover.unlink(missing_ok=True)


def _run_tasks(todo: list[ShardTask], out: Path, config: BuildConfig, total_samples: int, done_samples: int):
    """Yield records of ``todo`` as they finish, with a progress bar over samples."""
    from tqdm import tqdm

    bar = tqdm(total=total_samples, initial=done_samples, unit="sample", disable=not config.progress,
               desc="dataset build", dynamic_ncols=True, smoothing=0.05)
    try:
        if config.workers <= 1:
            counter = multiprocessing.Value("q", 0, lock=True)
            _init_worker(config, str(out), counter)
            for task in todo:
                before = counter.value
                record = build_shard(task)
                bar.update(counter.value - before)
                yield record
            return
        # A process pool that notices a dead worker (killed for memory, say) instead of
        # waiting for it forever, as multiprocessing.Pool would.
        context = multiprocessing.get_context("spawn")
        counter = context.Value("q", 0, lock=True)
        pool = ProcessPoolExecutor(config.workers, mp_context=context, initializer=_init_pool_worker,
                                   initargs=(config, str(out), counter))
        try:
            pending = {pool.submit(build_shard, task) for task in todo}
            shown = 0
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                value = counter.value
                bar.update(value - shown)
                shown = value
                for future in done:
                    yield future.result()
        except BrokenProcessPool:
            raise SonicMotionError(
                "a worker process died (out of memory?); finished shards are kept: rerun with --resume"
            ) from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        bar.close()


@dataclass
class BuildResult:
    out_dir: Path
    index_path: Path
    report: dict[str, Any]
    built_shards: int
    kept_shards: int


def build_dataset(
    sources: list[Source],
    read_skipped: list[Skipped],
    out_dir: str | os.PathLike,
    config: BuildConfig,
    resume: bool = False,
) -> BuildResult:
    """Build (or resume) the dataset of ``sources`` into ``out_dir``.

    ``read_skipped`` are the sources the adapters already left out; they go into the
    report. With ``config.part = (i, N)`` only every N-th shard is built and the index and
    report are written under ``parts/`` for :func:`merge_parts`.
    """
    out = Path(out_dir)
    part, parts = config.part
    if not (parts >= 1 and 0 <= part < parts):
        raise SonicMotionError(f"--shard {part}/{parts}: need 0 <= i < N")
    if config.store not in STORES:
        raise SonicMotionError(f"store must be one of {', '.join(STORES)}, got {config.store!r}")
    require_pyarrow()  # the index needs it: fail now, not after the work
    if config.plots and not has_module("matplotlib"):
        print("note: the report's histogram PNGs are left out: matplotlib is not installed "
              "(pip install 'sonicmotion[plots]', then 'sonicmotion dataset stats' draws them)", file=sys.stderr)
        config = replace(config, plots=False)
    tasks = plan_shards(sources, config)
    if not tasks:
        raise SonicMotionError("no usable sources: every source was skipped (see the reasons above)")
    mine = tasks[part::parts]
    if config.rephraser is not None:
        from sonicmotion.data.rephrase import make_rephraser

        make_rephraser(config.rephraser).check()  # fail before any work or state if it cannot answer
    out.mkdir(parents=True, exist_ok=True)
    _prepare_folder(out, tasks, mine, config, resume)
    finished = {t.name for t in mine if resume and load_record(out, t) is not None}
    todo = [t for t in mine if t.name not in finished]
    total = sum(len(config.kinds) * len(t.sources) for t in mine)
    done = sum(len(config.kinds) * len(t.sources) for t in mine if t.name in finished)
    started = time.perf_counter()
    built = {record["shard"] for record in _run_tasks(todo, out, config, total, done)}
    seconds = time.perf_counter() - started
    # Index and report from the records, in plan order, one shard in memory at a time.
    accumulator = ReportAccumulator()
    if part == 0:  # adapter skips are reported once, by part 0
        accumulator.add_skipped(asdict(s) for s in read_skipped)
    index_path = out / "index.parquet" if parts == 1 else out / "parts" / f"index-{part:05d}-of-{parts:05d}.parquet"
    index_path.parent.mkdir(exist_ok=True)
    with IndexWriter(index_path, distance=config.motions != "paper") as index:
        for task in mine:
            record = load_record(out, task, check_sum=task.name not in built)
            if record is None:
                raise SonicMotionError(f"{task.name}: shard record missing after the build; rerun with --resume")
            index.write(record["rows"])
            accumulator.add_rows(record["rows"])
            accumulator.add_skipped(record["skipped"])
    extra = {
        "fingerprint": fingerprint(tasks, config), "seed": config.seed, "shard_size": config.shard_size,
        "part": [part, parts], "shards": len(mine), "shard_names": [t.name for t in mine],
        "sonicmotion": __version__, "limit": config.limit,
        "sources_beyond_limit": len(sources) - sum(len(t.sources) for t in tasks),
    }
    report = accumulator.as_dict(extra)
    if parts == 1:
        _write_build_report(out, report, config.plots)
    else:
        write_json(out / "parts" / f"report-{part:05d}-of-{parts:05d}.json", report)
    report["build_seconds"] = seconds
    return BuildResult(out, index_path, report, len(todo), len(mine) - len(todo))

def build_from_corpora(
    source_specs: list[str],
    out_dir: str | os.PathLike,
    config: BuildConfig,
    resume: bool = False,
    log: Callable[[str], None] = print,
) -> BuildResult:
    """``dataset build``: read the corpora ``source_specs`` name (``kind:...``, see
    :class:`~sonicmotion.data.corpora.SourceSpec`; every header and folder is checked before
    any work), build them into ``out_dir`` and ``log`` the summary lines."""
    from sonicmotion.data.corpora import SourceSpec, read_sources
    from sonicmotion.data.build_report import summary_text
    from sonicmotion.files import check_output_folder

    check_output_folder(out_dir)
    sources, skipped = read_sources([SourceSpec.parse(text) for text in source_specs])
    log(f"{len(sources)} sources, {len(skipped)} skipped while reading the corpora")
    result = build_dataset(sources, skipped, out_dir, config, resume=resume)
    log(summary_text(result.report))
    log(f"built {result.built_shards} shard(s), kept {result.kept_shards} finished before, "
        f"in {result.report['build_seconds']:.1f} s; index {result.index_path}")
    return result



def _write_build_report(out: Path, report: dict[str, Any], plots: bool = True) -> None:
    from sonicmotion.data.build_report import summary_text

    folder = out / "report"
    folder.mkdir(exist_ok=True)
    write_json(folder / "report.json", report)
    with atomic_path(folder / "summary.txt") as tmp:
        tmp.write_text(summary_text(report) + "\n", encoding="utf-8")
    if plots:
        plot_report(report, folder)


def merge_parts(out_dir: str | os.PathLike, others: list[str | os.PathLike] = (), plots: bool = True) -> BuildResult:
    """Join the ``--shard i/N`` parts of a build into ``index.parquet`` and one report.

    Parts built on other machines into other folders are copied in first (shards and
    records); every part 0..N-1 of one build must be present.
    """
    import pyarrow.parquet as pq

    out = Path(out_dir)
    for other in map(Path, others):
        if not (other / "parts").is_dir():
            raise SonicMotionError(f"{other}: not a part of a build (no parts/ folder)")
        for path in sorted(other.rglob("*")):
            rel = path.relative_to(other)
            target = out / rel
            if path.is_file() and not path.name.startswith(".") and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
    reports = {}
    for path in sorted((out / "parts").glob("report-*-of-*.json")) if (out / "parts").is_dir() else []:
        report = json.loads(path.read_text(encoding="utf-8"))
        reports[tuple(report["part"])] = (report, path)
    if not reports:
        raise SonicMotionError(f"{out}: no parts to merge (build with --shard i/N first)")
    counts = {n for _, n in reports}
    prints = {r["fingerprint"] for r, _ in reports.values()}
    if len(counts) != 1 or len(prints) != 1:
        raise SonicMotionError(f"{out}: the parts come from different builds (--shard N or settings differ)")
    parts = counts.pop()
    missing = [i for i in range(parts) if (i, parts) not in reports]
    if missing:
        raise SonicMotionError(f"{out}: parts {', '.join(map(str, missing))} of {parts} are missing; build them first")
    # Shard name -> (index file, row group): copy row groups in global shard order.
    locations = {}
    for i in range(parts):
        index = out / "parts" / f"index-{i:05d}-of-{parts:05d}.parquet"
        handle = pq.ParquetFile(str(index))
        for group in range(handle.num_row_groups):
            shard = handle.read_row_group(group, columns=["shard"]).column(0)[0].as_py()
            locations[shard] = (index, group)
    order = []
    for i in range(parts):
        order += [(name, i) for name in reports[(i, parts)][0]["shard_names"]]
    order.sort(key=lambda item: (SPLITS.index(item[0].split("/")[0]), item[0]))
    accumulator = ReportAccumulator()
    for report, _ in reports.values():
        accumulator.merge(report)
    first_index = out / "parts" / f"index-{0:05d}-of-{parts:05d}.parquet"
    distance = "start_distance" in pq.read_schema(str(first_index)).names  # a --motions paper+distance build
    with IndexWriter(out / "index.parquet", distance=distance) as writer:
        for name, _ in order:
            if name in locations:
                path, group = locations[name]
                writer.write_table(pq.ParquetFile(str(path)).read_row_group(group))
    first = reports[(0, parts)][0]
    extra = {k: first[k] for k in ("fingerprint", "seed", "shard_size", "sonicmotion", "limit", "sources_beyond_limit")}
    extra.update(part=[0, 1], shards=len(order), shard_names=[name for name, _ in order], merged_parts=parts)
    report = accumulator.as_dict(extra)
    _write_build_report(out, report, plots)
    return BuildResult(out, out / "index.parquet", report, 0, len(order))
