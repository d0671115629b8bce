"""Without network a hub id fails fast: one `Error:` line within seconds naming the id and the offline
alternatives, no traceback, no retries. Real CLI processes; the hub is unreachable for real (offline
mode, and an endpoint nothing listens on)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when this returns: connections are refused


@pytest.mark.parametrize("offline", [True, False])
def test_unreachable_hub_model_is_one_line_within_seconds(tmp_path, offline):
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HALO_FORGE_WORKSPACE=str(tmp_path / "ws"), HF_HOME=str(tmp_path / "hf"))
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    else:
        env["HF_ENDPOINT"] = f"http://127.0.0.1:{closed_port()}"
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "halo_forge.cli.main", "sft", "train", "--dataset", "arithmetic",
                           "--model", "Qwen/Qwen2.5-0.5B", "--max-steps", "1", "--output", str(tmp_path / "o")],
                          env=env, capture_output=True, text=True, timeout=60)
    took = time.monotonic() - t0
    assert done.returncode == 2, done.stdout + done.stderr
    assert took < 10, f"took {took:.1f} s"
    lines = [ln for ln in (done.stdout + done.stderr).splitlines() if ln.strip()]
    assert lines[0].startswith("Error: --model Qwen/Qwen2.5-0.5B:") and len(lines) == 2, lines
    assert ("HF_HUB_OFFLINE is set" if offline else "cannot be reached") in lines[0]
    assert "halo-forge/tiny" in lines[1] and "local model folder" in lines[1]
    assert not (tmp_path / "o").exists()
