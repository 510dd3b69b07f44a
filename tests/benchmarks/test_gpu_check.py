"""benchmarks/gpu_check.sh, the prepared device check, runs on the CPU (`--device cpu --quick`)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.sh"


def run_check(*options: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}  # busy shared cores
    command = ["bash", str(SCRIPT), *options]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_the_check_runs_on_the_cpu_and_writes_one_folder(tmp_path):
    """About 20 s on 2 cores: the step benchmark, a few seconds of pretraining, the projection."""
    out = tmp_path / "check"
    done = run_check("--device", "cpu", "--quick", "--out", str(out))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == [
        "machine.txt",
        "ntu60_projection.txt",
        "pretrain",
        "pretrain.txt",
        "step_hidden16.txt",
    ]
    step = (out / "step_hidden16.txt").read_text()
    for variant in ("fp32", "bf16", "default"):
        assert f"{variant} against the baseline: " in step
    assert "default ran: GRU path on the CPU: batched recurrence" in step
    pretrain = (out / "pretrain.txt").read_text()
    assert "samples/s" in pretrain and "of the time outside the model" in pretrain
    assert "pretraining hours = " in (out / "ntu60_projection.txt").read_text()
    assert not (out / "pretrain" / "data").exists()  # the data set is removed, the logs stay
    assert (out / "pretrain" / "run" / "history.json").is_file()
    assert not list((out / "pretrain" / "run").glob("*.pt"))


def test_an_unknown_option_is_refused():
    done = run_check("--gpu", "0")
    assert done.returncode == 2 and "unknown option --gpu" in done.stderr
