"""VGGish, PANNs CNN14 and the aiSFX sound-effects network as our own PyTorch modules, with
their published front ends.

Parameter names follow the public weight files, so those load unchanged:
VGGish as in torchvggish's ``vggish-10086976.pth`` (``features.N``, ``embeddings.N``),
CNN14 as in PANNs' ``Cnn14_16k_mAP=0.438.pth`` (``conv_block1.conv1`` ... ``fc_audioset``),
aiSFX as in the ``aisfx`` wheel's ``models/checkpoint.pth`` (``embedding_net.conv_blockN``,
``fc.K.{0,2,4}``).
Imports torch: use through :mod:`sonicmotion.evaluation.embeddings`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sonicmotion.errors import SonicMotionError


def load_config(cls: type, path: str | Path) -> Any:
    """A frozen dataclass ``cls`` from a YAML file; unknown or missing keys are errors."""
    import yaml

    from sonicmotion.files import read_text
    from sonicmotion.yaml_config import parse_yaml

    path = Path(path)
    try:
        data = parse_yaml(read_text(path, "config file")) or {}
    except yaml.YAMLError as err:
        raise SonicMotionError(f"{path}: cannot read config ({err})") from None
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise SonicMotionError(f"{path}: unknown config keys {unknown}; expected {sorted(names)}")
    try:
        return cls(**{k: tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v
                      for k, v in data.items()})
    except TypeError as err:
        raise SonicMotionError(f"{path}: {err}") from None


# --------------------------------------------------------------------------- VGGish
VGGISH_SAMPLE_RATE = 16000
VGGISH_WINDOW = 400  # 25 ms
VGGISH_HOP = 160  # 10 ms
VGGISH_FFT = 512
VGGISH_MEL_BANDS = 64
VGGISH_MEL_RANGE = (125.0, 7500.0)  # Hz
VGGISH_LOG_OFFSET = 0.01
VGGISH_EXAMPLE_FRAMES = 96  # 0.96 s, examples do not overlap


@dataclass(frozen=True)
class VggishConfig:
    """Conv blocks (channels of each 3x3 conv, then a 2x2 max pool), hidden FC sizes, output size."""

    blocks: tuple[tuple[int, ...], ...] = ((64,), (128,), (256, 256), (512, 512))
    hidden: tuple[int, ...] = (4096, 4096)
    embedding: int = 128


def _htk_mel(hz: np.ndarray) -> np.ndarray:
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


def vggish_mel_matrix() -> np.ndarray:
    """(257, 64) triangular HTK-mel weights over 125-7500 Hz, as VGGish's mel_features."""
    bins_mel = _htk_mel(np.linspace(0.0, VGGISH_SAMPLE_RATE / 2, VGGISH_FFT // 2 + 1))
    edges = np.linspace(*_htk_mel(np.array(VGGISH_MEL_RANGE)), VGGISH_MEL_BANDS + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel[:, None] - lower) / (centre - lower)
    falling = (upper - bins_mel[:, None]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0] = 0.0  # VGGish ignores the DC bin
    return weights


def vggish_examples(pressure: np.ndarray) -> np.ndarray:
    """(n,) 16 kHz audio -> (examples, 96, 64) float32 log-mel patches of 0.96 s.

    Frames of 25 ms every 10 ms (periodic Hann, 512-point FFT magnitude, no centring),
    64 HTK-mel bands over 125-7500 Hz, log(mel + 0.01); a trailing partial example is
    dropped. Clips shorter than 0.975 s give no example.
    """
    x = np.asarray(pressure, dtype=np.float64)
    if x.shape[0] < VGGISH_WINDOW:
        return np.zeros((0, VGGISH_EXAMPLE_FRAMES, VGGISH_MEL_BANDS), dtype=np.float32)
    frames = 1 + (x.shape[0] - VGGISH_WINDOW) // VGGISH_HOP
    index = np.arange(VGGISH_WINDOW)[None, :] + VGGISH_HOP * np.arange(frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(VGGISH_WINDOW) / VGGISH_WINDOW)
    magnitude = np.abs(np.fft.rfft(x[index] * window, n=VGGISH_FFT))
    log_mel = np.log(magnitude @ vggish_mel_matrix() + VGGISH_LOG_OFFSET)
    count = frames // VGGISH_EXAMPLE_FRAMES
    return log_mel[: count * VGGISH_EXAMPLE_FRAMES].reshape(count, VGGISH_EXAMPLE_FRAMES, VGGISH_MEL_BANDS).astype(np.float32)


class Vggish(nn.Module):
    """VGGish: log-mel examples [B, 96, 64] -> embeddings [B, embedding].

    The embedding is the last linear layer's output without a ReLU (Google's released
    model; torchvggish appends a ReLU, which FAD implementations remove).
    """

    def __init__(self, config: VggishConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        channels = 1
        for block in config.blocks:
            for out in block:
                layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU(inplace=True)]
                channels = out
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        scale = 2 ** len(config.blocks)
        width = channels * (VGGISH_EXAMPLE_FRAMES // scale) * (VGGISH_MEL_BANDS // scale)
        fc: list[nn.Module] = []
        for size in config.hidden:
            fc += [nn.Linear(width, size), nn.ReLU(inplace=True)]
            width = size
        fc.append(nn.Linear(width, config.embedding))
        self.embeddings = nn.Sequential(*fc)

    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        x = self.features(examples[:, None])  # [B, C, 6, 4]
        # Flatten in TensorFlow's (height, width, channel) order, as the weights expect.
        return self.embeddings(x.permute(0, 2, 3, 1).reshape(x.shape[0], -1))


# --------------------------------------------------------------------------- CNN14
@dataclass(frozen=True)
class Cnn14Config:
    """PANNs CNN14: conv block widths, class count and the log-mel front end (Hz, samples)."""

    channels: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048)
    classes: int = 527
    sample_rate: int = 16000
    window: int = 512
    hop: int = 160
    mel_bands: int = 64
    fmin: float = 50.0
    fmax: float = 8000.0


def _slaney_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, linear)


def _slaney_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))


