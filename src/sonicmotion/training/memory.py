"""A memory model of one training step: a process's peak device bytes, part by part, for
each micro-batch size, and the split ``--micro-batch auto`` would choose on a device of a
given size (``sonicmotion memory-plan``; docs/training.md "Micro-batches and memory").

    peak(micro, checkpointing) = ALLOCATOR_FACTOR x (fixed parts
                                 + saved.fixed + saved.per_sample x micro
                                 + workspace.fixed + workspace.per_sample x micro)

Fixed parts, counted exactly from the models the config builds (on fake tensors, so a
paper-size model costs no memory): the trained parameters in fp32, their gradients, AdamW's
two fp32 moments, the EMA copy, DDP's gradient buckets (one more gradient copy, several
processes only), and the frozen models (the discriminator is trained, so it is in the first
three; the diffusion model's text encoder and pretransform are frozen, fp32).

Activations are measured, not estimated: the step's real forward and backward (the
autoencoder's :func:`~sonicmotion.training.autoencoder.costliest_backward`; the diffusion
model's forward at the config's latent length) run under ``FakeTensorMode`` (real shapes and
dtypes, bf16 autocast as on a GPU, no memory, no arithmetic) while
``torch.autograd.graph.saved_tensors_hooks`` counts the bytes of the distinct storages
autograd holds for backward (parameters left out: they are counted above), tracking them
as the graph frees them, so the figure is the most held at once. At micro-batches 2 and 4:
per sample = (S(4) - S(2)) / 2; fixed = S(2) - 2 x per sample (mostly autocast's bf16 weight
copies); a batch of one is left out, as some kernels keep a view there where larger batches
copy, which puts it a little below the line.
With gradient checkpointing, from the same pass: what is saved outside the checkpointed
blocks, plus each block's inputs (kept for the recomputation), plus the largest block's own
saved tensors (alive while that block's backward runs). Workspace: the backward of the op
with the largest saved tensor holds a gradient in and out of its size, 2 x that tensor.
Not counted: the optimizer step's temporaries (activations are freed by then), the frozen
text encoder's no-grad activations, CUDA's context and kernels' own scratch memory; the one
global :data:`ALLOCATOR_FACTOR` covers those and the allocator's rounding and fragmentation.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, Iterable

import torch

from sonicmotion.errors import SonicMotionError
from sonicmotion.training.batches import BatchPlan
from sonicmotion.training.micro_batch import MicroBatchSplit, first_fit, set_gradient_checkpointing, sizes_to_try

GIB = 2**30
FP32_BYTES = 4
ADAMW_STATE_BYTES = 2 * FP32_BYTES  # exp_avg and exp_avg_sq per parameter
# Measured peak / modelled bytes, calibrated ONCE: the paper autoencoder at micro-batch 16
# without checkpointing on one H100 measured 45.0 GiB, the model gives 37.69 GiB before this
# factor (docs/performance.md "Memory model"). That row is the largest under-prediction of the
# measured ones, so with this factor no measured peak is above its prediction; every other
# prediction uses the same factor.
ALLOCATOR_FACTOR = 1.194


@dataclass(frozen=True)
class Linear:
    """Bytes that grow with the micro-batch: ``fixed + per_sample x micro``."""

    fixed: int
    per_sample: int

    def at(self, micro: int) -> int:
        return self.fixed + self.per_sample * micro

    @classmethod
    def through(cls, low: int, high: int, micros: tuple[int, int] = (2, 4)) -> "Linear":
        """The line through the figures ``low`` and ``high`` at the two micro-batches ``micros``."""
        per_sample = (high - low) // (micros[1] - micros[0])
        return cls(low - per_sample * micros[0], per_sample)


@dataclass(frozen=True)
class StepMemory:
    """One process's memory in one training step (see the module docstring); bytes."""

    name: str
    parts: dict[str, int]  # fixed bytes by part, in print order
    saved: Linear  # tensors saved for backward, checkpointing off
    saved_checkpointed: Linear  # ... on
    workspace: Linear
    parameters: dict[str, int]  # parameter counts by model
    factor: float = ALLOCATOR_FACTOR

    @property
    def fixed(self) -> int:
        return sum(self.parts.values())

    def peak(self, micro: int, checkpointing: bool) -> float:
        """Predicted peak bytes at ``micro`` samples per forward."""
        saved = self.saved_checkpointed if checkpointing else self.saved
        return self.factor * (self.fixed + saved.at(micro) + self.workspace.at(micro))

    def largest_micro(self, limit_bytes: float, checkpointing: bool) -> int:
        """The most samples per forward whose predicted peak fits ``limit_bytes`` (0 if none)."""
        saved = self.saved_checkpointed if checkpointing else self.saved
        room = limit_bytes / self.factor - self.fixed - saved.fixed - self.workspace.fixed
        per_sample = saved.per_sample + self.workspace.per_sample
        return max(0, math.floor(room / per_sample)) if per_sample > 0 else 0

    def plan(self, batches: BatchPlan, limit_bytes: float, checkpointing: bool = False) -> MicroBatchSplit:
        """The split ``--micro-batch auto`` would choose on ``batches.processes`` devices of
        ``limit_bytes`` each: :func:`~sonicmotion.training.micro_batch.first_fit`, the search's
        own order, with the prediction in place of a trial forward."""
        return first_fit(batches, lambda micro, on: self.peak(micro, on) <= limit_bytes, checkpointing)


