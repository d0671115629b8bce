"""The data of one sandboxed run: its limits, what it runs, what comes back."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping


@dataclass(frozen=True)
class Limits:
    """Per-sample limits. ``wall_seconds`` bounds the whole sample (all its processes, start to end)."""

    wall_seconds: float = 10.0
    cpu_seconds: int = 10            # RLIMIT_CPU, per process
    memory_mb: int = 1024            # RLIMIT_AS per process and the memory cgroup of the sample
    file_size_mb: int = 16           # RLIMIT_FSIZE: largest file any process may write
    open_files: int = 64             # RLIMIT_NOFILE
    processes: int = 64              # pids cgroup and RLIMIT_NPROC of the sample's own uid
    output_bytes: int = 1 << 20      # stdout and stderr each: kept up to this, then the sample is killed
    disk_mb: int = 64                # the sample's tmpfs (/tmp, its working folder, /dev/shm): total bytes
    disk_files: int = 4096           # … and total files and folders
    cpus: float = 1.0                # cpu cgroup quota: CPU cores the sample's processes share

    def with_(self, **kw) -> "Limits":
        return replace(self, **{k: v for k, v in kw.items() if v is not None})

    def wire(self) -> dict:
        """The zygote's form (bytes, whole seconds)."""
        return {"wall": float(self.wall_seconds), "cpu": max(1, int(self.cpu_seconds)),
                "as": int(self.memory_mb) << 20, "fsize": int(self.file_size_mb) << 20,
                "nofile": int(self.open_files), "nproc": int(self.processes),
                "disk": int(self.disk_mb) << 20, "inodes": int(self.disk_files)}


@dataclass
class SandboxResult:
    returncode: int | None           # None when stopped by us (timeout, output cap, verdict in) or not started
    stdout: bytes
    stderr: bytes
    timed_out: bool
    output_truncated: bool
    duration: float
    isolation: str
    files: dict[str, bytes] = field(default_factory=dict)  # the collected scratch files
    error: str | None = None         # the sandbox itself failed (the sample did not run to its end)

    @property
    def signal(self) -> int | None:
        rc = self.returncode
        return -rc if rc is not None and rc < 0 else (rc - 128 if rc is not None and rc > 128 else None)

    def text(self, which: str = "stdout") -> str:
        return getattr(self, which).decode("utf-8", "replace")


@dataclass
class Job:
    """What the fork server runs: ``exec`` a program, ``pyrun`` a Python script in the warm
    interpreter, or ``serve`` a Python program to the judge over the ``rpc`` descriptors
    (the candidate's read and write ends, handed over to the sandbox)."""

    mode: str
    argv: list[str]
    files: Mapping[str, bytes]
    limits: Limits
    env: Mapping[str, str]
    ro: frozenset[str] = frozenset()
    stdin: bytes | None = None
    collect: tuple[str, ...] = ()
    rpc: tuple[int, int] | None = None

    def header(self, job_id: int) -> dict:
        return {"op": "job", "id": job_id, "mode": self.mode, "argv": list(self.argv), "env": dict(self.env),
                "limits": self.limits.wire(), "files": [[n, len(d), n in self.ro] for n, d in self.files.items()],
                "collect": list(self.collect), "collect_cap": int(self.limits.file_size_mb) << 20,
                "stdin": self.stdin is not None, "rpc": self.rpc is not None}
