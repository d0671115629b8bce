"""The tracking store opened in a helper process while the run starts, so the run does not wait for it.

Importing mlflow and opening its store costs about 2 s of CPU, which a run used to pay before its
first step. `prewarm(workspace)` starts `python -m halo_forge.tracking.sidecar` when a run begins; the
helper does that work on another core while this process imports torch and loads the model. A
`Tracker` then gets a `RemoteStore` from `open_store`: the same two calls as `_store.Store`
(`advance`, `log_metrics`), each sending the run record to the helper and taking it back advanced.

The helper changes when the work happens, not what is logged: if it cannot start, dies or answers
nonsense, `RemoteStore` opens the store in this process and repeats the call (the steps are
idempotent: the run is found by its tag before one is created; only a helper killed between storing a
metric batch and answering leaves that batch logged twice). It ignores Ctrl-C, so an interrupted run
can still record its failure through it, and exits when this process closes its stdin (or dies).

The protocol is one JSON line per request on the helper's stdin and one per answer on a copy of its
stdout; whatever mlflow prints goes to stderr.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from halo_forge.tracking import _store
from halo_forge.tracking._store import Store, Unreachable, describe

log = logging.getLogger("halo_forge.tracking")

_HELPERS: dict[tuple[str, str, str], "_Helper"] = {}
_HELPERS_LOCK = threading.Lock()


class HelperGone(Exception):
    """The helper process is not there to answer (never started, exited, broken pipe, bad answer)."""


class _Helper:
    """One helper process for one (tracking URI, experiment, artifact root)."""

    def __init__(self, uri: str, experiment: str, artifacts: Path) -> None:
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "halo_forge.tracking.sidecar", uri, experiment, str(artifacts)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, close_fds=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def call(self, request: dict) -> dict:
        try:
            message = (json.dumps(request) + "\n").encode()
        except (TypeError, ValueError) as exc:  # a value only the in-process store can take
            raise HelperGone(f"request not serialisable: {describe(exc)}") from exc
        with self.lock:
            if self.proc.poll() is not None:
                raise HelperGone(f"tracking helper exited with code {self.proc.returncode}")
            try:
                self.proc.stdin.write(message)
                self.proc.stdin.flush()
                line = self.proc.stdout.readline()
            except (OSError, ValueError) as exc:
                raise HelperGone(f"tracking helper unreachable: {describe(exc)}") from exc
            except BaseException:  # Ctrl-C while it works: its late answer would pair with the next request
                self.proc.kill()
                raise
            if not line:
                self.proc.wait()
                raise HelperGone(f"tracking helper exited with code {self.proc.returncode}")
            try:
                reply = json.loads(line)
            except ValueError as exc:
                raise HelperGone(f"tracking helper answered {line[:200]!r}") from exc
            if not isinstance(reply, dict):
                raise HelperGone(f"tracking helper answered {line[:200]!r}")
            return reply

    def close(self) -> None:
        """Close its stdin: it exits on its own. Every call waits for its answer, so no request is in hand.
        A daemon thread reaps it, so a long-lived process (a served flow) does not collect zombies while
        this one never waits for it."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        threading.Thread(target=self.proc.wait, name="halo-forge-tracking-reaper", daemon=True).start()


def _key(uri: str, experiment: str, artifacts: Path | None) -> tuple[str, str, str]:
    return uri, experiment, str(artifacts)


def prewarm(workspace, experiment: str = "halo-forge") -> bool:
    """Start the helper for `workspace`'s tracking store unless one runs already (cheap, non-blocking).
    True when this call started it: the caller then `close`s it when its run is over.

    Skipped when tracking is off (HALO_FORGE_TRACKING=0) or HALO_FORGE_TRACKING_HELPER=0."""
    if not _store.tracking_enabled() or os.environ.get("HALO_FORGE_TRACKING_HELPER", "1") == "0":
        return False
    _store.configure_env()
    key = _key(workspace.mlflow_uri, experiment, workspace.mlflow_artifacts)
    with _HELPERS_LOCK:
        helper = _HELPERS.get(key)
        if helper is not None and helper.proc.poll() is None:
            return False
        try:
            _HELPERS[key] = _Helper(workspace.mlflow_uri, experiment, workspace.mlflow_artifacts)
        except OSError as exc:  # the run opens the store itself
            log.info("tracking helper not started (%s); the store opens in this process", describe(exc))
            return False
    return True


