"""Run model-written code where it cannot hurt the host.

Isolation levels, picked once per process (:func:`detect_isolation`):

- ``bwrap``   bubblewrap: own user, PID, network, IPC, UTS and mount namespaces; the root file system
              read-only; a fresh /proc, /dev and a size-capped tmpfs /tmp; the scratch directory the
              only writable host path; runs as uid 65534 without capabilities; dies with its parent.
- ``unshare`` fallback when bubblewrap is missing and we are root: ``unshare`` gives own PID,
              network, IPC, UTS and mount namespaces; ``setpriv`` drops to uid/gid 65534 with no
              capabilities, so root-owned files are read-only to it (world-writable dirs such as
              /tmp remain writable; that is the difference from bwrap).
- ``unshare-root`` the same, but uid 65534 cannot run this Python (it lives under /root), so the
              program keeps uid 0 with every capability dropped: network, PID namespace, limits and
              scrubbed environment hold, but root-owned files stay writable. Install bubblewrap.
- ``none``    neither is possible: code is refused unless ``unsafe=True``
              (``--unsafe-verifier-execution``), which runs it as a plain subprocess with the
              rlimits and timeout only.

Always, whatever the level: rlimits on CPU seconds, address space, file size and open files; a
process-count bound through a cgroup-v1 ``pids`` controller (as root RLIMIT_NPROC does not bind) plus
a ``memory`` cgroup limit when those hierarchies are writable; a wall-clock timeout after which the
whole tree is killed (process group, PID namespace and every pid left in the cgroup); stdout/stderr
read through a bounded buffer (the process is killed once it exceeds the cap, never buffered whole);
an environment rebuilt from scratch (PATH, LANG, HOME only: no parent secrets); a scratch directory
removed afterwards.

Success is never read from here: callers compare outputs they computed, or look for a nonce only
they know. The sandbox reports what happened (exit code, signal, timeout, truncation).
"""

from __future__ import annotations

import atexit
import os
import queue
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Sequence

from halo_forge.errors import HaloForgeError, SandboxUnavailable  # noqa: F401

NOBODY = 65534
SANDBOX_DIR = "/tmp/sandbox"  # where the scratch directory appears inside bwrap (on top of its tmpfs /tmp)
CLEAN_PATH = "/usr/local/bin:/usr/bin:/bin"
UNSAFE_FLAG = "--unsafe-verifier-execution"


@dataclass(frozen=True)
class Limits:
    """Per-run limits. ``wall_seconds`` bounds the whole run (all processes, start to end)."""

    wall_seconds: float = 10.0
    cpu_seconds: int = 10            # RLIMIT_CPU, per process
    memory_mb: int = 1024            # RLIMIT_AS per process and the memory cgroup of the run
    file_size_mb: int = 16           # RLIMIT_FSIZE: largest file any process may write
    open_files: int = 64             # RLIMIT_NOFILE
    processes: int = 64              # pids cgroup (RLIMIT_NPROC too when not root)
    output_bytes: int = 1 << 20      # stdout and stderr each: kept up to this, then the run is killed
    tmpfs_mb: int = 64               # size of the private /tmp (bwrap)

    def with_(self, **kw) -> "Limits":
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


@dataclass
class SandboxResult:
    returncode: int | None           # None when killed by us (timeout / output cap)
    stdout: bytes
    stderr: bytes
    timed_out: bool
    output_truncated: bool
    duration: float
    isolation: str
    files: dict[str, bytes] = field(default_factory=dict)  # the collected scratch files

    @property
    def signal(self) -> int | None:
        rc = self.returncode
        return -rc if rc is not None and rc < 0 else (rc - 128 if rc is not None and rc > 128 else None)

    def text(self, which: str = "stdout") -> str:
        return getattr(self, which).decode("utf-8", "replace")


# ------------------------------------------------------------------ isolation detection
_ISO_LOCK = threading.Lock()
_ISO: dict[str, str] = {}


def _probe(argv: list[str]) -> bool:
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=10, env=_clean_env("/"))
        return r.returncode == 0 and r.stdout.strip() == b"ok"
    except (OSError, subprocess.SubprocessError):
        return False


