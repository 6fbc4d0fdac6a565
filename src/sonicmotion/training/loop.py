"""The one training loop: both trainers (autoencoder, diffusion) run through :func:`train_loop`.

A trainer is a :class:`Trainer`: explicit state (models, optimisers, EMA, the batch
stream, ``step``) and a short :meth:`Trainer.train_step`, plus what a log line says about
a window of steps and how a checkpoint is saved and loaded. The loop does the rest, the
same way for both, in this order:

1. the main process takes the run folder's lock (``runs.RunFolderLock``): a second run or
   ``--resume`` on a folder whose holder is alive is refused in one line naming it;
2. resume from the newest intact checkpoint (``resume``), or refuse a folder with checkpoints;
3. write ``config.yaml`` (the run's config as it trains now);
4. at the first step, with its real shapes, fix the micro-batch (the config's
   ``micro_batch``; the module ``training.micro_batch``) and print the split; a later
   out-of-memory is one line naming what to set;
5. step until ``max_steps``: a progress bar (rate, ETA), a ``log.jsonl`` line (and the
   trackers) every ``log_every`` steps and at the end, a checkpoint every
   ``checkpoint_every`` steps and at the end;
6. return a :class:`TrainingSummary`.

A start that fails before its first step removes the ``config.yaml`` it wrote (and the
run folder, if it made it and nothing else is there); the lock is let go however the run ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from sonicmotion.errors import SonicMotionError
from sonicmotion.runs import RunFolderLock
from sonicmotion.training.micro_batch import (
    AUTO,
    WHOLE,
    MicroBatchSplit,
    RandomStates,
    fixed_split,
    gradient_checkpointing,
    is_out_of_memory,
    out_of_memory_line,
    search_micro_batch,
    set_gradient_checkpointing,
    simulate_memory_limit,
    split_micro_batches,
)

CONFIG_FILE = "config.yaml"
LOG_FILE = "log.jsonl"


@dataclass
class TrainingSummary:
    """What one :func:`train_loop` call did: the step reached, the updates skipped over the
    whole run (non-finite loss or gradient), and the log records this call wrote."""

    step: int
    skipped_steps: int = 0
    records: list[dict] = field(default_factory=list)

    @property
    def last(self) -> dict | None:
        """The last log record of this call, or None when it took no step."""
        return self.records[-1] if self.records else None


class Trainer:
    """What :func:`train_loop` needs from a trainer. Subclasses set, in ``__init__``:
    ``config`` (with a ``training`` section holding ``max_steps``, ``log_every``,
    ``checkpoint_every``), ``run_dir``, ``accelerator``, ``checkpoints``
    (``CheckpointManager``), ``batches`` (``TrainingBatches``), ``plan`` (its ``BatchPlan``)
    and ``progress``; and ``micro_batch`` (``auto``, ``whole`` or N) and
    ``gradient_checkpointing`` (on for the run) when they differ from the defaults."""

    name = "model"  # the progress bar says "train {name}"; trackers' project is "sonicmotion-{name}"
    progress_keys: tuple[str, ...] = ("loss",)  # log columns shown beside the bar
    step = 0
    skipped_steps = 0
    micro_batch: str | int = WHOLE
    gradient_checkpointing = False
    split: MicroBatchSplit | None = None  # fixed at the first step of a train_loop call

    # ---- what each trainer supplies ----------------------------------------------------------

    def run_config(self) -> dict:
        """The run's whole config as plain data (``config.yaml``, trackers)."""
        raise NotImplementedError

    def train_step(self, micro_batches: Any) -> dict[str, Any]:
        """One optimizer step over this process's micro-batches (``split.accumulation`` of
        them, gradients accumulating through the Accelerator); returns its values (floats or 0-d tensors; ``skipped`` 1.0 when
        the update was skipped)."""
        raise NotImplementedError

    def log_values(self, window: list[dict[str, Any]]) -> dict[str, float]:
        """The log line's values (after ``step``) for the steps since the last line; called on
        every process at the same step (values may be averaged over processes)."""
        raise NotImplementedError

    def save_checkpoint(self) -> Path | None:
        raise NotImplementedError

    def load_checkpoint(self, folder: Path) -> str | None:
        """Restore ``folder``; returns a note when the data position could not be kept."""
        raise NotImplementedError

    def memory_probe(self, micro_batch: Any) -> None:
        """Forward and backward of one micro-batch without updating anything, without a
        collective, leaving no gradient (for ``micro_batch: auto``; the loop restores the
        random states of torch and :meth:`random_generators`)."""
        raise NotImplementedError

    # ---- hooks with defaults -----------------------------------------------------------------

    def memory_models(self) -> list[Any]:
        """The trained models whose blocks can checkpoint activations (unwrapped)."""
        return []

    def random_generators(self) -> list[Any]:
        """The trainer's own ``torch.Generator`` s a step draws from."""
        return []

    def steps(self) -> Iterator[Any]:
        """Endless optimizer steps' loader batches (``plan.accumulation`` collated batches of
        ``plan.per_process``); the loop cuts them into micro-batches."""
        return iter(self.batches)

    def check_run_folder(self) -> None:
        """Refuse a run folder this trainer cannot continue (before anything is read or written)."""

    def on_start(self) -> None:
        """After the resume, before the first step (all processes)."""

    def after_step(self) -> None:
        """After each step's log line, before its checkpoint (all processes)."""

    def fit(self, resume: bool = False, max_steps: int | None = None) -> TrainingSummary:
        """Train until ``max_steps`` (default and upper bound: ``training.max_steps``)."""
        return train_loop(self, resume, max_steps)


