"""Frozen configs of the conditioned diffusion model, filled from YAML (unknown keys are errors).

``configs/diffusion/dit/{paper,paper-plus,small,tiny}.yaml`` hold :class:`DiTConfig` fields
(DiT sizes); the training configs in ``configs/diffusion/``
(``sonicmotion.training.diffusion.load_train_config``) name one of them in ``model.dit``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sonicmotion.audio import CLIP_SECONDS, SAMPLE_RATE
from sonicmotion.errors import SonicMotionError
from sonicmotion.yaml_config import CONFIG_ROOT, config_from_dict, load_yaml

CONFIG_DIR = CONFIG_ROOT / "diffusion"
DIT_DIR = CONFIG_DIR / "dit"  # the DiT sizes; the training configs are in CONFIG_DIR
VARIANTS = ("descriptive", "parametric")
POSITION_TIMINGS = ("window", "speed")


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
    centres. ``smoothing_bins``: Gaussian blur (std, in bins) of the one-hot rows; 0 = paper.
    ``distance_bins`` (beyond the paper; 0 = the paper's matrix, bit for bit): that many more
    rows, bin k centred on ``distance_min * (distance_max / distance_min) ** (k / (bins - 1))``
    metres (log-spaced), distances outside clipped to the end bins; a path without distance
    leaves them all zero."""

    azimuth_bins: int = 72  # 5° bins
    elevation_bins: int = 37  # 5° bins over [-90, 90]
    time_steps: int = 100  # 0.1 s steps over 10 s
    smoothing_bins: float = 0.0
    layers: int = 4
    heads: int = 4
    # Beyond the paper: also add the state matrix, sampled at each latent frame, to the
    # DiT's input tokens, so a frame's direction need not be found by attention.
    frame_aligned: bool = False
    # Which timing the state matrix carries (docs/diffusion.md): "window" (the paper config's):
    # the exact movement window, move_start to move_end, as the sample was encoded; "speed":
    # only the start, the end and the speed word, the move lasting the middle of its speed band
    # and centred in the clip (what a caption can say, SPEC §6).
    timing: str = "window"
    # Beyond the paper (docs/diffusion.md): rows of log-spaced distance bins, so the model
    # hears how far the source is (level, Doppler) along the path. 0 = none (the paper).
    distance_bins: int = 0
    distance_min: float = 0.5  # metres: centre of the first distance bin
    distance_max: float = 64.0  # metres: centre of the last (0.5-64 m in 15 bins: 3 dB of 1/r level per bin)

    def __post_init__(self) -> None:
        if self.timing not in POSITION_TIMINGS:
            raise SonicMotionError(f"position.timing must be one of {', '.join(POSITION_TIMINGS)}, got {self.timing!r}")
        if isinstance(self.distance_bins, bool) or not isinstance(self.distance_bins, int) \
                or self.distance_bins < 0 or self.distance_bins == 1:
            raise SonicMotionError(f"position.distance_bins must be 0 (no distance rows) or an integer >= 2, "
                                   f"got {self.distance_bins!r}")
        if self.distance_bins and not 0 < self.distance_min < self.distance_max:
            raise SonicMotionError(f"position.distance_min and distance_max must satisfy 0 < min < max metres, got "
                                   f"{self.distance_min!r} and {self.distance_max!r}")

    @property
    def rows(self) -> int:
        """Rows of the state matrix: azimuth, elevation and distance bins."""
        return self.azimuth_bins + self.elevation_bins + self.distance_bins


@dataclass(frozen=True)
class DiffusionModelConfig:
    """Everything needed to rebuild a model (saved with every checkpoint and pipeline)."""

    variant: str = "parametric"
    dit: DiTConfig = field(default_factory=DiTConfig)
    position: PositionConfig = field(default_factory=PositionConfig)
    text_encoder: str = "minilm"  # "minilm" (offline, bundled) or a T5 name / local folder
    text_max_length: int = 128
    max_seconds: float = 64.0  # range of the seconds_start / seconds_total embedders
    sample_rate: int = SAMPLE_RATE
    sample_seconds: float = CLIP_SECONDS
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


def dit_config(name_or_path: str | dict, base_dir: Path = CONFIG_DIR) -> DiTConfig:
    """A :class:`DiTConfig` from a size name (``paper``/``paper-plus``/``small``/``tiny``), a
    YAML path or a mapping. A name is looked up in ``dit/`` beside the training config
    (``base_dir``), then beside it, then in the shipped sizes."""
    if isinstance(name_or_path, dict):
        return config_from_dict(DiTConfig, name_or_path, "dit")
    path = Path(name_or_path)
    if not path.suffix:
        candidates = [base_dir / "dit" / f"{path}.yaml", base_dir / f"{path}.yaml", DIT_DIR / f"{path}.yaml"]
        path = next((c for c in candidates if c.is_file()), candidates[-1])
    elif not path.is_file() and path.parent.name == "diffusion" and (DIT_DIR / path.name).is_file():
        raise SonicMotionError(f"{str(name_or_path)!r}: the DiT sizes moved to configs/diffusion/dit/ "
                               f"(give configs/diffusion/dit/{path.name}, or the size name {path.stem!r})")
    return config_from_dict(DiTConfig, load_yaml(path), str(path))
