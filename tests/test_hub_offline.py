"""Without network a hub id fails fast: one `Error:` line naming the id and the offline alternatives, no
traceback, no retries. Real CLI processes; the hub is unreachable for real (offline mode, and an endpoint
nothing listens on). The probe adds at most its timeout to the CLI's own start-up (measured side by side
in one run, so a busy machine does not fail the test; on a quiet 2-core machine the whole command takes
~2-4 s)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from halo_forge.models.loading import HUB_TIMEOUT_S


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when this returns: connections are refused


def run_cli(tmp_path, **extra) -> tuple[subprocess.CompletedProcess, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HALO_FORGE_WORKSPACE=str(tmp_path / "ws"), HF_HOME=str(tmp_path / "hf"), **extra)
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "halo_forge.cli.main", "sft", "train", "--dataset", "arithmetic",
                           "--model", "Qwen/Qwen2.5-0.5B", "--max-steps", "1", "--output", str(tmp_path / "o")],
                          env=env, capture_output=True, text=True, timeout=120)
    return done, time.monotonic() - t0


def check_one_line(done, says: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [ln for ln in (done.stdout + done.stderr).splitlines() if ln.strip()]
    assert lines[0].startswith("Error: --model Qwen/Qwen2.5-0.5B:") and len(lines) == 2, lines
    assert says in lines[0] and "halo-forge/tiny" in lines[1] and "local model folder" in lines[1]


def test_unreachable_hub_model_is_one_line_within_seconds(tmp_path):
    offline, t_offline = run_cli(tmp_path, HF_HUB_OFFLINE="1")
    check_one_line(offline, "HF_HUB_OFFLINE is set")
    refused, t_refused = run_cli(tmp_path, HF_ENDPOINT=f"http://127.0.0.1:{closed_port()}")
    check_one_line(refused, "cannot be reached")
    assert t_refused < t_offline + HUB_TIMEOUT_S + 3, (t_offline, t_refused)  # no retries: one bounded probe
    assert not (tmp_path / "o").exists()
