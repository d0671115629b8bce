"""Shared test setup: an isolated halo-forge home (tiny models built once per session), offline hub."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("HALO_FORGE_HOME", tempfile.mkdtemp(prefix="halo-forge-test-home-"))
# Tests never write into the repository's own workspace (or the user's): one scratch workspace per session.
os.environ.setdefault("HALO_FORGE_WORKSPACE", tempfile.mkdtemp(prefix="halo-forge-test-ws-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# One torch thread: on a shared 2-core machine two threads contend and run the tiny models 10x slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# What `ensure_server` sets before a run imports prefect, set before any test does (Prefect reads it at import).
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_path():
    from halo_forge.models.tiny import ensure_tiny

    return ensure_tiny("halo-forge/tiny")


@pytest.fixture(scope="session", autouse=True)
def _local_prefect_server():
    """One local Prefect server for the session: started in the background as the session begins (so no
    test waits ~10 s for it unless it needs it before it is up: `ensure_server` then waits on the start
    lock), stopped at the end."""
    import threading

    from halo_forge.orchestration import server

    starter = threading.Thread(target=server.ensure_server, name="prefect-server-start", daemon=True)
    starter.start()
    yield
    starter.join(timeout=120)
    server.stop(force=True)


@pytest.fixture()
def rows_file(tmp_path):
    """`tmp_path/rows.jsonl`: 40 two-digit additions as prompt/completion rows (with their `answer`)."""
    import json

    rows = [{"prompt": f"What is {a}+{b}?", "completion": str(a + b), "answer": str(a + b)}
            for a in range(10, 20) for b in range(10, 14)]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
