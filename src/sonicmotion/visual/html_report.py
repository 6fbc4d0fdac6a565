"""A single self-contained HTML report of one or more runs of FOA clips.

A run folder holds FOA clips (``{id}.wav`` / ``{id}.flac``, layout recorded), a
``prompts.jsonl`` (:mod:`sonicmotion.prompts`), optionally ``metrics.json`` (from
``sonicmotion evaluate generation``) and ``run.json`` (``{"name": ..., "note": ...}``, e.g. a
note on the scale of a model). For each clip the report shows the prompt, the requested
path, a binaural preview, the pictures and the clip's spatial errors; for each run its
metrics and an index of its clips (links to each). Audio and pictures are embedded as data
URIs, so the file opens from disk anywhere; or, with ``link``, written to a folder beside the
HTML (``NAME_files/``) that the page links to, so a run of thousands of clips stays small.
Previews are Opus (48 kHz, in Ogg, about 46 kbit/s) where libsndfile encodes it, else FLAC;
pictures WebP (lossless, on a 64-colour palette) where Pillow writes it, else PNG; the page
says which.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import soundfile as sf

from sonicmotion.errors import SonicMotionError
from sonicmotion.files import atomic_path, read_json
from sonicmotion.prompts import read_prompts
from sonicmotion.spatial import Trajectory, estimate_doa, read_foa, spatial_errors

STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
.note{background:#fff6d6;border-left:4px solid #e0b000;padding:.5em 1em}
.clip{border:1px solid #ddd;border-radius:6px;padding:1em;margin:1em 0}
.clip img{max-width:49%;height:auto;vertical-align:top}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
code{background:#f3f3f3;padding:0 .3em}audio{width:100%;margin:.5em 0}
table.index td:nth-child(2){text-align:left}summary{cursor:pointer;font-weight:bold}
"""


@dataclass(frozen=True)
class Clip:
    id: str
    path: Path
    prompt: str
    trajectory: Trajectory | None
    caption: str | None


def describe_trajectory(path: Trajectory | None) -> str:
    """A short human description, e.g. ``45° → -90° ccw, elevation 0° → 40°, 2.0-8.0 s``."""
    if path is None:
        return "no path requested (descriptive)"
    data = path.to_dict()
    if data["type"] == "static":
        return f"static at azimuth {data['azimuth']:g}°, elevation {data['elevation']:g}°"
    if data["type"] == "linear":
        return (f"azimuth {data['start_azimuth']:g}° → {data['end_azimuth']:g}° ({data['direction']}), "
                f"elevation {data['start_elevation']:g}° → {data['end_elevation']:g}°, "
                f"{data['move_start']:g}-{data['move_end']:g} s")
    return "keyframes " + "; ".join(f"{t:g} s: {az:g}°/{el:g}°" + (f" {d}" if d != "shortest" else "")
                                    for t, az, el, d in data["keyframes"])


def load_run(folder: str | os.PathLike) -> tuple[list[Clip], dict[str, Any], dict[str, Any] | None]:
    """The clips of a run folder (in prompts-file order), its run.json and metrics.json."""
    folder = Path(folder)
    prompts = folder / "prompts.jsonl"
    if not prompts.is_file():
        raise SonicMotionError(f"{folder}: no prompts.jsonl (one JSON object per clip with id and prompt)")
    clips = []
    for p in read_prompts(prompts):
        audio = next((folder / f"{p.id}{s}" for s in (".wav", ".flac") if (folder / f"{p.id}{s}").is_file()), None)
        if audio is None:
            raise SonicMotionError(f"{folder}: clip {p.id!r} is listed in prompts.jsonl but has no .wav/.flac")
        clips.append(Clip(p.id, audio, p.prompt, p.trajectory, p.row.get("caption")))
    info = read_json(folder / "run.json", "run info") if (folder / "run.json").is_file() else {}
    if not isinstance(info, dict):
        raise SonicMotionError(f"{folder / 'run.json'}: expected a JSON object such as {{\"name\": ..., \"note\": ...}}, "
                               f"got {type(info).__name__}")
    metrics = read_json(folder / "metrics.json", "metrics") if (folder / "metrics.json").is_file() else None
    if metrics is not None and not isinstance(metrics, dict):
        raise SonicMotionError(f"{folder / 'metrics.json'}: expected the JSON object 'evaluate generation' writes, "
                               f"got {type(metrics).__name__}")
    return clips, info, metrics


