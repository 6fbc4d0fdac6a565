"""Readable summaries of generation metrics: one run as text, several as the paper's Table 2."""

from __future__ import annotations

from typing import Any

# (metric, title, field, resolution): a spatial column reads one resolution's figures.
SEMANTIC_COLUMNS = (
    ("clap", "CLAP↑", None, None),
    ("fd", "FD↓", None, None),
    ("fad", "FAD↓", None, None),
    ("kl", "KL↓", None, None),
)
SPATIAL_FIELDS = (("L1(θ)↓", "l1_azimuth"), ("L1(φ)↓", "l1_elevation"), ("Δangle↓", "delta_angle"))
# "paper": the paper's columns at its resolution (per-sample intensity, §2.7.1), the frame
# figures beside them under their own name; "sample" or "frame": that resolution alone.
TABLE_RESOLUTIONS = ("paper", "sample", "frame")


def spatial_columns(resolution: str) -> tuple[tuple[str, str, str, str], ...]:
    """The spatial columns of a table at ``resolution`` (one of :data:`TABLE_RESOLUTIONS`)."""
    if resolution not in TABLE_RESOLUTIONS:
        raise ValueError(f"resolution must be one of {TABLE_RESOLUTIONS}, got {resolution!r}")
    if resolution != "paper":
        return tuple(("spatial", title, name, resolution) for title, name in SPATIAL_FIELDS)
    return (tuple(("spatial", title, name, "sample") for title, name in SPATIAL_FIELDS)
            + tuple(("spatial", f"{title} frame", name, "frame") for title, name in SPATIAL_FIELDS))


COLUMNS = SEMANTIC_COLUMNS + spatial_columns("paper")
# Proxy metrics (weights that ship offline) get columns of their own, after the paper's.
PROXY_COLUMNS = (
    ("fd_aisfx", "FD proxy (aisfx)↓", None, None),
    ("kl_aisfx", "KL proxy (aisfx)↓", None, None),
)
LABELS = {"clap": "CLAP score", "fd": "FD (CLAP)", "fad": "FAD (VGGish)", "kl": "KL (CNN14)",
          "fd_aisfx": "FD proxy (aisfx)", "kl_aisfx": "KL proxy (aisfx)"}


def _cell(metric: dict[str, Any] | None, field: str | None, resolution: str, group: str) -> str | None:
    """The formatted number, or None when the metric was not computed or not asked for."""
    if metric is None or not metric.get("computed"):
        return None
    if field is None:
        return f"{metric['value']:.2f}"
    row = metric.get(resolution, {}).get(group, {})
    return f"{row[field]:.2f}" if field in row else None