def train_loop(trainer: Trainer, resume: bool = False, max_steps: int | None = None) -> TrainingSummary:
    """Run ``trainer`` to step ``max_steps`` (default and upper bound: its config's
    ``max_steps``; stopping earlier changes no schedule). A later call on the same trainer
    continues it; ``resume`` continues the run folder's newest intact checkpoint."""
    from tqdm import tqdm

    from sonicmotion.training.runtime import RunLog, resume_run

    acc, training = trainer.accelerator, trainer.config.training
    max_steps = min(max_steps or training.max_steps, training.max_steps)
    run_dir = Path(trainer.run_dir)
    config_path = run_dir / CONFIG_FILE
    made_folder = not run_dir.exists()
    lock = _take_run_folder(trainer)
    wrote_config = False
    start_step = trainer.step
    try:
        trainer.check_run_folder()
        if trainer.step == 0:  # a later call continues this object
            resume_run(run_dir, trainer.checkpoints, resume, trainer.load_checkpoint, acc)
            start_step = trainer.step
        if acc.is_main_process:
            wrote_config = not config_path.exists()
            _write_config(config_path, trainer.run_config())
        trainer.on_start()
        acc.wait_for_everyone()
        summary = _steps(trainer, max_steps, RunLog(run_dir / LOG_FILE, acc, trainer.step, trainer.run_config(),
                                                    f"sonicmotion-{trainer.name}"), tqdm)
    except BaseException:
        if wrote_config and trainer.step == start_step and trainer.checkpoints.latest() is None:
            config_path.unlink(missing_ok=True)  # a failed start leaves no config behind
        if lock is not None:
            lock.release()
            lock = None
            if made_folder:
                try:
                    run_dir.rmdir()
                except OSError:  # not empty: something else is there
                    pass
        raise
    finally:
        if lock is not None:
            lock.release()
    return summary


def _steps(trainer: Trainer, max_steps: int, log, tqdm) -> TrainingSummary:
    acc, training = trainer.accelerator, trainer.config.training
    bar = tqdm(total=max_steps, initial=trainer.step, desc=f"train {trainer.name}", unit="step",
               disable=not (trainer.progress and acc.is_main_process), dynamic_ncols=True)
    records: list[dict] = []
    window: list[dict] = []
    started = time.time()
    steps = trainer.steps() if trainer.step < max_steps else iter(())
    try:
        for loader_batches in steps:
            if trainer.split is None:
                trainer.split = _choose_split(trainer, loader_batches)
            try:
                result = trainer.train_step(split_micro_batches(loader_batches, trainer.split.chunks))
            except RuntimeError as err:
                if not is_out_of_memory(err):
                    raise
                raise SonicMotionError(out_of_memory_line(trainer.step, trainer.split)) from None
            trainer.step += 1
            window.append(result)
            bar.update(1)
            if result.get("skipped") and acc.is_main_process:
                bar.write(f"step {trainer.step}: non-finite loss or gradient, update skipped")
            if trainer.step % training.log_every == 0 or trainer.step >= max_steps:
                record = {"step": trainer.step, **trainer.log_values(window),
                          "seconds": round(time.time() - started, 3)}
                window = []
                records.append(record)
                log.write(record)
                shown = {key: f"{record[key]:.4f}" for key in trainer.progress_keys if key in record}
                bar.set_postfix(shown, skipped=trainer.skipped_steps)
            trainer.after_step()
            if trainer.step % training.checkpoint_every == 0 or trainer.step >= max_steps:
                trainer.save_checkpoint()
            if trainer.step >= max_steps:
                break
    finally:
        bar.close()
        log.close()
    return TrainingSummary(trainer.step, trainer.skipped_steps, records)


def _choose_split(trainer: Trainer, loader_batches: list) -> MicroBatchSplit:
    """The micro-batch for this call (searched with ``auto``), the Accelerator's accumulation
    set to match; printed once when it is not the whole batch in one piece."""
    acc = trainer.accelerator
    models = trainer.memory_models()
    simulate_memory_limit(models)
    if trainer.gradient_checkpointing:
        set_gradient_checkpointing(models, True)
    checkpointing = gradient_checkpointing(models)  # asked for, or the model config's own

    if trainer.micro_batch == AUTO:
        def probe(piece: Any) -> None:
            with RandomStates(trainer.random_generators()):
                trainer.memory_probe(piece)

        split = search_micro_batch(trainer.plan, loader_batches[0], probe, models, acc, checkpointing)
    else:
        split = fixed_split(trainer.plan, trainer.micro_batch, checkpointing)
    acc.gradient_accumulation_steps = split.accumulation
    if acc.is_main_process and (trainer.micro_batch != WHOLE or split.checkpointing):
        print(f"{trainer.name}: {split.describe()}", flush=True)
    return split


def _take_run_folder(trainer: Trainer) -> RunFolderLock | None:
    """The main process locks the run folder; every process raises the same line if it cannot."""
    acc = trainer.accelerator
    lock, refusal = None, None
    if acc.is_main_process:
        lock = RunFolderLock(trainer.run_dir)
        try:
            lock.acquire()
        except SonicMotionError as err:
            lock, refusal = None, str(err)
    if acc.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        refusal = broadcast_object_list([refusal])[0]
    if refusal is not None:
        if lock is not None:
            lock.release()
        raise SonicMotionError(refusal)
    return lock


def _write_config(path: Path, config: dict) -> None:
    import yaml

    from sonicmotion.files import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
