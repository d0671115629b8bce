"""Helpers the dashboard tests share (no tests here): runs to index, and a real `halo-forge dashboard` server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from halo_forge.summary import Effectiveness, Evaluation, Inputs, Outputs, TrainingSummary, judge

BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"]
CHROMIUM = "/usr/bin/chromium"


def summary(run_id: str, *, modality: str = "sft", model: str = "halo-forge/tiny", before: float = 0.1,
            after: float = 0.5, loss: float = 1.0, dataset: str = "builtin:arithmetic", started: str = "2026-11-01T10:00:00+00:00",
            model_digest: str | None = None, output_digest: str | None = None, lr: float = 2e-4,
            status: str = "completed", yield_diagnostics: dict | None = None) -> TrainingSummary:
    """A finished run as a trainer would record it (held-out figures, loss history, config, digests)."""
    ev = [Evaluation.of("heldout_accuracy", before, after, n=200)]
    eff = judge(ev, steps=10, weights_updated=True) if status == "completed" else \
        Effectiveness(verdict="failed", reasons=["run failed: interrupted"])
    history = [{"step": s, "loss": loss + (10 - s) * 0.1} for s in range(1, 11)]
    extra = {"loss_history": history}
    if modality == "grpo":
        extra["reward_history"] = [{"step": s, "value": after * s / 10} for s in range(1, 11)]
    return TrainingSummary(
        modality=modality, model_name=model, run_id=run_id, seed=42, status=status, backend="cpu", started_at=started,
        ended_at=started, duration_seconds=12.5, total_train_steps_executed=10, final_train_loss=loss,
        weights_updated=True, effectiveness=eff, extra=extra, yield_diagnostics=yield_diagnostics or {},
        inputs=Inputs(dataset=dataset, dataset_digest="sha256:" + "d" * 64, model_digest=model_digest or "sha256:" + "a" * 64,
                      cache_key="sha256:" + run_id.encode().hex()[:64].ljust(64, "0")),
        outputs=Outputs(model_path=f"/tmp/out/{run_id}", model_digest=output_digest or "sha256:" + run_id.encode().hex()[:64].ljust(64, "0")),
        config={"model": model, "dataset": dataset.removeprefix("builtin:"), "learning_rate": lr, "max_steps": 10})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(workspace: Path, *, host: str = "127.0.0.1", env: dict | None = None, log: Path | None = None):
    """Start `halo-forge dashboard` (the real CLI) on a free port; (process, base URL on 127.0.0.1)."""
    port = free_port()
    full_env = {**os.environ, "HALO_FORGE_WORKSPACE": str(workspace), **(env or {})}
    out = open(log, "ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "halo_forge.cli.main", "dashboard", "--host", host, "--port", str(port)],
                            env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dashboard exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/openapi.json", timeout=2) as r:
                if r.status in (200, 401):
                    return proc, url
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                return proc, url
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("dashboard did not answer within 60 s")


def stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
