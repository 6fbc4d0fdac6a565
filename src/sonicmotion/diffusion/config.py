"""Frozen config dataclasses for the diffusion model and its training, filled from YAML.

Unknown keys are errors. ``configs/diffusion/{paper,small,tiny}.yaml`` hold :class:`DiTConfig`
fields (model sizes); ``configs/diffusion/{descriptive,parametric}.yaml`` hold a full
:class:`DiffusionTrainConfig` whose ``model.dit`` may name a size file (``dit: paper``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sonicmotion.errors import SonicMotionError
from sonicmotion.yaml_config import (
    CONFIG_ROOT,
    config_from_dict,
    config_to_dict,
    find_config,
    load_yaml,
    renamed_batch_size,
)

CONFIG_DIR = CONFIG_ROOT / "diffusion"
VARIANTS = ("descriptive", "parametric")


@dataclass(frozen=True)
class DiTConfig:
    """Diffusion transformer size. Paper (Stable Audio Open): width 1536, depth 24, heads 24."""

    width: int = 1536
    depth: int = 24
    heads: int = 24
    mlp_ratio: float = 4.0  # gated MLP hidden width = mlp_ratio * width
    rotary_fraction: float = 0.5  # share of each head's dims that get rotary positions
    timestep_features: int = 256
    cond_dim: int = 768  # conditioning token width (paper: 768)
    gradient_checkpointing: bool = False
    # A learned, time-dependent scalar skip v += a(t) * x_t (like EDM's c_skip), so latent
    # dimensions beyond the transformer's width are still denoised (to their mean) rather
    # than left noisy; matters when latent channels exceed the width (patch pretransforms).
    latent_skip: bool = False


@dataclass(frozen=True)
class PositionConfig:
    """Position conditioner (SPEC §4). Azimuth bins span 360° and wrap; bin k is centred on
    -180 + k * 360 / azimuth_bins degrees. Elevation bin k is centred on
    -90 + k * 180 / (elevation_bins - 1). ``time_steps`` columns cover ``seconds`` at their
    centres. ``smoothing_bins``: Gaussian blur (std, in bins) of the one-hot rows; 0 = paper."""

    azimuth_bins: int = 72  # 5° bins
    elevation_bins: int = 37  # 5° bins over [-90, 90]
    time_steps: int = 100  # 0.1 s steps over 10 s
    smoothing_bins: float = 0.0
    layers: int = 4
    heads: int = 4
    # Beyond the paper: also add the state matrix, sampled at each latent frame, to the
    # DiT's input tokens, so a frame's direction need not be found by attention.
    frame_aligned: bool = False


@dataclass(frozen=True)
class DiffusionModelConfig:
    """Everything needed to rebuild a model (saved with every checkpoint and pipeline)."""

    variant: str = "parametric"
    dit: DiTConfig = field(default_factory=DiTConfig)
    position: PositionConfig = field(default_factory=PositionConfig)
    text_encoder: str = "minilm"  # "minilm" (offline, bundled) or a T5 name / local folder
    text_max_length: int = 128
    max_seconds: float = 64.0  # range of the seconds_start / seconds_total embedders
    sample_rate: int = 16000
    sample_seconds: float = 10.0
    pretransform: str = ""  # "patch:N[:SCALE]" or an autoencoder run folder; set at training time
    # Latent lengths are padded up to a multiple of this many frames (10 s at ratio 2048 ->
    # 79 frames -> 80, SPEC §2); audio is cropped back after decoding.
    frame_multiple: int = 16

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise SonicMotionError(f"model variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")

    @property
    def parametric(self) -> bool:
        return self.variant == "parametric"


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation (paper §2.6) and run bookkeeping."""

    steps: int = 100_000
    global_batch_size: int = 1024  # paper §2.6; per process = global / (processes x accumulation)
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-4
    position_learning_rate: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 1e-3
    inv_gamma: float = 1e6
    power: float = 0.5
    warmup: float = 0.99
    cfg_dropout_text: float = 0.1
    cfg_dropout_position: float = 0.1
    # Parametric: original captions for this fraction of the steps, spatial captions after.
    original_caption_fraction: float = 0.5
    caption: str = "auto"  # "auto" (by variant), "spatial" or "original"
    ema_decay: float = 0.999
    mixed_precision: str = "auto"  # "auto" (bf16 on CUDA, fp32 elsewhere) | "no" | "bf16" | "fp16"
    grad_clip: float = 1.0
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    log_every: int = 10
    seed: int = 0
    num_workers: int = 0  # DataLoader workers per process (decoding off the training process)
    compile: bool = False  # torch.compile the model (TorchInductor): slower start, faster steps on GPUs

    def __post_init__(self) -> None:
        if min(self.steps, self.global_batch_size, self.gradient_accumulation_steps, self.checkpoint_every,
               self.keep_checkpoints, self.log_every) < 1 or self.num_workers < 0:
            raise SonicMotionError("training: steps, global_batch_size, gradient_accumulation_steps, "
                                   "checkpoint_every, keep_checkpoints and log_every must be >= 1, num_workers >= 0")
        if self.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            raise SonicMotionError(f"training.mixed_precision must be auto, no, bf16 or fp16, got {self.mixed_precision!r}")


@dataclass(frozen=True)
class DiffusionTrainConfig:
    model: DiffusionModelConfig = field(default_factory=DiffusionModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)


def from_dict(cls: type, data: dict[str, Any], where: str = "config") -> Any:
    """Build dataclass ``cls`` from a mapping; unknown keys and wrong types are errors."""
    return config_from_dict(cls, data, where)


def to_dict(config: Any) -> dict[str, Any]:
    return config_to_dict(config)


def dit_config(name_or_path: str | dict, base_dir: Path = CONFIG_DIR) -> DiTConfig:
    """A :class:`DiTConfig` from a size name (``paper``/``small``/``tiny``), a YAML path or a mapping."""
    if isinstance(name_or_path, dict):
        return from_dict(DiTConfig, name_or_path, "dit")
    path = Path(name_or_path)
    if not path.suffix:  # a size name: beside the training config, else the project's configs
        path = base_dir / f"{name_or_path}.yaml"
        if not path.is_file():
            path = CONFIG_DIR / f"{name_or_path}.yaml"
    return from_dict(DiTConfig, load_yaml(path), str(path))


def load_train_config(path: str | Path, overrides: dict[str, Any] | None = None) -> DiffusionTrainConfig:
    """Read a training config; ``model.dit`` may be a size name resolved beside the file.

    ``overrides`` maps dotted keys (``"model.text_encoder"``) to values applied before building.
    """
    path = find_config(path, "diffusion")
    data = load_yaml(path)
    renamed_batch_size(data, str(path))
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    model = dict(data.get("model", {}))
    if isinstance(model.get("dit"), str):
        model["dit"] = to_dict(dit_config(model["dit"], path.parent))
    data["model"] = model
    return from_dict(DiffusionTrainConfig, data, str(path))
