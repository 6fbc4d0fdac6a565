"""What both trainers share around the step: the Accelerator, the start-up line, the logs.

One process or many (``torchrun``, ``accelerate launch``, on CPUs with gloo or GPUs with
NCCL) go through the same code: :func:`make_accelerator` joins the process group the
launcher set up (and, under a launcher, starts :func:`watch_launcher`, so workers do not
outlive it), and only the main process writes files; the others wait at barriers.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import torch

from sonicmotion.errors import SonicMotionError
from sonicmotion.training.batches import BatchPlan, plan_batches

PRECISIONS = ("auto", "no", "bf16", "fp16")


def make_accelerator(mixed_precision: str, accumulation: int, run_dir: Path, trackers: bool = True,
                     compile_model: bool = False):
    """An Accelerator in the launcher's process group (gloo on CPU hosts, NCCL on GPUs).

    ``mixed_precision`` "auto" is bf16 on CUDA and fp32 elsewhere. TensorBoard logs go to
    ``run_dir`` when the package is installed. ``compile_model``: models are compiled with
    TorchInductor when prepared.
    """
    from accelerate import Accelerator
    from accelerate.utils import is_tensorboard_available

    if LAUNCHER_VARIABLE in os.environ:
        watch_launcher()
    if mixed_precision not in PRECISIONS:
        raise SonicMotionError(f"mixed precision must be one of {', '.join(PRECISIONS)}, got {mixed_precision!r}")
    cuda = torch.cuda.is_available()
    if mixed_precision == "auto":
        mixed_precision = "bf16" if cuda else "no"
    use_tensorboard = trackers and is_tensorboard_available()
    return Accelerator(
        mixed_precision=mixed_precision, cpu=not cuda, gradient_accumulation_steps=accumulation,
        log_with="tensorboard" if use_tensorboard else None, project_dir=str(run_dir),
        dynamo_backend="inductor" if compile_model else "no",
    )


# torchrun's elastic agent (also behind ``accelerate launch``) sets this in its workers' environment.
LAUNCHER_VARIABLE = "TORCHELASTIC_RUN_ID"
LAUNCHER_POLL_SECONDS = 0.5
_watching: list[int] = []


def watch_launcher(poll_seconds: float = LAUNCHER_POLL_SECONDS) -> None:
    """Stop this worker within ``poll_seconds`` of its launcher's death.

    torchrun starts each worker in a session of its own, so a SIGKILL to torchrun's process
    group leaves the workers training, writing checkpoints beside whatever runs next. A
    daemon thread watches the parent PID: when the launcher is gone, the worker is
    re-parented, and it exits at once (status 1) with one line on stderr. Once per process.
    """
    if _watching:
        return
    parent = os.getppid()
    _watching.append(parent)

    def watch() -> None:
        while True:
            time.sleep(poll_seconds)
            if os.getppid() != parent:
                print(f"error: the launcher (PID {parent}) is gone; worker PID {os.getpid()} stops",
                      file=sys.stderr, flush=True)
                os._exit(1)

    threading.Thread(target=watch, name="sonicmotion-launcher-watch", daemon=True).start()


def batch_plan(accelerator, global_batch: int, accumulation: int) -> BatchPlan:
    return plan_batches(global_batch, accelerator.num_processes, accumulation)


def start_line(name: str, accelerator, plan: BatchPlan) -> str:
    """E.g. ``train diffusion: 2 process(es); global batch 8 = 2 x 2 x 2 per process; device cpu``."""
    return f"{name}: {plan.describe()}; device {accelerator.device}"


def resume_run(run_dir: Path, checkpoints, resume: bool, load: Callable[[Path], str | None], accelerator) -> None:
    """Both trainers' start: a folder with checkpoints is refused unless ``resume``; with it,
    ``load`` restores the latest (printing its note, if any, once)."""
    latest = checkpoints.latest()
    if latest is not None and not resume:
        raise SonicMotionError(f"{run_dir} already has checkpoints; pass --resume to continue it or choose a new --out")
    if resume and latest is not None:
        intact, warnings = checkpoints.latest_intact()
        if accelerator.is_main_process:
            for warning in warnings:
                print(f"warning: {warning}", file=sys.stderr)
        if intact is None:
            raise SonicMotionError(f"{run_dir}: no intact checkpoint to resume from ({warnings[-1]})")
        note = load(intact)
        if note and accelerator.is_main_process:
            print(f"note: {note}")


def process_mean(accelerator, values: dict[str, float]) -> dict[str, float]:
    """Each value averaged over all processes (every process must call this at the same step)."""
    if accelerator.num_processes == 1:
        return values
    keys = sorted(values)
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=accelerator.device)
    tensor = accelerator.reduce(tensor, reduction="mean")
    return dict(zip(keys, tensor.tolist()))


def flat_config(config: dict, prefix: str = "") -> dict[str, Any]:
    """A nested config as one level of scalars (what trackers accept as hyper-parameters)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_config(value, name + "."))
        elif isinstance(value, (int, float, str, bool)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


class RunLog:
    """``log.jsonl`` (always; one JSON object per line, ``step`` first) and Accelerate's
    trackers (TensorBoard when installed; started at the first record, so a start that fails
    before it writes none). Written by the main process only; on resume the lines past the
    checkpoint's step are dropped, since the run will write them again."""

    def __init__(self, path: Path, accelerator, resume_step: int, config: dict | None = None,
                 project: str = "sonicmotion"):
        self.path, self.accelerator = path, accelerator
        self.project, self.config = project, config or {}
        self.enabled = accelerator.is_main_process
        self.trackers = False
        if self.enabled:
            truncate_jsonl(path, resume_step)

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.accelerator.log_with:
            if not self.trackers:
                self.accelerator.init_trackers(self.project, config=flat_config(self.config))
                self.trackers = True
            scalars = {k: v for k, v in record.items() if isinstance(v, (int, float)) and k != "step"}
            self.accelerator.log(scalars, step=int(record["step"]))

    def close(self) -> None:
        if self.trackers:
            self.accelerator.end_training()


def truncate_jsonl(path: Path, step: int) -> None:
    """Drop lines whose ``step`` is past ``step``."""
    if not path.is_file():
        return
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    kept = [line for line in lines if json.loads(line)["step"] <= step]
    if len(kept) != len(lines):
        from sonicmotion.files import atomic_path

        with atomic_path(path) as tmp:
            tmp.write_text("".join(line + "\n" for line in kept))


def read_jsonl(path: Path) -> list[dict]:
    """The records of a ``log.jsonl``."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
