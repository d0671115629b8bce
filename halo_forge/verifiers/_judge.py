"""The judge process: runs the dataset's checks against a candidate that lives in the sandbox.

Started by the host (``_judging.py``) as a plain Python of the project's venv, outside the sandbox;
it reads jobs from a unix socket, each with the judge's ends of the candidate's pipes, and answers
with a verdict. The candidate's process cannot reach it: different uid and PID namespace, no shared
files, and only plain values (``_wire``) ever cross the pipes. Tests, expected outputs and the
problem's own helper code stay here and are never written where the candidate could read them.

- ``humaneval``: the problem's prompt (its helpers) and test run here; ``check(candidate)`` gets a
  proxy whose calls go to the candidate's function.
- ``pytest``: the row's tests are written to this process's private temp folder and run by
  ``pytest.main``, with ``solution`` a module whose attributes come from the candidate.
"""

from __future__ import annotations

import builtins
import os
import shutil
import socket
import sys
import tempfile
import time

from halo_forge.verifiers import _wire
from halo_forge.verifiers._remote import Channel, ChannelBroken, RemoteModule, RemoteObject


def check_humaneval(ch: Channel, prompt: str, test: str, entry: str) -> dict:
    if ch.ready() is not None:
        return {"passed": False, "reason": ch.broken}
    try:
        got = ch.request(["get", entry])
    except ChannelBroken as exc:
        return {"passed": False, "reason": str(exc)}
    except Exception as exc:  # noqa: BLE001 - the candidate raised on a lookup
        return {"passed": False, "reason": f"looking up {entry} raised {type(exc).__name__}"}
    if not (type(got) is list and len(got) == 2 and got[0] == "value" and isinstance(got[1], RemoteObject)):
        return {"passed": False, "reason": f"the program does not define {entry}"}
    ns = {"__name__": "__hf_check__", "__builtins__": builtins}
    exec(compile(prompt, "<prompt>", "exec"), ns)  # the problem's helpers, as the dataset wrote them
    ns[entry] = got[1]
    exec(compile(test, "<test>", "exec"), ns)
    try:
        ns["check"](got[1])
    except ChannelBroken as exc:
        return {"passed": False, "reason": str(exc), "calls": ch.calls}
    except BaseException as exc:  # noqa: BLE001 - any exception from the check is a failed check
        return {"passed": False, "reason": f"check failed: {type(exc).__name__}", "calls": ch.calls}
    if ch.broken:  # the test swallowed a protocol break: still a failure
        return {"passed": False, "reason": ch.broken, "calls": ch.calls}
    return {"passed": True, "reason": "check passed", "calls": ch.calls}


class _Counts:
    """pytest plugin: collected tests and per-test outcomes (the call phase, or a failed setup)."""

    def __init__(self) -> None:
        self.collected = self.passed = self.failed = self.errors = 0

    def pytest_collection_finish(self, session) -> None:
        self.collected = len(session.items)

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.errors += 1

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call":
            if report.passed:
                self.passed += 1
            else:
                self.failed += 1
        elif report.failed:
            self.errors += 1


def run_pytest(ch: Channel, tests: str, stop_first: bool, private: str) -> dict:
    if ch.ready() is not None:
        return {"collected": 0, "passed": 0, "failed": 0, "errors": 1, "reason": ch.broken}
    import pytest

    folder = tempfile.mkdtemp(prefix="job-", dir=private)
    before = set(sys.modules)
    counts = _Counts()
    try:
        with open(os.path.join(folder, "pytest.ini"), "w") as fh:  # pinned: no ini or conftest from elsewhere
            fh.write("[pytest]\n")
        with open(os.path.join(folder, "test_solution.py"), "w") as fh:
            fh.write(tests)
        sys.modules["solution"] = RemoteModule(ch)
        args = ["-q", "-p", "no:cacheprovider", "-c", os.path.join(folder, "pytest.ini"), "--rootdir", folder,
                "--confcutdir", folder, "--import-mode=importlib", os.path.join(folder, "test_solution.py")]
        pytest.main(args + (["-x"] if stop_first else []), plugins=[counts])
    finally:
        for name in set(sys.modules) - before:
            sys.modules.pop(name, None)
        sys.modules.pop("solution", None)
        shutil.rmtree(folder, ignore_errors=True)
    return {"collected": counts.collected, "passed": counts.passed, "failed": counts.failed,
            "errors": counts.errors, "reason": ch.broken}


def judge(job: dict, fds: list[int], private: str) -> dict:
    if len(fds) != 2:
        return {"passed": False, "reason": "judge got no channel"}
    ch = Channel(fds[0], fds[1], float(job["timeout"]), time.monotonic() + float(job["hard_timeout"]))
    if job["kind"] == "humaneval":
        return check_humaneval(ch, job["prompt"], job["test"], job["entry"])
    if job["kind"] == "pytest":
        return run_pytest(ch, job["tests"], bool(job.get("stop_first")), private)
    return {"passed": False, "reason": f"unknown judge job {job['kind']!r}"}


def main(fd: int, private: str) -> None:
    """Serve jobs until the host hangs up; ``private`` is a 0700 folder the host made (and removes)."""
    sock = socket.socket(fileno=fd)
    while True:
        job, fds = _wire.recv_msg(sock, cap=256 << 20)
        if job is None:
            return
        try:
            verdict = judge(job, fds, private)
        except BaseException as exc:  # noqa: BLE001 - the verdict says what went wrong
            verdict = {"passed": False, "reason": f"judge error: {type(exc).__name__}: {exc}"[:300]}
        finally:
            for f in fds:
                os.close(f)
        _wire.send_msg(sock, verdict)