def close(workspace, experiment: str = "halo-forge") -> None:
    """Let the helper for `workspace`'s store go (a tracker still holding it falls back to the store here)."""
    with _HELPERS_LOCK:
        helper = _HELPERS.pop(_key(workspace.mlflow_uri, experiment, workspace.mlflow_artifacts), None)
    if helper is not None:
        helper.close()


def open_store(uri: str, experiment: str, artifacts: Path | None):
    """A `RemoteStore` when a helper was prewarmed for this store, else a `Store` opened here.

    Raises `Unreachable` exactly as `Store(...)` does."""
    helper = _HELPERS.get(_key(uri, experiment, artifacts))
    if helper is None:
        return Store(uri, experiment, artifacts)
    return RemoteStore(helper, uri, experiment, artifacts)


class RemoteStore:
    """`Store`'s interface over the helper; falls back to a `Store` in this process if the helper fails."""

    def __init__(self, helper: _Helper, uri: str, experiment: str, artifacts: Path | None) -> None:
        self.helper = helper
        self.uri, self.experiment, self.artifacts = uri, experiment, artifacts
        self._local: Store | None = None
        try:
            reply = helper.call({"op": "open"})
        except HelperGone as exc:
            self._fall_back(exc)
            return
        if reply.get("unreachable"):
            raise Unreachable(str(reply["unreachable"]))
        if not reply.get("ok"):
            self._fall_back(HelperGone(str(reply.get("error"))))

    def _fall_back(self, why: Exception) -> None:
        log.info("tracking helper unavailable (%s); opening the store in this process", why)
        self._local = Store(self.uri, self.experiment, self.artifacts)

    def advance(self, record: dict) -> list[str]:
        return self._call("advance", record)

    def log_metrics(self, record: dict) -> list[str]:
        return self._call("log_metrics", record)

    def _call(self, op: str, record: dict) -> list[str]:
        if self._local is None:
            try:
                reply = self.helper.call({"op": op, "record": record})
                if not isinstance(reply.get("record"), dict):
                    raise HelperGone(f"tracking helper answered without the record: {str(reply)[:200]}")
            except HelperGone as exc:
                self._fall_back(exc)  # may raise Unreachable, as opening a Store here would
            else:
                record.clear()
                record.update(reply["record"])
                if reply.get("ok"):
                    return list(reply.get("result") or [])
                if reply.get("unreachable"):
                    raise Unreachable(str(reply["unreachable"]))
                raise RuntimeError(str(reply.get("error")))
        return getattr(self._local, op)(record)


@atexit.register
def _close_helpers() -> None:
    with _HELPERS_LOCK:
        helpers = list(_HELPERS.values())
        _HELPERS.clear()
    for helper in helpers:
        helper.close()


# --- the helper process ----------------------------------------------------------------------------

def _serve(uri: str, experiment: str, artifacts: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the run; it still needs us to record it
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # anything printed goes to stderr, not the protocol
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    def open_() -> tuple[Store | None, str | None]:
        try:
            return Store(uri, experiment, Path(artifacts)), None
        except Unreachable as exc:
            return None, str(exc)

    store, problem = open_()  # the point of the helper: done before the run asks
    fresh = True
    for line in sys.stdin:
        record = None
        try:
            request = json.loads(line)
            op = request["op"]
            if op == "open":
                if not fresh or store is None:  # a reopen after a failure checks the store again
                    store, problem = open_()
                fresh = False
                reply = {"ok": store is not None, "unreachable": problem}
            elif op in ("advance", "log_metrics"):
                record = request["record"]
                if store is None:
                    store, problem = open_()
                if store is None:
                    reply = {"ok": False, "unreachable": problem, "record": record}
                else:
                    try:
                        reply = {"ok": True, "result": getattr(store, op)(record), "record": record}
                    except Unreachable as exc:
                        store, problem = None, str(exc)
                        reply = {"ok": False, "unreachable": problem, "record": record}
            else:
                reply = {"ok": False, "error": f"unknown request {op!r}"}
        except Exception as exc:  # noqa: BLE001 - report it; the caller handles it like a local failure
            reply = {"ok": False, "error": f"tracking helper: {describe(exc)}", "record": record}
        answers.write(json.dumps(reply, default=str) + "\n")
        answers.flush()


if __name__ == "__main__":
    _serve(*sys.argv[1:4])
    # Every answer is written and mlflow commits each call: skip the interpreter's teardown (about 1 s),
    # which would keep the run's stderr open (a `2>&1 | tee` pipeline waits for it) after the run ended.
    from halo_forge.shutdown import exit_now

    exit_now(0)
