"""How much of a process's batch goes through the model at once: the micro-batch.

The batch plan (``training.batches``) fixes what each process reads per optimizer step:
``accumulation`` loader batches of ``per_process`` samples. Each loader batch is cut into
``per_process / micro`` micro-batches that go through forward and backward one after the
other, their gradients accumulating, so the data (its order, its resume position) does
not depend on the micro-batch, only the memory does.

``micro_batch`` is ``whole`` (the loader batch in one piece), a number of samples that
divides the loader batch, or ``auto``: before the first step, with that step's real
shapes, every process tries a forward and backward of the largest size, halving on
out-of-memory; gradient checkpointing is switched on before going below
:data:`CHEAP_ACCUMULATION_FLOOR` samples. The tries leave no trace (random states restored,
gradients dropped), so when the first size fits the run is the same, bit for bit, as one
that never searched.

For tests on machines without a GPU, ``SONICMOTION_SIMULATED_MEMORY=K`` (or ``K:KC``) makes
a trained model's forward over more than K samples (KC with gradient checkpointing on)
raise the out-of-memory error a GPU would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch

from sonicmotion.errors import SonicMotionError

AUTO = "auto"
WHOLE = "whole"
# Below this many samples per forward, accumulation costs more (kernels too small to fill
# a GPU, a Python loop per sample) than recomputing activations: checkpointing is tried first.
CHEAP_ACCUMULATION_FLOOR = 4
SIMULATED_MEMORY_VARIABLE = "SONICMOTION_SIMULATED_MEMORY"


def parse_micro_batch(value: Any) -> str | int:
    """``auto``, ``whole`` or a positive sample count (an int or its digits); one line otherwise."""
    if isinstance(value, str) and value in (AUTO, WHOLE):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise SonicMotionError(f"micro-batch must be auto, whole or a positive number of samples, got {value!r}")


@dataclass(frozen=True)
class MicroBatchSplit:
    """One process's step: ``loader_batch`` samples per loader batch, cut into ``micro``-sample
    pieces; ``accumulation`` forward/backward passes per optimizer step in all."""

    global_batch: int
    processes: int
    loader_batch: int
    loader_accumulation: int
    micro: int
    checkpointing: bool = False

    @property
    def chunks(self) -> int:
        return self.loader_batch // self.micro

    @property
    def accumulation(self) -> int:
        return self.loader_accumulation * self.chunks

    def describe(self) -> str:
        """E.g. ``global batch 128 = 4 processes x 8 micro-batch x 4 accumulation; gradient checkpointing off``."""
        processes = f"{self.processes} process{'es' if self.processes != 1 else ''}"
        return (f"global batch {self.global_batch} = {processes} x {self.micro} micro-batch x "
                f"{self.accumulation} accumulation; gradient checkpointing {'on' if self.checkpointing else 'off'}")


def fixed_split(plan, micro: str | int, checkpointing: bool) -> MicroBatchSplit:
    """The split for ``whole`` or a number (``auto`` starts from ``whole``)."""
    size = plan.per_process if micro in (AUTO, WHOLE) else int(micro)
    if plan.per_process % size:
        raise SonicMotionError(f"--micro-batch {size} does not divide the {plan.per_process} samples each process "
                               f"takes per accumulation step ({plan.describe()}); choose a divisor of "
                               f"{plan.per_process}")
    return MicroBatchSplit(plan.global_batch, plan.processes, plan.per_process, plan.accumulation, size, checkpointing)


def split_micro_batches(loader_batches: list, chunks: int) -> list:
    """Each collated loader batch (a [B, ...] tensor or a dict of tensors and B-long lists)
    cut into ``chunks`` consecutive pieces, in order."""
    if chunks == 1:
        return list(loader_batches)
    return [piece for batch in loader_batches for piece in _cut(batch, chunks)]


def _cut(batch: Any, chunks: int) -> list:
    if isinstance(batch, torch.Tensor):
        return list(batch.chunk(chunks))
    if isinstance(batch, dict):
        size = next(len(v) for v in batch.values() if isinstance(v, (torch.Tensor, list)))
        step = size // chunks
        return [{k: v[i * step:(i + 1) * step] if isinstance(v, (torch.Tensor, list)) else v
                 for k, v in batch.items()} for i in range(chunks)]
    raise TypeError(f"cannot cut a {type(batch).__name__} into micro-batches")


def is_out_of_memory(err: BaseException) -> bool:
    """A device out-of-memory error (CUDA's own class, or a RuntimeError saying so)."""
    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and "out of memory" in str(err).lower())


def set_gradient_checkpointing(models: Iterable[torch.nn.Module], on: bool) -> None:
    """Switch activation checkpointing in every block stack that has the switch (autoencoder
    encoder/decoder, DiT); the model config's own setting is what a new model starts with."""
    for model in models:
        for module in model.modules():
            if hasattr(module, "gradient_checkpointing"):
                module.gradient_checkpointing = on


def gradient_checkpointing(models: Iterable[torch.nn.Module]) -> bool:
    return any(getattr(m, "gradient_checkpointing", False) for model in models for m in model.modules())