def detect_isolation() -> str:
    """``bwrap``, ``unshare`` or ``none`` (cached; ``HALO_FORGE_SANDBOX=bwrap|unshare|none`` forces one)."""
    with _ISO_LOCK:
        if "level" in _ISO:
            return _ISO["level"]
        forced = os.environ.get("HALO_FORGE_SANDBOX", "").strip().lower()
        level = "none"
        if forced in ("bwrap", "unshare", "unshare-root", "none"):
            candidates = [forced]
        else:
            candidates = ["bwrap", "unshare"]
        for cand in candidates:
            if cand == "bwrap" and shutil.which("bwrap"):
                # the same shape as a real run: the sandboxed interpreter must start
                if _probe(_bwrap_prefix(Path("/tmp"), Limits(), bind=False)
                          + [sys.executable, "-I", "-c", "print('ok')"]):
                    level = "bwrap"
                    break
            if cand == "unshare" and os.geteuid() == 0 and shutil.which("unshare") and shutil.which("setpriv"):
                # the same shape as a real run: a shell (no capabilities left) execs the interpreter
                probe = ["/bin/sh", "-c", 'exec "$@"', "sh", sys.executable, "-I", "-c", "print('ok')"]
                if _probe(_unshare_prefix(drop_uid=True) + probe):
                    level = "unshare"
                    break
                if _probe(_unshare_prefix(drop_uid=False) + probe):
                    level = "unshare-root"  # uid 65534 cannot reach this interpreter (e.g. under /root)
                    break
        _ISO["level"] = level
        return level


def isolation_report() -> dict[str, object]:
    """What is active on this machine, for docs, `verifiers list` and summaries."""
    level = detect_isolation()
    cg = _cgroups()
    return {"isolation": level, "bwrap": shutil.which("bwrap") is not None, "root": os.geteuid() == 0,
            "pids_cgroup": cg.pids_ok, "memory_cgroup": cg.memory_ok,
            "process_bound": "pids cgroup" if cg.pids_ok else ("RLIMIT_NPROC" if os.geteuid() != 0 or level != "none"
                                                                else "none (root without pids cgroup)")}