class SavedTensorCounter:
    """Bytes of the distinct storages autograd holds for backward, most at once: the pack
    hook of ``saved_tensors_hooks`` holds a storage, the graph dropping the packed handle
    releases it. Storages of ``exclude`` (parameters) are not counted; each storage's first
    save is also charged to the checkpointable block running then (``blocks``)."""

    def __init__(self, exclude: Iterable[torch.Tensor], blocks: Iterable[torch.nn.Module] = ()):
        self.exclude = {_storage_key(t) for t in exclude}
        self.refs: dict[int, int] = {}
        self.sizes: dict[int, int] = {}
        self.live = self.peak = self.largest = 0
        self.block_of: dict[int, int] = {}  # storage -> block index of its first save
        self.by_block: dict[int, int] = {}
        self.block_inputs: dict[int, int] = {}  # storage -> bytes of every block input
        self._block: int | None = None
        self._handles = []
        for index, block in enumerate(blocks):
            self._handles.append(block.register_forward_pre_hook(self._enter(index)))
            self._handles.append(block.register_forward_hook(self._leave))

    def _enter(self, index: int):
        def hook(module, args):
            self._block = index
            for arg in args:
                if isinstance(arg, torch.Tensor):
                    self.block_inputs[_storage_key(arg)] = arg.untyped_storage().nbytes()
        return hook

    def _leave(self, module, args, output) -> None:
        self._block = None

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()

    def pack(self, tensor: torch.Tensor):
        key = _storage_key(tensor)
        if key in self.exclude:
            return tensor
        if not self.refs.get(key):
            size = tensor.untyped_storage().nbytes()
            self.sizes[key] = size
            self.live += size
            self.peak = max(self.peak, self.live)
            self.largest = max(self.largest, size)
            if self._block is not None and key not in self.block_of:
                self.block_of[key] = self._block
                self.by_block[self._block] = self.by_block.get(self._block, 0) + size
        self.refs[key] = self.refs.get(key, 0) + 1
        return _Held(tensor, key, self)

    @staticmethod
    def unpack(packed):
        return packed.tensor if isinstance(packed, _Held) else packed

    def release(self, key: int) -> None:
        self.refs[key] -= 1
        if not self.refs[key]:
            self.live -= self.sizes[key]

    def checkpointed_peak(self) -> int:
        """The peak with every block checkpointed (module docstring): saved outside the blocks
        + the blocks' inputs + the largest block's own saved tensors."""
        inside = sum(self.by_block.values())
        # Inputs saved outside the blocks too are in the peak already.
        inputs = sum(size for key, size in self.block_inputs.items() if key not in self.sizes or key in self.block_of)
        return self.peak - inside + inputs + max(self.by_block.values(), default=0)


