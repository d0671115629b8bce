"""The local Prefect server's life cycle: started on loopback on first use, reused, stoppable.

With `PREFECT_API_URL` set, halo-forge reports to that server and starts nothing. Otherwise it
keeps one server per halo-forge home (`paths.home()/prefect/`), recorded in `server.json`.
Prefect's ephemeral mode is avoided: it costs ~7-9 s per process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from halo_forge.errors import HaloForgeError, ServerBusyError
from halo_forge.paths import end_group, group_alive, home, pid_alive

STARTUP_TIMEOUT_S = 90
BUSY_TIMEOUT_S = 60  # how long a recorded server that is alive but silent gets to answer before it is replaced


def state_dir() -> Path:
    return home() / "prefect"


def _state_file() -> Path:
    return state_dir() / "server.json"


def healthy(url: str, timeout: float = 1.0) -> bool:
    """Whether the Prefect API at `url` (ending in /api) answers its health check."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as resp:
            return resp.status == 200
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_bindable(port: int) -> bool:
    """Whether a server could listen on `port` now (as uvicorn binds: TIME_WAIT is no obstacle)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port() -> int:
    """The port the last server of this home used, while it is free (a restarted server keeps its URL, so
    UI links and processes that outlived the old one still reach it); else a free one."""
    try:
        last = int((state_dir() / "last_port").read_text())
    except (OSError, ValueError):
        return _free_port()
    return last if port_bindable(last) else _free_port()


def server_env() -> dict[str, str]:
    """Environment for Prefect clients and the server we start (quiet, local, no analytics)."""
    env = {
        "PREFECT_HOME": str(state_dir()),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_CLI_PROMPT": "false",
        "PREFECT_LOGGING_LEVEL": os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING"),
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
    }
    return env


HEARTBEAT_SETTINGS = ("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "PREFECT_RUNNER_HEARTBEAT_FREQUENCY")


@contextmanager
def flow_settings():
    """Prefect settings for a flow run in this process (after `ensure_server`), on halo-forge's own server.

    - Flow-run heartbeats are off unless PREFECT_FLOWS_HEARTBEAT_FREQUENCY is set: nothing there acts on
      them (zombie-flow detection needs an automation you create), and the sync engine waits up to a
      second for its heartbeat thread at the end of every run.
    - Client retries are 2 unless PREFECT_CLIENT_MAX_RETRIES is set: a server that went away must not
      cost a finished run minutes (5 retries back off ~60 s per API call).
    - Logs are not sent to the API unless PREFECT_LOGGING_TO_API_ENABLED is set: a lost server would
      print a traceback per log line; they stay on the console.
    - PREFECT_API_URL is the server `ensure_server` found or started just now, also in a process that
      imported Prefect while an earlier server (stopped since) listened elsewhere.
    On a server you point PREFECT_API_URL at, Prefect's own defaults apply."""
    if not os.environ.get("HALO_FORGE_PREFECT_OWNED"):
        yield
        return
    from prefect.settings import (PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
                                  PREFECT_LOGGING_TO_API_ENABLED, temporary_settings)

    from prefect.events.clients import PrefectEventsClient
    from prefect.events.worker import EventsWorker

    # the server this run uses now: Prefect read PREFECT_API_URL when it was imported, and a server
    # restarted since (stopped, killed) listens on another port; its events worker is kept per URL too
    url = os.environ["PREFECT_API_URL"]
    updates = {PREFECT_API_URL: url}
    EventsWorker.set_client_override(PrefectEventsClient, api_url=url)
    if not any(os.environ.get(k) for k in HEARTBEAT_SETTINGS):
        updates[PREFECT_FLOWS_HEARTBEAT_FREQUENCY] = None
    if not os.environ.get("PREFECT_CLIENT_MAX_RETRIES"):
        updates[PREFECT_CLIENT_MAX_RETRIES] = 2
    if not os.environ.get("PREFECT_LOGGING_TO_API_ENABLED"):
        updates[PREFECT_LOGGING_TO_API_ENABLED] = False
    with temporary_settings(updates=updates):
        yield


def status() -> dict:
    """{'url', 'pid', 'running', 'external'}: the server runs in this process's view."""
    if os.environ.get("PREFECT_API_URL") and not os.environ.get("HALO_FORGE_PREFECT_OWNED"):
        url = os.environ["PREFECT_API_URL"]
        return {"url": url, "pid": None, "running": healthy(url.removesuffix("/api") + "/api"), "external": True}
    try:
        info = json.loads(_state_file().read_text())
    except (OSError, ValueError):
        return {"url": None, "pid": None, "running": False, "external": False}
    running = _ours_alive(info) and healthy(info["url"])
    return {**info, "running": running, "external": False}


def _ours_alive(info: dict) -> bool:
    """Whether the recorded server process still runs: its pid alive and still a Prefect server on its port
    (not another program that got the pid after a reboot)."""
    import psutil

    if not info.get("pid") or not pid_alive(info["pid"]):
        return False
    try:
        cmdline = psutil.Process(info["pid"]).cmdline()
    except psutil.Error:
        return False
    return "prefect" in " ".join(cmdline) and str(info.get("port")) in cmdline


