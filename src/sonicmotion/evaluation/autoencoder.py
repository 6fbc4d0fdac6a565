"""Table 3: reconstruction quality and spatial fidelity of the autoencoder.

Per clip (full length, posterior mean, output cropped to the input length):

- ``stft``: auraloss ``STFTLoss()`` with default settings on all four channels;
- ``mel``: auraloss ``MelSTFTLoss(sample_rate)`` with default settings, all four channels
  (auraloss takes its mel filterbank from librosa; we build the identical Slaney
  filterbank here so librosa is not needed);
- ``stft_w``, ``mel_w``: the same on the W channel alone (the sound without its direction,
  which is what a parametric latent's transport codec must keep);
- ``l1_azimuth``, ``l1_elevation``, ``delta_angle`` (degrees) of the reconstruction's DoA
  against the original's, at ``sample`` and ``frame`` resolution (SPEC §2).

Every figure is the mean over clips of the per-clip value (each clip weighs the same).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Iterable

import numpy as np

from sonicmotion.devices import AUTO, resolve_device
from sonicmotion.errors import SonicMotionError

RESOLUTIONS = ("sample", "frame")
PAPER_TABLE3 = {"stft": 1.35, "mel": 0.95, "l1_azimuth": 3.32, "l1_elevation": 1.43, "delta_angle": 3.72}


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa ``htk=False``): linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    return np.where(hz >= min_log_hz, min_log_mel + np.log(np.maximum(hz, 1e-10) / min_log_hz) / logstep, hz / f_sp)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int = 128) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] triangular filters with Slaney area normalisation.

    Same as ``librosa.filters.mel(sr, n_fft, n_mels)`` with its defaults (fmin 0,
    fmax sr/2, htk False, norm "slaney"), which is what auraloss's ``MelSTFTLoss`` uses.
    """
    fft_freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    mel_freqs = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_mels + 2))
    widths = np.diff(mel_freqs)
    ramps = mel_freqs[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_freqs[2:] - mel_freqs[:-2]))[:, None]
    return weights.astype(np.float32)


def table3_losses(sample_rate: int):
    """(auraloss ``STFTLoss()``, auraloss ``MelSTFTLoss(sample_rate)``) with default settings."""
    import torch
    from auraloss.freq import STFTLoss

    stft = STFTLoss()
    # MelSTFTLoss(sample_rate) is STFTLoss(scale="mel", n_bins=128) with librosa's filterbank;
    # building it with scale=None and installing the same filterbank avoids librosa.
    mel = STFTLoss(sample_rate=sample_rate)
    mel.scale = "mel"
    mel.register_buffer("fb", torch.from_numpy(mel_filterbank(sample_rate, mel.fft_size, 128)).unsqueeze(0))
    return stft, mel


@dataclass
class SpatialSummary:
    l1_azimuth: float
    l1_elevation: float
    delta_angle: float
    clips: int  # clips with active frames in both signals


@dataclass
class AutoencoderMetrics:
    """Table 3 figures, means over ``clips`` clips."""

    stft: float
    mel: float
    spatial: dict[str, SpatialSummary]
    clips: int
    sample_rate: int
    stft_w: float = math.nan
    mel_w: float = math.nan
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        labels = {"sample": "sample", "frame": "frame"}
        lines = [
            f"Autoencoder reconstruction, {self.clips} clips at {self.sample_rate} Hz "
            "(auraloss STFTLoss() / MelSTFTLoss(sr), all 4 channels; angles in degrees)",
            f"{'':16s}{'STFT':>8s}{'MEL':>8s}{'L1(az)':>9s}{'L1(el)':>9s}{'Δangle':>9s}",
        ]
        # The paper's way first (its §2.7.1 takes the angles "at each sample"), then the paper's
        # own figures under it, then the frame resolution beside them.
        for resolution in sorted(self.spatial, key=lambda r: r != "sample"):
            s = self.spatial[resolution]
            lines.append(
                f"{labels.get(resolution, resolution):16s}{self.stft:8.3f}{self.mel:8.3f}{s.l1_azimuth:9.2f}"
                f"{s.l1_elevation:9.2f}{s.delta_angle:9.2f}"
            )
            if resolution == "sample":
                p = PAPER_TABLE3
                lines.append(
                    f"{'paper (Table 3)':16s}{p['stft']:8.2f}{p['mel']:8.2f}{p['l1_azimuth']:9.2f}"
                    f"{p['l1_elevation']:9.2f}{p['delta_angle']:9.2f}"
                )
        lines.append("sample: per-sample intensity, as the paper (compare with its row); frame: intensity over "
                     "100 ms frames every 50 ms, quiet frames left out (SPEC §2)")
        lines.append(f"W channel alone: STFT {self.stft_w:.3f}, MEL {self.mel_w:.3f}")
        return "\n".join(lines)


