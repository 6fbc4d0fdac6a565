"""Global batch plans and the batch stream's steps, epochs and resume (one process)."""

import pytest

from sonicmotion.errors import SonicMotionError
from sonicmotion.training.batches import TrainingBatches, plan_batches


def test_a_global_batch_splits_over_processes_and_accumulation_or_is_refused():
    plan = plan_batches(1024, 4, 2)
    assert plan.per_process == 128
    assert plan.describe() == ("4 process(es); global batch 1024 = 4 process(es) x 2 accumulation step(s) x "
                               "128 per process")
    with pytest.raises(SonicMotionError, match="choose a multiple of 6"):
        plan_batches(128, 3, 2)
    with pytest.raises(SonicMotionError, match="must be >= 1"):
        plan_batches(0, 1, 1)


def collate(samples):
    return {"key": [s["key"] for s in samples]}


def items(epoch):
    return [{"key": f"e{epoch}-{i}"} for i in range(7)]  # 7 samples: a step of 2 x 2 leaves 3 over


def test_steps_hold_the_accumulation_micro_batches_and_epochs_drop_the_remainder():
    batches = TrainingBatches(items, plan_batches(4, 1, 2), collate)
    stream = iter(batches)
    steps = [next(stream) for _ in range(3)]
    assert [[b["key"] for b in step] for step in steps] == [
        [["e0-0", "e0-1"], ["e0-2", "e0-3"]],  # epoch 0: one step of 2 micro-batches of 2
        [["e1-0", "e1-1"], ["e1-2", "e1-3"]],  # 7 - 4 = 3 samples cannot fill a step: next epoch
        [["e2-0", "e2-1"], ["e2-2", "e2-3"]],
    ]
    assert batches.epoch == 2 and batches.steps_in_epoch == 1


def test_a_source_without_positions_resumes_by_replaying_the_epochs_first_steps():
    first = TrainingBatches(lambda epoch: items(epoch) * 3, plan_batches(2, 1, 1), collate)
    stream = iter(first)
    for _ in range(4):
        next(stream)
    state = first.state_dict()
    resumed = TrainingBatches(lambda epoch: items(epoch) * 3, plan_batches(2, 1, 1), collate)
    assert resumed.load_state_dict(state) is None
    assert next(iter(resumed))[0]["key"] == next(stream)[0]["key"]
    other = TrainingBatches(lambda epoch: items(epoch), plan_batches(2, 1, 1), collate, num_workers=2)
    note = other.load_state_dict(state)
    assert "restarts from its beginning" in note and other.steps_in_epoch == 0


def test_data_that_cannot_fill_one_step_is_an_error():
    with pytest.raises(SonicMotionError, match="no full step of 2 x 4"):
        next(iter(TrainingBatches(items, plan_batches(8, 1, 2), collate)))

