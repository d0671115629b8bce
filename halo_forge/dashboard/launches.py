"""Runs the dashboard launches: the real CLI in its own process group, surviving the dashboard.

    launcher = Launcher(workspace)
    info = launcher.start(LaunchPlan(...))   # python -m halo_forge.cli.main sft train --dataset … in a new session
    launcher.get(info.run_id)                # state: running → completed | failed | cancelled
    launcher.cancel(info.run_id)             # SIGINT to the group (Ctrl-C), then SIGTERM, then SIGKILL

Each launch has a folder `<workspace>/.halo-forge/dashboard/launches/<id>/`: `launch.json` (the plan and
the process), `output.log` (everything the command printed: the live progress source) and, once the
process is reaped, `exit.json`. A dashboard restarted later still finds its launches there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from halo_forge.dashboard.models import LaunchInfo
from halo_forge.errors import HaloForgeError, LaunchNotFound
from halo_forge.paths import pid_alive
from halo_forge.summary import SUMMARY_FILE, TrainingSummary, write_json_atomic

CANCEL_GRACE_S = (10.0, 10.0)  # after SIGINT, then after SIGTERM, before the next signal
PROGRESS_SECONDS = "2"  # the launched run prints a progress line at most this often


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Launcher:
    def __init__(self, workspace) -> None:
        self.workspace = workspace
        self.root = workspace.data_dir / "dashboard" / "launches"
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()

    # --- ids and folders -----------------------------------------------------------------------
    def folder(self, run_id: str) -> Path:
        if not run_id or "/" in run_id or run_id.startswith(".") or "\0" in run_id:
            raise LaunchNotFound(f"no launch {run_id!r}", hint="run ids are names like sft-1795713955105")
        return self.root / run_id

    def log_path(self, run_id: str) -> Path:
        return self.folder(run_id) / "output.log"

    def new_id(self, prefix: str) -> str:
        """`<prefix>-<epoch ms>`, unique among launches (and so among runs this workspace indexed from them)."""
        self.root.mkdir(parents=True, exist_ok=True)
        ms = int(time.time() * 1000)
        while True:
            run_id = f"{prefix}-{ms}"
            try:
                (self.root / run_id).mkdir()
                return run_id
            except FileExistsError:
                ms += 1

    def discard(self, run_id: str) -> None:
        """Remove the folder of a launch that never started (its config was refused)."""
        import shutil

        folder = self.folder(run_id)
        if not (folder / "launch.json").exists():
            shutil.rmtree(folder, ignore_errors=True)

    def exists(self, run_id: str) -> bool:
        try:
            return (self.folder(run_id) / "launch.json").is_file()
        except LaunchNotFound:
            return False

    # --- starting ------------------------------------------------------------------------------
    def start(self, info: LaunchInfo, *, env: dict[str, str] | None = None) -> LaunchInfo:
        """Start `info.argv` (arguments after `halo-forge`) in `info.cwd`, in a new session, output to the log."""
        folder = self.folder(info.run_id)
        folder.mkdir(parents=True, exist_ok=True)
        if info.config_yaml is not None:
            (folder / "config.yaml").write_text(info.config_yaml, encoding="utf-8")
        child_env = {**os.environ, "HALO_FORGE_WORKSPACE": str(self.workspace.root), "PYTHONUNBUFFERED": "1",
                     "HALO_FORGE_PROGRESS_SECONDS": PROGRESS_SECONDS, "NO_COLOR": "1", "TERM": "dumb",
                     "COLUMNS": "160", **(env or {})}
        argv = [sys.executable, "-m", "halo_forge.cli.main", *info.argv]
        with open(folder / "output.log", "ab") as log:
            proc = subprocess.Popen(argv, cwd=info.cwd, env=child_env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        info = info.model_copy(update={"pid": proc.pid, "state": "running", "started_at": now_iso()})
        write_json_atomic(folder / "launch.json", info.model_dump(mode="json"))
        with self._lock:
            self._procs[info.run_id] = proc
        threading.Thread(target=self._reap, args=(info.run_id, proc), name=f"reap-{info.run_id}",
                         daemon=True).start()
        return info

    def _reap(self, run_id: str, proc: subprocess.Popen) -> None:
        rc = proc.wait()
        write_json_atomic(self.folder(run_id) / "exit.json", {"returncode": rc, "ended_at": now_iso()})
        with self._lock:
            self._procs.pop(run_id, None)

    # --- reading -------------------------------------------------------------------------------
    def _record(self, run_id: str) -> LaunchInfo:
        path = self.folder(run_id) / "launch.json"
        try:
            return LaunchInfo.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            raise LaunchNotFound(f"no launch {run_id!r} in {self.root}",
                                 hint="`GET /launches` lists the runs this dashboard launched") from None

    def running(self, info: LaunchInfo) -> bool:
        with self._lock:
            proc = self._procs.get(info.run_id)
        if proc is not None:
            return proc.poll() is None
        exit_file = self.folder(info.run_id) / "exit.json"
        return not exit_file.exists() and info.pid is not None and _same_group_alive(info.pid)

    def get(self, run_id: str, index=None) -> LaunchInfo:
        """The launch with its current state; once it ended, its outcome (read from the index or output)."""
        info = self._record(run_id)
        if self.running(info):
            return info
        done = self._exit(run_id)
        rc = done.get("returncode")
        state = "cancelled" if info.cancel_requested else "completed" if rc == 0 else "failed"
        update = {"state": state, "returncode": rc, "ended_at": done.get("ended_at"),
                  "error": _error_line(self.log_path(run_id))}
        update.update(_outcome(info, index, finished=rc == 0 or (rc is None and not info.cancel_requested)))
        if rc is None and not info.cancel_requested:  # reaped by an earlier dashboard process: judge by result
            update["state"] = "completed" if update.get("verdict") and not update["error"] else "failed"
        return info.model_copy(update=update)

    def _exit(self, run_id: str) -> dict:
        """{returncode, ended_at} of an ended launch: from the process this dashboard reaps, or exit.json."""
        with self._lock:
            proc = self._procs.get(run_id)
        if proc is not None and proc.returncode is not None:
            return {"returncode": proc.returncode, "ended_at": now_iso()}
        try:
            return json.loads((self.folder(run_id) / "exit.json").read_text())
        except (OSError, ValueError):
            return {}

    def list(self, index=None, limit: int = 50) -> list[LaunchInfo]:
        if not self.root.is_dir():
            return []
        ids = sorted((p.name for p in self.root.iterdir() if (p / "launch.json").is_file()),
                     key=lambda name: (self.root / name / "launch.json").stat().st_mtime, reverse=True)
        return [self.get(run_id, index) for run_id in ids[:limit]]

    # --- cancelling ----------------------------------------------------------------------------
    def cancel(self, run_id: str, index=None) -> LaunchInfo:
        """Interrupt the run like Ctrl-C (its staging is removed, it is indexed as failed); escalate if it lingers."""
        info = self._record(run_id)
        if not self.running(info):
            return self.get(run_id, index)
        info = info.model_copy(update={"cancel_requested": True})
        write_json_atomic(self.folder(run_id) / "launch.json", info.model_dump(mode="json"))
        _signal_group(info.pid, signal.SIGINT)
        threading.Thread(target=self._escalate, args=(info,), name=f"cancel-{run_id}", daemon=True).start()
        return info

    def _escalate(self, info: LaunchInfo) -> None:
        for grace, sig in zip(CANCEL_GRACE_S, (signal.SIGTERM, signal.SIGKILL)):
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                if not self.running(info):
                    return
                time.sleep(0.2)
            _signal_group(info.pid, sig)


def _signal_group(pid: int | None, sig: int) -> None:
    if pid is None:
        return
    try:
        os.killpg(pid, sig)  # the launch is its session's (and group's) leader: pgid == pid
    except (ProcessLookupError, PermissionError):
        pass


def _same_group_alive(pid: int) -> bool:
    """The launched process is still there (its pid leads its own group, so a reused pid is unlikely)."""
    if not pid_alive(pid):
        return False
    try:
        return os.getpgid(pid) == pid
    except OSError:
        return False


def _error_line(log: Path) -> str | None:
    """The last `Error: …` paragraph the CLI printed (the message a user error ends with)."""
    try:
        with open(log, "rb") as fh:
            fh.seek(max(0, fh.seek(0, 2) - 16384))
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("Error: "):
            return "\n".join([lines[i][7:], *lines[i + 1:]]).strip()
    return None


def _outcome(info: LaunchInfo, index, *, finished: bool) -> dict:
    """run ids produced (or found in the cache), cache hit and verdict, from the output folders or the index."""
    summaries: list[TrainingSummary] = []
    if info.kind == "train" and info.output:
        if finished:  # a cache hit materialises the recorded run at --output: its id is the recorded one
            summaries = _summary_at(Path(info.cwd) / info.output)
        if not summaries and index is not None:  # failed or cancelled: indexed as failed, no output folder
            try:
                summaries = [index.get(info.run_id)]
            except HaloForgeError:
                pass
    elif info.kind == "recipe":
        for folder in info.config.get("stage_outputs", []):
            summaries += _summary_at(Path(info.cwd) / folder)
    if not summaries:
        return {}
    ids = [s.run_id for s in summaries]
    return {"result_run_ids": ids, "verdict": summaries[-1].effectiveness.verdict,
            "cache_hit": (ids[0] != info.run_id) if info.kind == "train" else None}


def _summary_at(folder: Path) -> list[TrainingSummary]:
    try:
        return [TrainingSummary.read(folder / SUMMARY_FILE)]
    except (OSError, ValueError):
        return []
