"""The sandbox's fork server: one warm interpreter per pool slot, forking one isolated sample per job.

Runs as ``python -I -S _zygote.py '<config json>'`` (standard library only), either inside bubblewrap
as root of private PID/network/IPC/UTS/mount namespaces with just the capabilities it needs
(SYS_ADMIN, SETUID, SETGID, KILL, CHOWN) — or, in unsafe mode, as a plain process. Per job::

    zygote ── fork ──> supervisor S  (pid 1 of a fresh PID namespace; own mount and IPC namespaces;
                       │              mounts the sample's size- and inode-capped tmpfs /tmp and a fresh
                       │              /proc with /proc/sys read-only; writes the job's files)
                       └─ fork ──> worker W (the sample: sets its rlimits, drops to the slot's
                                   unprivileged host uid with no capabilities and no_new_privs, then
                                   execs the program or runs Python in-process: the interpreter is warm)

When W exits, or the host asks, or the wall clock runs out, S SIGKILLs everything else in its PID
namespace, reaps it, reads the requested result files without following links (``_fsutil``) and
reports them straight to the host through a pipe. S's exit takes the namespace, every process left
in it and the tmpfs with it: nothing of a sample survives its job, and no disk cleanup can fail.

The zygote only ever holds job headers: file contents come through a pipe that S reads, results go
out through a pipe that S writes, so no sample's files or outputs stay in the memory the next sample
is forked from.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import socket
import sys
import tempfile
import time

_BASE_PATH = list(sys.path)  # what the sample's Python gets back: `python -I -S`'s own path
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _fsutil  # noqa: E402
import _funcserver  # noqa: E402  (imported here, so every sample starts with it warm)
import _seccomp  # noqa: E402
import _wire  # noqa: E402

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID = 0x20000, 0x08000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 36, 38
GRACE = 1.0  # seconds S gets to collect results after a stop, before SIGKILL
SCRATCH = "/tmp/sandbox"

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src, target, fstype, flags, data=None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(_libc.mount(enc(src), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def _prctl(option: int, arg: int) -> None:
    _check(_libc.prctl(option, arg, 0, 0, 0), f"prctl {option}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _clear_capabilities() -> None:
    """Empty effective, permitted and inheritable sets (setuid emptied the first two already)."""
    _check(_libc.capset(ctypes.byref(_CapHeader(0x20080522, 0)), (_CapData * 2)()), "capset")


class _Stop(Exception):
    """The zygote asked the supervisor to stop the sample (timeout or the host's kill)."""


# ------------------------------------------------------------------ the zygote's loop
def main() -> None:
    cfg = json.loads(sys.argv[1])
    sock = socket.socket(fileno=cfg["fd"])
    own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC) if cfg["isolate"] else None
    if own_pidns is None:  # unsafe mode: orphans of a sample come back to us, not to the host's init
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _wire.send_msg(sock, ["hello", os.getpid()])
    while True:
        msg, fds = _wire.recv_msg(sock)
        if msg is None:
            return
        if msg.get("op") == "job":
            run_job(sock, msg, fds, cfg, own_pidns)
        else:  # a stale kill for a job that already ended
            for fd in fds:
                os.close(fd)


