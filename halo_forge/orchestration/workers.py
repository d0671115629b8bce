"""Prefect workers: the processes that run a work pool's flow runs (scheduled, triggered or started by hand).

    halo-forge flows worker --pool halo-forge                      # a process worker on this machine
    halo-forge flows worker --pool gpu --type docker               # needs prefect-docker

`start_worker` points Prefect at halo-forge's server (the local one unless PREFECT_API_URL names another),
pins the workspace the worker's flow runs use (HALO_FORGE_WORKSPACE: the one this command runs in, unless
set) and becomes `prefect worker start --pool NAME --type TYPE`. A process worker creates its pool when
it does not exist yet; Docker and Kubernetes pools are created with `prefect work-pool create` (docs/SCALE.md).
"""

from __future__ import annotations

import importlib.util
import os
import sys

from halo_forge.errors import BackendError

# worker type -> the package whose worker it is (None: Prefect's own)
WORKER_PACKAGES = {"process": None, "docker": "prefect_docker", "kubernetes": "prefect_kubernetes"}


def worker_command(pool: str, *, worker_type: str = "process", limit: int | None = None,
                   name: str | None = None) -> list[str]:
    """The `prefect worker start` command line for a worker of `pool`."""
    if worker_type not in WORKER_PACKAGES:
        raise BackendError(f"unknown worker type {worker_type!r}", hint=f"one of {', '.join(WORKER_PACKAGES)}")
    package = WORKER_PACKAGES[worker_type]
    if package is not None and importlib.util.find_spec(package) is None:
        pip_name = package.replace("_", "-")
        raise BackendError(f"a {worker_type} worker needs the {pip_name} package, which is not installed",
                           hint=f"pip install {pip_name}, or run a process worker (--type process)")
    cmd = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", worker_type]
    if limit:
        cmd += ["--limit", str(limit)]
    if name:
        cmd += ["--name", name]
    return cmd


def start_worker(pool: str, *, worker_type: str = "process", limit: int | None = None,
                 name: str | None = None) -> None:
    """Become a Prefect worker of `pool` (never returns)."""
    from halo_forge.orchestration import server
    from halo_forge.workspace import find_workspace

    cmd = worker_command(pool, worker_type=worker_type, limit=limit, name=name)
    server.ensure_server()
    os.environ.setdefault("HALO_FORGE_WORKSPACE", str(find_workspace().root))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, cmd)
