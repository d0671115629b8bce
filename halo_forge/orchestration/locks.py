"""Prefect's file lock manager, made to die with its holder.

Prefect's `FileSystemLockManager` writes `<locks>/<key>.lock` holding a random holder id and, for
halo-forge's task, no expiration: a run killed with `kill -9` keeps the lock for ever and the next
identical run waits on it for ever. `LivenessLockManager` writes the holder's process (pid, the
kernel's start time of that pid, host) into the lock file too, and treats a lock whose process is
gone as free: it removes the file, says it found a dead run, and the waiting run goes ahead at its
next poll (0.1 s).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from prefect.locking.filesystem import FileSystemLockManager

from halo_forge.orchestration import liveness

# A lock file that never got its holder written (created, then its process died) counts as dead after:
TORN_LOCK_SECONDS = 30.0


class LivenessLockManager(FileSystemLockManager):
    """A `FileSystemLockManager` whose locks are released when their holding process is gone."""

    def acquire_lock(self, key, holder, acquire_timeout=None, hold_timeout=None) -> bool:
        got = super().acquire_lock(key, holder, acquire_timeout, hold_timeout)
        if got:
            path = self._lock_path_for_key(key)
            info = json.loads(Path(path).read_bytes() or b"{}")
            tmp = Path(f"{path}.{liveness.this_process()['pid']}.tmp")
            tmp.write_text(json.dumps({**info, **liveness.this_process()}))
            tmp.replace(path)
        return got

    async def aacquire_lock(self, key, holder, acquire_timeout=None, hold_timeout=None) -> bool:
        return self.acquire_lock(key, holder, acquire_timeout, hold_timeout)

    def _get_lock_info(self, key, use_cache=True):
        try:
            return super()._get_lock_info(key, use_cache=use_cache)
        except ValueError:  # created but not written yet (or torn): locked, by a holder we cannot name
            return {"holder": "", "expiration": None, "path": self._lock_path_for_key(key)}

    def is_locked(self, key, use_cache=False) -> bool:
        if not super().is_locked(key, use_cache=use_cache):
            return False
        info = self._get_lock_info(key, use_cache=use_cache)
        if info is None or not self._dead(info):
            return info is not None
        Path(info["path"]).unlink(missing_ok=True)
        self._locks.pop(key, None)
        line = (f"found a dead run holding the cache lock {Path(info['path']).name} (pid {info.get('pid')} is "
                "gone): lock released, this run goes ahead")
        liveness.tell(line)
        return False

    @staticmethod
    def _dead(info: dict) -> bool:
        if "pid" in info:
            return not liveness.holder_alive(info)
        try:
            return time.time() - Path(info["path"]).stat().st_mtime > TORN_LOCK_SECONDS
        except OSError:
            return False