def _new_pid_namespace(own_pidns: int) -> None:
    """The next fork starts a fresh PID namespace (setns first: unshare works once per namespace)."""
    _check(_libc.setns(own_pidns, CLONE_NEWPID), "setns")
    _check(_libc.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")


def run_job(sock: socket.socket, job: dict, fds: list[int], cfg: dict, own_pidns: int | None) -> None:
    start = time.monotonic()
    if own_pidns is not None:
        _new_pid_namespace(own_pidns)
    workdir = None if cfg["isolate"] else tempfile.mkdtemp(prefix="s-", dir=cfg["scratch_root"])
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            sock.close()
            supervise(job, fds, cfg, workdir)
        except BaseException:  # noqa: BLE001 - the report already says what failed
            code = 70
        os._exit(code)
    for fd in fds:
        os.close(fd)
    timed_out, killed = _wait_supervisor(sock, job, pid, start + float(job["limits"]["wall"]))
    _, status = os.waitpid(pid, 0)
    cleanup = None
    if workdir:  # unsafe mode: no namespace takes the processes and no tmpfs the files along
        _kill_adopted(pid)
        try:
            _fsutil.remove_tree(workdir)
        except OSError as exc:
            cleanup = f"{type(exc).__name__}: {exc}"
    _wire.send_msg(sock, {"op": "done", "id": job["id"], "timed_out": timed_out, "killed": killed,
                          "status": os.waitstatus_to_exitcode(status), "elapsed": time.monotonic() - start,
                          "cleanup_error": cleanup})


def _kill_adopted(pgid: int) -> None:
    """Unsafe mode: kill the sample's process group and every orphan it left (adopted by us, the
    subreaper), then reap them."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
    me = os.getpid()
    for _ in range(100):  # each round's dead orphans hand their own children to us
        try:
            with open(f"/proc/{me}/task/{me}/children") as fh:
                orphans = [int(p) for p in fh.read().split()]
        except OSError:
            return
        if not orphans:
            return
        for child in orphans:
            try:
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
            except OSError:
                pass


def _wait_supervisor(sock: socket.socket, job: dict, pid: int, deadline: float) -> tuple[bool, bool]:
    """Wait for S to exit; on the deadline or the host's kill, ask it to stop, then SIGKILL it."""
    pidfd = os.pidfd_open(pid)
    timed_out = killed = False
    stop_at: float | None = None
    try:
        while True:
            until = deadline if stop_at is None else stop_at + GRACE
            wait = None if until == float("inf") else max(0.0, until - time.monotonic())
            ready = select.select([pidfd, sock], [], [], wait)[0]
            if pidfd in ready:
                return timed_out, killed
            if sock in ready:
                msg, extra = _wire.recv_msg(sock)
                for fd in extra:
                    os.close(fd)
                if msg is None:  # the host is gone: so is the sample
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    os._exit(0)
                if msg.get("op") == "kill" and msg.get("id") == job["id"] and stop_at is None:
                    killed, stop_at = True, time.monotonic()
                    os.kill(pid, signal.SIGUSR1)
                continue
            if not ready and time.monotonic() >= until:
                if stop_at is None:
                    timed_out, stop_at = True, time.monotonic()
                    os.kill(pid, signal.SIGUSR1)
                else:
                    os.kill(pid, signal.SIGKILL)
                    stop_at = float("inf")
    finally:
        os.close(pidfd)


# ------------------------------------------------------------------ the supervisor (S)
def _raise_stop(signum, frame):
    raise _Stop()


def supervise(job: dict, fds: list[int], cfg: dict, workdir: str | None) -> None:
    signal.signal(signal.SIGUSR1, _raise_stop)
    payload_r, report_w, out_w, err_w, *rest = fds
    stdin_r = rest.pop(0) if job["stdin"] else None
    rpc = rest if job["rpc"] else []
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _prctl(PR_SET_DUMPABLE, 0)
    isolate, rc, error, worker = cfg["isolate"], None, None, None
    try:
        workdir = _make_scratch(job, cfg, workdir)
        _write_files(job, payload_r, workdir, cfg.get("uid"))
        os.close(payload_r)
        if isolate:
            os.chown(workdir, cfg["uid"], cfg["uid"])
        worker = os.fork()
        if worker == 0:
            run_worker(job, cfg, workdir, [stdin_r, out_w, err_w, *rpc])
        for fd in [out_w, err_w, *rpc] + ([stdin_r] if stdin_r is not None else []):
            os.close(fd)
        _, status = os.waitpid(worker, 0)
        rc = os.waitstatus_to_exitcode(status)
    except _Stop:
        pass
    except Exception as exc:  # noqa: BLE001 - setup failed: the host reports it
        error = f"{type(exc).__name__}: {exc}"[:500]
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    _end_sample(isolate, worker)
    files = _collect(workdir, job) if workdir else []
    head = {"rc": rc, "error": error, "files": [[name, len(data)] for name, data in files]}
    _wire.write_frame(report_w, _wire.dumps(head))
    for _, data in files:
        _wire.write_frame(report_w, data)


def _make_scratch(job: dict, cfg: dict, workdir: str | None) -> str:
    if workdir is not None:  # unsafe mode: the zygote's folder, removed by the zygote
        os.setpgid(0, 0)
        return workdir
    lim = job["limits"]
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWIPC), "unshare(mount, ipc)")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    # the sample's whole writable world: bytes and inodes capped; gone with the mount namespace
    _mount("sandbox", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
           f"size={int(lim['disk'])},nr_inodes={int(lim['inodes']) + 3},mode=1777")
    os.mkdir(SCRATCH, 0o755)  # the sample's once its files are in (then the supervisor only reads)
    if os.path.isdir("/dev/shm"):
        os.mkdir("/tmp/.shm", 0o1777)
        os.chmod("/tmp/.shm", 0o1777)
        _mount("/tmp/.shm", "/dev/shm", None, MS_BIND)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for sub in ("sys", "sysrq-trigger", "irq", "bus"):
        path = "/proc/" + sub
        if os.path.exists(path):
            _mount(path, path, None, MS_BIND | MS_REC)
            _mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    return SCRATCH


