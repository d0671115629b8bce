"""cgroup v1 ``pids``, ``memory`` and ``cpu`` groups, one set per sandbox pool slot.

Layout: ``<our own cgroup>/halo_forge_sbx_<pid>/slot<N>`` under each writable controller. The host
writes the limits (root-owned files; the sandboxed uid cannot), joins the slot's zygote before it
starts, and after every job lists what is left in it: anything beyond the zygote's own processes is
killed, so no sample outlives its job even if a namespace did not take it along. Groups of a
process that died are swept at start-up.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import time
from pathlib import Path

CONTROLLERS = ("pids", "memory", "cpu")
CPU_PERIOD_US = 100_000


def _own_group(ctl: str) -> Path | None:
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


def procs(group: Path) -> list[int]:
    try:
        return [int(p) for p in (group / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def kill_group(group: Path, keep: frozenset[int] = frozenset(), patience: float = 2.0) -> bool:
    """SIGKILL every process in ``group`` except ``keep`` until none is left; True when that happened."""
    deadline = time.monotonic() + patience
    nap = 0.0005
    while True:
        left = [p for p in procs(group) if p not in keep]
        if not left:
            return True
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            return False
        time.sleep(nap)
        nap = min(nap * 2, 0.02)


def _remove(group: Path) -> None:
    if not group.exists():
        return
    for child in [c for c in group.iterdir() if c.is_dir()]:
        _remove(child)
    kill_group(group, patience=0.5)
    try:
        group.rmdir()
    except OSError:
        pass


def _set_memory(d: Path, limit: int) -> None:
    """memory.limit_in_bytes must stay ≤ memory.memsw.limit_in_bytes: lower the first one first,
    raise the second one first."""
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


class SlotGroups:
    """The groups of one slot (any may be missing when not writable here)."""

    def __init__(self, dirs: dict[str, Path]) -> None:
        self.dirs = dirs
        self._limits: tuple | None = None

    def set_limits(self, pids_max: int, memory_bytes: int, cpus: float) -> None:
        """Process count, memory, and CPU time: at most ``cpus`` cores however many processes run, so a
        sample of busy processes cannot starve the samples of other slots."""
        if self._limits == (pids_max, memory_bytes, cpus):
            return
        if "pids" in self.dirs:
            (self.dirs["pids"] / "pids.max").write_text(str(pids_max))
        if "memory" in self.dirs:
            _set_memory(self.dirs["memory"], memory_bytes)
        if "cpu" in self.dirs:
            (self.dirs["cpu"] / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
            (self.dirs["cpu"] / "cpu.cfs_quota_us").write_text(str(max(1000, int(cpus * CPU_PERIOD_US))))
        self._limits = (pids_max, memory_bytes, cpus)

    def join_script(self) -> str:
        """Shell lines that move the shell itself into every group (it then execs the zygote)."""
        return "".join(f'echo $$ > "{d}/cgroup.procs" || exit 125; ' for d in self.dirs.values())

    def procs(self) -> set[int]:
        out: set[int] = set()
        for d in self.dirs.values():
            out.update(procs(d))
        return out

    def kill(self, keep: frozenset[int] = frozenset()) -> bool:
        return all([kill_group(d, keep) for d in self.dirs.values()])


class Cgroups:
    """This process's parent groups; one :class:`SlotGroups` per slot index."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.roots: dict[str, Path] = {}
        for ctl in CONTROLLERS:
            root = _own_group(ctl)
            if root is None:
                continue
            for stale in root.glob("halo_forge_sbx_*"):
                pid = stale.name.rsplit("_", 1)[-1]
                if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
                    _remove(stale)
            base = root / f"halo_forge_sbx_{os.getpid()}"
            try:
                base.mkdir(exist_ok=True)
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

    @property
    def cpu_ok(self) -> bool:
        return "cpu" in self.roots

    def slot(self) -> SlotGroups:
        """Fresh groups for one slot (numbered across every pool of this process: never shared)."""
        with self.lock:
            self.count += 1
            index = self.count
        dirs = {}
        for ctl, base in self.roots.items():
            d = base / f"slot{index}"
            d.mkdir(exist_ok=True)
            dirs[ctl] = d
        return SlotGroups(dirs)

    def remove_all(self) -> None:
        for base in self.roots.values():
            _remove(base)


_CG: dict[int, Cgroups] = {}
_CG_LOCK = threading.Lock()


def cgroups() -> Cgroups:
    """This process's groups (a forked child gets its own)."""
    with _CG_LOCK:
        if os.getpid() not in _CG:
            _CG[os.getpid()] = Cgroups()
        return _CG[os.getpid()]