def merge_runs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Reports with the same name become one row: a metric computed in any of them is kept
    (the paper's rows join clips made from original captions, for the semantic columns,
    with clips made from spatial captions or paths, for the spatial ones)."""
    merged: dict[str, dict[str, Any]] = {}
    for run in runs:
        row = merged.get(run["name"])
        if row is None:
            merged[run["name"]] = {**run, "metrics": dict(run["metrics"]), "parts": [run]}
            continue
        row["parts"].append(run)
        for name, metric in run["metrics"].items():
            if name not in row["metrics"] or (metric.get("computed") and not row["metrics"][name].get("computed")):
                row["metrics"][name] = metric
    return list(merged.values())


def markdown_table(runs: list[dict[str, Any]], resolution: str = "paper", group: str = "all") -> str:
    """Table 2 layout (markdown) for several metric reports (same-name reports share a row),
    with footnotes for gaps: "n/a" where a metric does not apply (mono/stereo baselines' spatial
    columns), "–" where it was not computed. ``resolution``: ``"paper"`` (default) puts the
    paper's spatial columns at sample resolution and the frame figures beside them, named;
    ``"sample"`` or ``"frame"`` shows that resolution alone."""
    runs = merge_runs(runs)
    main_columns = SEMANTIC_COLUMNS + spatial_columns(resolution)
    columns = main_columns + tuple(c for c in PROXY_COLUMNS if any(c[0] in run["metrics"] for run in runs))
    header = "| Model | " + " | ".join(title for _, title, _, _ in columns) + " |"
    lines = [header, "|" + "---|" * (len(columns) + 1)]
    footnotes: list[str] = []
    for run in runs:
        cells = []
        for metric_name, _, field, column_resolution in columns:
            metric = run["metrics"].get(metric_name)
            value = _cell(metric, field, column_resolution, group)
            if value is None:
                reason = "not requested" if metric is None else metric.get("reason") or f"no {group} clips"
                note = f"{run['name']}, {metric_name}: {reason}"
                if note not in footnotes:
                    footnotes.append(note)
                mark = "n/a" if metric is not None and metric.get("not_applicable") else "–"
                value = f"{mark}[{footnotes.index(note) + 1}]"
            cells.append(value)
        lines.append(f"| {run['name']} | " + " | ".join(cells) + " |")
    lines.append("")
    if resolution == "paper":
        lines.append(f"Spatial errors in degrees, {group} clips, against the requested paths. L1(θ), L1(φ), Δangle: "
                     "sample resolution (per-sample intensity, the paper's §2.7.1), the figures to set beside the "
                     "paper's; '… frame': intensity over 100 ms frames every 50 ms, quiet frames left out (SPEC §2).")
    else:
        lines.append(f"Spatial errors in degrees, {resolution} resolution, {group} clips, against the requested paths.")
    if len(columns) > len(main_columns):
        lines.append("Proxy columns use the aiSFX sound-effects network (weights in the aisfx wheel), not the paper's "
                     "models: compare them only with each other.")
    for run in runs:
        spatial = run["metrics"].get("spatial") or {}
        counted = "sample" if resolution == "paper" else resolution
        n = spatial.get(counted, {}).get(group, {}).get("n") if spatial.get("computed") else None
        ref = (run.get("reference") or {}).get("source", "none")
        clips = " + ".join(str(part["generated"]["clips"]) for part in run.get("parts", [run]))
        lines.append(f"- {run['name']}: {clips} generated clips; compared with {ref}; "
                     f"spatial n={n if n is not None else '–'}; seed {run.get('seed')}")
    for i, note in enumerate(footnotes, 1):
        lines.append(f"[{i}] {note}")
    return "\n".join(lines)


def text_summary(report: dict[str, Any]) -> str:
    """One run's metrics, one line each, with counts and reasons."""
    lines = [f"generation metrics for {report['name']}: {report['generated']['clips']} clips; reference: "
             f"{(report.get('reference') or {}).get('source', 'none')}"]
    for name, label in LABELS.items():
        metric = report["metrics"].get(name)
        if metric is None:
            continue
        if not metric["computed"]:
            lines.append(f"  {label:<16} not computed: {metric['reason']}")
            continue
        counts = f"n={metric['n']}" if "n" in metric else f"n={metric['n_reference']} reference, {metric['n_generated']} generated"
        lines.append(f"  {label:<16} {metric['value']:.4f}  ({counts})")
        lines += [f"  {'':<16} note: {n}" for n in metric.get("notes", [])]
    spatial = report["metrics"].get("spatial")
    if spatial is not None:
        if not spatial["computed"]:
            lines.append(f"  {'spatial':<16} not computed: {spatial['reason']}")
        else:
            for resolution in ("frame", "sample"):
                for group in ("all", "static", "moving"):
                    row = spatial[resolution][group]
                    if row["n"] == 0:
                        continue
                    lines.append(f"  spatial {resolution:<6} {group:<6}  L1 azimuth {row['l1_azimuth']:7.2f}°  "
                                 f"L1 elevation {row['l1_elevation']:6.2f}°  Δangle {row['delta_angle']:7.2f}°  (n={row['n']})")
            if spatial["not_computed"]:
                first = spatial["not_computed"][0]
                lines.append(f"  {'':<16} {len(spatial['not_computed'])} clip(s) not judged, e.g. {first['id']}: {first['reason']}")
    lines += [f"  note: {n}" for n in report.get("notes", [])]
    return "\n".join(lines)