def _read_exact(fd: int, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError("the job's files were cut short")
        buf += chunk
    return bytes(buf)


def _write_files(job: dict, payload_r: int, workdir: str, uid: int | None) -> None:
    """The job's files, read from the payload pipe, written as root; then folders and writable files
    are given to the sample's uid (read-only files stay root's, mode 0444)."""
    top = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY)
    give: list[str] = []
    try:
        for name, size, ro in job["files"]:
            data = _read_exact(payload_r, int(size))
            parts = [p for p in name.split("/") if p]
            if not parts or any(p in (".", "..") for p in parts):
                raise ValueError(f"bad file name {name!r}")
            for i in range(1, len(parts)):
                folder = "/".join(parts[:i])
                try:
                    os.mkdir(folder, 0o755, dir_fd=top)
                    give.append(folder)
                except FileExistsError:
                    pass
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444 if ro else 0o644,
                         dir_fd=top)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            if not ro:
                give.append(name)
        if uid is not None:
            for name in give:
                os.chown(name, uid, uid, dir_fd=top, follow_symlinks=False)
    finally:
        os.close(top)


def _end_sample(isolate: bool, worker: int | None) -> None:
    """Kill every process the sample left and reap them all."""
    if isolate:
        try:
            os.kill(-1, signal.SIGKILL)  # as pid 1: everything else in this PID namespace
        except ProcessLookupError:
            pass
    elif worker:  # unsafe mode: the zygote kills this process group once this process is gone
        try:
            os.kill(worker, signal.SIGKILL)
        except OSError:
            pass
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def _collect(workdir: str, job: dict) -> list[tuple[str, bytes]]:
    out = []
    cap = int(job["collect_cap"])
    try:
        top = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return out
    try:
        for name in job["collect"]:
            data = _fsutil.read_beneath(top, name, cap)
            if data is not None:
                out.append((name, data))
    finally:
        os.close(top)
    return out


# ------------------------------------------------------------------ the worker (W): the sample itself
def _arrange_fds(fds: list[int | None]) -> None:
    """fds[i] becomes descriptor i (None: /dev/null); every other descriptor is closed."""
    fds = [os.open("/dev/null", os.O_RDONLY) if fd is None else fd for fd in fds]
    high = [os.dup(fd) for fd in fds]
    for i, fd in enumerate(high):
        os.dup2(fd, i)
    os.closerange(len(fds), os.sysconf("SC_OPEN_MAX") if os.sysconf("SC_OPEN_MAX") > 0 else 65536)


def _set_limits(lim: dict, uid: int | None) -> None:
    import resource

    for res, value in ((resource.RLIMIT_CPU, lim["cpu"]), (resource.RLIMIT_AS, lim["as"]),
                       (resource.RLIMIT_FSIZE, lim["fsize"]), (resource.RLIMIT_NOFILE, lim["nofile"]),
                       (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(res, (int(value), int(value)))
    if uid is not None:  # per host uid; the slot's uid is its own, so this bounds only this sample
        resource.setrlimit(resource.RLIMIT_NPROC, (int(lim["nproc"]), int(lim["nproc"])))


def run_worker(job: dict, cfg: dict, workdir: str, fds: list[int | None]) -> None:
    try:
        _arrange_fds(fds)
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        os.umask(0o022)
        _set_limits(job["limits"], cfg.get("uid"))
        uid = cfg.get("uid")
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)  # from root to a plain uid: every capability is gone
            _clear_capabilities()
            _prctl(PR_SET_DUMPABLE, 1)
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        if uid is not None:
            _seccomp.install()
        os.chdir(workdir)
        env = {str(k): str(v) for k, v in job["env"].items()}
        if job["mode"] == "exec":
            for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):
                signal.signal(sig, signal.SIG_DFL)
            os.execvpe(job["argv"][0], job["argv"], env)
        sys.path[:] = _BASE_PATH
        os.environ.clear()
        os.environ.update(env)
        if job["mode"] == "pyrun":
            _funcserver.run_script(job["argv"][0], job["argv"][1:])
        _funcserver.serve(job["argv"][0], 3, 4)
    except BaseException as exc:  # noqa: BLE001 - report on the sample's stderr and leave
        try:
            os.write(2, f"sandbox: could not start the program: {type(exc).__name__}: {exc}\n".encode())
        finally:
            os._exit(127)
    os._exit(0)


if __name__ == "__main__":
    main()
