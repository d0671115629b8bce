"""Run model-written code where it cannot hurt the host, other samples, or the verdict.

Isolation levels (:func:`detect_isolation`; docs/VERIFIERS.md has the table of what each guarantees):

- ``bwrap``  bubblewrap started by root builds a file system from nothing (``/usr``, ``/etc``, the base
             interpreter's standard library; no home folders, sockets, ``/sys`` or datasets) with
             private PID, network, IPC, UTS and mount namespaces; a warm fork server inside
             (``_zygote.py``) gives every sample a fresh PID, mount and IPC namespace, its own size- and
             file-count-capped tmpfs, and runs it as the slot's own unprivileged host uid with no
             capabilities and ``no_new_privs`` (``_runtime.py``: host uids are leased per slot).
- ``none``   bubblewrap missing, not root, or it failed its probe: code-running verifiers refuse, naming
             the fix, unless ``unsafe=True`` (``--unsafe-verifier-execution``) — then the same fork
             server runs as a plain process: limits, timeouts, output caps and a scrubbed environment
             hold; identity, file-system and sample separation do not.

Always: rlimits (CPU seconds, address space, file size, open files, processes), per-slot cgroup-v1
``pids`` and ``memory`` limits where writable, a wall-clock deadline after which the sample's whole
process tree dies, bounded stdout/stderr, an environment rebuilt from nothing, result files read
without following links (``_fsutil.read_beneath``), and a cleanup that cannot fail.

Success is never read from here: ``execution`` compares outputs itself; ``humaneval`` and ``pytest``
run the check in a separate judge process that calls the candidate over a pipe (``_judging.py``).
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from pathlib import Path
from typing import Mapping, Sequence

from halo_forge.errors import SandboxUnavailable
from halo_forge.verifiers._cgroups import cgroups
from halo_forge.verifiers._job import Job, Limits, SandboxResult
from halo_forge.verifiers._pool import Companion, clean_env, get_pool
from halo_forge.verifiers._runtime import UID_BASE, runtime

SANDBOX_DIR = "/tmp/sandbox"  # the sample's working folder inside bwrap (on its own tmpfs /tmp)
UNSAFE_FLAG = "--unsafe-verifier-execution"
HERE = Path(__file__).resolve().parent
SOURCE_FILES = tuple(HERE / f for f in ("sandbox.py", "_job.py", "_pool.py", "_runtime.py", "_cgroups.py",
                                        "_zygote.py", "_fsutil.py", "_wire.py", "_funcserver.py", "_seccomp.py", "_judging.py",
                                        "_judge.py", "_remote.py"))

_ISO_LOCK = threading.Lock()
_ISO: dict[str, str | None] = {}


def _bwrap_problem() -> str | None:
    """Why the bwrap level cannot be promised here, or None when its probe passed."""
    if not shutil.which("bwrap"):
        return "bubblewrap (bwrap) is not installed"
    if os.geteuid() != 0:
        return ("not running as root: the sandbox needs root to run each sample as its own unprivileged "
                "host uid with its own cgroups")
    problem = runtime().problem()
    if problem:
        return problem
    cg = cgroups()
    if not (cg.pids_ok and cg.memory_ok):
        return ("the cgroup v1 pids and memory controllers are not writable here (each sample's process count "
                "and memory are bounded there; cgroup v2 is not supported yet)")
    probe = "import os\nprint(os.getuid(), os.geteuid(), len(os.listdir('/proc/self/fd')))\n"
    try:
        res = get_pool("bwrap").run(_job_for(runtime().python_argv + ["probe.py"], {"probe.py": probe.encode()},
                                             Limits(wall_seconds=20), "bwrap"), isolation="bwrap")
    except Exception as exc:  # noqa: BLE001 - any failure means: no bwrap level here
        return f"bubblewrap did not start ({type(exc).__name__}: {exc})"
    ids = res.text().split()
    if len(ids) != 3 or not all(i.isdigit() for i in ids) or int(ids[0]) < UID_BASE or ids[0] != ids[1]:
        return f"the bubblewrap probe failed (exit {res.returncode}): {(res.error or res.text('stderr'))[-300:]}"
    return None


def detect_isolation() -> str:
    """``bwrap`` or ``none`` (cached; ``HALO_FORGE_SANDBOX=bwrap|none`` forces one)."""
    with _ISO_LOCK:
        if "level" not in _ISO:
            forced = os.environ.get("HALO_FORGE_SANDBOX", "").strip().lower()
            reason = "HALO_FORGE_SANDBOX=none" if forced == "none" else _bwrap_problem()
            _ISO.update(level="none" if reason else "bwrap", reason=reason)
        return str(_ISO["level"])


def isolation_report() -> dict[str, object]:
    """What is active on this machine, for docs, `verifiers list` and summaries."""
    level = detect_isolation()
    cg = cgroups()
    return {"isolation": level, "reason": _ISO.get("reason"), "bwrap": shutil.which("bwrap") is not None,
            "root": os.geteuid() == 0, "pids_cgroup": cg.pids_ok, "memory_cgroup": cg.memory_ok, "cpu_cgroup": cg.cpu_ok,
            "process_bound": ("pids cgroup + RLIMIT_NPROC of the sample's own uid" if level == "bwrap" and cg.pids_ok
                              else "pids cgroup" if cg.pids_ok else "RLIMIT_NOFILE/CPU only (no pids cgroup)")}


_PY_FLAGS = {"-I", "-S", "-B", "-E", "-s", "-u"}


def _job_for(argv: Sequence[str], files: Mapping[str, bytes], limits: Limits, level: str,
             ro: frozenset[str] = frozenset(), stdin: bytes | None = None, collect: Sequence[str] = (),
             env: Mapping[str, str] | None = None) -> Job:
    """``python [flags] script args…`` (the sandbox's Python, or this process's ``sys.executable``,
    which is not inside) becomes a ``pyrun`` job: the warm interpreter runs the script as
    ``python -I -S`` would, with no interpreter start-up. Anything else is exec-ed."""
    argv = list(argv)
    home = SANDBOX_DIR if level == "bwrap" else "/tmp"
    if argv and argv[0] in (runtime().exe, sys.executable):
        i = 1
        while i < len(argv) and argv[i] in _PY_FLAGS:
            i += 1
        if i < len(argv) and argv[i] in files:
            return Job("pyrun", argv[i:], files, limits, clean_env(home, env), ro, stdin, tuple(collect))
        argv[0] = runtime().exe
    return Job("exec", argv, files, limits, clean_env(home, env), ro, stdin, tuple(collect))


class Sandbox:
    """Runs argv in a fresh scratch folder under the strongest isolation available.

    ``files`` are written into the scratch folder first (``ro_files`` too, owned by root, mode 0444);
    ``stdin`` (bytes) is fed through a pipe; ``collect`` names scratch files whose contents (≤
    ``file_size_mb`` each; links at any path component are not followed) are returned. Inside, the
    scratch folder is the working directory (``/tmp/sandbox`` under bwrap)."""

    def __init__(self, limits: Limits | None = None, *, unsafe: bool = False, isolation: str | None = None,
                 max_parallel: int | None = None, scratch_root: str | None = None) -> None:
        self.limits = limits or Limits()
        self.unsafe = bool(unsafe)
        level = isolation or detect_isolation()
        if level == "none" and not self.unsafe:
            raise SandboxUnavailable(
                "refusing to run model-written code: no sandbox that keeps samples apart is available here ("
                f"{_ISO.get('reason') or 'isolation none'})",
                hint=f"install bubblewrap and run as root (apt-get install -y bubblewrap; scripts/install.sh does it), "
                     f"or pass {UNSAFE_FLAG} (unsafe=True) to run it with no isolation, on a machine you can lose")
        self.isolation = level if level != "none" else "none (unsafe)"
        self._level = level
        self._pool = get_pool(level, None if level == "bwrap" else scratch_root)
        self._gate = threading.BoundedSemaphore(max_parallel) if max_parallel else None

    @property
    def workdir(self) -> str:
        """The scratch folder's path as the sandboxed program sees it."""
        return SANDBOX_DIR if self._level == "bwrap" else "."

    @property
    def python_argv(self) -> list[str]:
        """The sandbox's Python: the base interpreter, isolated, standard library only."""
        return runtime().python_argv

    def describe(self) -> str:
        cg = cgroups()
        parts = [self.isolation, "rlimits cpu/as/fsize/nofile/nproc"]
        if self._level == "bwrap":
            parts.append("own uid, PID/mount/IPC namespaces and tmpfs quota per sample")
        parts += [name for name, ok in (("pids cgroup", cg.pids_ok), ("memory cgroup", cg.memory_ok),
                                        ("cpu cgroup", cg.cpu_ok)) if ok]
        return " + ".join(parts)

    def run(self, argv: Sequence[str], *, files: Mapping[str, bytes | str] | None = None,
            ro_files: Mapping[str, bytes | str] | None = None, stdin: bytes | str | None = None,
            collect: Sequence[str] = (), limits: Limits | None = None,
            env: Mapping[str, str] | None = None) -> SandboxResult:
        every = {n: d.encode() if isinstance(d, str) else bytes(d) for n, d in {**(files or {}), **(ro_files or {})}.items()}
        data = stdin.encode() if isinstance(stdin, str) else stdin
        job = _job_for(argv, every, limits or self.limits, self._level, frozenset(ro_files or ()), data, collect, env)
        return self.submit(job)

    def submit(self, job: Job, companion: Companion | None = None) -> SandboxResult:
        """Run a prepared :class:`Job` (``serve`` jobs come with their judge as ``companion``)."""
        if self._gate:
            self._gate.acquire()
        try:
            return self._pool.run(job, companion, self.isolation)
        finally:
            if self._gate:
                self._gate.release()

    def job(self, argv: Sequence[str], files: Mapping[str, bytes], limits: Limits | None = None) -> Job:
        return _job_for(argv, files, limits or self.limits, self._level)


_DEFAULT: dict[tuple, Sandbox] = {}


def get_sandbox(unsafe: bool = False, limits: Limits | None = None) -> Sandbox:
    key = (bool(unsafe), limits)
    if key not in _DEFAULT:
        _DEFAULT[key] = Sandbox(limits, unsafe=unsafe)
    return _DEFAULT[key]


__all__ = ["Sandbox", "SandboxResult", "Limits", "Job", "SandboxUnavailable", "detect_isolation",
           "isolation_report", "get_sandbox", "UNSAFE_FLAG", "SANDBOX_DIR", "SOURCE_FILES"]
