"""The DVC side of replay: stage files, running `dvc` with this install first on PATH, `init`.

DVC runs a stage's `cmd` through the shell and takes `halo-forge` from PATH, so every `dvc` call
made here puts the bin folder of the running interpreter first: the stage then runs this
install's `halo-forge`, whatever the user's PATH says.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import deque
from pathlib import Path

from halo_forge.errors import HaloForgeError
from halo_forge.paths import end_group

STAGE = "replay"
OUT = "out"
METRICS = "metrics.json"
MANIFEST = "manifest.json"

TOP_LEVEL_DVC_YAML = """\
# halo-forge workspace: each recorded run's replay stage lives in replay/<run_id>/dvc.yaml
# (`halo-forge replay RUN`, or `cd replay/RUN && dvc repro`). Add your own stages below.
stages: {}
"""

# .halo-forge/ internals (run index and its locks, MLflow store, result cache, ...) are derived or
# machine-local: ignored by an allow-list, so internals added later stay out of git too. The
# marker and datasets/ (the materialised rows that replay stages depend on) stay visible.
GITIGNORE = """\
# halo-forge internals are derived or machine-local; the marker and datasets/ are committed
/*
!/.gitignore
!/workspace.json
!/datasets/
"""


# The workspace root's .gitignore entries: what runs and replays write that is not a record to commit.
# replay/<run_id>/ itself (manifest, dvc.yaml, recorded summary, replays.jsonl) is the record and stays visible,
# and so does a replay's dvc.lock: DVC refuses to write a lock file that git ignores.
ROOT_GITIGNORE = {
    "/outputs/": "models and checkpoints: large, and rebuilt by `halo-forge replay RUN`",
    "/replay/*/metrics.json": "what a replay measured (compared with recorded_summary.json, and in replays.jsonl)",
}


def _ignore_in_git(root: Path) -> list[str]:
    """Append the ROOT_GITIGNORE entries missing from `root/.gitignore`; the ones added."""
    path = root / ".gitignore"
    have = set(path.read_text(encoding="utf-8").splitlines()) if path.exists() else set()
    missing = [entry for entry in ROOT_GITIGNORE if entry not in have]
    if missing:
        with path.open("a", encoding="utf-8") as fh:
            if have and not path.read_text(encoding="utf-8").endswith("\n"):
                fh.write("\n")
            for entry in missing:
                fh.write(f"# halo-forge: {ROOT_GITIGNORE[entry]}\n{entry}\n")
    return missing


def stage_yaml(*, run_id: str, data_dep: str, model_dep: str | None = None) -> str:
    """`replay/<run_id>/dvc.yaml`: one stage re-executing the run from the manifest and the rows."""
    import yaml

    deps = [MANIFEST, data_dep] + ([model_dep] if model_dep else [])
    stage = {
        "cmd": f"halo-forge replay exec {MANIFEST} --output {OUT} --metrics {METRICS}",
        "deps": deps,
        # the replayed model is hashed in dvc.lock, not copied into the DVC cache (models are big)
        "outs": [{OUT: {"cache": False}}],
        "metrics": [{METRICS: {"cache": False}}],
    }
    head = (f"# Replays run {run_id} from its locked inputs: `dvc repro` here, or `halo-forge replay {run_id}`\n"
            "# (which checks drift first and compares the result with recorded_summary.json).\n")
    return head + yaml.safe_dump({"stages": {STAGE: stage}}, sort_keys=False, default_flow_style=False)


