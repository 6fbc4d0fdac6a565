"""Table 2 of the paper for one folder of generated FOA clips: CLAP, FD, FAD, KL, spatial.

Each metric is either computed (value, clip counts, the settings it used) or reported
as not computed with the reason; it never becomes a number it is not.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from sonicmotion import __version__
from sonicmotion.audio import SAMPLE_RATE
from sonicmotion.errors import SonicMotionError
from sonicmotion.evaluation.frechet import frechet_distance, gaussian_stats
from sonicmotion.evaluation.kl import cosine_similarity, log_softmax, paired_kl
from sonicmotion.evaluation.sets import (
    PLAIN_CHANNELS,
    ClipSet,
    check_prompts_match,
    describe_ids,
    list_folder,
    list_reference,
    probe_generated,
)
from sonicmotion.files import atomic_path
from sonicmotion.prompts import read_prompts

METRICS = ("clap", "fd", "fad", "kl", "spatial")
# Stand-ins computed with weights that ship offline (the aisfx wheel): labelled as proxies
# everywhere and never written into the paper's columns.
PROXY_METRICS = ("fd_aisfx", "kl_aisfx")
PROXY_LABELS = {"fd_aisfx": "FD proxy (aisfx)", "kl_aisfx": "KL proxy (aisfx)"}
EMBEDDINGS = ("auto", "paper", "aisfx", "all")
AISFX_EMBEDDING = 512  # an aisfx array row: 512 embedding values, then the category logits
FORMAT = "sonicmotion-generation-metrics"
FORMAT_VERSION = 1
# Which embedding model each metric needs.
METRIC_MODELS = {"clap": "clap", "fd": "clap", "fad": "vggish", "kl": "cnn14", "fd_aisfx": "aisfx", "kl_aisfx": "aisfx"}


@dataclass(frozen=True)
class GenerationOptions:
    """What ``sonicmotion evaluate generation`` was asked to do."""

    generated: str
    prompts: str
    reference: str | None = None
    metrics: tuple[str, ...] = METRICS
    models_dir: str | None = None
    clap: str | None = None  # a CLAP folder or Hugging Face id (cache only)
    cache_dir: str | None = None  # None: no embedding cache
    layout: str | None = None  # for files that do not record theirs
    workers: int | None = None
    seed: int = 0
    device: str = "cpu"  # torch device for the embedding models
    name: str | None = None
    progress: bool = True
    # "auto": the paper's models, and the aisfx proxies when a model FD or KL needs is missing;
    # "paper": the paper's only; "aisfx": the proxies only; "all": both.
    embeddings: str = "auto"


def parse_metrics(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip().lower() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise SonicMotionError(f"unknown metric(s) {', '.join(unknown) or '(none)'}; choose from {','.join(METRICS)}")
    return names


def not_computed(reason: str, **extra: Any) -> dict[str, Any]:
    return {"computed": False, "value": None, "reason": reason, **extra}


def _attempt(compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return {"computed": True, **compute()}
    except SonicMotionError as err:
        return not_computed(str(err))


@dataclass
class _Models:
    loaded: dict[str, Any] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


def _load_models(names: set[str], options: GenerationOptions) -> _Models:
    from sonicmotion.evaluation import embeddings

    models_dir = options.models_dir or str(embeddings.DEFAULT_MODELS_DIR)
    loaders = {
        "clap": lambda: embeddings.load_clap(models_dir, options.clap, options.seed, options.device),
        "vggish": lambda: embeddings.load_vggish(models_dir, options.seed, options.device),
        "cnn14": lambda: embeddings.load_cnn14(models_dir, options.seed, options.device),
        "aisfx": lambda: embeddings.load_aisfx(options.seed, options.device),
    }
    models = _Models()
    for name in sorted(names):
        try:
            models.loaded[name] = loaders[name]()
        except SonicMotionError as err:
            models.missing[name] = str(err)
    return models


def _frechet(reference: dict[str, np.ndarray], generated: dict[str, np.ndarray], frames: bool) -> dict[str, Any]:
    def stack(arrays: dict[str, np.ndarray]) -> np.ndarray:
        rows = [arrays[i] for i in sorted(arrays)]
        return np.concatenate(rows) if frames else np.stack(rows)

    ref, gen = stack(reference), stack(generated)
    a = gaussian_stats(ref, "reference embeddings")
    b = gaussian_stats(gen, "generated embeddings")
    out: dict[str, Any] = {"value": frechet_distance(a, b), "n_reference": a.count, "n_generated": b.count, "dim": a.dim}
    if min(a.count, b.count) <= a.dim:
        out["notes"] = [f"fewer embeddings than dimensions ({min(a.count, b.count)} <= {a.dim}): "
                        "covariances are rank-deficient and the value is biased upwards"]
    return out


def evaluate_generation(options: GenerationOptions) -> dict[str, Any]:
    """Compute the requested metrics; returns the JSON-ready report (see docs/evaluation.md)."""
    from sonicmotion.evaluation.spatial import evaluate_spatial

    if options.device != "cpu" and any(m in METRIC_MODELS for m in options.metrics):
        from sonicmotion.evaluation.embeddings import check_device

        check_device(options.device)  # a wrong device is a bad request, not a missing metric
    prompts = {p.id: p for p in read_prompts(options.prompts)}
    generated = list_folder(options.generated, "generated")
    check_prompts_match(generated, prompts)
    rates, channels = probe_generated(generated, options.layout)
    reference: ClipSet | None = None
    if options.reference is not None:
        reference = list_reference(options.reference)

    report: dict[str, Any] = {
        "format": FORMAT, "version": FORMAT_VERSION,
        "name": options.name or Path(options.generated).resolve().name,
        "generated": {"folder": str(options.generated), "clips": len(generated), "channels": channels,
                      "sample_rates": {str(r): c for r, c in sorted(rates.items())}},
        "reference": None if reference is None else {"source": reference.description, "clips": len(reference)},
        "prompts": str(options.prompts), "seed": options.seed,
        "software": {"sonicmotion": __version__, "python": platform.python_version(), "numpy": np.__version__},
        "notes": [],
        "metrics": {},
    }
    if any(r != SAMPLE_RATE for r in rates):
        report["notes"].append(f"generated clips not at {SAMPLE_RATE} Hz: "
                               + ", ".join(f"{c} at {r} Hz" for r, c in sorted(rates.items()) if r != SAMPLE_RATE)
                               + "; embedding models receive them resampled (soxr HQ), spatial errors use them as they are")
    metrics = report["metrics"]

    audio_note = {4: "W channel as pressure p", 1: "the mono signal", 2: "the stereo mid (L + R) / 2"}[channels]
    if "spatial" in options.metrics and channels != 4:
        metrics["spatial"] = not_computed(
            f"the generated clips are {PLAIN_CHANNELS[channels]}: they have no direction to measure (semantic "
            "columns only)", not_applicable=True)
    elif "spatial" in options.metrics:
        trajectories = {i: p.trajectory for i, p in prompts.items() if p.trajectory is not None}
        if reference is not None:
            from sonicmotion.spatial.trajectory import Trajectory

            for i in generated.clips:
                meta = reference.metadata.get(i, {})
                if i not in trajectories and isinstance(meta.get("trajectory"), dict):
                    trajectories[i] = Trajectory.from_dict(meta["trajectory"])
        spatial = evaluate_spatial(generated.clips, trajectories, options.layout, options.workers, options.progress)
        if spatial.get("reason"):
            metrics["spatial"] = not_computed(spatial.pop("reason"), **{k: v for k, v in spatial.items() if k != "value"})
        else:
            metrics["spatial"] = {"computed": True, **spatial}

    if options.embeddings not in EMBEDDINGS:
        raise SonicMotionError(f"--embeddings must be one of {', '.join(EMBEDDINGS)}, got {options.embeddings!r}")
    wanted = [m for m in options.metrics if m in METRIC_MODELS]
    if options.embeddings == "aisfx":
        for m in wanted:
            metrics[m] = not_computed("--embeddings aisfx: the aisfx proxies instead of the paper's models")
        wanted = []
    models = _load_models({METRIC_MODELS[m] for m in wanted if m == "clap" or reference is not None}, options)
    missing = [m for m in wanted if m in ("fd", "kl") and METRIC_MODELS[m] in models.missing]
    asked = any(m in options.metrics for m in ("fd", "kl"))  # the proxies stand in for these two
    if asked and (options.embeddings in ("aisfx", "all") or (options.embeddings == "auto" and missing)):
        wanted += list(PROXY_METRICS)
        if reference is not None:
            extra = _load_models({"aisfx"}, options)
            models.loaded.update(extra.loaded)
            models.missing.update(extra.missing)
    if reference is None:
        for m in wanted:
            if m != "clap":
                metrics[m] = not_computed("no reference set given (--reference)")
        wanted = [m for m in wanted if m == "clap"]
    for m in wanted:
        if METRIC_MODELS[m] in models.missing:
            metrics[m] = not_computed(models.missing[METRIC_MODELS[m]])
    wanted = [m for m in wanted if METRIC_MODELS[m] in models.loaded]
    if wanted:
        _embedding_metrics(wanted, models, generated, reference, prompts, options, report, audio_note)
    for m in PROXY_METRICS:
        if m in metrics:
            metrics[m] = {**metrics[m], "proxy": "aisfx", "label": PROXY_LABELS[m]}
    report["metrics"] = {m: metrics[m] for m in METRICS + PROXY_METRICS if m in metrics}
    return report


def _embedding_metrics(wanted, models, generated, reference, prompts, options, report, audio_note) -> None:
    from sonicmotion.evaluation.embeddings import embed_clips

    metrics = report["metrics"]
    gen_models = sorted({METRIC_MODELS[m] for m in wanted})
    gen_clips = [generated.clips[i] for i in sorted(generated.clips)]
    try:
        gen = embed_clips([models.loaded[n] for n in gen_models], gen_clips, options.cache_dir, options.layout,
                          options.progress, "embedding generated")
    except SonicMotionError as err:
        for m in wanted:
            metrics[m] = not_computed(f"embedding the generated clips failed: {err}")
        return
    report["notes"] += [f"generated: {n}" for n in gen.notes()]
    ref = None
    paired: list[str] = []
    if reference is not None:
        ref_models = sorted({METRIC_MODELS[m] for m in wanted if m != "clap"})
        paired = sorted(set(generated.clips) & set(reference.clips))
        # The tagger (KL) needs only the reference clips that pair with a generated one.
        subsets = {"cnn14": set(paired)}
        if ref_models:
            try:
                ref = _embed_reference(models, ref_models, reference, subsets, options)
                report["notes"] += [f"reference: {n}" for n in ref.notes()]
            except SonicMotionError as err:
                for m in wanted:
                    if m != "clap":
                        metrics[m] = not_computed(f"embedding the reference clips failed: {err}")
                wanted = [m for m in wanted if m == "clap"]
    settings = {n: models.loaded[n].settings for n in gen_models}

    if "clap" in wanted:
        def clap_score() -> dict[str, Any]:
            ids = sorted(generated.clips)
            text = models.loaded["clap"].embed_text([prompts[i].caption for i in ids])
            audio = np.stack([gen.arrays["clap"][i] for i in ids])
            scores = cosine_similarity(audio, text)
            return {"value": float(scores.mean()), "std": float(scores.std()), "n": len(ids),
                    "settings": {**settings["clap"], "text": "the prompts file's original (non-spatial) caption",
                                 "audio": audio_note, "score": "mean cosine similarity"}}
        metrics["clap"] = _attempt(clap_score)
    if "fd" in wanted:
        metrics["fd"] = _attempt(lambda: {**_frechet(ref.arrays["clap"], gen.arrays["clap"], frames=False),
                                          "settings": {**settings["clap"], "audio": audio_note,
                                                       "method": "Fréchet distance, eigenvalue method, float64"}})
    if "fad" in wanted:
        metrics["fad"] = _attempt(lambda: {**_frechet(ref.arrays["vggish"], gen.arrays["vggish"], frames=True),
                                           "settings": {**settings["vggish"], "audio": audio_note,
                                                        "method": "Fréchet distance, eigenvalue method, float64"}})
    if "fd_aisfx" in wanted:
        def proxy_fd() -> dict[str, Any]:
            embeddings = {name: {i: a[:, :AISFX_EMBEDDING] for i, a in arrays.arrays["aisfx"].items()}
                          for name, arrays in (("ref", ref), ("gen", gen))}
            return {**_frechet(embeddings["ref"], embeddings["gen"], frames=True),
                    "settings": {**settings["aisfx"], "audio": audio_note,
                                 "method": "Fréchet distance of the 512-d block embeddings (every 2.3 s block of "
                                           "every clip one sample), eigenvalue method, float64"}}
        metrics["fd_aisfx"] = _attempt(proxy_fd)
    if "kl_aisfx" in wanted:
        def proxy_kl() -> dict[str, Any]:
            ids = _paired_ids(generated, reference)

            def distribution(array: np.ndarray) -> np.ndarray:
                # The clip's category distribution: its blocks' softmax, averaged; its log is a
                # valid logit vector for the same softmax.
                return np.log(np.exp(log_softmax(array[:, AISFX_EMBEDDING:])).mean(axis=0))

            values = paired_kl(np.stack([distribution(ref.arrays["aisfx"][i]) for i in ids]),
                               np.stack([distribution(gen.arrays["aisfx"][i]) for i in ids]))
            return {"value": float(values.mean()), "std": float(values.std()), "n": len(ids),
                    "settings": {**settings["aisfx"], "audio": audio_note,
                                 "direction": "KL(reference || generated), nats, mean over pairs",
                                 "distribution": "mean over the clip's blocks of the category softmax",
                                 "pairing": "by clip id"}}
        metrics["kl_aisfx"] = _attempt(proxy_kl)
    if "kl" in wanted:
        def kl() -> dict[str, Any]:
            _paired_ids(generated, reference)
            values = paired_kl(np.stack([ref.arrays["cnn14"][i] for i in paired]),
                               np.stack([gen.arrays["cnn14"][i] for i in paired]))
            return {"value": float(values.mean()), "std": float(values.std()), "n": len(paired),
                    "settings": {**settings["cnn14"], "direction": "KL(reference || generated), nats, mean over pairs",
                                 "pairing": "by clip id"}}
        metrics["kl"] = _attempt(kl)


def _paired_ids(generated: ClipSet, reference: ClipSet) -> list[str]:
    """The generated ids, each with a reference clip of the same id (KL pairs them)."""
    unpaired = set(generated.clips) - set(reference.clips)
    if unpaired:
        raise SonicMotionError(f"KL pairs clips by id, but {describe_ids(unpaired)} generated ids have no "
                               "reference clip of the same id")
    return sorted(generated.clips)


def _embed_reference(models, names, reference, subsets, options):
    from sonicmotion.evaluation.embeddings import EmbeddedSet, embed_clips

    combined = EmbeddedSet({n: {} for n in names})
    groups: dict[frozenset | None, list[str]] = {}
    for name in names:
        key = frozenset(subsets[name]) if name in subsets else None
        groups.setdefault(key, []).append(name)
    for subset, group in groups.items():
        ids = sorted(reference.clips) if subset is None else sorted(subset)
        desc = "embedding reference" + ("" if subset is None else " (paired ids)")
        part = embed_clips([models.loaded[n] for n in group], [reference.clips[i] for i in ids], options.cache_dir,
                           options.layout, options.progress, desc)
        for n in group:
            combined.arrays[n] = part.arrays[n]
        combined.sample_rates.update(part.sample_rates)
        combined.silent = sorted(set(combined.silent) | set(part.silent))
    return combined


def write_report(report: dict[str, Any], path: str | os.PathLike) -> None:
    """Write the report JSON atomically (per-clip spatial rows included)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")


def run_evaluation(options: GenerationOptions, out: str | os.PathLike) -> dict[str, Any]:
    """Evaluate, write the report JSON to ``out`` and print the summary and the Table 2 row."""
    from sonicmotion.evaluation.table import markdown_table, text_summary

    if not Path(out).parent.is_dir():
        raise SonicMotionError(f"{out}: output folder {str(Path(out).parent)!r} does not exist")
    if options.workers is not None and options.workers < 1:
        raise SonicMotionError(f"--workers must be at least 1, got {options.workers}")
    report = evaluate_generation(options)
    write_report(report, out)
    print(text_summary(report))
    print("\nTable 2 row:\n" + markdown_table([report]))
    print(f"wrote {out}")
    return report


def load_report(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise SonicMotionError(f"{path}: cannot read metrics JSON ({err})") from None
    if not isinstance(report, dict) or report.get("format") != FORMAT:
        raise SonicMotionError(f"{path}: not a 'sonicmotion evaluate generation' metrics file")
    if report.get("version") != FORMAT_VERSION:
        raise SonicMotionError(f"{path}: metrics format version {report.get('version')}, expected {FORMAT_VERSION}")
    return report
