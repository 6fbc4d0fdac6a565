"""The report of a dataset build (``report.json``): counts, skipped sources and fixed-bin
histograms, fed one shard at a time; its text summary and its histogram plots."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from sonicmotion.audio import CLIP_SECONDS
from sonicmotion.files import atomic_path

REPORT_VERSION = 1
AZIMUTH_BINS = np.linspace(-180.0, 180.0, 37)  # 10° bins
ELEVATION_BINS = np.linspace(-35.0, 35.0, 15)  # 5° bins
DURATION_BINS = np.linspace(0.0, CLIP_SECONDS, 41)  # 0.25 s bins
HISTOGRAMS = {
    "start_azimuth": AZIMUTH_BINS,
    "end_azimuth": AZIMUTH_BINS,
    "start_elevation": ELEVATION_BINS,
    "end_elevation": ELEVATION_BINS,
    "move_duration": DURATION_BINS,
    "move_start": DURATION_BINS,
}


class ReportAccumulator:
    """Counts and histograms of a build, fed shard by shard."""

    def __init__(self) -> None:
        self.counts: Counter = Counter()  # "split/corpus/motion" -> samples
        self.sources: Counter = Counter()  # "split/corpus" -> sources with samples
        self.categories: dict[str, Counter] = {
            k: Counter() for k in ("speed", "moving_parts", "direction", "caption_origin")
        }
        self.histograms = {name: np.zeros(len(bins) - 1, dtype=np.int64) for name, bins in HISTOGRAMS.items()}
        self.skipped: list[dict[str, Any]] = []

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        moving = [r for r in rows if r["motion"] == "moving"]
        for row in rows:
            self.counts[f"{row['split']}/{row['corpus']}/{row['motion']}"] += 1
            if row["motion"] == "static":
                self.sources[f"{row['split']}/{row['corpus']}"] += 1
            self.categories["caption_origin"][row.get("caption_origin") or "template"] += 1
        for row in rows:
            if row.get("doppler") is not None:  # a distance sample (--motions paper+distance)
                where = "free field" if row.get("room") is None else "room"
                self.categories.setdefault("distance_samples", Counter())[where] += 1
        for row in moving:
            for name in ("speed", "moving_parts"):
                self.categories[name][row[name]] += 1
            self.categories["direction"][row["direction"] or "none"] += 1
        for name in ("start_azimuth", "end_azimuth", "start_elevation", "end_elevation"):
            subset = rows if name.startswith("start") else moving
            self._histogram(name, [r[name] for r in subset])
        self._histogram("move_duration", [r["move_end"] - r["move_start"] for r in moving])
        self._histogram("move_start", [r["move_start"] for r in moving])

    def _histogram(self, name: str, values: list[float]) -> None:
        if values:
            bins = HISTOGRAMS[name]
            self.histograms[name] += np.histogram(np.clip(values, bins[0], bins[-1] - 1e-9), bins)[0]

    def add_skipped(self, skipped: Iterable[dict[str, Any]]) -> None:
        self.skipped.extend(skipped)

    def merge(self, report: dict[str, Any]) -> None:
        """Add a saved report (of a ``--shard i/N`` part) to this one."""
        self.counts.update(report["counts"])
        self.sources.update(report["sources"])
        for name, counts in report["categories"].items():
            self.categories.setdefault(name, Counter()).update(counts)
        for name, counts in report["histograms"].items():
            self.histograms[name] += np.asarray(counts["counts"], dtype=np.int64)
        self.skipped.extend(report["skipped"])

    def as_dict(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        splits: Counter = Counter()
        for name, count in self.counts.items():
            splits[name.split("/")[0]] += count
        reasons = Counter(s["reason"].split(" (")[0] for s in self.skipped)
        return {
            "version": REPORT_VERSION,
            **(extra or {}),
            "samples": int(sum(self.counts.values())),
            "samples_per_split": dict(sorted(splits.items())),
            "counts": dict(sorted(self.counts.items())),
            "sources": dict(sorted(self.sources.items())),
            "categories": {k: dict(sorted(v.items())) for k, v in self.categories.items()},
            "histograms": {
                name: {"edges": HISTOGRAMS[name].tolist(), "counts": counts.tolist()}
                for name, counts in self.histograms.items()
            },
            "skipped_count": len(self.skipped),
            "skipped_reasons": dict(reasons.most_common()),
            "skipped": sorted(self.skipped, key=lambda s: (s.get("corpus", ""), s.get("source_id", ""), s["reason"])),
        }


def summary_text(report: dict[str, Any]) -> str:
    """A short human-readable summary of a report."""
    lines = [f"{report['samples']} samples: " + ", ".join(f"{s} {n}" for s, n in report["samples_per_split"].items())]
    for name, count in report["counts"].items():
        lines.append(f"  {name:<40} {count}")
    for name, counts in report["categories"].items():
        if counts:
            lines.append(f"{name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if report.get("sources_beyond_limit"):
        lines.append(f"sources beyond --limit {report['limit']}: {report['sources_beyond_limit']}")
    lines.append(f"skipped sources: {report['skipped_count']}")
    for reason, count in report["skipped_reasons"].items():
        lines.append(f"  {reason}: {count}")
    return "\n".join(lines)


def plot_report(report: dict[str, Any], folder: str | os.PathLike) -> list[Path]:
    """Histogram PNGs of start/end angles, movement timing, speeds and movement types."""
    from sonicmotion.optional import pyplot

    plt = pyplot()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    panels = [
        ("angles.png", [("start_azimuth", "end_azimuth"), ("start_elevation", "end_elevation")], "degrees"),
        ("timing.png", [("move_start",), ("move_duration",)], "seconds"),
    ]
    for filename, groups, unit in panels:
        fig, axes = plt.subplots(1, len(groups), figsize=(10, 3.5))
        for ax, names in zip(axes, groups):
            for name in names:
                hist = report["histograms"][name]
                edges = np.asarray(hist["edges"])
                label = name.replace("_", " ") + (" (moving samples)" if name.startswith(("end", "move")) else "")
                ax.stairs(hist["counts"], edges, label=label)
            ax.set_xlabel(unit)
            ax.set_ylabel("samples")
            ax.legend(fontsize=8)
        fig.tight_layout()
        with atomic_path(folder / filename) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
        plt.close(fig)
        written.append(folder / filename)
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
    for ax, name in zip(axes, ("speed", "moving_parts", "direction")):
        counts = report["categories"][name]
        ax.bar(list(counts), list(counts.values()))
        ax.set_title(f"moving samples: {name.replace('_', ' ')}", fontsize=9)
    fig.tight_layout()
    with atomic_path(folder / "movement.png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    written.append(folder / "movement.png")
    return written