def ensure_server() -> str:
    """The API URL of a healthy Prefect server, starting the local one if needed; sets the env."""
    for key, value in server_env().items():
        os.environ.setdefault(key, value)
    st = status()
    if st["external"]:
        return st["url"]
    if not st["running"]:
        st = _start()
    os.environ["PREFECT_API_URL"] = st["url"]
    os.environ["HALO_FORGE_PREFECT_OWNED"] = "1"
    return st["url"]


def _start() -> dict:
    d = state_dir()
    d.mkdir(parents=True, exist_ok=True)
    lock_path = d / "start.lock"
    import fcntl

    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one starter at a time; the others reuse its server
        st = status()
        if st["running"] or _answers_in_time(st):
            return {**st, "running": True}
        port = _port()
        url = f"http://127.0.0.1:{port}/api"
        env = {**os.environ, **server_env()}
        env.pop("PREFECT_API_URL", None)
        # The UI asks the server where its API is (/ui-settings): without this it answers port 4200, and the
        # UI shows "Can't connect to Server API" (or another server's runs, if one listens on 4200).
        env["PREFECT_UI_API_URL"] = url
        log = open(d / "server.log", "ab")
        cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "WARNING", "--analytics-off"]
        if os.environ.get("HALO_FORGE_PREFECT_NO_SERVICES"):  # tests: API only, no scheduler/event services
            cmd.append("--no-services")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise HaloForgeError(f"the local Prefect server exited with code {proc.returncode}",
                                     hint=f"see {d / 'server.log'}; or set PREFECT_API_URL to a running server")
            if healthy(url):
                (d / "last_port").write_text(str(port))
                info = {"url": url, "pid": proc.pid, "port": port, "started": time.time()}
                tmp = _state_file().with_suffix(".tmp")
                tmp.write_text(json.dumps(info))
                os.replace(tmp, _state_file())
                return {**info, "running": True, "external": False}
            time.sleep(0.25)
        proc.terminate()
        raise HaloForgeError(f"the local Prefect server did not become healthy in {STARTUP_TIMEOUT_S} s",
                             hint=f"see {d / 'server.log'}")


def _answers_in_time(st: dict) -> bool:
    """Whether the recorded server, alive but not answering its health check (busy, or still starting),
    answers within BUSY_TIMEOUT_S. One that never does is stopped: starting a second server beside it
    would leave it running unrecorded, for good."""
    if not _ours_alive(st):
        return False
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while time.monotonic() < deadline and pid_alive(st["pid"]):
        if healthy(st["url"], timeout=5.0):
            return True
        time.sleep(0.5)
    try:
        os.killpg(st["pid"], signal.SIGKILL)  # silent for BUSY_TIMEOUT_S: no graceful shutdown to wait for
    except ProcessLookupError:
        pass
    for _ in range(100):  # until it has exited and its port is free (~0.1 s later), so the replacement keeps the URL
        if not group_alive(st["pid"]) and port_bindable(st["port"]):
            break
        time.sleep(0.05)
    return False


def ui_url(api_url: str) -> str:
    """The UI's address for a server's API URL (the UI is served at the API's root)."""
    return api_url.removesuffix("/").removesuffix("/api")


def ui_problem(api_url: str) -> str | None:
    """Why the UI served beside `api_url` would not show that server's runs, or None when it would.

    A server started without PREFECT_UI_API_URL (by an older halo-forge, or by hand) tells its UI to use
    port 4200, whatever port it listens on."""
    try:
        with urllib.request.urlopen(f"{ui_url(api_url)}/ui-settings", timeout=2) as resp:
            told = json.loads(resp.read()).get("api_url")
    except (OSError, ValueError):
        return None  # an external server without that endpoint: nothing to say
    if told and told.rstrip("/") != api_url.rstrip("/"):
        return f"its UI is configured for the API at {told}, not {api_url}"
    return None


def busy_refusal(runs: list[dict]) -> ServerBusyError:
    listed = "\n".join(f"  - {r['run_id']} (pid {r.get('pid')}, workspace {r.get('workspace')}"
                       + (f", flow run {r['flow_run_id']}" if r.get("flow_run_id") else "") + ")" for r in runs)
    return ServerBusyError(f"{len(runs)} flow run(s) still train on the local Prefect server:\n{listed}",
                           hint="wait for them to finish, or `halo-forge server stop --force` (they still finish, "
                                "and list the lost orchestrator as a platform error)")


def stop(*, force: bool = False) -> bool:
    """Stop the local server; False when none was running. Refuses (ServerBusyError) while runs of this
    halo-forge home still train, unless `force`."""
    from halo_forge.orchestration.liveness import live_runs

    st = status()
    if st["external"]:  # PREFECT_API_URL names another server: this home's own one is not this call's to forget
        return False
    if not _ours_alive(st):
        _state_file().unlink(missing_ok=True)
        return False
    running = [r for r in live_runs() if r.get("pid") != os.getpid()]
    if running and not force:
        raise busy_refusal(running)
    end_group(st["pid"], grace=10)
    _state_file().unlink(missing_ok=True)
    return True