class _Held:
    """A saved tensor as the graph keeps it; its release when the graph lets go of it."""

    __slots__ = ("tensor", "key", "counter")

    def __init__(self, tensor: torch.Tensor, key: int, counter: SavedTensorCounter):
        self.tensor, self.key, self.counter = tensor, key, counter

    def __del__(self) -> None:
        self.counter.release(self.key)


def _storage_key(tensor: torch.Tensor) -> int:
    return tensor.untyped_storage()._cdata


def checkpointable_blocks(models: Iterable[torch.nn.Module]) -> list[torch.nn.Module]:
    """The blocks ``--gradient-checkpointing`` recomputes: the ``blocks`` of every module with
    the switch (autoencoder encoder and decoder, DiT)."""
    return [block for model in models for module in model.modules() if hasattr(module, "gradient_checkpointing")
            for block in module.blocks]


def count_saved(step: Callable[[int], None], micro: int, models: list[torch.nn.Module],
                exclude: Iterable[torch.Tensor]) -> SavedTensorCounter:
    """The saved tensors of one ``step(micro)``, checkpointing off; gradients dropped after."""
    set_gradient_checkpointing(models, False)
    counter = SavedTensorCounter(exclude, checkpointable_blocks(models))
    try:
        with torch.autograd.graph.saved_tensors_hooks(counter.pack, counter.unpack):
            step(micro)
    finally:
        counter.remove()
        for model in models:
            model.zero_grad(set_to_none=True)
    return counter


# Micro-batches the activations are measured at. Not 1: a batch of one lets some kernels keep
# a view where larger batches copy (a few MB below the line through larger batches).
MEASURED_MICROS = (2, 4)


def measure_activations(step: Callable[[int], None], models: list[torch.nn.Module],
                        exclude: Iterable[torch.Tensor]) -> tuple[Linear, Linear, Linear]:
    """(saved, saved with checkpointing, workspace) of ``step(micro)`` (a forward and backward
    on fake tensors) from :func:`count_saved` at the two :data:`MEASURED_MICROS`."""
    exclude = list(exclude)
    low, high = (count_saved(step, micro, models, exclude) for micro in MEASURED_MICROS)
    return (Linear.through(low.peak, high.peak, MEASURED_MICROS),
            Linear.through(low.checkpointed_peak(), high.checkpointed_peak(), MEASURED_MICROS),
            Linear.through(2 * low.largest, 2 * high.largest, MEASURED_MICROS))


def trained_parts(label: str, model: torch.nn.Module, processes: int, ema: bool) -> dict[str, int]:
    """Parameters, gradients, AdamW moments (and EMA copy, DDP gradient buckets) of a trained model."""
    count = sum(p.numel() for p in model.parameters() if p.requires_grad)
    parts = {f"{label} parameters": FP32_BYTES * count, f"{label} gradients": FP32_BYTES * count,
             f"{label} AdamW moments": ADAMW_STATE_BYTES * count}
    if ema:
        parts[f"{label} EMA copy"] = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    if processes > 1:
        parts[f"{label} DDP gradient buckets"] = FP32_BYTES * count
    return parts


def _autocast(mixed_precision: str):
    """The autocast a GPU run has (``auto`` is bf16 on CUDA), on the CPU's fake tensors."""
    dtype = {"auto": torch.bfloat16, "bf16": torch.bfloat16, "fp16": torch.float16}.get(mixed_precision)
    return (lambda: torch.autocast("cpu", dtype=dtype)) if dtype is not None else nullcontext


def _fake_mode():
    from torch._subclasses.fake_tensor import FakeTensorMode

    return FakeTensorMode(allow_non_fake_inputs=True)