def evaluate_autoencoder(
    model,
    samples: Iterable[dict],
    limit: int | None = None,
    batch_size: int = 4,
    device: str = AUTO,
    progress: bool = True,
) -> AutoencoderMetrics:
    """Table 3 metrics of ``model`` on loader samples (``{"audio": [4, T] FuMa, ...}``) on
    ``device`` (:func:`sonicmotion.devices.resolve_device`)."""
    import torch
    from tqdm import tqdm

    from sonicmotion.data.loader import audio_batches
    from sonicmotion.spatial import spatial_errors

    device = resolve_device(device)
    sample_rate = model.sample_rate
    stft_loss, mel_loss = table3_losses(sample_rate)
    stft_loss, mel_loss = stft_loss.to(device), mel_loss.to(device)
    stft_values, mel_values, stft_w_values, mel_w_values = [], [], [], []
    spatial = {r: [] for r in RESOLUTIONS}
    model = model.to(device).eval()
    bar = tqdm(total=limit, desc="evaluate", unit="clip", disable=not progress)
    with torch.no_grad():
        for batch, audio in audio_batches(samples, batch_size, limit):
            audio = audio.to(device)
            reconstruction = model.decode(model.encode(audio), audio.shape[-1])
            for target, output in zip(audio, reconstruction):
                stft_values.append(float(stft_loss(output[None], target[None])))
                mel_values.append(float(mel_loss(output[None], target[None])))
                stft_w_values.append(float(stft_loss(output[None, :1], target[None, :1])))
                mel_w_values.append(float(mel_loss(output[None, :1], target[None, :1])))
                target_np, output_np = target.cpu().numpy(), output.float().cpu().numpy()
                for resolution in RESOLUTIONS:
                    try:
                        errors = spatial_errors(output_np, target_np, sample_rate, resolution=resolution)
                    except SonicMotionError:  # silent clip (or silent reconstruction): no direction
                        continue
                    spatial[resolution].append(errors)
            bar.update(len(batch))
    bar.close()
    if not stft_values:
        raise SonicMotionError("no clips to evaluate")
    summaries = {}
    for resolution, errors in spatial.items():
        mean = (lambda name: float(np.mean([getattr(e, name) for e in errors]))) if errors else (lambda name: math.nan)
        summaries[resolution] = SpatialSummary(
            mean("l1_azimuth"), mean("l1_elevation"), mean("delta_angle"), len(errors)
        )
    return AutoencoderMetrics(
        stft=float(np.mean(stft_values)),
        mel=float(np.mean(mel_values)),
        spatial=summaries,
        clips=len(stft_values),
        sample_rate=sample_rate,
        stft_w=float(np.mean(stft_w_values)),
        mel_w=float(np.mean(mel_w_values)),
        settings={"encode": "posterior mean", "stft": "auraloss STFTLoss()",
                  "mel": f"auraloss MelSTFTLoss({sample_rate})", "frame": "100 ms frames, 50 ms hop, gate 1e-3",
                  "aggregate": "mean over clips of per-clip means"},
    )