# ------------------------------------------------------------------ cgroups (v1)
class _Cgroups:
    """Per-process parent cgroups ``halo_forge_sbx_<pid>`` under our own pids/memory cgroups, with one
    reusable child per concurrent run (slot): joining costs one write, cleaning one read."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.free: "queue.SimpleQueue[int]" = queue.SimpleQueue()
        self.next_slot = 0
        self.roots: dict[str, Path] = {}
        for ctl in ("pids", "memory"):
            root = self._own(ctl)
            if root is None:
                continue
            self._sweep_stale(root)
            base = root / f"halo_forge_sbx_{os.getpid()}"
            try:
                base.mkdir(exist_ok=True)
                (base / "probe").mkdir(exist_ok=True)
                (base / "probe").rmdir()
                self.roots[ctl] = base
            except OSError:
                continue
        if self.roots:
            atexit.register(self.remove_all)

    @property
    def pids_ok(self) -> bool:
        return "pids" in self.roots

    @property
    def memory_ok(self) -> bool:
        return "memory" in self.roots

    @staticmethod
    def _own(ctl: str) -> Path | None:
        mount = Path("/sys/fs/cgroup") / ctl
        if not (mount / "cgroup.procs").exists():
            return None
        try:
            for line in Path("/proc/self/cgroup").read_text().splitlines():
                _, ctls, path = line.split(":", 2)
                if ctl in ctls.split(","):
                    p = mount / path.lstrip("/")
                    return p if os.access(p, os.W_OK) else None
        except OSError:
            return None
        return None

    @staticmethod
    def _sweep_stale(root: Path) -> None:
        for d in root.glob("halo_forge_sbx_*"):
            try:
                pid = int(d.name.rsplit("_", 1)[1])
                if pid != os.getpid() and not Path(f"/proc/{pid}").exists():
                    _Cgroups._remove_tree(d)
            except (ValueError, OSError):
                pass

    @staticmethod
    def _remove_tree(d: Path) -> None:
        for child in d.iterdir():
            if child.is_dir():
                _kill_cgroup(child)
                try:
                    child.rmdir()
                except OSError:
                    pass
        try:
            d.rmdir()
        except OSError:
            pass

    def acquire(self, limits: Limits) -> tuple[int | None, list[Path]]:
        if not self.roots:
            return None, []
        try:
            slot = self.free.get_nowait()
        except queue.Empty:
            with self.lock:
                slot = self.next_slot
                self.next_slot += 1
        dirs = []
        for ctl, base in self.roots.items():
            d = base / f"slot{slot}"
            d.mkdir(exist_ok=True)
            if ctl == "pids":
                (d / "pids.max").write_text(str(limits.processes))
            else:
                _set_memory_limit(d, limits.memory_mb << 20)
            dirs.append(d)
        return slot, dirs

    def release(self, slot: int | None, dirs: list[Path]) -> None:
        if slot is None:
            return
        clean = True
        for d in dirs:
            clean &= _kill_cgroup(d)
        if clean:
            self.free.put(slot)  # a slot whose processes refuse to die is never reused

    def remove_all(self) -> None:
        for base in self.roots.values():
            if base.exists():
                self._remove_tree(base)


def _set_memory_limit(d: Path, limit: int) -> None:
    """memory.limit_in_bytes must stay ≤ memory.memsw.limit_in_bytes (when swap accounting exists):
    lower the first one first, raise the second one first."""
    files = [d / "memory.limit_in_bytes", d / "memory.memsw.limit_in_bytes"]
    if not files[1].exists():
        files[0].write_text(str(limit))
        return
    try:
        files[0].write_text(str(limit))
        files[1].write_text(str(limit))
    except OSError:
        files[1].write_text(str(limit))
        files[0].write_text(str(limit))


def _kill_cgroup(d: Path, patience: float = 2.0) -> bool:
    """SIGKILL every process in the cgroup until it is empty; True when it is."""
    deadline = time.monotonic() + patience
    nap = 0.0005  # a just-finished run's namespace is usually gone within a millisecond or two
    while True:
        try:
            pids = [int(p) for p in (d / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return True
        if not pids:
            return True
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            return False
        time.sleep(nap)
        nap = min(nap * 2, 0.02)


_CG: _Cgroups | None = None
_CG_LOCK = threading.Lock()


def _cgroups() -> _Cgroups:
    global _CG
    with _CG_LOCK:
        if _CG is None or _CG_PID[0] != os.getpid():
            _CG = _Cgroups()
            _CG_PID[0] = os.getpid()
        return _CG


_CG_PID = [0]


# ------------------------------------------------------------------ command construction
def _clean_env(home: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {"PATH": CLEAN_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": home, "TMPDIR": "/tmp",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.update(extra or {})
    return env


def _paths_under_tmp() -> list[str]:
    """The interpreter, its environment and this package, where they live under /tmp: the sandbox's
    private tmpfs /tmp would hide them, so they are bound back read-only."""
    import halo_forge

    found = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, os.path.dirname(sys.executable),
                                           os.path.dirname(os.path.realpath(sys.executable)),
                                           str(Path(halo_forge.__file__).resolve().parents[1]))}
    return sorted(p for p in found if p.startswith("/tmp/"))


def _bwrap_prefix(scratch: Path, limits: Limits, bind: bool = True) -> list[str]:
    # --as-pid-1: our shell is the namespace's init (one process fewer per run); when it exits the
    # kernel kills everything left in the namespace
    argv = ["bwrap", "--unshare-all", "--as-pid-1", "--die-with-parent", "--new-session", "--ro-bind", "/", "/",
            "--dev", "/dev", "--proc", "/proc", "--size", str(limits.tmpfs_mb << 20), "--tmpfs", "/tmp",
            "--hostname", "sandbox", "--uid", str(NOBODY), "--gid", str(NOBODY), "--cap-drop", "ALL"]
    for path in _paths_under_tmp():
        argv += ["--ro-bind", path, path]
    if bind:
        argv += ["--bind", str(scratch), SANDBOX_DIR, "--chdir", SANDBOX_DIR]
    return argv


def _unshare_prefix(drop_uid: bool = True) -> list[str]:
    ids = [f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"] if drop_uid else []
    return ["unshare", "--net", "--pid", "--ipc", "--uts", "--mount", "--fork", "--kill-child", "--mount-proc",
            "setpriv", *ids, "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]


def _ulimit_script(limits: Limits, nproc: bool) -> str:
    parts = [f"ulimit -t {max(1, int(limits.cpu_seconds))}", f"ulimit -v {limits.memory_mb << 10}",
             f"ulimit -f {limits.file_size_mb << 11}", f"ulimit -n {limits.open_files}", "ulimit -c 0"]
    if nproc:
        parts.append(f"ulimit -u {limits.processes}")
    return " && ".join(parts) + ' && exec "$@"'


# ------------------------------------------------------------------ bounded output
def _read_bounded(proc: subprocess.Popen, deadline: float, cap: int) -> tuple[bytes, bytes, bool, bool]:
    """Read stdout/stderr until EOF or the deadline, keeping at most ``cap`` bytes each; returns
    (stdout, stderr, timed_out, truncated). Stops reading (caller kills) on timeout or overflow."""
    bufs = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    sel = selectors.DefaultSelector()
    for f in bufs:
        os.set_blocking(f.fileno(), False)
        sel.register(f, selectors.EVENT_READ)
    timed_out = truncated = False
    try:
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for key, _ in sel.select(timeout=min(left, 0.5)):
                try:
                    chunk = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                buf = bufs[key.fileobj]
                room = cap - len(buf)
                buf += chunk[:max(room, 0)]
                if len(chunk) > room:
                    truncated = True
            if truncated:
                break
    finally:
        sel.close()
    return bytes(bufs[proc.stdout]), bytes(bufs[proc.stderr]), timed_out, truncated


def _kill_tree(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass


# ------------------------------------------------------------------ the sandbox
class Sandbox:
    """Runs argv in a fresh scratch directory under the strongest isolation available.

    ``files`` are written into the scratch directory first (``ro_files`` too, made read-only);
    ``stdin`` (bytes) is fed through a pipe (so the program cannot read it back from disk);
    ``collect`` names scratch files whose contents (≤ file_size_mb each) are returned.
    Inside, the scratch directory is the working directory (``/sandbox`` under bwrap)."""

    def __init__(self, limits: Limits | None = None, *, unsafe: bool = False, isolation: str | None = None,
                 max_parallel: int | None = None, scratch_root: str | None = None) -> None:
        self.limits = limits or Limits()
        self.unsafe = bool(unsafe)
        level = isolation or detect_isolation()
        if level == "none" and not self.unsafe:
            raise SandboxUnavailable(
                "refusing to run model-written code: no sandbox is available here (bubblewrap is not "
                "installed and unshare/setpriv as root did not work)",
                hint=f"install bubblewrap (apt-get install -y bubblewrap; scripts/install.sh does it as root), or "
                     f"pass {UNSAFE_FLAG} (unsafe=True) to run it as a plain subprocess with rlimits only")
        self.isolation = level if level != "none" else "none (unsafe)"
        self._level = level
        self._gate = threading.BoundedSemaphore(max_parallel) if max_parallel else None
        self.scratch_root = scratch_root

    @property
    def workdir(self) -> str:
        """The scratch directory's path as the sandboxed program sees it."""
        return SANDBOX_DIR if self._level == "bwrap" else "."

    def describe(self) -> str:
        cg = _cgroups()
        parts = [self.isolation, "rlimits cpu/as/fsize/nofile"]
        if cg.pids_ok:
            parts.append("pids cgroup")
        if cg.memory_ok:
            parts.append("memory cgroup")
        return " + ".join(parts)

    def run(self, argv: Sequence[str], *, files: Mapping[str, bytes | str] | None = None,
            ro_files: Mapping[str, bytes | str] | None = None, stdin: bytes | str | None = None,
            collect: Sequence[str] = (), limits: Limits | None = None,
            env: Mapping[str, str] | None = None) -> SandboxResult:
        lim = limits or self.limits
        if self._gate:
            self._gate.acquire()
        try:
            return self._run(list(argv), files or {}, ro_files or {}, stdin, collect, lim, env)
        finally:
            if self._gate:
                self._gate.release()

    def _run(self, argv, files, ro_files, stdin, collect, lim: Limits, env) -> SandboxResult:
        scratch = Path(tempfile.mkdtemp(prefix="hf-sbx-", dir=self.scratch_root))
        cg = _cgroups()
        slot, cg_dirs = cg.acquire(lim)
        start = time.monotonic()
        proc = None
        try:
            for name, data in {**files, **ro_files}.items():
                p = scratch / name
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data.encode() if isinstance(data, str) else data)
                if name in ro_files:
                    p.chmod(0o444)
            home = SANDBOX_DIR if self._level == "bwrap" else str(scratch)
            if self._level == "unshare":  # the program runs as uid 65534: give it the scratch dir
                os.chown(scratch, NOBODY, NOBODY)
                for p in scratch.rglob("*"):
                    if p.relative_to(scratch).as_posix() not in ro_files:
                        os.chown(p, NOBODY, NOBODY)
            if self._level == "bwrap":
                cmd = _bwrap_prefix(scratch, lim) + list(argv)
            elif self._level in ("unshare", "unshare-root"):
                cmd = _unshare_prefix(drop_uid=self._level == "unshare") + list(argv)
            else:
                cmd = list(argv)
            # one host shell joins the run's cgroups and sets the rlimits, then execs the isolation
            # layer: both are inherited by everything inside before any untrusted code starts
            script = _ulimit_script(lim, nproc=os.geteuid() != 0 and not cg.pids_ok)
            if cg_dirs:
                joins = " && ".join(f'echo $$ > "{d}/cgroup.procs"' for d in cg_dirs)
                script = f"{{ {joins}; }} || exit 125; {script}"
            cmd = ["/bin/sh", "-c", script, "sh", *cmd]
            data = stdin.encode() if isinstance(stdin, str) else stdin
            pipe_in = data is not None and len(data) <= 60000
            stdin_f = None
            if data is not None and not pipe_in:
                (scratch / ".stdin").write_bytes(data)
                stdin_f = open(scratch / ".stdin", "rb")
            proc = subprocess.Popen(cmd, cwd=scratch, env=_clean_env(home, env), start_new_session=True,
                                    stdin=subprocess.PIPE if pipe_in else (stdin_f or subprocess.DEVNULL),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True)
            if stdin_f:
                stdin_f.close()
            if pipe_in:
                try:
                    proc.stdin.write(data)
                except BrokenPipeError:
                    pass
                finally:
                    try:
                        proc.stdin.close()
                    except BrokenPipeError:
                        pass
            out, err, timed_out, truncated = _read_bounded(proc, start + lim.wall_seconds, lim.output_bytes)
            if timed_out or truncated:
                _kill_tree(proc)
            try:
                rc = proc.wait(timeout=max(0.1, start + lim.wall_seconds - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_tree(proc)
                rc = proc.wait()
            if timed_out or truncated:
                rc = None
            got: dict[str, bytes] = {}
            cap = lim.file_size_mb << 20
            for name in collect:
                p = scratch / name
                try:
                    if p.is_file() and not p.is_symlink():
                        with open(p, "rb") as fh:
                            got[name] = fh.read(cap)
                except OSError:
                    pass
            return SandboxResult(rc, out, err, timed_out, truncated, time.monotonic() - start, self.isolation, got)
        finally:
            if proc is not None and proc.poll() is None:
                _kill_tree(proc)
                proc.wait()
            if proc is not None:
                for f in (proc.stdout, proc.stderr):
                    if f:
                        f.close()
            cg.release(slot, cg_dirs)
            shutil.rmtree(scratch, ignore_errors=True)
            if scratch.exists():  # files made read-only by the program (unshare fallback)
                subprocess.run(["chmod", "-R", "u+rwx", str(scratch)], check=False)
                shutil.rmtree(scratch, ignore_errors=True)


_DEFAULT: dict[tuple, Sandbox] = {}


def get_sandbox(unsafe: bool = False, limits: Limits | None = None) -> Sandbox:
    key = (bool(unsafe), limits)
    if key not in _DEFAULT:
        _DEFAULT[key] = Sandbox(limits, unsafe=unsafe)
    return _DEFAULT[key]


__all__ = ["Sandbox", "SandboxResult", "Limits", "SandboxUnavailable", "detect_isolation", "isolation_report",
           "UNSAFE_FLAG"]
