"""The prompt files of the paper's evaluation protocol (§2.7, Table 2), from a built dataset.

For every sample of one split (4,040 in the paper's test split):

- ``semantic.jsonl``: the original caption as the prompt, no path. The semantic columns
  (CLAP, FD, FAD, KL) of every model are measured on clips made from these: the paper
  compares SM-D, SM-P, AudioLDM 2 and Stable Audio Open "on audio generated using
  original non-spatial captions".
- ``descriptive.jsonl``: the spatial caption as the prompt (SM-D's spatial columns); the
  requested path comes from the reference set's metadata, by id.
- ``parametric.jsonl``: the original caption and the sample's trajectory (SM-P, both).

Every row keeps ``caption`` (the original caption: CLAP scores against it) and ``seconds``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sonicmotion.errors import SonicMotionError
from sonicmotion.prompts import write_prompts

PROMPT_FILES = ("semantic", "descriptive", "parametric")


def protocol_rows(dataset: str | os.PathLike, split: str = "test", limit: int | None = None) -> dict[str, list[dict]]:
    """The three prompt lists for ``split`` of a built dataset, in key order (``limit``: the first N)."""
    from sonicmotion.data.index import iter_index

    columns = ["key", "split", "caption", "spatial_caption", "trajectory", "num_samples", "sample_rate"]
    samples = [row for rows in iter_index(Path(dataset) / "index.parquet", columns) for row in rows
               if row["split"] == split]
    if not samples:
        raise SonicMotionError(f"{dataset}: the index has no {split!r} samples")
    samples.sort(key=lambda row: row["key"])
    samples = samples[:limit] if limit else samples
    out: dict[str, list[dict]] = {name: [] for name in PROMPT_FILES}
    for row in samples:
        seconds = row["num_samples"] / row["sample_rate"]
        base = {"id": row["key"], "caption": row["caption"], "seconds": seconds}
        out["semantic"].append({**base, "prompt": row["caption"]})
        out["descriptive"].append({**base, "prompt": row["spatial_caption"]})
        out["parametric"].append({**base, "prompt": row["caption"], "trajectory": json.loads(row["trajectory"])})
    return out


def write_protocol_prompts(dataset: str | os.PathLike, out: str | os.PathLike, split: str = "test",
                           limit: int | None = None) -> dict[str, Path]:
    """Write ``OUT/{semantic,descriptive,parametric}.jsonl``; returns their paths."""
    out = Path(out)
    if not out.parent.is_dir():
        raise SonicMotionError(f"output folder {str(out.parent)!r} does not exist")
    if limit is not None and limit < 1:
        raise SonicMotionError(f"--limit must be >= 1, got {limit}")
    rows = protocol_rows(dataset, split, limit)
    out.mkdir(exist_ok=True)
    return {name: write_prompts(out / f"{name}.jsonl", rows[name], ensure_ascii=False) for name in PROMPT_FILES}
