"""Table 2 of the paper for one folder of generated FOA clips: CLAP, FD, FAD, KL, spatial.

Each metric is a :class:`Metric`: the embedding model it needs, whether it needs a
reference set, and what it computes. :func:`evaluate_generation` decides once which can
run (and why each other cannot), loads their models, embeds the clips they read, measures
them and builds the report from the results. A metric is either computed (value, clip
counts, the settings it used) or reported as not computed with the reason; it never
becomes a number it is not.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from sonicmotion import __version__
from sonicmotion.audio import SAMPLE_RATE
from sonicmotion.devices import AUTO, resolve_device
from sonicmotion.errors import SonicMotionError
from sonicmotion.evaluation.embeddings import EmbeddedSet
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
from sonicmotion.prompts import Prompt, read_prompts

METRICS = ("clap", "fd", "fad", "kl", "spatial")
# Stand-ins computed with weights that ship offline (the aisfx wheel): labelled as proxies
# everywhere and never written into the paper's columns.
PROXY_METRICS = ("fd_aisfx", "kl_aisfx")
EMBEDDINGS = ("auto", "paper", "aisfx", "all")
AISFX_EMBEDDING = 512  # an aisfx array row: 512 embedding values, then the category logits
FORMAT = "sonicmotion-generation-metrics"
FORMAT_VERSION = 1
FRECHET_METHOD = "Fréchet distance, eigenvalue method, float64"


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
    device: str = AUTO  # torch device for the embedding models (sonicmotion.devices)
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


class NotComputed(SonicMotionError):
    """Why a metric has no value, with the fields it reports all the same (the spatial
    metric's settings and per-clip reasons)."""

    def __init__(self, reason: str, **fields: Any):
        super().__init__(reason)
        self.fields = fields


@dataclass(frozen=True)
class Inputs:
    """What the metrics read: the clip sets, the prompts by id, the loaded embedding models
    by name and the clips' embeddings (``None`` until the clips are embedded)."""

    options: GenerationOptions
    prompts: dict[str, Prompt]
    generated: ClipSet
    reference: ClipSet | None
    channels: int  # of the generated clips: 4 (FOA), 1 or 2
    models: dict[str, Any] = field(default_factory=dict)
    generated_embeddings: EmbeddedSet | None = None
    reference_embeddings: EmbeddedSet | None = None

    @property
    def audio_note(self) -> str:
        """What the embedding models hear of a generated clip."""
        return {4: "W channel as pressure p", 1: "the mono signal", 2: "the stereo mid (L + R) / 2"}[self.channels]

    def settings(self, model: str) -> dict[str, Any]:
        return self.models[model].settings

    def embeddings(self, side: str, model: str) -> dict[str, np.ndarray]:
        """Arrays by clip id of ``side`` ("generated" or "reference") under ``model``."""
        found = self.generated_embeddings if side == "generated" else self.reference_embeddings
        return found.arrays[model]


@dataclass(frozen=True)
class Metric:
    """One metric of the report: the embedding model it needs (``None``: none), whether it
    needs a reference set (and only the reference clips paired with a generated id), and
    ``compute``, which returns its fields (``value`` first) or raises :class:`NotComputed`.
    A model metric that raises any :class:`SonicMotionError` (too few clips, unpaired ids)
    is not computed; errors of a metric without a model are bad input and stop the command."""

    name: str
    compute: Callable[[Inputs], dict[str, Any]]
    model: str | None = None
    needs_reference: bool = False
    paired_reference: bool = False
    proxy_label: str | None = None  # a stand-in with weights that ship offline, never a paper column

    def measure(self, inputs: Inputs) -> "MetricResult":
        try:
            return MetricResult(self, self.compute(inputs))
        except NotComputed as err:
            return MetricResult(self, err.fields, str(err))
        except SonicMotionError as err:
            if self.model is None:
                raise
            return MetricResult(self, {}, str(err))

    def skipped(self, reason: str) -> "MetricResult":
        return MetricResult(self, {}, reason)


@dataclass(frozen=True)
class MetricResult:
    """A metric's fields, and the reason when it was not computed (``None``: computed)."""

    metric: Metric
    fields: dict[str, Any]
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The metric's entry in the metrics JSON."""
        if self.reason is None:
            entry = {"computed": True, **self.fields}
        else:
            entry = {"computed": False, "value": None, "reason": self.reason, **self.fields}
        if self.metric.proxy_label:
            entry.update(proxy="aisfx", label=self.metric.proxy_label)
        return entry


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


def _paired_ids(generated: ClipSet, reference: ClipSet) -> list[str]:
    """The generated ids, each with a reference clip of the same id (KL pairs them)."""
    unpaired = set(generated.clips) - set(reference.clips)
    if unpaired:
        raise SonicMotionError(f"KL pairs clips by id, but {describe_ids(unpaired)} generated ids have no "
                               "reference clip of the same id")
    return sorted(generated.clips)


def clap_score(inputs: Inputs) -> dict[str, Any]:
    """Mean cosine of each clip's CLAP audio embedding and its original caption's text embedding."""
    ids = sorted(inputs.generated.clips)
    text = inputs.models["clap"].embed_text([inputs.prompts[i].caption for i in ids])
    audio = np.stack([inputs.embeddings("generated", "clap")[i] for i in ids])
    scores = cosine_similarity(audio, text)
    return {"value": float(scores.mean()), "std": float(scores.std()), "n": len(ids),
            "settings": {**inputs.settings("clap"), "text": "the prompts file's original (non-spatial) caption",
                         "audio": inputs.audio_note, "score": "mean cosine similarity"}}


def frechet_metric(model: str, frames: bool) -> Callable[[Inputs], dict[str, Any]]:
    """FD (CLAP, one embedding per clip) or FAD (VGGish, every example of every clip one sample)."""
    def compute(inputs: Inputs) -> dict[str, Any]:
        return {**_frechet(inputs.embeddings("reference", model), inputs.embeddings("generated", model), frames),
                "settings": {**inputs.settings(model), "audio": inputs.audio_note, "method": FRECHET_METHOD}}
    return compute


def tagger_kl(inputs: Inputs) -> dict[str, Any]:
    """KL(reference || generated) of the CNN14 tagger's distributions, paired by clip id."""
    ids = _paired_ids(inputs.generated, inputs.reference)
    values = paired_kl(np.stack([inputs.embeddings("reference", "cnn14")[i] for i in ids]),
                       np.stack([inputs.embeddings("generated", "cnn14")[i] for i in ids]))
    return {"value": float(values.mean()), "std": float(values.std()), "n": len(ids),
            "settings": {**inputs.settings("cnn14"), "direction": "KL(reference || generated), nats, mean over pairs",
                         "pairing": "by clip id"}}


def aisfx_fd(inputs: Inputs) -> dict[str, Any]:
    """Fréchet distance of the aisfx block embeddings (the proxy for FD)."""
    blocks = {side: {i: a[:, :AISFX_EMBEDDING] for i, a in inputs.embeddings(side, "aisfx").items()}
              for side in ("reference", "generated")}
    return {**_frechet(blocks["reference"], blocks["generated"], frames=True),
            "settings": {**inputs.settings("aisfx"), "audio": inputs.audio_note,
                         "method": "Fréchet distance of the 512-d block embeddings (every 2.3 s block of "
                                   "every clip one sample), eigenvalue method, float64"}}


def aisfx_kl(inputs: Inputs) -> dict[str, Any]:
    """KL(reference || generated) of the aisfx category distributions, paired by id (the proxy for KL)."""
    ids = _paired_ids(inputs.generated, inputs.reference)

    def distribution(array: np.ndarray) -> np.ndarray:
        # The clip's category distribution: its blocks' softmax, averaged; its log is a
        # valid logit vector for the same softmax.
        return np.log(np.exp(log_softmax(array[:, AISFX_EMBEDDING:])).mean(axis=0))

    values = paired_kl(np.stack([distribution(inputs.embeddings("reference", "aisfx")[i]) for i in ids]),
                       np.stack([distribution(inputs.embeddings("generated", "aisfx")[i]) for i in ids]))
    return {"value": float(values.mean()), "std": float(values.std()), "n": len(ids),
            "settings": {**inputs.settings("aisfx"), "audio": inputs.audio_note,
                         "direction": "KL(reference || generated), nats, mean over pairs",
                         "distribution": "mean over the clip's blocks of the category softmax",
                         "pairing": "by clip id"}}


def spatial_errors(inputs: Inputs) -> dict[str, Any]:
    """L1 azimuth, L1 elevation and Δangle of each FOA clip against its requested path
    (prompts file, else the reference clip's metadata)."""
    from sonicmotion.evaluation.spatial import evaluate_spatial

    if inputs.channels != 4:
        raise NotComputed(f"the generated clips are {PLAIN_CHANNELS[inputs.channels]}: they have no direction to "
                          "measure (semantic columns only)", not_applicable=True)
    trajectories = {i: p.trajectory for i, p in inputs.prompts.items() if p.trajectory is not None}
    if inputs.reference is not None:
        from sonicmotion.spatial.trajectory import Trajectory

        for i in inputs.generated.clips:
            meta = inputs.reference.metadata.get(i, {})
            if i not in trajectories and isinstance(meta.get("trajectory"), dict):
                trajectories[i] = Trajectory.from_dict(meta["trajectory"])
    options = inputs.options
    spatial = evaluate_spatial(inputs.generated.clips, trajectories, options.layout, options.workers, options.progress)
    if spatial.get("reason"):
        raise NotComputed(spatial.pop("reason"), **{k: v for k, v in spatial.items() if k != "value"})
    return spatial


# Every metric, in the report's order: the paper's, then the proxies.
ALL_METRICS = (
    Metric("clap", clap_score, model="clap"),
    Metric("fd", frechet_metric("clap", frames=False), model="clap", needs_reference=True),
    Metric("fad", frechet_metric("vggish", frames=True), model="vggish", needs_reference=True),
    Metric("kl", tagger_kl, model="cnn14", needs_reference=True, paired_reference=True),
    Metric("spatial", spatial_errors),
    Metric("fd_aisfx", aisfx_fd, model="aisfx", needs_reference=True, proxy_label="FD proxy (aisfx)"),
    Metric("kl_aisfx", aisfx_kl, model="aisfx", needs_reference=True, paired_reference=True,
           proxy_label="KL proxy (aisfx)"),
)
BY_NAME = {metric.name: metric for metric in ALL_METRICS}
# The proxies stand in for these two (the paper's FD and KL).
PROXIED = ("fd", "kl")


@dataclass
class _Models:
    """Embedding models loaded on first need; a model that cannot load is remembered with why."""

    options: GenerationOptions
    device: str
    loaded: dict[str, Any] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    def load(self, names: set[str]) -> None:
        from sonicmotion.evaluation import embeddings

        options, device = self.options, self.device
        models_dir = options.models_dir or str(embeddings.DEFAULT_MODELS_DIR)
        loaders = {
            "clap": lambda: embeddings.load_clap(models_dir, options.clap, options.seed, device),
            "vggish": lambda: embeddings.load_vggish(models_dir, options.seed, device),
            "cnn14": lambda: embeddings.load_cnn14(models_dir, options.seed, device),
            "aisfx": lambda: embeddings.load_aisfx(options.seed, device),
        }
        for name in sorted(names - set(self.loaded) - set(self.missing)):
            try:
                self.loaded[name] = loaders[name]()
            except SonicMotionError as err:
                self.missing[name] = str(err)


def _choose(options: GenerationOptions, reference: ClipSet | None, models: _Models
            ) -> tuple[list[Metric], dict[str, MetricResult]]:
    """The requested model metrics (and the proxies when they stand in) that can run, with
    their models loaded, and the reason for each that cannot."""
    skipped: dict[str, MetricResult] = {}
    paper = [BY_NAME[n] for n in options.metrics if BY_NAME[n].model]
    if options.embeddings == "aisfx":
        skipped.update((m.name, m.skipped("--embeddings aisfx: the aisfx proxies instead of the paper's models"))
                       for m in paper)
        paper = []
    models.load({m.model for m in paper if reference is not None or not m.needs_reference})
    stand_in = options.embeddings in ("aisfx", "all") or (
        options.embeddings == "auto" and any(m.name in PROXIED and m.model in models.missing for m in paper))
    candidates = paper
    if stand_in and any(n in PROXIED for n in options.metrics):
        candidates = paper + [BY_NAME[n] for n in PROXY_METRICS]
        if reference is not None:
            models.load({"aisfx"})
    runnable = []
    for metric in candidates:
        if metric.needs_reference and reference is None:
            skipped[metric.name] = metric.skipped("no reference set given (--reference)")
        elif metric.model in models.missing:
            skipped[metric.name] = metric.skipped(models.missing[metric.model])
        else:
            runnable.append(metric)
    return runnable, skipped


def evaluate_generation(options: GenerationOptions) -> dict[str, Any]:
    """Compute the requested metrics; returns the JSON-ready report (see docs/evaluation.md)."""
    if options.embeddings not in EMBEDDINGS:
        raise SonicMotionError(f"--embeddings must be one of {', '.join(EMBEDDINGS)}, got {options.embeddings!r}")
    device = options.device
    if any(BY_NAME[n].model for n in options.metrics):
        device = resolve_device(options.device)  # a wrong device is a bad request, not a missing metric
    prompts = {p.id: p for p in read_prompts(options.prompts)}
    generated = list_folder(options.generated, "generated")
    check_prompts_match(generated, prompts)
    rates, channels = probe_generated(generated, options.layout)
    reference = None if options.reference is None else list_reference(options.reference)

    notes = []
    if any(r != SAMPLE_RATE for r in rates):
        notes.append(f"generated clips not at {SAMPLE_RATE} Hz: "
                     + ", ".join(f"{c} at {r} Hz" for r, c in sorted(rates.items()) if r != SAMPLE_RATE)
                     + "; embedding models receive them resampled (soxr HQ), spatial errors use them as they are")
    models = _Models(options, device)
    inputs = Inputs(options, prompts, generated, reference, channels, models.loaded)
    results = {"spatial": BY_NAME["spatial"].measure(inputs)} if "spatial" in options.metrics else {}
    runnable, skipped = _choose(options, reference, models)
    results.update(skipped)
    if runnable:
        inputs, runnable, failed, embedding_notes = _embed(inputs, runnable)
        results.update(failed)
        notes += embedding_notes
    results.update((metric.name, metric.measure(inputs)) for metric in runnable)
    return {
        "format": FORMAT, "version": FORMAT_VERSION,
        "name": options.name or Path(options.generated).resolve().name,
        "generated": {"folder": str(options.generated), "clips": len(generated), "channels": channels,
                      "sample_rates": {str(r): c for r, c in sorted(rates.items())}},
        "reference": None if reference is None else {"source": reference.description, "clips": len(reference)},
        "prompts": str(options.prompts), "seed": options.seed,
        "software": {"sonicmotion": __version__, "python": platform.python_version(), "numpy": np.__version__},
        "notes": notes,
        "metrics": {m.name: results[m.name].as_dict() for m in ALL_METRICS if m.name in results},
    }


def _embed(inputs: Inputs, runnable: list[Metric]
           ) -> tuple[Inputs, list[Metric], dict[str, MetricResult], list[str]]:
    """Embed the generated clips (and the reference clips the metrics need) with the models
    of ``runnable``: the inputs with embeddings, the metrics that can still run, the ones
    that cannot (embedding failed) and the notes about the clips read."""
    from sonicmotion.evaluation.embeddings import embed_clips

    options, generated, reference = inputs.options, inputs.generated, inputs.reference
    names = sorted({m.model for m in runnable})
    try:
        gen = embed_clips([inputs.models[n] for n in names], [generated.clips[i] for i in sorted(generated.clips)],
                          options.cache_dir, options.layout, options.progress, "embedding generated")
    except SonicMotionError as err:
        return inputs, [], {m.name: m.skipped(f"embedding the generated clips failed: {err}") for m in runnable}, []
    notes = [f"generated: {n}" for n in gen.notes()]
    inputs = replace(inputs, generated_embeddings=gen)
    needs_reference = [m for m in runnable if m.needs_reference]
    if not needs_reference:
        return inputs, runnable, {}, notes
    # A model whose every metric pairs by id reads only the reference clips of generated ids.
    paired = set(generated.clips) & set(reference.clips)
    ref_names = sorted({m.model for m in needs_reference})
    subsets = {n: paired for n in ref_names if all(m.paired_reference for m in needs_reference if m.model == n)}
    try:
        ref = _embed_reference(inputs.models, ref_names, reference, subsets, options)
    except SonicMotionError as err:
        failed = {m.name: m.skipped(f"embedding the reference clips failed: {err}") for m in needs_reference}
        return inputs, [m for m in runnable if not m.needs_reference], failed, notes
    notes += [f"reference: {n}" for n in ref.notes()]
    return replace(inputs, reference_embeddings=ref), runnable, {}, notes


def _embed_reference(models: dict[str, Any], names: list[str], reference: ClipSet, subsets: dict[str, set[str]],
                     options: GenerationOptions) -> EmbeddedSet:
    """Reference embeddings by model; models sharing a clip subset read the clips once."""
    from sonicmotion.evaluation.embeddings import embed_clips

    combined = EmbeddedSet({n: {} for n in names})
    groups: dict[frozenset | None, list[str]] = {}
    for name in names:
        key = frozenset(subsets[name]) if name in subsets else None
        groups.setdefault(key, []).append(name)
    for subset, group in groups.items():
        ids = sorted(reference.clips) if subset is None else sorted(subset)
        desc = "embedding reference" + ("" if subset is None else " (paired ids)")
        part = embed_clips([models[n] for n in group], [reference.clips[i] for i in ids], options.cache_dir,
                           options.layout, options.progress, desc)
        for n in group:
            combined.arrays[n] = part.arrays[n]
        combined.sample_rates.update(part.sample_rates)
        combined.silent = sorted(set(combined.silent) | set(part.silent))
    return combined


def write_metrics_file(report: dict[str, Any], path: str | os.PathLike) -> None:
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
    write_metrics_file(report, out)
    print(text_summary(report))
    print("\nTable 2 row:\n" + markdown_table([report]))
    print(f"wrote {out}")
    return report


def load_metrics_file(path: str | os.PathLike) -> dict[str, Any]:
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
