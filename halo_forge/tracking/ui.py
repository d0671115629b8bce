"""The MLflow UI on a workspace's tracking store: started by `halo-forge ui`, stopped by `halo-forge ui --stop`.

`mlflow ui` runs in its own process group on 127.0.0.1 (the port it had last time, or that the first link
to one of its runs named, when free; else 5000; else any free one), with its state in `<workspace>/.halo-forge/mlflow-ui.json` and its log in
`mlflow-ui.log` beside it. Stopping signals the whole group (its uvicorn server, and its huey job workers
when job execution is on: killing `mlflow ui` by its pid alone leaves them running). With MLFLOW_TRACKING_URI set to a server, that server is the UI and
nothing is started.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from halo_forge.errors import HaloForgeError
from halo_forge.orchestration.server import port_bindable
from halo_forge.paths import end_group, pid_alive

DEFAULT_PORT = 5000
STARTUP_TIMEOUT_S = 90


def _state_file(ws) -> Path:
    return ws.data_dir / "mlflow-ui.json"


def _remote(ws) -> str | None:
    uri = ws.mlflow_uri
    return uri.rstrip("/") if uri.split(":", 1)[0].lower() in ("http", "https") else None


def healthy(url: str) -> bool:
    """Whether the MLflow server at `url` answers its /health check (as Prefect's API does)."""
    from halo_forge.orchestration.server import healthy as answers

    return answers(url)


def status(ws) -> dict:
    """{'url', 'pid', 'running', 'external'} of the workspace's MLflow UI (url None when never started)."""
    remote = _remote(ws)
    if remote:
        return {"url": remote, "pid": None, "running": healthy(remote), "external": True}
    try:
        info = json.loads(_state_file(ws).read_text())
    except (OSError, ValueError):
        return {"url": None, "pid": None, "running": False, "external": False}
    running = bool(info.get("pid")) and pid_alive(info["pid"]) and healthy(info["url"])
    return {**info, "running": running, "external": False}


def _choose_port(previous: int | None) -> int:
    for port in (previous, DEFAULT_PORT):
        if port and port_bindable(port):
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(ws) -> dict:
    """Start the MLflow UI on `ws`'s store unless it runs; its status."""
    st = status(ws)
    if st["external"] or st["running"]:
        return st
    port = _choose_port(st.get("port"))
    url = f"http://127.0.0.1:{port}"
    ws.data_dir.mkdir(parents=True, exist_ok=True)
    log_path = ws.data_dir / "mlflow-ui.log"
    # MLflow's job runner (huey consumers for GenAI evaluation jobs) is not needed to look at runs: seven
    # worker processes less, and a faster start. MLFLOW_SERVER_ENABLE_JOB_EXECUTION=true brings it back.
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", ws.mlflow_uri, "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1"]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, cwd=ws.data_dir, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HaloForgeError(f"the MLflow UI exited with code {proc.returncode}", hint=f"see {log_path}")
        if healthy(url):
            info = {"url": url, "pid": proc.pid, "port": port, "started": time.time()}
            _record(ws, info)
            return {**info, "running": True, "external": False}
        time.sleep(0.25)
    end_group(proc.pid, grace=10)
    raise HaloForgeError(f"the MLflow UI did not answer within {STARTUP_TIMEOUT_S} s", hint=f"see {log_path}")


def stop(ws) -> bool:
    """Stop the workspace's MLflow UI (its whole process group; its port stays recorded for the next start);
    False when none ran."""
    st = status(ws)
    if st["external"] or not st.get("pid"):
        return False
    _record(ws, {"url": st["url"], "port": st["port"], "pid": None})
    try:
        os.killpg(st["pid"], 0)
    except ProcessLookupError:
        return False
    end_group(st["pid"], grace=10)
    return True


def _record(ws, info: dict) -> None:
    tmp = _state_file(ws).with_suffix(".tmp")
    tmp.write_text(json.dumps(info) + "\n")
    os.replace(tmp, _state_file(ws))


def run_url(ws, mlflow_run_id: str) -> tuple[str, bool]:
    """(the MLflow UI's page for a run, whether that UI answers now). For a workspace whose UI never ran, a
    port is chosen now and recorded, so the link printed is where `halo-forge ui` will serve it."""
    st = status(ws)
    if not st["url"]:
        port = _choose_port(None)
        st = {"url": f"http://127.0.0.1:{port}", "port": port, "pid": None, "running": False}
        _record(ws, {k: st[k] for k in ("url", "port", "pid")})
    return f"{st['url']}/#/runs/{mlflow_run_id}", bool(st["running"])