def sizes_to_try(per_process: int) -> list[int]:
    """``per_process``, then repeatedly the largest divisor of it at most half the last: 32, 16, ... 1."""
    sizes = [per_process]
    while sizes[-1] > 1:
        half = sizes[-1] // 2
        sizes.append(next(d for d in range(half, 0, -1) if per_process % d == 0))
    return sizes


def search_order(per_process: int, checkpointing: bool) -> list[tuple[bool, int]]:
    """(checkpointing on, micro-batch) pairs in the order ``auto`` tries them: the halving sizes
    without checkpointing down to :data:`CHEAP_ACCUMULATION_FLOOR`, then all of them with it
    (only the latter when ``checkpointing`` is already on)."""
    sizes = sizes_to_try(per_process)
    floor = min(CHEAP_ACCUMULATION_FLOOR, per_process)
    plain = [] if checkpointing else [(False, s) for s in sizes if s >= floor]
    return plain + [(True, s) for s in sizes]


def first_fit(plan, fits: Callable[[int, bool], bool], checkpointing: bool) -> MicroBatchSplit:
    """The split of the first (micro-batch, checkpointing) in :func:`search_order` for which
    ``fits(micro, checkpointing)``; the one-line out-of-memory error if none does. Used by the
    search on a device and by the memory model's plan (``training.memory``)."""
    for on, size in search_order(plan.per_process, checkpointing):
        if fits(size, on):
            return MicroBatchSplit(plan.global_batch, plan.processes, plan.per_process, plan.accumulation, size, on)
    raise SonicMotionError("out of memory with 1 sample per process and gradient checkpointing on: the model and "
                           "its optimizer state do not fit this device; use a device with more memory or a smaller "
                           "model")


def search_micro_batch(plan, first_batch: Any, probe: Callable[[Any], None], models: list[torch.nn.Module],
                       accelerator, checkpointing: bool) -> MicroBatchSplit:
    """The largest micro-batch whose forward and backward fit on every process (see the module
    docstring); ``probe(micro_batch)`` runs one without updating anything."""
    def fits(size: int, on: bool) -> bool:
        set_gradient_checkpointing(models, on)
        piece = _cut(first_batch, plan.per_process // size)[0]
        return _fits_everywhere(_try(probe, piece), accelerator)

    return first_fit(plan, fits, checkpointing)


def _try(probe: Callable[[Any], None], piece: Any) -> bool:
    try:
        probe(piece)
        return True
    except RuntimeError as err:  # torch.OutOfMemoryError is one
        if not is_out_of_memory(err):
            raise
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return False


def _fits_everywhere(fits: bool, accelerator) -> bool:
    if accelerator.num_processes == 1:
        return fits
    flag = torch.tensor([float(fits)], device=accelerator.device)
    return bool(accelerator.reduce(flag, reduction="sum").item() == accelerator.num_processes)


def out_of_memory_line(step: int, split: MicroBatchSplit) -> str:
    """The one line a later out-of-memory ends the run with: what to set."""
    smaller = sizes_to_try(split.loader_batch)
    lower = next((s for s in smaller if s < split.micro), None)
    advice = []
    if lower is not None:
        advice.append(f"--micro-batch {lower}")
    if not split.checkpointing:
        advice.append("--gradient-checkpointing")
    what = " or ".join(advice) if advice else "a device with more memory"
    return (f"out of memory at step {step + 1} ({split.describe()}); set {what} "
            "(--micro-batch auto finds the largest that fits at the first step)")


class RandomStates:
    """Every random state a probe may draw from (torch's CPU and CUDA generators and a
    trainer's own), saved on entry and put back on exit."""

    def __init__(self, generators: Iterable[torch.Generator] = ()):
        self.generators = list(generators)

    def __enter__(self) -> "RandomStates":
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        self.own = [g.get_state() for g in self.generators]
        return self

    def __exit__(self, *exc: object) -> None:
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)
        for generator, state in zip(self.generators, self.own):
            generator.set_state(state)


def simulate_memory_limit(models: Iterable[torch.nn.Module]) -> None:
    """With ``SONICMOTION_SIMULATED_MEMORY`` set (``K`` or ``K:KC``), a training-mode forward of
    these models over more than K samples (KC with gradient checkpointing on) raises
    ``torch.OutOfMemoryError`` (a test hook: CPUs have no device memory to run out of)."""
    value = os.environ.get(SIMULATED_MEMORY_VARIABLE)
    if not value:
        return
    try:
        limits = [int(v) for v in value.split(":")]
        plain, checkpointed = limits[0], limits[-1]
    except ValueError:
        raise SonicMotionError(f"{SIMULATED_MEMORY_VARIABLE} must be K or K:KC (samples), got {value!r}") from None
    models = list(models)

    def check(module: torch.nn.Module, args: tuple) -> None:
        if not (module.training and torch.is_grad_enabled() and args and isinstance(args[0], torch.Tensor)):
            return
        limit = checkpointed if gradient_checkpointing(models) else plain
        if args[0].shape[0] > limit:
            raise torch.OutOfMemoryError(f"CUDA out of memory (simulated by {SIMULATED_MEMORY_VARIABLE}={value}: "
                                         f"{args[0].shape[0]} samples > {limit})")

    for model in models:
        if not getattr(model, "_simulated_memory_limit", False):
            model.register_forward_pre_hook(check)
            model._simulated_memory_limit = True