def autoencoder_step_memory(config, processes: int = 1) -> StepMemory:
    """The autoencoder trainer's step (``AutoencoderRunConfig``): generator and discriminator
    trained, EMA of the generator, crops of ``training.crop_seconds``."""
    from sonicmotion.models.autoencoder import SpatialAutoencoder
    from sonicmotion.models.discriminator import MultiScaleStftDiscriminator
    from sonicmotion.training.autoencoder import costliest_backward
    from sonicmotion.training.losses import AutoencoderLoss

    model = config.model
    loss = AutoencoderLoss(config.loss, model.sample_rate)  # real: its filters are moved with .to(), small
    samples = round(config.training.crop_seconds * model.sample_rate)
    autocast = _autocast(config.training.mixed_precision)
    with _fake_mode():
        generator = SpatialAutoencoder(model).train()
        disc = MultiScaleStftDiscriminator(config.discriminator, model.audio_channels).train()

        def step(micro: int) -> None:
            costliest_backward(generator, disc, loss, torch.randn(micro, model.audio_channels, samples), autocast)

        saved, checkpointed, workspace = measure_activations(
            step, [generator, disc], [*generator.parameters(), *disc.parameters(), *loss.parameters(),
                                      *loss.buffers()])
        parts = {**trained_parts("autoencoder", generator, processes, ema=True),
                 **trained_parts("discriminator", disc, processes, ema=False)}
        counts = {"autoencoder": _count(generator), "discriminator": _count(disc)}
    return StepMemory("autoencoder", parts, saved, checkpointed, workspace, counts)


def diffusion_step_memory(config, text_encoder_config, latent_channels: int, downsampling_ratio: int,
                          pretransform=None, processes: int = 1) -> StepMemory:
    """The diffusion trainer's step (``DiffusionTrainConfig``) on latents [B, latent_channels,
    frames] of the config's ``sample_seconds`` at ``downsampling_ratio`` samples per frame: the
    conditioned DiT trained with EMA; the text encoder (a transformers config: T5 or MiniLM)
    and the pretransform (an ``AutoencoderConfig``; None for a parameter-free patch) frozen on
    the device."""
    from sonicmotion.models.autoencoder import SpatialAutoencoder
    from sonicmotion.models.diffusion_model import ConditionedDiffusionModel, condition_inputs
    from sonicmotion.models.pretransform import latent_frames
    from sonicmotion.spatial import Trajectory
    from sonicmotion.training.diffusion import denoising_loss

    model_config = config.model
    frames = latent_frames(round(model_config.sample_seconds * model_config.sample_rate), downsampling_ratio,
                           model_config.frame_multiple)
    text_dim, tokens = text_encoder_config.hidden_size, model_config.text_max_length
    autocast = _autocast(config.training.mixed_precision)
    path = Trajectory.linear(90, 0, -90, 0, "cw", 0.0, model_config.sample_seconds)
    with _fake_mode():
        model = ConditionedDiffusionModel(model_config, text_dim, latent_channels).train()
        text = _text_model(text_encoder_config)
        frozen = SpatialAutoencoder(pretransform) if pretransform is not None else None

        def step(micro: int) -> None:
            inputs = condition_inputs(model_config, torch.randn(micro, tokens, text_dim),
                                      torch.ones(micro, tokens, dtype=torch.bool), frames,
                                      [path] * micro if model_config.parametric else None,
                                      [0.0] * micro, [model_config.sample_seconds] * micro, downsampling_ratio)
            latents, noise = torch.randn(micro, latent_channels, frames), torch.randn(micro, latent_channels, frames)
            denoising_loss(model, latents, noise, torch.rand(micro), inputs, autocast).backward()

        saved, checkpointed, workspace = measure_activations(step, [model], model.parameters())
        parts = trained_parts("diffusion model", model, processes, ema=True)
        parts["text encoder (frozen)"] = _bytes(text)
        counts = {"diffusion model": _count(model), "text encoder": _count(text)}
        if frozen is not None:
            parts["pretransform (frozen)"] = _bytes(frozen)
            counts["pretransform"] = _count(frozen)
    return StepMemory("diffusion", parts, saved, checkpointed, workspace, counts)