def slaney_mel_matrix(sample_rate: int, fft: int, bands: int, fmin: float, fmax: float) -> np.ndarray:
    """(fft//2+1, bands) Slaney-scale, area-normalised triangles (librosa's default, PANNs' melW)."""
    return _triangles(_slaney_hz(np.linspace(_slaney_mel(fmin), _slaney_mel(fmax), bands + 2)), sample_rate, fft,
                      area=True)


def htk_sum_mel_matrix(sample_rate: int, fft: int, bands: int, fmin: float, fmax: float) -> np.ndarray:
    """(fft//2+1, bands) HTK-scale triangles, each band's weights summing to 1 (librosa's
    ``htk=True, norm=1``; Essentia's ``htkMel``, ``unit_sum``: the aiSFX front end)."""
    edges_mel = np.linspace(_htk_mel(np.array(fmin)), _htk_mel(np.array(fmax)), bands + 2)
    weights = _triangles(700.0 * np.expm1(edges_mel / 1127.0), sample_rate, fft, area=False)
    return weights / np.maximum(weights.sum(axis=0, keepdims=True), 1e-300)


def _triangles(edges_hz: np.ndarray, sample_rate: int, fft: int, area: bool) -> np.ndarray:
    """(fft//2+1, len(edges) - 2) triangles rising from edge k to k+1 and falling to k+2
    over the FFT bin frequencies; ``area``: scaled to unit area (2 / width)."""
    bins_hz = np.linspace(0.0, sample_rate / 2, fft // 2 + 1)
    widths = np.diff(edges_hz)
    ramps = edges_hz[:, None] - bins_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if area:
        weights = weights * (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return weights.T


class _LogMel(nn.Module):
    """Holds ``melW`` under the checkpoint's name (``logmel_extractor.melW``)."""

    def __init__(self, config: Cnn14Config):
        super().__init__()
        mel = slaney_mel_matrix(config.sample_rate, config.window, config.mel_bands, config.fmin, config.fmax)
        self.register_buffer("melW", torch.tensor(mel, dtype=torch.float32))


class _ConvBlock(nn.Module):
    """Two 3x3 conv + batch norm + ReLU, then ``pool`` x ``pool`` pooling (average, as PANNs, or max)."""

    def __init__(self, channels_in: int, channels_out: int, pooling: str = "avg"):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels_out)
        self.bn2 = nn.BatchNorm2d(channels_out)
        self.pool = nn.functional.avg_pool2d if pooling == "avg" else nn.functional.max_pool2d

    def forward(self, x: torch.Tensor, pool: int) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.pool(x, pool) if pool > 1 else x


class Cnn14(nn.Module):
    """PANNs CNN14 tagger: audio [B, n] at ``config.sample_rate`` -> class logits [B, classes].

    Front end: power spectrogram (periodic Hann, centred with reflect padding, as
    torchlibrosa), mel weights ``melW``, 10·log10(max(x, 1e-10)). Logits are the final
    layer before the sigmoid the network was trained with.
    """

    def __init__(self, config: Cnn14Config):
        super().__init__()
        self.config = config
        self.logmel_extractor = _LogMel(config)
        self.bn0 = nn.BatchNorm2d(config.mel_bands)
        widths = (1,) + tuple(config.channels)
        for i in range(len(config.channels)):
            self.add_module(f"conv_block{i + 1}", _ConvBlock(widths[i], widths[i + 1]))
        self.fc1 = nn.Linear(config.channels[-1], config.channels[-1])
        self.fc_audioset = nn.Linear(config.channels[-1], config.classes)
        self.register_buffer("window", torch.hann_window(config.window, periodic=True), persistent=False)

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, n] -> [B, 1, frames, mel_bands] in dB."""
        spec = torch.stft(audio, self.config.window, self.config.hop, self.config.window, self.window,
                          center=True, pad_mode="reflect", return_complex=True)
        power = spec.real ** 2 + spec.imag ** 2  # [B, bins, frames]
        mel = power.transpose(1, 2) @ self.logmel_extractor.melW
        return (10.0 * torch.log10(torch.clamp(mel, min=1e-10)))[:, None]

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        x = self.log_mel(audio)
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)  # batch norm over mel bands
        blocks = len(self.config.channels)
        for i in range(blocks):
            x = getattr(self, f"conv_block{i + 1}")(x, pool=2 if i < blocks - 1 else 1)
        x = x.mean(dim=3)  # over frequency
        x = x.max(dim=2).values + x.mean(dim=2)  # over time
        return self.fc_audioset(torch.relu(self.fc1(x)))


# Checkpoint entries that our module computes itself (torchlibrosa's STFT as conv weights).
CNN14_IGNORED_PREFIXES = ("spectrogram_extractor.",)


# aiSFX (Ma & Lerch, ISMIR 2022), the "X-Sequential-CE" network of the aisfx 0.1.2 wheel:
# 44.1 kHz, 96 HTK-mel bands from a 2048-point Hann STFT every 1024 samples (about 23 ms),
# log10(10000 x + 1) scaled by the largest value of its training spectrograms, blocks of 100
# frames (about 2.3 s) every 50.
AISFX_SAMPLE_RATE = 44100
AISFX_FFT = 2048
AISFX_HOP = 1024
AISFX_MEL_BANDS = 96
AISFX_SPECTROGRAM_MAX = 9.457798957824707
AISFX_BLOCK_FRAMES = 100
AISFX_BLOCK_HOP = 50
AISFX_WIDTHS = (64, 128, 256, 512)
# The head whose softmax is the category distribution: the UCS categories (69).
AISFX_CATEGORY_HEAD = "ucsMixed"


def aisfx_blocks(pressure: np.ndarray) -> np.ndarray:
    """(n,) 44.1 kHz audio -> (blocks, 100, 96) float32 spectrogram blocks for :class:`SfxEmbedding`.

    The clip is scaled to peak 1, framed centred with zero padding (periodic Hann; librosa
    0.9's default, as the wheel's librosa path, and Essentia's frame cutter), turned
    into HTK-mel power bands summing each to 1, compressed with log10(10000 x + 1) and divided
    by the training maximum; blocks of 100 frames every 50, a trailing partial block dropped
    (a clip shorter than one block gives one block, zero-padded).
    """
    x = np.asarray(pressure, dtype=np.float64)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 0:
        x = x / peak
    x = np.pad(x, AISFX_FFT // 2)
    frames = 1 + (x.shape[0] - AISFX_FFT) // AISFX_HOP
    index = np.arange(AISFX_FFT)[None, :] + AISFX_HOP * np.arange(frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(AISFX_FFT) / AISFX_FFT)
    power = np.abs(np.fft.rfft(x[index] * window)) ** 2
    mel = power @ htk_sum_mel_matrix(AISFX_SAMPLE_RATE, AISFX_FFT, AISFX_MEL_BANDS, 0.0, AISFX_SAMPLE_RATE / 2)
    spec = np.log10(10000.0 * mel + 1.0) / AISFX_SPECTROGRAM_MAX
    if frames < AISFX_BLOCK_FRAMES:
        spec = np.pad(spec, ((0, AISFX_BLOCK_FRAMES - frames), (0, 0)))
        frames = AISFX_BLOCK_FRAMES
    count = 1 + (frames - AISFX_BLOCK_FRAMES) // AISFX_BLOCK_HOP
    starts = AISFX_BLOCK_HOP * np.arange(count)
    return np.stack([spec[s : s + AISFX_BLOCK_FRAMES] for s in starts]).astype(np.float32)


class _SfxTrunk(nn.Module):
    def __init__(self):
        super().__init__()
        widths = (1,) + AISFX_WIDTHS
        for i in range(len(AISFX_WIDTHS)):
            self.add_module(f"conv_block{i + 1}", _ConvBlock(widths[i], widths[i + 1], pooling="max"))

    def forward(self, blocks: torch.Tensor) -> torch.Tensor:
        x = blocks[:, None]  # [B, 1, frames, bands]
        for i in range(len(AISFX_WIDTHS)):
            x = getattr(self, f"conv_block{i + 1}")(x, pool=2 if i < len(AISFX_WIDTHS) - 1 else 1)
        return x.mean(dim=3).max(dim=2).values  # mean over bands, max over time


class SfxEmbedding(nn.Module):
    """aiSFX: spectrogram blocks [B, 100, 96] -> (embeddings [B, 512], category logits [B, K]).

    ``heads`` lists the classifier heads of the checkpoint in their order as ``(name,
    classes)`` (nine sound-effects libraries); ``category_head`` names the one whose logits
    are returned.
    """

    def __init__(self, heads: list[tuple[str, int]], category_head: str = AISFX_CATEGORY_HEAD):
        super().__init__()
        names = [name for name, _ in heads]
        if category_head not in names:
            raise SonicMotionError(f"the aiSFX checkpoint has no {category_head!r} head (it has {', '.join(names)})")
        self.category = names.index(category_head)
        self.embedding_net = _SfxTrunk()
        width = AISFX_WIDTHS[-1]
        self.fc = nn.ModuleList(
            nn.Sequential(nn.Linear(width, width // 2), nn.ReLU(), nn.Linear(width // 2, width // 4), nn.ReLU(),
                          nn.Linear(width // 4, classes))
            for _, classes in heads)

    def forward(self, blocks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embeddings = self.embedding_net(blocks)
        return embeddings, self.fc[self.category](embeddings)
