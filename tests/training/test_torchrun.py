"""Both trainers under ``torchrun --nproc_per_node 2`` on CPU (gloo), with gradient
accumulation: one process group, one writer of files, killed and resumed as one run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sonicmotion.training.runtime import read_jsonl
from tests.foa_fixtures import synthetic_sample, write_shards
from tests.processes import alive, descendants

TORCHRUN = Path(sys.executable).parent / "torchrun"
START = "2 process(es); global batch 4 = 2 process(es) x 2 accumulation step(s) x 1 per process"

pytestmark = pytest.mark.skipif(not TORCHRUN.is_file(), reason="torchrun is not installed beside this Python")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("torchrun") / "dataset"
    write_shards(root, "train", [synthetic_sample(i, 1.0, moving=i % 2 == 1) for i in range(16)], per_shard=4)
    return root


def _command(args: list[str]) -> list[str]:
    return [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "-m", "sonicmotion", *args, "--quiet",
            "--batch-size", "4", "--gradient-accumulation-steps", "2"]


def _env() -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))


def _run(args: list[str], cwd: Path) -> str:
    done = subprocess.run(_command(args), cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _kill_after(args: list[str], cwd: Path, checkpoint: Path) -> int:
    """Start a long run, kill -9 the whole process group once ``checkpoint`` exists, and
    return the step of the newest complete checkpoint left behind."""
    process = subprocess.Popen(_command(args), cwd=cwd, env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while not checkpoint.is_dir():
        assert process.poll() is None, process.stderr.read().decode()[-3000:]
        assert time.time() < deadline, "no checkpoint within 4 minutes"
        time.sleep(0.2)
    # torchrun starts its workers in sessions of their own: kill the whole tree, as a
    # preempted node would.
    for pid in [process.pid, *descendants(process.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()
    return int(sorted(checkpoint.parent.glob("step-*"))[-1].name.split("-")[1])


def _check_one_run(run: Path, out: str, last_step: int) -> None:
    assert out.count(START) == 1  # printed by the main process only
    steps = [r["step"] for r in read_jsonl(run / "log.jsonl")]
    assert steps == list(range(1, last_step + 1))  # one writer, no step logged twice after the resume
    latest = sorted((run / "checkpoints").glob("step-*"))[-1]
    assert latest.name == f"step-{last_step:09d}"
    state = torch.load(latest / "state.pt", weights_only=True)
    assert len(state["processes"]) == 2  # both ranks' data positions, written once


def _autoencoder_args(dataset: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """The run folder and the command line of a tiny autoencoder run that checkpoints every 2 steps."""
    config = tmp_path / "ae.yaml"
    text = Path("configs/autoencoder/tiny.yaml").read_text()
    text = text.replace("checkpoint_every: 50", "checkpoint_every: 2").replace("log_every: 10", "log_every: 1")
    config.write_text(text.replace("crop_seconds: 0.5", "crop_seconds: 0.25"))
    run = tmp_path / "ae"
    return run, ["train", "autoencoder", "--config", str(config), "--data", str(dataset), "--out", str(run)]


def test_autoencoder_under_torchrun_is_one_run_and_resumes(dataset, tmp_path):
    run, args = _autoencoder_args(dataset, tmp_path)
    killed_at = _kill_after(args + ["--max-steps", "1000"], Path.cwd(), run / "checkpoints" / "step-000000002")
    out = _run(args + ["--resume", "--max-steps", str(killed_at + 3)], Path.cwd())
    _check_one_run(run, out, killed_at + 3)


def test_diffusion_under_torchrun_is_one_run_and_resumes(dataset, tmp_path):
    config = tmp_path / "dm.yaml"
    config.write_text(Path("configs/diffusion/parametric-tiny.yaml").read_text().replace("log_every: 10", "log_every: 1"))
    run = tmp_path / "dm"
    args = ["train", "diffusion", "--config", str(config), "--autoencoder", "parametric:patch:256", "--data",
            str(dataset), "--out", str(run), "--checkpoint-every", "2", "--num-workers", "1"]
    killed_at = _kill_after(args + ["--steps", "1000"], Path.cwd(), run / "checkpoints" / "step-000000002")
    out = _run(args + ["--resume", "--steps", str(killed_at + 3)], Path.cwd())
    _check_one_run(run, out, killed_at + 3)
    assert (run / "model" / "pipeline.json").is_file()


def test_orphaned_workers_keep_the_folder_until_they_stop_then_the_run_resumes(dataset, tmp_path):
    """kill -9 of torchrun's process group leaves its workers (each in a session of its own):
    while they live, a --resume is refused in one line naming rank 0; they notice their
    launcher is gone and stop within seconds; then the run resumes as one run."""
    import json
    import socket

    from sonicmotion.runs import LOCK_FILE

    run, args = _autoencoder_args(dataset, tmp_path)
    launcher = subprocess.Popen(_command(args + ["--max-steps", "1000"]), env=_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    while not (run / "checkpoints" / "step-000000002").is_dir():
        assert launcher.poll() is None and time.time() < deadline, "no checkpoint within 4 minutes"
        time.sleep(0.2)
    workers = descendants(launcher.pid)
    assert len(workers) == 2
    # Freeze the workers first, so the refusal below is seen however slowly the command starts;
    # frozen, they hold the lock as running orphans do.
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    os.killpg(launcher.pid, signal.SIGKILL)
    launcher.wait()
    holder = json.loads((run / LOCK_FILE).read_text())
    assert holder["pid"] in workers
    refused = subprocess.run([sys.executable, "-m", "sonicmotion", *args, "--resume", "--quiet"], env=_env(),
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and f"PID {holder['pid']} on host {socket.gethostname()}" in lines[0], refused.stderr
    for pid in workers:
        os.kill(pid, signal.SIGCONT)
    deadline = time.time() + 15
    while any(alive(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers), "orphaned workers still run 15 s after they were let go"
    killed_at = int(sorted((run / "checkpoints").glob("step-*"))[-1].name.split("-")[1])
    out = _run(args + ["--resume", "--max-steps", str(killed_at + 3)], Path.cwd())
    _check_one_run(run, out, killed_at + 3)
    assert not (run / LOCK_FILE).exists()



def test_auto_micro_batch_is_agreed_by_both_processes(dataset, tmp_path):
    """Rank by rank the simulated memory holds 2 samples with checkpointing: both pick 2."""
    run, args = _autoencoder_args(dataset, tmp_path)
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "-m", "sonicmotion", *args, "--quiet",
               "--batch-size", "8", "--micro-batch", "auto", "--max-steps", "2"]
    done = subprocess.run(command, cwd=tmp_path, env=dict(_env(), SONICMOTION_SIMULATED_MEMORY="1:2"),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    split = "global batch 8 = 2 processes x 2 micro-batch x 2 accumulation; gradient checkpointing on"
    assert done.stdout.count(split) == 1
    assert [r["step"] for r in read_jsonl(run / "log.jsonl")] == [1, 2]
