"""Every script in benchmarks/ runs: its ``--smoke`` mode, in a process of its own, in seconds.

CI never ran a benchmark, so one crashed on an import removed months before (issue 27).
Each script found in benchmarks/ is run here; a new one without ``--smoke`` fails too.
The gpu_*.py scripts' smoke modes run without a GPU: gpu_autoencoder.py the same trainer
code path on the CPU at the tiny size, gpu_diffusion.py its config, FLOPs formula and
latent shards only (its model needs CUDA).
"""

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "benchmarks").glob("*.py"))
# CPU seconds (user + system, the script and its children) per smoke run: measured 0.3-9 s on a
# 2-core Xeon under load (bench_distance_rows.py the largest: a corpus and two 2-step trainings);
# all 19 scripts together 55.5 s. CPU time, not wall time: on a shared machine the wall clock
# mostly measures the other users.
CPU_BUDGET_SECONDS = 15.0
TOTAL_CPU_BUDGET_SECONDS = 75.0
_cpu_used: dict[str, float] = {}  # script -> CPU seconds of its smoke run, for the total below


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_every_benchmark_is_found():
    assert len(SCRIPTS) >= 14 and ROOT / "benchmarks" / "bench_dataset.py" in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_benchmark_smoke_mode_runs(script, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    before = _children_cpu()
    result = subprocess.run([sys.executable, str(script), "--smoke"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=600)
    cpu = _children_cpu() - before
    _cpu_used[script.name] = cpu
    assert result.returncode == 0, f"{script.name} --smoke exited {result.returncode}:\n{result.stderr[-3000:]}"
    assert result.stdout.strip(), f"{script.name} --smoke printed no figures"
    assert cpu < CPU_BUDGET_SECONDS, f"{script.name} --smoke used {cpu:.1f} CPU s (budget {CPU_BUDGET_SECONDS:g})"


def test_all_smoke_modes_together_fit_the_budget():
    """Runs after the parametrized runs above (file order); alone, it has nothing to add up."""
    if len(_cpu_used) < len(SCRIPTS):
        pytest.skip("run the whole file: the smoke runs above record their CPU time")
    total = sum(_cpu_used.values())
    assert total < TOTAL_CPU_BUDGET_SECONDS, f"{total:.1f} CPU s in all: {_cpu_used}"
