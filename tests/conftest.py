"""Shared test setup: an isolated halo-forge home (tiny models built once per session), offline hub."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("HALO_FORGE_HOME", tempfile.mkdtemp(prefix="halo-forge-test-home-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_path():
    from halo_forge.models.tiny import ensure_tiny

    return ensure_tiny("halo-forge/tiny")
