"""Training outlives the orchestrator: the real Prefect server is stopped while a real run trains.

The run still finishes, publishes its output, lands in the index and the replay record, exits 0 and
lists the lost orchestrator as a platform error; the next run starts the server again on demand. A server
that is alive but does not answer (frozen with SIGSTOP) is waited for, not doubled, and replaced only when it
never answers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from halo_forge.summary import TrainingSummary

ARGS = ["sft", "train", "--dataset", "arithmetic", "--max-samples", "64", "--model", "halo-forge/tiny", "--no-lora", "--batch-size", "8",
        "--max-eval-samples", "4", "--eval-max-new-tokens", "4", "--logging-steps", "1"]


def test_server_stopped_mid_run(tmp_path, monkeypatch):
    from halo_forge.cli.main import main
    from halo_forge.orchestration import server
    from halo_forge.runs import RunIndex
    from halo_forge.workspace import Workspace

    ws = tmp_path / "ws"
    env = {**os.environ, "HALO_FORGE_WORKSPACE": str(ws), "PYTHONUNBUFFERED": "1", "COLUMNS": "400"}
    out = tmp_path / "out"
    run = subprocess.Popen([sys.executable, "-m", "halo_forge.cli.main", *ARGS, "--max-steps", "60", "--seed", "1",
                            "--output", str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in run.stdout:  # wait until it trains
        lines.append(line)
        if "sft: step" in line:
            break
    assert server.status()["running"]
    assert main(["server", "stop"]) == 2  # refused: a flow run trains
    assert main(["server", "stop", "--force"]) == 0
    t_stop = time.monotonic()
    rest, _ = run.communicate(timeout=600)
    text = "".join(lines) + rest
    assert run.returncode == 0, text
    assert time.monotonic() - t_stop < 240
    assert "Traceback" not in text and "platform error" in text and "the orchestrator went away" in text

    summary = TrainingSummary.read(out)
    assert summary.status == "completed" and summary.total_train_steps_executed == 60
    assert any(p.startswith("prefect: the orchestrator went away") for p in summary.extra["platform_errors"])
    indexed = RunIndex(Workspace(ws)).get(summary.run_id)
    assert indexed.extra["platform_errors"] == summary.extra["platform_errors"]
    assert (ws / "replay" / summary.run_id / "manifest.json").is_file()

    # the next run starts the server again
    assert not server.status()["running"]
    monkeypatch.setenv("HALO_FORGE_WORKSPACE", str(ws))
    assert main([*ARGS, "--max-steps", "1", "--seed", "2", "--output", str(tmp_path / "next")]) == 0
    assert server.status()["running"]


def test_a_busy_server_is_waited_for_and_a_wedged_one_replaced(monkeypatch):
    from halo_forge.orchestration import server

    server.ensure_server()
    first = server.status()
    os.kill(first["pid"], signal.SIGSTOP)  # alive, but its health check times out
    threading.Timer(3.0, os.kill, (first["pid"], signal.SIGCONT)).start()
    assert server._start()["pid"] == first["pid"]  # busy: waited for, no second server
    assert server.status()["running"]

    monkeypatch.setattr(server, "BUSY_TIMEOUT_S", 2)
    os.kill(first["pid"], signal.SIGSTOP)  # now it never answers again
    replaced = server._start()
    assert replaced["pid"] != first["pid"] and replaced["running"]
    assert replaced["url"] == first["url"]  # on the same port: clients that read the URL earlier still reach it
    assert not server.pid_alive(first["pid"])  # stopped, not left running unrecorded
    assert server.status()["pid"] == replaced["pid"] and server.status()["running"]
