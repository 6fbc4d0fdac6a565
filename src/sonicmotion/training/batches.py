"""Batches for one training process, the same way for every trainer.

The dataset splits itself over processes and DataLoader workers (``ShardSampleDataset``);
this module never splits again. It reads through DataLoader workers (decoding off the
training process), hands out one optimizer step's micro-batches at a time, ends an epoch
on every process at once (as soon as one of them runs out), and records how far each
consumer's stream has been used, so an interrupted run resumes mid-epoch without
repeating or missing a sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import torch

from sonicmotion.errors import SonicMotionError

# Both trainers' data: epoch -> that epoch's samples (sample dicts; a dataset that splits
# itself over processes and workers, seeded by the epoch).
DatasetFactory = Callable[[int], Iterable[dict]]


@dataclass(frozen=True)
class BatchPlan:
    """How a global batch is made: processes x accumulation steps x per-process batch."""

    global_batch: int
    processes: int
    accumulation: int

    @property
    def per_process(self) -> int:
        return self.global_batch // (self.processes * self.accumulation)

    def describe(self) -> str:
        return (f"{self.processes} process(es); global batch {self.global_batch} = {self.processes} process(es) x "
                f"{self.accumulation} accumulation step(s) x {self.per_process} per process")


def plan_batches(global_batch: int, processes: int, accumulation: int) -> BatchPlan:
    """Check that ``global_batch`` splits evenly; one-line error otherwise."""
    if global_batch < 1 or accumulation < 1:
        raise SonicMotionError(f"global batch ({global_batch}) and gradient accumulation steps ({accumulation}) "
                               "must be >= 1")
    if global_batch % (processes * accumulation):
        raise SonicMotionError(
            f"global batch {global_batch} does not divide into {processes} process(es) x {accumulation} "
            f"accumulation step(s); choose a multiple of {processes * accumulation}"
        )
    return BatchPlan(global_batch, processes, accumulation)


class TrainingBatches:
    """Endless steps of ``plan.accumulation`` collated micro-batches of ``plan.per_process``.

    ``make_dataset(epoch)`` returns an iterable of sample dicts; datasets with
    ``resume_from`` (``ShardSampleDataset``) resume by skipping undecoded samples, others
    by replaying the epoch's first batches.
    """

    def __init__(
        self,
        make_dataset: DatasetFactory,
        plan: BatchPlan,
        collate: Callable[[list[dict]], dict],
        num_workers: int = 0,
        seed: int = 0,
        accelerator: Any = None,
    ):
        self.make_dataset, self.plan, self.collate = make_dataset, plan, collate
        self.num_workers, self.seed, self.accelerator = num_workers, seed, accelerator
        self.epoch = 0
        self.steps_in_epoch = 0
        self.consumed: dict[int, int] = {}

    @property
    def consumers(self) -> int:
        return self.plan.processes * max(1, self.num_workers)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "steps_in_epoch": self.steps_in_epoch, "consumers": self.consumers,
                "consumed": {str(c): n for c, n in self.consumed.items()}}

    def load_state_dict(self, state: dict) -> str | None:
        """Restore a position; returns a note when it cannot be kept exactly."""
        self.epoch, self.steps_in_epoch = int(state["epoch"]), int(state["steps_in_epoch"])
        self.consumed = {int(c): int(n) for c, n in state["consumed"].items()}
        if int(state["consumers"]) != self.consumers:
            self.steps_in_epoch, self.consumed = 0, {}
            return (f"the checkpoint's data position is for {state['consumers']} readers (processes x workers), "
                    f"this run has {self.consumers}: epoch {self.epoch} restarts from its beginning")
        return None

    def _everyone_has(self, have: bool) -> bool:
        acc = self.accelerator
        if acc is None or acc.num_processes == 1:
            return have
        flag = torch.tensor([float(have)], device=acc.device)
        return bool(acc.reduce(flag, reduction="sum").item() == acc.num_processes)

    def _loader(self, dataset: Iterable[dict]):
        from torch.utils.data import DataLoader, IterableDataset

        if not isinstance(dataset, IterableDataset):
            dataset = _Iterable(dataset)
        return DataLoader(dataset, batch_size=self.plan.per_process, collate_fn=self.collate, drop_last=True,
                          num_workers=self.num_workers, persistent_workers=False,
                          generator=torch.Generator().manual_seed(self.seed + self.epoch))

    def __iter__(self) -> Iterator[list[dict]]:
        while True:
            dataset = self.make_dataset(self.epoch)
            replay = 0
            if self.steps_in_epoch:
                if hasattr(dataset, "resume_from") and self.consumed:
                    dataset.resume_from(self.consumed)
                else:
                    replay = self.steps_in_epoch * self.plan.accumulation
            batches = iter(self._loader(dataset))
            for _ in range(replay):
                next(batches, None)
            produced = 0
            while True:
                step = []
                for _ in range(self.plan.accumulation):
                    batch = next(batches, None)
                    if batch is None:
                        break
                    step.append(batch)
                if not self._everyone_has(len(step) == self.plan.accumulation):
                    break
                for batch in step:
                    for consumer, _, index in batch.get("stream_position", ()):
                        self.consumed[consumer] = max(self.consumed.get(consumer, 0), index + 1)
                self.steps_in_epoch += 1
                produced += 1
                yield step
            if produced == 0 and self.steps_in_epoch == 0:
                raise SonicMotionError(
                    f"the training data{_describe_data(dataset)} yields no full step of {self.plan.accumulation} x "
                    f"{self.plan.per_process} samples per process; use more data or a smaller batch, or, if samples "
                    "were skipped as unreadable (warnings above), check the data with 'sonicmotion dataset verify'"
                )
            self.epoch += 1
            self.steps_in_epoch = 0
            self.consumed = {}


class _Iterable(torch.utils.data.IterableDataset):
    """Any iterable of samples (a list, a generator) as a DataLoader source."""

    def __init__(self, items: Iterable[dict]):
        self.items = items

    def __iter__(self) -> Iterator[dict]:
        return iter(self.items)


def _describe_data(dataset: Any) -> str:
    """`` (N shards: FIRST, ...)`` for a shard dataset, so the error names the data; else ""."""
    urls = list(getattr(dataset, "urls", None) or [])
    if not urls:
        return ""
    return f" ({len(urls)} shard{'s' if len(urls) > 1 else ''}: {urls[0]}{', ...' if len(urls) > 1 else ''})"
