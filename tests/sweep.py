"""The README's "Sweeps with `dvc exp`" block, run on a copy of the project `make run` built.

The copy leaves the MLflow store out: the block's `export MLFLOW_TRACKING_URI=sqlite:///$PWD/
mlflow.db` then starts a store of its own, shared by the queued experiments. Each `dvc exp run
--queue` also gets TINY_MODEL (one epoch of a four-filter CNN), so only train, evaluate, report
and promote rerun, quickly. `start_sweep` runs the block up to `dvc queue start`, which returns
at once; tests/reproduced.py calls it as soon as `make run` is done, so the experiments run
beside other tests, and tests/test_dvc_sweep.py waits for them and runs the rest.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.project_copy import PROJECT_ROOT, isolated_variables

TINY_MODEL = [
    "train.architecture=simple_cnn",
    "train.epochs=1",
    "train.simple_cnn.filters=[4]",
    "train.simple_cnn.dense_units=0",
    "train.input_resize=[64,64]",
    "train.test_time_augmentation=null",
]
QUEUE_SECONDS = 900


def sweep_commands(readme: Path = PROJECT_ROOT / "README.md") -> list[str]:
    """The commands of the README's sweep block, comments stripped."""
    text = readme.read_text()
    section = text[text.index("### Sweeps with `dvc exp`") :]
    block = section.split("```bash\n", 1)[1].split("```")[0]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def shell(command: str, project: Path, env: dict[str, str]) -> str:
    """Run `command` with bash in `project`; fail with its output if it fails.

    The output goes through a file, not a pipe: a process the command leaves running (the
    queue's worker) would hold a pipe open, and this would wait for that process to end.
    """
    with tempfile.TemporaryFile("w+") as output:
        done = subprocess.run(
            ["bash", "-c", command], cwd=project, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        output.seek(0)
        printed = output.read()
    assert done.returncode == 0, f"{command} failed:\n{printed[-5000:]}"
    return printed


@dataclass
class QueuedSweep:
    project: Path
    env: dict[str, str]
    commands: list[str]  # the README block
    started: int  # how many of them ran: up to and including `dvc queue start`
    names: list[str]  # the queued experiments, in the order queued


def prepare_sweep(reproduced: Path, scratch: Path, environ: dict[str, str]) -> QueuedSweep:
    """Copy `reproduced` without its MLflow store into `scratch`; its environment: `environ`
    with the caches, staging folder and store in `scratch`."""
    project = scratch / "project"
    store = shutil.ignore_patterns("mlflow.db", "mlruns")
    shutil.copytree(reproduced, project, symlinks=True, ignore=store)
    env = {
        **environ,
        **isolated_variables(scratch, environ),
        "CATDOG_CLEAN_CACHE_DIR": str(scratch / "clean-cache"),
        "CATDOG_CHECKPOINT_DIR": str(scratch / "checkpoints"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    return QueuedSweep(project, env, sweep_commands(), 0, [])


def start_sweep(sweep: QueuedSweep) -> None:
    """Run the block up to `dvc queue start`, which leaves one worker running the experiments
    in the background."""
    project, env = sweep.project, sweep.env
    tiny = " ".join(f"-S '{override}'" for override in TINY_MODEL)
    for command in sweep.commands:
        sweep.started += 1
        if command.startswith("export "):
            name, value = command.removeprefix("export ").split("=", 1)
            env[name] = shell(f"echo {value}", project, env).strip()
        elif command.startswith("dvc exp run --queue"):
            queued = shell(f"{command} {tiny}", project, env)
            sweep.names.append(re.search(r"Queued experiment '([^']+)'", queued)[1])
        elif command.startswith("dvc queue start"):
            shell(command, project, env)
            return
        else:
            raise AssertionError(f"the sweep block has {command!r} before `dvc queue start`")
    raise AssertionError("the README's sweep block never runs `dvc queue start`")


def wait_for_the_queue(sweep: QueuedSweep) -> str:
    """`dvc queue status` once no experiment is queued or running any more."""
    deadline = time.monotonic() + QUEUE_SECONDS
    while time.monotonic() < deadline:
        status = shell("dvc queue status", sweep.project, sweep.env)
        rows = [line.split() for line in status.splitlines()]
        running = [row[1] for row in rows if row[-1:] == ["Running"]]
        if running:  # blocks until that experiment ends
            shell(f"dvc queue logs --follow {running[0]}", sweep.project, sweep.env)
        elif not any(row[-1:] == ["Queued"] for row in rows):
            return status
        else:
            time.sleep(2)
    raise AssertionError(f"the queue did not finish within {QUEUE_SECONDS} s:\n{status}")


def stop_sweep(sweep: QueuedSweep) -> None:
    """Stop the queue's worker (and any experiment still running)."""
    subprocess.run(
        ["dvc", "queue", "stop", "--kill"],
        cwd=sweep.project,
        env=sweep.env,
        capture_output=True,
        check=False,
    )
