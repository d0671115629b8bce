"""A run killed with `kill -9` never wedges the next one: its cache lock, staging folder and MLflow run
are cleaned up by the next run, which goes ahead within seconds and says it found a dead run.

Real processes, real SIGKILL: a helper process takes Prefect's lock through `LivenessLockManager`,
and a real `halo-forge sft train` is killed while it trains.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from halo_forge.orchestration import liveness

ARGS = ["sft", "train", "--dataset", "arithmetic", "--max-samples", "64", "--model", "halo-forge/tiny", "--no-lora", "--max-steps", "3",
        "--batch-size", "8", "--max-eval-samples", "4", "--eval-max-new-tokens", "4", "--logging-steps", "1",
        "--seed", "5"]


def cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "halo_forge.cli.main", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_a_lock_held_by_a_killed_process_is_released(tmp_path):
    from halo_forge.orchestration.locks import LivenessLockManager

    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom pathlib import Path\n"
        "from halo_forge.orchestration.locks import LivenessLockManager\n"
        f"assert LivenessLockManager(Path({str(tmp_path)!r})).acquire_lock('k', 'them')\n"
        "print('held', flush=True)\ntime.sleep(120)\n")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    lock = json.loads((tmp_path / "k.lock").read_text())
    assert lock["pid"] == holder.pid and lock["expiration"] is None and lock["stamp"]

    manager = LivenessLockManager(tmp_path)
    assert not manager.acquire_lock("k", "us", acquire_timeout=0.5)  # alive: still its lock
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    t0 = time.monotonic()
    assert manager.acquire_lock("k", "us", acquire_timeout=10)
    assert time.monotonic() - t0 < 2
    assert json.loads((tmp_path / "k.lock").read_text())["pid"] == os.getpid()
    assert any(f"pid {holder.pid} is gone" in line for line in liveness.FOUND_DEAD)


def test_a_recycled_pid_is_not_the_holder():
    me = liveness.this_process()
    assert liveness.holder_alive(me)
    assert not liveness.holder_alive({**me, "stamp": str(int(me["stamp"]) + 1)})  # same pid, another process


def test_an_exited_child_not_yet_reaped_is_not_alive():
    """A child that has exited but is not reaped yet (a zombie: the local server, stopped by the process that
    started it) is dead to `pid_alive`; `server stop` used to wait its full 10 s grace on one."""
    from halo_forge.paths import pid_alive

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    state = Path(f"/proc/{child.pid}/stat")
    wait_for(lambda: state.read_text().rsplit(")", 1)[1].split()[0] == "Z", 60, "the child to exit")
    assert not pid_alive(child.pid) and pid_alive(os.getpid())
    child.wait()
    assert not pid_alive(child.pid)


def test_kill_9_mid_run_then_the_same_command_goes_ahead(tmp_path, monkeypatch, capsys):
    ws = tmp_path / "ws"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the workspace's own store
    env = {**os.environ, "HALO_FORGE_WORKSPACE": str(ws), "PYTHONUNBUFFERED": "1", "COLUMNS": "400"}
    out = tmp_path / "out"
    first = cli(*ARGS, "--output", str(out), env=env, start_new_session=True)
    staging = wait_for(lambda: next(out.parent.glob(".out.*.partial"), None), 240, "the run's staging folder")
    run_id = staging.name.split(".")[2]
    record = liveness.active_dir() / f"{run_id}.json"
    assert record.is_file() and json.loads(record.read_text())["pid"] == first.pid
    os.killpg(first.pid, signal.SIGKILL)  # the CLI and its helpers, as the OOM killer or `kill -9` would
    first.wait()
    locks = list((ws / ".halo-forge/results/locks").glob("*.lock"))
    assert staging.exists() and locks, "the killed run left its staging folder and lock (what is tested)"

    t0 = time.monotonic()
    monkeypatch.setenv("HALO_FORGE_WORKSPACE", str(ws))
    monkeypatch.setenv("COLUMNS", "400")
    from halo_forge.cli.main import main

    assert main([*ARGS, "--output", str(out)]) == 0  # the same command, in this process
    text = capsys.readouterr().out
    assert f"found a dead run {run_id}" in text and "staging folder" in text and "MLflow run marked FAILED" in text
    assert "indexed as failed" in text
    assert time.monotonic() - t0 < 120
    assert not staging.exists() and not record.exists()
    assert (out / "training_summary.json").is_file()

    from halo_forge.runs import RunIndex

    dead = RunIndex(ws).get(run_id)
    assert dead.status == "failed" and "killed" in dead.effectiveness.reasons[0]
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{ws / '.halo-forge/mlflow.db'}")
    exp = client.get_experiment_by_name("halo-forge")
    runs = {r.data.tags.get("run_id"): r.info.status for r in client.search_runs([exp.experiment_id])}
    assert runs[run_id] == "FAILED"


@pytest.mark.parametrize("force", [False, True])
def test_server_stop_names_the_runs_that_train(force, monkeypatch, capsys):
    from halo_forge.cli.main import main
    from halo_forge.orchestration import server

    server.ensure_server()
    trainer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    active = liveness.ActiveRun("sft-0000", workspace="/somewhere", flow_run_id="f-1").begin()
    active.update(pid=trainer.pid, stamp=liveness.process_stamp(trainer.pid))
    try:
        if not force:
            assert main(["server", "stop"]) == 2
            err = capsys.readouterr().err
            assert "1 flow run(s) still train" in err and "sft-0000" in err and f"pid {trainer.pid}" in err
            assert "--force" in err and server.status()["running"]
        else:
            t0 = time.monotonic()
            assert main(["server", "stop", "--force"]) == 0  # this process started it: its zombie is dead too
            assert not server.status()["running"] and time.monotonic() - t0 < 8
    finally:
        active.end()
        trainer.kill()
        trainer.wait()


def test_stop_under_another_servers_url_leaves_the_local_one_running_and_recorded(monkeypatch):
    """`server stop` (or `ui --stop`) in a process that PREFECT_API_URL points at another server stops nothing,
    and keeps this home's record: it used to delete it, leaving the local server running unrecorded for good."""
    from halo_forge.orchestration import server

    server.ensure_server()
    local = server.status()
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.delenv("HALO_FORGE_PREFECT_OWNED")
    assert server.stop(force=True) is False
    monkeypatch.undo()
    assert server.status()["pid"] == local["pid"] and server.status()["running"]
