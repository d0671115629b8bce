"""The host's side of judged verification: a pool of warm judge processes (``_judge.py``) and
:func:`run_judged`, which serves the candidate's program in the sandbox and lets a judge decide.

For one sample: two pipes are made; the candidate's ends go into the sandbox with a ``serve`` job
(descriptors 3 and 4 of the sample), the judge's ends go to a judge process with the check to run.
The sandbox's job loop waits for the judge's verdict; once it is in, the sample is stopped. The
candidate gets ``timeout`` seconds of the judge's waiting (and ``timeout`` CPU seconds); the sample
lives at most ``timeout`` + 5 s, the judge's own work included. A judge that does not answer by then
(plus grace) is killed and replaced.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from halo_forge.verifiers import _wire
from halo_forge.verifiers._job import Job, Limits, SandboxResult
from halo_forge.verifiers._pool import CLEAN_PATH

ROOT = Path(__file__).resolve().parents[2]  # the folder holding this halo_forge package
JUDGE_SLACK = 5.0  # seconds of the judge's own work (pytest's set-up, the tests) on top of the candidate's time
JOBS_PER_JUDGE = 500  # then a fresh process: whatever the dataset's tests left in the old one goes with it


class Judge:
    """One judge process (this venv's Python, isolated mode, no bytecode written)."""

    def __init__(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.private = tempfile.mkdtemp(prefix="hf-judge-")  # the judge's test files; ours to remove
        boot = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                f"from halo_forge.verifiers._judge import main; main({child.fileno()}, {self.private!r})")
        env = {"PATH": CLEAN_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
               "HOME": tempfile.gettempdir()}
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-I", "-B", "-c", boot], pass_fds=[child.fileno()],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log, env=env,
                                     cwd=self.private)
        child.close()
        self.sock = parent
        self.jobs = 0

    def close(self) -> None:
        self.sock.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.private, ignore_errors=True)


class JudgePool:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.free: list[Judge] = []
        self.all: list[Judge] = []

    def acquire(self) -> Judge:
        with self.lock:
            while self.free:
                judge = self.free.pop()
                if judge.proc.poll() is None:
                    return judge
                self.all.remove(judge)
            judge = Judge()
            self.all.append(judge)
            return judge

    def release(self, judge: Judge, healthy: bool) -> None:
        judge.jobs += 1
        with self.lock:
            if healthy and judge.jobs < JOBS_PER_JUDGE:
                self.free.append(judge)
                return
            if judge in self.all:
                self.all.remove(judge)
        judge.close()

    def close(self) -> None:
        with self.lock:
            judges, self.all, self.free = self.all, [], []
        for judge in judges:
            judge.close()


class JudgeRun:
    """The judge's half of one sample: the sandbox's job loop calls :meth:`start` once the candidate's
    job is sent, and :meth:`on_readable` when the judge speaks."""

    def __init__(self, judge: Judge, job: dict, fds: list[int]) -> None:
        self.judge, self.job, self.fds = judge, job, fds
        self.finished = False
        self.verdict: dict | None = None

    def fileno(self) -> int:
        return self.judge.sock.fileno()

    def start(self) -> None:
        try:
            _wire.send_msg(self.judge.sock, self.job, self.fds)
        except OSError:
            self.verdict, self.finished = {"passed": False, "reason": "the judge is gone"}, True
        self.close_fds()

    def close_fds(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []

    def on_readable(self) -> bool:
        try:
            msg, extra = _wire.recv_msg(self.judge.sock, cap=1 << 20)
        except (OSError, EOFError, ValueError):
            msg, extra = None, []
        for fd in extra:
            os.close(fd)
        self.verdict = msg if isinstance(msg, dict) else {"passed": False, "reason": "the judge died"}
        self.finished = True
        return True


_POOLS: dict[int, JudgePool] = {}
_POOLS_LOCK = threading.Lock()


def judge_pool() -> JudgePool:
    with _POOLS_LOCK:
        if os.getpid() not in _POOLS:
            _POOLS[os.getpid()] = JudgePool()
        return _POOLS[os.getpid()]


def run_judged(sandbox, files: dict[str, bytes], script: str, check: dict,
               limits: Limits) -> tuple[dict, SandboxResult]:
    """Serve ``script`` (one of ``files``) in ``sandbox`` and let a judge run ``check`` against it:
    (the judge's verdict, the sandbox's result). ``check`` is a judge job without its timeout."""
    req_r, req_w = os.pipe()    # judge → candidate
    resp_r, resp_w = os.pipe()  # candidate → judge
    pool = judge_pool()
    judge = pool.acquire()
    wall = float(limits.wall_seconds)
    run = JudgeRun(judge, {**check, "timeout": wall, "hard_timeout": wall + JUDGE_SLACK}, [resp_r, req_w])
    job = sandbox.job(sandbox.python_argv + [script], files, limits.with_(wall_seconds=wall + JUDGE_SLACK))
    job.mode, job.rpc = "serve", (req_r, resp_w)
    result = None
    try:
        result = sandbox.submit(job, run)
    finally:
        run.close_fds()  # the sandbox never started: the judge's ends were not handed over
        pool.release(judge, healthy=run.finished and isinstance(run.verdict, dict) and "judge error" not in
                     str(run.verdict.get("reason", "")))
    verdict = run.verdict if run.finished and isinstance(run.verdict, dict) else {
        "passed": False, "reason": "timed out" if result is not None and result.timed_out else "no verdict from the judge"}
    return verdict, result


@atexit.register
def _close_pools() -> None:
    for pid, pool in list(_POOLS.items()):
        if pid == os.getpid():
            pool.close()

