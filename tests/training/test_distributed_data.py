"""Two gloo processes read like one: every key once per epoch, and a resume mid-epoch
neither repeats nor misses a key (the loader alone splits; the trainers never do)."""

import json
import os
import socket

import pytest
import torch.multiprocessing as mp

from tests.foa_fixtures import synthetic_sample, write_shards

GLOBAL_BATCH, WORKERS = 4, 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read(rank: int, world: int, port: int, urls: list[str], out: str, stop_after: int | None,
          state_file: str | None) -> None:
    """One process: its steps' keys (and, when stopping early, its data position) as JSON."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    import torch

    torch.set_num_threads(1)
    from accelerate import Accelerator

    from sonicmotion.training.batches import TrainingBatches, plan_batches
    from sonicmotion.data.latents import shard_dataset_factory
    from sonicmotion.data.loader import collate_samples as collate

    accelerator = Accelerator(cpu=True)
    assert accelerator.num_processes == world
    plan = plan_batches(GLOBAL_BATCH, world, 1)
    batches = TrainingBatches(shard_dataset_factory(urls, latents=False, seed=5), plan, collate, WORKERS, 5,
                              accelerator)
    if state_file:
        with open(state_file) as f:
            batches.load_state_dict(json.load(f)[rank])
    keys, steps = [], 0
    for step in batches:
        if batches.epoch != 0:
            break
        keys += [key for batch in step for key in batch["key"]]
        steps += 1
        if steps == stop_after:
            break
    result = {"keys": keys, "state": batches.state_dict()}
    with open(f"{out}-{rank}.json", "w") as f:
        json.dump(result, f)
    accelerator.wait_for_everyone()
    torch.distributed.destroy_process_group()


def _run(urls, out, stop_after=None, state_file=None) -> list[dict]:
    mp.spawn(_read, args=(2, _free_port(), urls, str(out), stop_after, state_file), nprocs=2, join=True)
    results = []
    for rank in range(2):
        with open(f"{out}-{rank}.json") as f:
            results.append(json.load(f))
    return results


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("split")
    samples = [synthetic_sample(i, 0.25) for i in range(16)]
    urls = write_shards(root, "train", samples, per_shard=4)
    return urls, sorted(s["key"] for s in samples)


def test_two_processes_see_every_key_once_per_epoch(shards, tmp_path):
    urls, keys = shards
    whole = _run(urls, tmp_path / "whole")
    seen = whole[0]["keys"] + whole[1]["keys"]
    assert sorted(seen) == keys  # once each, over both ranks x 2 workers
    assert not set(whole[0]["keys"]) & set(whole[1]["keys"])


def test_a_resume_mid_epoch_neither_repeats_nor_misses_a_key(shards, tmp_path):
    urls, keys = shards
    first = _run(urls, tmp_path / "first", stop_after=1)  # killed after one step of the epoch's four
    state = tmp_path / "state.json"
    state.write_text(json.dumps([r["state"] for r in first]))
    assert all(r["state"]["steps_in_epoch"] == 1 and r["state"]["consumers"] == 4 for r in first)
    rest = _run(urls, tmp_path / "rest", state_file=str(state))
    before = first[0]["keys"] + first[1]["keys"]
    after = rest[0]["keys"] + rest[1]["keys"]
    assert len(before) == GLOBAL_BATCH and not set(before) & set(after)
    assert sorted(before + after) == keys
