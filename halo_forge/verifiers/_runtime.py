"""What the sandbox sees and who it runs as: the bubblewrap command line and the host uids.

The file system inside is built from nothing (bubblewrap's tmpfs root), read-only:

- ``/usr`` and ``/etc`` (and ``/bin``, ``/lib``… as the host has them: links into /usr or binds);
- the base interpreter of this Python (its executable, ``libpython`` and standard library, at their
  host paths) with every ``site-packages``/``dist-packages`` folder masked by an empty read-only tmpfs:
  sandboxed Python gets the standard library only, never the project's venv (which holds, among
  others, the HumanEval tests);
- the fork server's standard-library-only modules at ``/opt/halo-forge``;
- a fresh ``/proc`` and ``/dev``; ``/tmp`` is replaced per sample by its own capped tmpfs.

Nothing else of the host exists inside: no home folders, no ``/run`` or ``/var`` (no host sockets),
no ``/sys`` (no cgroup files), no datasets or repositories.

Each pool slot runs its samples as its own unprivileged host uid (no user namespace: the id inside is
the id outside), leased for the slot's life with an ``flock`` that dies with this process, so two
halo-forge processes on one host never share a uid between live slots.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import stat
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

INSIDE = "/opt/halo-forge"
ZYGOTE_MODULES = ("_zygote.py", "_wire.py", "_fsutil.py", "_funcserver.py", "_seccomp.py")
HERE = Path(__file__).resolve().parent
UID_BASE = int(os.environ.get("HALO_FORGE_SANDBOX_UID_BASE", "2100000000"))
UID_COUNT = 4096
CAPS = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_CHOWN")  # the zygote's; samples have none


@dataclass(frozen=True)
class Runtime:
    """The interpreter sandboxed Python runs under and the paths it needs."""

    exe: str
    stdlib: str
    libpython: str | None
    masks: tuple[str, ...] = field(default_factory=tuple)

    @property
    def python_argv(self) -> list[str]:
        """Isolated mode, no site: the standard library only, no PYTHON* variables."""
        return [self.exe, "-I", "-S"]

    def problem(self) -> str | None:
        """Why bubblewrap cannot serve this interpreter, or None."""
        for path in (self.exe, self.stdlib, self.libpython):
            if path and (path == "/tmp" or path.startswith("/tmp/")):
                return (f"the base interpreter lives under /tmp ({path}), which each sample replaces with "
                        f"its own tmpfs")
        need = [(self.exe, stat.S_IROTH | stat.S_IXOTH), (self.stdlib, stat.S_IXOTH),
                (os.path.join(self.stdlib, "os.py"), stat.S_IROTH)]
        for path, bits in need + ([(self.libpython, stat.S_IROTH)] if self.libpython else []):
            try:
                if os.stat(path).st_mode & bits != bits:
                    return (f"{path} is not readable by other users: samples run as an unprivileged uid, so "
                            f"the base interpreter must be installed world-readable (umask 022)")
            except OSError as exc:
                return f"cannot inspect the base interpreter ({exc})"
        return None


@functools.lru_cache(maxsize=1)
def runtime() -> Runtime:
    exe = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    stdlib = os.path.realpath(os.path.dirname(os.__file__))
    lib = None
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        name = sysconfig.get_config_var("INSTSONAME") or sysconfig.get_config_var("LDLIBRARY")
        cand = os.path.join(sysconfig.get_config_var("LIBDIR") or "", name or "")
        lib = os.path.realpath(cand) if name and os.path.exists(cand) else None
    ver = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    masks = [os.path.join(stdlib, "site-packages"), os.path.join(stdlib, "dist-packages"),
             "/usr/lib/python3/dist-packages", f"/usr/local/lib/{ver}/dist-packages",
             f"/usr/local/lib/{ver}/site-packages"]
    return Runtime(exe, stdlib, lib, tuple(m for m in masks if os.path.isdir(m)))


def _root_entries() -> list[str]:
    """bwrap arguments for /bin, /lib… as the host has them (merged-/usr links or directories)."""
    out: list[str] = []
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = f"/{name}"
        if os.path.islink(path):
            out += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            out += ["--ro-bind", path, path]
    return out


def _ancestors(paths: list[str]) -> list[str]:
    """Every folder above ``paths`` (outside /usr), parents first."""
    out: list[str] = []
    for path in paths:
        parts = Path(path).parent.parts[1:]
        for i in range(1, len(parts) + 1):
            folder = "/" + "/".join(parts[:i])
            if folder not in out and folder != "/usr" and not folder.startswith("/usr/"):
                out.append(folder)
    return out


def bwrap_argv(rt: Runtime, config: dict) -> list[str]:
    """The zygote's command line under bubblewrap (run as root: it needs root's view to bind the
    interpreter from wherever it lives; the samples drop to the slot's uid themselves)."""
    argv = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--as-pid-1", "--new-session", "--hostname", "sandbox", "--cap-drop", "ALL"]
    for cap in CAPS:
        argv += ["--cap-add", cap]
    argv += ["--ro-bind", "/usr", "/usr", *_root_entries(), "--ro-bind", "/etc", "/etc",
             "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    bound = [p for p in (rt.exe, rt.stdlib, rt.libpython) if p and not p.startswith("/usr/")]
    for folder in _ancestors(bound + [f"{INSIDE}/x"]):  # bwrap would make them 0700: the uid must pass
        argv += ["--perms", "0755", "--dir", folder]
    for path in bound:
        argv += ["--ro-bind", path, path]
    for mask in rt.masks:
        argv += ["--tmpfs", mask, "--remount-ro", mask]
    for mod in ZYGOTE_MODULES:
        argv += ["--ro-bind", str(HERE / mod), f"{INSIDE}/{mod}"]
    argv += ["--chdir", "/", *rt.python_argv, f"{INSIDE}/_zygote.py", json.dumps(config)]
    return argv


def unsafe_argv(rt: Runtime, config: dict) -> list[str]:
    return [*rt.python_argv, str(HERE / "_zygote.py"), json.dumps(config)]


class UidLease:
    """One unprivileged host uid, held (flock) until :meth:`release` or this process's end."""

    def __init__(self) -> None:
        folder = _lease_dir()
        for uid in range(UID_BASE, UID_BASE + UID_COUNT):
            fd = os.open(folder / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            return
        raise RuntimeError(f"all {UID_COUNT} sandbox uids from {UID_BASE} are in use on this host")

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _lease_dir() -> Path:
    for base in ("/run", tempfile.gettempdir()):
        folder = Path(base) / "halo-forge-sandbox-uids"
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            if folder.stat().st_uid == os.geteuid() and not folder.is_symlink():
                os.chmod(folder, 0o700)
                return folder
        except OSError:
            continue
    raise RuntimeError("no private folder for the sandbox's uid leases (/run or the temp folder)")