def dvc_env() -> dict[str, str]:
    """The environment for `dvc`: this interpreter's bin folder first on PATH, analytics off unless set."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)  # not resolved: a venv's bin/python is a symlink
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.setdefault("DVC_NO_ANALYTICS", "1")
    return env


def check_console_script() -> None:
    import shutil

    env = dvc_env()
    if shutil.which("halo-forge", path=env["PATH"]) is None:
        raise HaloForgeError("the `halo-forge` command is not on PATH, and DVC's replay stage runs it",
                             hint=f"install halo-forge into {sys.prefix} (pip install -e .)")


OWNER_ENV = "HALO_FORGE_REPLAY_OWNER"  # "pid:start-time" of the process that started `dvc`


def run_dvc(*args: str, cwd: Path, echo: bool = True) -> tuple[int, str]:
    """Run `python -m dvc ARGS` in `cwd`; stream its output when `echo`; return (rc, last lines).

    `dvc` and everything it starts (the stage's shell, `halo-forge replay exec`) run in a process group
    of their own, ended with this process: on SIGTERM/SIGINT here the group is terminated; on SIGKILL
    `replay exec` notices that its owner (OWNER_ENV) is gone and ends the group itself."""
    import signal

    from halo_forge.orchestration.liveness import this_process

    me = this_process()
    env = {**dvc_env(), OWNER_ENV: f"{me['pid']}:{me['stamp'] or ''}"}
    proc = subprocess.Popen([sys.executable, "-m", "dvc", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=1, start_new_session=True)
    tail: deque[str] = deque(maxlen=40)
    assert proc.stdout is not None
    previous = _on_term(_interrupt)
    try:
        for line in proc.stdout:
            tail.append(line.rstrip("\n"))
            if echo:
                sys.stdout.write(line)
                sys.stdout.flush()
        return proc.wait(), "\n".join(tail)
    except BaseException:
        end_group(proc.pid)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _on_term(handler):
    import signal

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        return None


def watch_owner(interval: float = 0.5) -> None:
    """In a process started under `run_dvc`: end this process group as soon as the owner is gone (SIGKILL)."""
    import signal
    import threading
    import time

    from halo_forge.orchestration.liveness import holder_alive

    owner = os.environ.get(OWNER_ENV)
    if not owner:
        return
    pid, _, stamp = owner.partition(":")
    rec = {"pid": int(pid), "stamp": stamp or None}

    def watch() -> None:
        while holder_alive(rec):
            time.sleep(interval)
        os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True, name="replay-owner-watch").start()


def find_dvc_root(start: Path) -> Path | None:
    for folder in (Path(start).resolve(), *Path(start).resolve().parents):
        if (folder / ".dvc").is_dir():
            return folder
    return None


def _git_toplevel(folder: Path) -> Path | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=folder, capture_output=True, text=True)
    except FileNotFoundError:
        raise HaloForgeError("git is not installed, and a workspace is a git + DVC repository",
                             hint="install git, then run `halo-forge init` again") from None
    return Path(out.stdout.strip()).resolve() if out.returncode == 0 and out.stdout.strip() else None


def init_workspace(root: Path) -> list[str]:
    """git init (unless inside a repo), dvc init (--subdir inside another repo), top-level dvc.yaml,
    replay/, .halo-forge/ with its .gitignore. Idempotent; returns what was made."""
    from halo_forge.workspace import MARKER, MARKER_DIR, Workspace

    root = Path(root).resolve()
    made: list[str] = []
    if not root.exists():
        root.mkdir(parents=True)
        made.append(f"folder {root}")
    top = _git_toplevel(root)
    if top is None:
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        made.append("git repository (git init)")
        top = root
    if not (root / ".dvc").is_dir():
        args = ["init", "-q"] + (["--subdir"] if top != root else [])
        rc, tail = run_dvc(*args, cwd=root, echo=False)
        if rc != 0:
            raise HaloForgeError(f"`dvc {' '.join(args)}` failed in {root} (exit {rc}):\n{tail}")
        made.append("DVC repository (dvc " + " ".join(args) + ")")
    dvcignore = root / ".dvcignore"
    if "__pycache__/" not in (dvcignore.read_text() if dvcignore.exists() else "").splitlines():
        with dvcignore.open("a", encoding="utf-8") as fh:
            fh.write("__pycache__/\n")
        made.append(".dvcignore entry __pycache__/")
    if not (root / "dvc.yaml").exists():
        (root / "dvc.yaml").write_text(TOP_LEVEL_DVC_YAML, encoding="utf-8")
        made.append("dvc.yaml (replay stages live in replay/<run_id>/)")
    had_marker = (root / MARKER_DIR / MARKER).is_file()
    had_replay = (root / "replay").is_dir()
    ws = Workspace(root).ensure()
    if not had_marker:
        made.append(f"{MARKER_DIR}/ (run index, tracking, cache, datasets)")
    if not had_replay:
        made.append("replay/ (one folder per recorded run)")
    gitignore = ws.data_dir / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(GITIGNORE, encoding="utf-8")
        made.append(f"{MARKER_DIR}/.gitignore (internals that are not committed)")
    keep = ws.replay_dir / ".gitkeep"
    if not keep.exists():
        keep.write_text("")
    made += [f".gitignore entry {entry}" for entry in _ignore_in_git(root)]
    return made
