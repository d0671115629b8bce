"""Shared test setup: an isolated halo-forge home (tiny models built once per session), offline hub."""

from __future__ import annotations

import os
import shutil
import tempfile

# One halo-forge home (its own Prefect server, MLflow store, run index) and one scratch workspace per test
# process; tests never write into the repository's workspace (or the user's). Under pytest-xdist every
# worker makes its own (the controller's would be inherited), so a test that stops its server or fills its
# index never touches another worker's. The folders made here (not ones the caller named) are removed
# when the process ends: about 25 MB a run otherwise left in the temp folder.
MADE: list[str] = []
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
for _key, _prefix in (("HALO_FORGE_HOME", "halo-forge-test-home-"), ("HALO_FORGE_WORKSPACE", "halo-forge-test-ws-")):
    if _WORKER or not os.environ.get(_key):
        os.environ[_key] = tempfile.mkdtemp(prefix=f"{_prefix}{_WORKER + '-' if _WORKER else ''}")
        MADE.append(os.environ[_key])
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


@pytest.fixture(autouse=True)
def _tracking_uri_stays_put():
    """`mlflow.set_tracking_uri` (which tests use to read a store) sets MLFLOW_TRACKING_URI and MLflow's global
    URI for the rest of the process: a later test's runs would then go to that store, not their workspace's.
    Each test ends with both as they were before it."""
    import sys

    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if "mlflow" in sys.modules:
        from mlflow.tracking._tracking_service import utils

        utils.set_tracking_uri(before)  # None: unset (the env var too)
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before


@pytest.fixture()
def rows_file(tmp_path):
    """`tmp_path/rows.jsonl`: 40 two-digit additions as prompt/completion rows (with their `answer`)."""
    import json

    rows = [{"prompt": f"What is {a}+{b}?", "completion": str(a + b), "answer": str(a + b)}
            for a in range(10, 20) for b in range(10, 14)]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def pytest_unconfigure(config):
    """After the session's fixtures (the Prefect server among them) are torn down: remove the scratch folders."""
    for folder in MADE:
        shutil.rmtree(folder, ignore_errors=True)


# The longest test files (measured: `--durations`), started first, so that under pytest-xdist's
# `--dist loadfile --no-loadscope-reorder` (scripts/test.sh) no worker begins a long file when the others
# are nearly done.
LONGEST_FIRST = ("test_quickstart.py", "test_resume.py", "test_platform.py", "test_replay_all.py",
                 "test_vlm_trainer.py", "test_vlm_audio_demos.py", "test_scale.py", "test_workers.py",
                 "test_orchestrator_loss.py", "test_dashboard_browser.py", "test_reasoning_trainer.py",
                 "test_agentic_trainer.py", "test_ui_browser.py", "test_audio_trainer.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