def text_encoder_config(name: str):
    """The transformers config of text encoder ``name`` without its weights: MiniLM's bundled
    one, a local T5 folder's, or for a T5 name not on this machine the published shape of
    ``t5-small`` / ``t5-base`` / ``t5-large``."""
    from pathlib import Path

    from transformers import AutoConfig, T5Config

    from sonicmotion.errors import SonicMotionError, WeightsMissing
    from sonicmotion.models.text import MINILM, minilm_path, text_encoder_folder

    if name == MINILM:
        return AutoConfig.from_pretrained(minilm_path(), local_files_only=True)
    try:
        return AutoConfig.from_pretrained(text_encoder_folder(name), local_files_only=True)
    except WeightsMissing:
        pass
    shapes = {"t5-small": (512, 2048, 6, 8), "t5-base": (768, 3072, 12, 12), "t5-large": (1024, 4096, 24, 16)}
    key = Path(name).name.removeprefix("google-").lower()
    if key not in shapes:
        raise SonicMotionError(f"text encoder {name!r}: no local copy and not a known T5 size "
                               f"({', '.join(shapes)}); give minilm, a T5 name or a local T5 folder")
    d_model, d_ff, layers, heads = shapes[key]
    return T5Config(d_model=d_model, d_ff=d_ff, d_kv=64, num_layers=layers, num_heads=heads, vocab_size=32128)


def _text_model(config) -> torch.nn.Module:
    """The text encoder the trainer holds: T5's encoder alone, or the whole MiniLM."""
    from transformers import AutoModel, T5EncoderModel

    return T5EncoderModel(config) if config.model_type == "t5" else AutoModel.from_config(config)


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _bytes(model: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))


def describe_plan(memory: StepMemory, batches: BatchPlan, limit_gib: float, checkpointing: bool = False) -> str:
    """The printed plan: parts, activations, predicted peak per micro-batch size, and the
    split line the trainer would print."""
    lines = [f"memory plan: {memory.name}, {batches.processes} process(es) x {limit_gib:g} GiB, "
             f"{batches.per_process} samples per process per accumulation step (allocator factor "
             f"{memory.factor:g}; docs/performance.md \"Memory model\")"]
    lines.append("parameters: " + ", ".join(f"{name} {count / 1e6:.1f} M" for name, count in memory.parameters.items()))
    for name, size in memory.parts.items():
        lines.append(f"  {name:<40} {size / GIB:8.2f} GiB")
    lines.append(f"  {'activations saved for backward':<40} {memory.saved.fixed / GIB:8.2f} GiB + "
                 f"{memory.saved.per_sample / GIB:.3f} GiB per sample (checkpointing on: "
                 f"{memory.saved_checkpointed.fixed / GIB:.2f} + {memory.saved_checkpointed.per_sample / GIB:.3f})")
    lines.append(f"  {'backward workspace':<40} {memory.workspace.fixed / GIB:8.2f} GiB + "
                 f"{memory.workspace.per_sample / GIB:.3f} GiB per sample")
    lines.append("micro-batch   peak, checkpointing off   peak, checkpointing on")
    limit = limit_gib * GIB
    for micro in sizes_to_try(batches.per_process):
        cells = [f"{memory.peak(micro, on) / GIB:8.1f} GiB {'fits' if memory.peak(micro, on) <= limit else 'OOM '}"
                 for on in (False, True)]
        lines.append(f"{micro:>11}   {cells[0]:>23}   {cells[1]:>22}")
    lines.append(f"largest that fits: {memory.largest_micro(limit, False)} samples (checkpointing off), "
                 f"{memory.largest_micro(limit, True)} (on)")
    try:
        split = memory.plan(batches, limit, checkpointing)
    except SonicMotionError:
        raise SonicMotionError(f"{memory.name}: 1 sample per process with gradient checkpointing is predicted to need "
                               f"{memory.peak(1, True) / GIB:.1f} GiB, more than {limit_gib:g} GiB: the model and its "
                               "optimizer state do not fit this device") from None
    lines.append(f"{memory.name}: {split.describe()}")
    return "\n".join(lines)
