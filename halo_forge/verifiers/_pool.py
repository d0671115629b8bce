"""The host's pool of warm sandboxes: one zygote (``_zygote.py``) per slot, one sample at a time per slot.

A slot owns a leased unprivileged host uid, a pair of cgroups (pids, memory) and a zygote process,
started inside bubblewrap (or plainly in unsafe mode) and reached through a unix socket. A job is one
message (with the sample's pipes attached as file descriptors); the host then feeds the files and
stdin, reads stdout/stderr (bounded), the supervisor's report and the zygote's ``done``, and — for
judged jobs — the judge's verdict, all in one poll loop. Anything past the wall clock plus a grace
period, a zygote that stops answering, or a process left in the slot's cgroups after ``done`` retires
the zygote (every process in its cgroups is killed) and the next job starts a fresh one.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import select
import socket
import subprocess
import tempfile
import threading
import time
from typing import Protocol

from halo_forge.verifiers import _wire
from halo_forge.verifiers._cgroups import cgroups
from halo_forge.verifiers._fsutil import remove_tree
from halo_forge.verifiers._job import Job, SandboxResult
from halo_forge.verifiers._runtime import UidLease, bwrap_argv, runtime, unsafe_argv

GRACE = 3.0          # past the wall clock, the host gives the zygote this long to say "done"
DRAIN = 0.5          # after "done", how long to wait for stdout/stderr to close (unsafe mode orphans)
ZYGOTE_MB = 96       # the memory cgroup holds the zygote and the supervisor besides the sample
START_TIMEOUT = 30.0
CLEAN_PATH = "/usr/local/bin:/usr/bin:/bin"


def clean_env(home: str, extra=None) -> dict[str, str]:
    """The whole environment a sandboxed program gets: nothing of the parent's."""
    env = {"PATH": CLEAN_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": home, "TMPDIR": "/tmp",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
    env.update(extra or {})
    return env


class SlotBroken(RuntimeError):
    """The slot's zygote failed or stopped answering; the slot restarts on its next job."""


class Companion(Protocol):
    """Something the job loop also waits for (the judge): readable → ``on_readable()``; True once done."""

    finished: bool

    def fileno(self) -> int: ...

    def start(self) -> None: ...

    def on_readable(self) -> bool: ...


class Slot:
    def __init__(self, index: int, level: str, scratch_root: str | None) -> None:
        self.index, self.level, self.scratch_root = index, level, scratch_root
        self.lease = UidLease() if level == "bwrap" else None
        self.groups = cgroups().slot()
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.baseline: frozenset[int] = frozenset()
        self.ids = itertools.count(1)
        self.log = None

    @property
    def uid(self) -> int | None:
        return self.lease.uid if self.lease else None

    # ---------------------------------------------------------- life cycle
    def start(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        cfg = {"fd": child.fileno(), "isolate": self.level == "bwrap", "uid": self.uid,
               "scratch_root": self.scratch_root}
        argv = bwrap_argv(runtime(), cfg) if self.level == "bwrap" else unsafe_argv(runtime(), cfg)
        if getattr(self, "log", None) is not None:
            self.log.close()
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(["/bin/sh", "-c", self.groups.join_script() + 'exec "$@"', "sh", *argv],
                                     pass_fds=[child.fileno()], stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, env=clean_env("/"), cwd="/", start_new_session=True)
        child.close()
        self.sock = parent
        ready = select.select([parent], [], [], START_TIMEOUT)[0]
        msg = _wire.recv_msg(parent)[0] if ready else None
        if not (isinstance(msg, list) and msg and msg[0] == "hello"):
            self.stop()
            raise SlotBroken(f"the sandbox did not start: {self.log_tail() or 'no output'}")
        self.baseline = frozenset(self.groups.procs())

    def log_tail(self, n: int = 600) -> str:
        try:
            self.log.seek(0)
            return self.log.read().decode("utf-8", "replace").strip()[-n:]
        except (OSError, ValueError):
            return ""

    def stop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            self.groups.kill()
            try:
                self.proc.kill()
            except OSError:
                pass
            self.proc.wait()
            self.proc = None

    def close(self) -> None:
        self.stop()
        if self.lease:
            self.lease.release()

    # ---------------------------------------------------------- one job
    def execute(self, job: Job, companion: Companion | None = None, isolation: str = "") -> SandboxResult:
        """Run one job on this slot. The job's ``rpc`` descriptors are handed over (closed here)."""
        handed, kept = list(job.rpc or ()), []
        try:
            if self.sock is None:
                self.start()
            start = time.monotonic()
            lim = job.limits
            self.groups.set_limits(lim.processes + 3, (lim.memory_mb + ZYGOTE_MB) << 20, lim.cpus)
            job_id = next(self.ids)
            (out_r, out_w), (err_r, err_w), (pay_r, pay_w), (rep_r, rep_w) = (os.pipe() for _ in range(4))
            in_r, in_w = os.pipe() if job.stdin is not None else (None, None)
            kept = [fd for fd in (out_r, err_r, pay_w, rep_r, in_w) if fd is not None]
            handed = [pay_r, rep_w, out_w, err_w] + ([in_r] if in_r is not None else []) + handed
            try:
                _wire.send_msg(self.sock, job.header(job_id), handed)
            except OSError as exc:
                raise SlotBroken(f"the sandbox's fork server is gone ({exc})") from exc
        except BaseException:
            for fd in kept:
                os.close(fd)
            raise
        finally:
            for fd in handed:
                os.close(fd)
        if companion is not None:
            companion.start()
        ex = _Exchange(self, job_id, lim.output_bytes, len(job.collect) * (lim.file_size_mb << 20) + (1 << 20))
        ex.feed(pay_w, b"".join(job.files.values()))
        ex.feed(in_w, job.stdin or b"")
        ex.read(out_r, "out")
        ex.read(err_r, "err")
        ex.read(rep_r, "report")
        ex.run(start + lim.wall_seconds + GRACE, companion)
        return self._finish(ex, start, isolation)

    def _finish(self, ex: "_Exchange", start: float, isolation: str) -> SandboxResult:
        error = None
        if ex.broken:
            error = ex.broken
            self.stop()
        elif self.groups.procs() - self.baseline:  # a process outlived its sample: take the slot down
            error = "a process outlived its sample; the sandbox slot was restarted"
            self.stop()
        report, files = ex.report()
        done = ex.done or {}
        rc = report.get("rc")
        error = error or report.get("error") or done.get("cleanup_error")
        stopped = bool(done.get("timed_out") or ex.truncated or done.get("killed") or error)
        return SandboxResult(None if stopped else rc, bytes(ex.bufs["out"]), bytes(ex.bufs["err"]),
                             bool(done.get("timed_out")) or ex.broken == "timed out", ex.truncated,
                             time.monotonic() - start, isolation, files, error)


class _Exchange:
    """The host's side of one job: writes the payload and stdin, reads everything back, bounded."""

    def __init__(self, slot: Slot, job_id: int, out_cap: int, report_cap: int) -> None:
        self.slot, self.job_id, self.out_cap, self.report_cap = slot, job_id, out_cap, report_cap
        self.poll = select.poll()
        self.writers: dict[int, memoryview] = {}
        self.readers: dict[int, str] = {}
        self.bufs = {"out": bytearray(), "err": bytearray(), "report": bytearray()}
        self.truncated = False
        self.broken: str | None = None
        self.done: dict | None = None
        self.kill_sent = False

    def feed(self, fd: int | None, data: bytes) -> None:
        if fd is None:
            return
        if not data:
            os.close(fd)
            return
        os.set_blocking(fd, False)
        self.writers[fd] = memoryview(data)
        self.poll.register(fd, select.POLLOUT)

    def read(self, fd: int, name: str) -> None:
        self.readers[fd] = name
        self.poll.register(fd, select.POLLIN)

    def _drop(self, fd: int) -> None:
        self.poll.unregister(fd)
        self.writers.pop(fd, None)
        self.readers.pop(fd, None)
        os.close(fd)

    def kill(self) -> None:
        if not self.kill_sent and self.done is None:
            self.kill_sent = True
            try:
                _wire.send_msg(self.slot.sock, {"op": "kill", "id": self.job_id})
            except OSError:
                self.broken = "the sandbox's fork server is gone"

    def run(self, deadline: float, companion: Companion | None) -> None:
        sock = self.slot.sock
        self.poll.register(sock, select.POLLIN)
        if companion is not None:
            self.poll.register(companion.fileno(), select.POLLIN)
        drain_until = None
        try:
            while not self.broken:
                if self.done is not None and not self.readers and (companion is None or companion.finished):
                    return
                now = time.monotonic()
                limit = min(deadline, drain_until) if drain_until else deadline
                if now >= limit:
                    if drain_until is None or now >= deadline:
                        self.broken = "timed out"
                    return
                for fd, ev in self.poll.poll(max(1, int((limit - now) * 1000))):
                    if fd == sock.fileno():
                        self._control()
                        if self.done is not None and drain_until is None:
                            drain_until = time.monotonic() + DRAIN
                    elif companion is not None and fd == companion.fileno():
                        if companion.on_readable():
                            self.poll.unregister(fd)
                            self.kill()
                    elif fd in self.writers:
                        self._write(fd)
                    elif fd in self.readers:
                        self._read(fd)
        finally:
            for fd in list(self.writers) + list(self.readers):
                self._drop(fd)

    def _control(self) -> None:
        try:
            msg, fds = _wire.recv_msg(self.slot.sock)
        except (OSError, EOFError, ValueError) as exc:
            self.broken = f"the sandbox's fork server failed ({type(exc).__name__})"
            return
        for fd in fds:
            os.close(fd)
        if msg is None:
            self.broken = f"the sandbox's fork server exited: {self.slot.log_tail(300) or 'no output'}"
        elif isinstance(msg, dict) and msg.get("op") == "done" and msg.get("id") == self.job_id:
            self.done = msg

    def _write(self, fd: int) -> None:
        view = self.writers[fd]
        try:
            n = os.write(fd, view[:65536])
        except BlockingIOError:
            return
        except OSError:  # the sample closed its stdin: the rest is not wanted
            self._drop(fd)
            return
        self.writers[fd] = view[n:]
        if not self.writers[fd]:
            self._drop(fd)

    def _read(self, fd: int) -> None:
        name = self.readers[fd]
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            self._drop(fd)
            return
        buf = self.bufs[name]
        room = (self.report_cap if name == "report" else self.out_cap) - len(buf)
        buf += chunk[:max(room, 0)]
        if len(chunk) > room:  # past the cap: stop reading; output past it stops the sample
            self._drop(fd)
            if name != "report":
                self.truncated = True
                self.kill()

    def report(self) -> tuple[dict, dict[str, bytes]]:
        """The supervisor's report: ({rc, error}, collected files); empty when it never wrote one."""
        data = bytes(self.bufs["report"])
        try:
            pos, frames = 0, []
            while pos + 4 <= len(data):
                (n,) = _wire.LEN.unpack(data[pos:pos + 4])
                frames.append(data[pos + 4:pos + 4 + n])
                pos += 4 + n
            head = json.loads(frames[0]) if frames else {}
            files = {name: frames[i + 1] for i, (name, _size) in enumerate(head.get("files", []))
                     if i + 1 < len(frames)}
            return head, files
        except (ValueError, IndexError, TypeError):
            return {}, {}


class Pool:
    """Warm slots for one isolation level; a thread takes a slot for one job and gives it back."""

    def __init__(self, level: str, scratch_root: str | None = None, max_slots: int = 64) -> None:
        self.level = level
        # unsafe mode writes scratch folders on disk: under one private folder, removed at close
        self.scratch_root = None if level == "bwrap" else tempfile.mkdtemp(prefix="hf-sbx-", dir=scratch_root)
        self.cond = threading.Condition()
        self.free: list[Slot] = []
        self.slots: list[Slot] = []
        self.max_slots = max_slots

    def acquire(self) -> Slot:
        with self.cond:
            while not self.free and len(self.slots) >= self.max_slots:
                self.cond.wait()
            if self.free:
                return self.free.pop()
            slot = Slot(len(self.slots), self.level, self.scratch_root)
            self.slots.append(slot)
            return slot

    def release(self, slot: Slot) -> None:
        with self.cond:
            self.free.append(slot)
            self.cond.notify()

    def run(self, job: Job, companion: Companion | None = None, isolation: str = "") -> SandboxResult:
        slot = self.acquire()
        if slot.proc is not None and slot.proc.poll() is not None:  # its zygote died since the last job
            slot.stop()
        try:
            try:
                return slot.execute(job, companion, isolation)
            except SlotBroken:
                if companion is not None:
                    raise
                slot.stop()
                return slot.execute(job, None, isolation)  # one retry on a fresh zygote
        finally:
            self.release(slot)

    def close(self) -> None:
        with self.cond:
            for slot in self.slots:
                slot.close()
            self.slots.clear()
            self.free.clear()
        if self.scratch_root:
            remove_tree(self.scratch_root)


_POOLS: dict[tuple, Pool] = {}
_POOLS_LOCK = threading.Lock()


def get_pool(level: str, scratch_root: str | None = None) -> Pool:
    """This process's pool for ``level`` (a forked child starts its own)."""
    key = (os.getpid(), level, scratch_root)
    with _POOLS_LOCK:
        if key not in _POOLS:
            _POOLS[key] = Pool(level, scratch_root)
        return _POOLS[key]


@atexit.register
def _close_pools() -> None:
    for key, pool in list(_POOLS.items()):
        if key[0] == os.getpid():
            pool.close()