def _data_uri(payload: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def _hrtf_name(rate: int) -> str:
    from sonicmotion.render.binaural import default_hrtf

    return default_hrtf(rate).name


OPUS_RATE = 48000  # Hz: Opus codes 8, 12, 16, 24 or 48 kHz; previews are upsampled to full band
OPUS_LEVEL = 0.92  # libsndfile's Opus compression level (0 best .. 1 smallest): 46 kbit/s on stereo noise (0.9: 64)


def opus_supported() -> bool:
    """Whether this libsndfile writes Ogg Opus."""
    return "OPUS" in sf.available_subtypes("OGG")


@dataclass(frozen=True)
class Formats:
    """What the report's previews and pictures are written as."""

    opus: bool
    webp: bool

    @classmethod
    def best(cls) -> "Formats":
        from sonicmotion.visual.plots import webp_supported

        return cls(opus_supported(), webp_supported())

    @property
    def audio(self) -> tuple[str, str]:  # (suffix, MIME type)
        return (".opus", "audio/ogg; codecs=opus") if self.opus else (".flac", "audio/flac")

    @property
    def picture(self) -> tuple[str, str]:
        return (".webp", "image/webp") if self.webp else (".png", "image/png")

    def describe(self) -> str:
        audio = ("Previews are Opus (48 kHz)." if self.opus
                 else "Previews are FLAC (this libsndfile has no Opus encoder).")
        picture = ("Pictures are WebP." if self.webp
                   else "Pictures are PNG (this Pillow writes no WebP).")
        return f"{audio} {picture}"


def _binaural_preview(foa, rate: int, layout, formats: Formats) -> bytes:
    """Binaural preview bytes: Ogg Opus at 48 kHz, or 16-bit FLAC at the clip's rate."""
    from sonicmotion.audio import resample
    from sonicmotion.render.binaural import render_binaural

    ears = render_binaural(foa, rate, layout)
    ears *= 0.9 / max(float(np.max(np.abs(ears))), 0.9)  # integer and lossy codecs: keep it unclipped
    buffer = io.BytesIO()
    if not formats.opus:
        sf.write(buffer, ears.T, rate, format="FLAC", subtype="PCM_16")
        return buffer.getvalue()
    ears = resample(ears, rate, OPUS_RATE)
    with sf.SoundFile(buffer, "w", OPUS_RATE, 2, "OPUS", format="OGG", compression_level=OPUS_LEVEL) as f:
        f.write(np.ascontiguousarray(ears.T))
    return _fixed_ogg_serial(buffer.getvalue())


def _fixed_ogg_serial(data: bytes, serial: int = 0x534D4F54) -> bytes:
    """The Ogg stream with every page's serial number set to ``serial`` (libsndfile draws it at
    random; a fixed one keeps reports byte-identical), page CRCs recomputed."""
    out = bytearray(data)
    pos = 0
    while pos + 27 <= len(out) and out[pos : pos + 4] == b"OggS":
        segments = out[pos + 26]
        size = 27 + segments + sum(out[pos + 27 : pos + 27 + segments])
        out[pos + 14 : pos + 18] = serial.to_bytes(4, "little")
        out[pos + 22 : pos + 26] = bytes(4)
        out[pos + 22 : pos + 26] = _ogg_crc(bytes(out[pos : pos + size])).to_bytes(4, "little")
        pos += size
    return bytes(out)


def _ogg_crc(page: bytes) -> int:
    """Ogg's page checksum: CRC-32, polynomial 0x04C11DB7, no reflection, initial value 0."""
    crc = 0
    for byte in page:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _OGG_CRC_TABLE[((crc >> 24) ^ byte) & 0xFF]
    return crc


def _crc_entry(index: int) -> int:
    value = index << 24
    for _ in range(8):
        value = ((value << 1) ^ 0x04C11DB7) if value & 0x80000000 else value << 1
    return value & 0xFFFFFFFF


_OGG_CRC_TABLE = [_crc_entry(i) for i in range(256)]


def _metric_rows(metrics: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Flatten a metrics JSON into (name, value) rows; numbers to 3 decimals."""
    rows: list[tuple[str, str]] = []
    if isinstance(metrics, dict):
        if metrics.get("computed") is False:
            return [(prefix.rstrip("."), f"not computed: {metrics.get('reason', '')}")]
        for key, value in metrics.items():
            rows += _metric_rows(value, f"{prefix}{key}.")
    elif isinstance(metrics, bool) or metrics is None:
        rows.append((prefix.rstrip("."), str(metrics)))
    elif isinstance(metrics, (int, float)):
        rows.append((prefix.rstrip("."), f"{metrics:.3f}" if isinstance(metrics, float) else str(metrics)))
    elif isinstance(metrics, str):
        rows.append((prefix.rstrip("."), metrics))
    return rows


def _short(reason: str) -> str:
    """The first clause of a not-computed reason (the full text is in metrics.json)."""
    return reason.split(";")[0].split(": looked for")[0]


def _generation_metrics_html(metrics: dict[str, Any]) -> str:
    """Table 2's metrics of one run: embedding metrics, then spatial errors by resolution and group."""
    rows = []
    for name in ("clap", "fd", "fad", "kl", "fd_aisfx", "kl_aisfx"):
        entry = metrics["metrics"].get(name, {})
        if name.endswith("_aisfx") and not entry:
            continue
        value = (f"{entry['value']:.3f}" if entry.get("computed") and isinstance(entry.get("value"), (int, float))
                 else f"not computed: {_short(str(entry.get('reason', 'not requested')))}")
        label = entry.get("label") or name.upper()
        rows.append(f"<tr><td>{html.escape(label)}</td><td>{html.escape(value)}</td></tr>")
    parts = ["<table><tr><th>metric</th><th>value</th></tr>" + "".join(rows) + "</table>"]
    spatial = metrics["metrics"].get("spatial", {})
    if spatial.get("computed"):
        body = []
        for resolution in ("frame", "sample"):
            for group in ("all", "static", "moving"):
                e = spatial.get(resolution, {}).get(group, {})
                if e.get("n"):
                    body.append(f"<tr><td>{resolution}</td><td>{group}</td><td>{e['l1_azimuth']:.2f}</td>"
                                f"<td>{e['l1_elevation']:.2f}</td><td>{e['delta_angle']:.2f}</td><td>{e['n']}</td></tr>")
        parts.append("<table><tr><th>resolution</th><th>clips</th><th>L1 azimuth (°)</th><th>L1 elevation (°)</th>"
                     "<th>Δangle (°)</th><th>n</th></tr>" + "".join(body) + "</table>")
    else:
        parts.append(f"<p>spatial errors not computed: {html.escape(str(spatial.get('reason', '')))}</p>")
    return "".join(parts)


def _overview_html(loaded) -> str:
    """One row per run: frame-resolution spatial errors over all clips."""
    rows = []
    for folder, _, info, metrics in loaded:
        spatial = (metrics or {}).get("metrics", {}).get("spatial", {}) if isinstance(metrics, dict) else {}
        e = spatial.get("frame", {}).get("all") if spatial.get("computed") else None
        name = html.escape(str(info.get("name", folder.name)))
        cells = (f"<td>{e['n']}</td><td>{e['l1_azimuth']:.2f}</td><td>{e['l1_elevation']:.2f}</td>"
                 f"<td>{e['delta_angle']:.2f}</td>") if e else '<td colspan="4">not evaluated</td>'
        rows.append(f"<tr><td>{name}</td>{cells}</tr>")
    return ("<h2>Overview</h2><table><tr><th>run</th><th>clips</th><th>L1 azimuth (°)</th><th>L1 elevation (°)</th>"
            "<th>Δangle (°)</th></tr>" + "".join(rows) + "</table><p>Spatial errors against the requested paths, "
            "frame resolution (100 ms frames), mean over clips.</p>")


class _Media:
    """Where a clip's audio and pictures go: data URIs in the page, or files in a folder
    beside it (``link``) that the page refers to by relative address."""

    def __init__(self, folder: Path | None, public_name: str, formats: Formats):
        self.folder, self.public_name, self.formats = folder, public_name, formats

    def add(self, name: str, payload: bytes, mime: str) -> str:
        if self.folder is None:
            return _data_uri(payload, mime)
        (self.folder / name).write_bytes(payload)
        return f"{quote(self.public_name)}/{quote(name)}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._")[:60] or "clip"


def _anchor(run_index: int, clip: Clip) -> str:
    return f"clip-{run_index}-{_slug(clip.id)}"


def _clip_html(clip: Clip, picture_dir: Path, media: _Media, stem: str, anchor: str) -> tuple[str, str]:
    """(the clip's section, its row in the run's index)."""
    from sonicmotion.visual.plots import plot_doa, plot_top_down

    foa = read_foa(clip.path)
    seconds = foa.samples.shape[1] / foa.sample_rate
    estimate = estimate_doa(foa.samples, foa.sample_rate, layout=foa.layout)
    suffix, mime = media.formats.picture
    pictures = []
    for name, draw in (("doa", plot_doa), ("top", plot_top_down)):
        target = picture_dir / f"{stem}_{name}{suffix}"
        draw(target, estimate, clip.trajectory, seconds, title=clip.id)
        src = media.add(target.name, target.read_bytes(), mime)
        pictures.append(f'<img alt="{name} of {html.escape(clip.id)}" loading="lazy" src="{html.escape(src)}">')
    errors = "no active frames (silent clip)"
    delta = "–"
    if clip.trajectory is not None and estimate.active.any():
        rows = []
        for resolution in ("frame", "sample"):
            e = spatial_errors(foa.samples, clip.trajectory, foa.sample_rate, resolution, layout=foa.layout)
            rows.append(f"<tr><td>{resolution}</td><td>{e.l1_azimuth:.2f}</td><td>{e.l1_elevation:.2f}</td>"
                        f"<td>{e.delta_angle:.2f}</td><td>{e.count}</td></tr>")
            if resolution == "frame":
                delta = f"{e.delta_angle:.2f}"
        errors = ("<table><tr><th>resolution</th><th>L1 azimuth (°)</th><th>L1 elevation (°)</th>"
                  "<th>Δangle (°)</th><th>n</th></tr>" + "".join(rows) + "</table>")
    elif clip.trajectory is None:
        errors = "no requested path, so no spatial errors"
    audio_suffix, audio_mime = media.formats.audio
    audio = media.add(f"{stem}{audio_suffix}", _binaural_preview(foa.samples, foa.sample_rate, foa.layout,
                                                                   media.formats), audio_mime)
    caption = f"<br>original caption: {html.escape(clip.caption)}" if clip.caption and clip.caption != clip.prompt else ""
    section = (f'<div class="clip" id="{anchor}"><b>{html.escape(clip.id)}</b>: '
               f"“{html.escape(clip.prompt)}”{caption}<br>requested path: {html.escape(describe_trajectory(clip.trajectory))}"
               f'<br><audio controls preload="none" src="{html.escape(audio)}"></audio>'
               f"<div>binaural preview ({html.escape(_hrtf_name(foa.sample_rate))}), {seconds:.1f} s, "
               f"{foa.sample_rate} Hz</div>"
               f"{''.join(pictures)}{errors}</div>")
    row = (f'<tr><td><a href="#{anchor}">{html.escape(clip.id)}</a></td><td>{html.escape(clip.prompt[:80])}</td>'
           f"<td>{delta}</td></tr>")
    return section, row


def _index_html(rows: list[str], shown: int, total: int) -> str:
    more = f" (the first {shown} of {total}: --max-clips)" if shown < total else ""
    return (f"<details open><summary>clip index: {shown} clips{more}</summary><table class=index>"
            "<tr><th>clip</th><th>prompt</th><th>Δangle, frames (°)</th></tr>" + "".join(rows) + "</table></details>")


def write_html_report(runs: list[str | os.PathLike], out: str | os.PathLike, title: str = "SonicMotion report",
                      progress: bool = True, max_clips: int | None = None, link: bool = False,
                      formats: Formats | None = None) -> Path:
    """Write one HTML file covering every run folder in ``runs``: at most ``max_clips`` clips of
    each (its first, in prompts-file order); with ``link``, the previews and pictures go to the
    folder ``OUT_files`` beside it (replaced as a whole) instead of into the page."""
    from tqdm import tqdm

    if max_clips is not None and max_clips < 1:
        raise SonicMotionError(f"--max-clips must be at least 1, got {max_clips}")
    out = Path(out)
    formats = formats or Formats.best()
    loaded = [(Path(r), *load_run(r)) for r in runs]
    shown = [clips[:max_clips] if max_clips else clips for _, clips, _, _ in loaded]
    total = sum(len(clips) for clips in shown)
    parts = [f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
             "<p>Put on headphones: each clip plays as a binaural preview. In the pictures the requested "
             "path is dashed and the estimated direction (intensity vector, 100 ms frames) solid or dotted. "
             f"Azimuth +90° is left; elevation +90° is up. {html.escape(formats.describe())}</p>"]
    if len(loaded) > 1:
        parts.append(_overview_html(loaded))
    files = out.with_name(out.stem + "_files")
    if link and files.exists() and not files.is_dir():
        raise SonicMotionError(f"{files}: is a file; --link writes a folder of that name")
    staging = Path(tempfile.mkdtemp(prefix=f".{files.name}.", suffix=".partial", dir=out.parent)) if link else None
    try:
        media = _Media(staging, files.name, formats)
        with tempfile.TemporaryDirectory() as tmp, tqdm(total=total, desc="report", unit="clip",
                                                        disable=not progress) as bar:
            for run_index, ((folder, clips, info, metrics), chosen) in enumerate(zip(loaded, shown)):
                name = info.get("name", folder.name)
                parts.append(f'<h2 id="run-{run_index}">{html.escape(str(name))}</h2>')
                if info.get("note"):
                    parts.append(f'<p class="note">{html.escape(str(info["note"]))}</p>')
                if isinstance(metrics, dict) and metrics.get("format") == "sonicmotion-generation-metrics":
                    parts.append(_generation_metrics_html(metrics))
                elif metrics is not None:
                    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                                   for k, v in _metric_rows(metrics))
                    parts.append(f"<table><tr><th>metric</th><th>value</th></tr>{rows}</table>")
                index_at = len(parts)
                parts.append("")  # the index, once its rows are known
                rows = []
                for clip_index, clip in enumerate(chosen):
                    anchor = _anchor(run_index, clip)
                    section, row = _clip_html(clip, Path(tmp), media, f"r{run_index}_{clip_index:05d}_{_slug(clip.id)}",
                                              anchor)
                    parts.append(section)
                    rows.append(row)
                    bar.update(1)
                parts[index_at] = _index_html(rows, len(chosen), len(clips))
        parts.append("</body></html>")
        with atomic_path(out) as tmp_out:
            Path(tmp_out).write_text("\n".join(parts), encoding="utf-8")
            if staging is not None:  # the folder lands with the page: the old one goes only now
                old = None
                if files.exists():
                    old = Path(tempfile.mkdtemp(prefix=f".{files.name}.", suffix=".old", dir=out.parent))
                    os.replace(files, old)
                os.replace(staging, files)
                staging = None
                if old is not None:
                    shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return out
