"""The workspace: where runs are indexed, tracked, cached and made replayable.

A workspace is a folder with `.halo-forge/workspace.json` (made by `halo-forge init`). Commands
find it by walking up from the current folder, like git; outside any workspace they use the
default one under `paths.home()/workspace` and say so.

    <root>/
      dvc.yaml                 top-level DVC stages (replays of recorded runs live in replay/<run_id>/)
      replay/<run_id>/         manifest.json + dvc.yaml that re-executes the run from locked inputs
      .halo-forge/
        workspace.json         marker
        runs.duckdb            run index (derived: `halo-forge runs reindex` rebuilds it)
        mlflow.db              MLflow tracking store (sqlite), artifacts in mlartifacts/
        results/<key>.json     cached results by content-addressed cache key
        datasets/<digest>.jsonl  materialised dataset rows (tracked by DVC through the replay stages)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from halo_forge.paths import home

MARKER_DIR = ".halo-forge"
MARKER = "workspace.json"


@dataclass(frozen=True)
class Workspace:
    root: Path
    default: bool = False  # True when no workspace was found and the user-level default is used

    @property
    def data_dir(self) -> Path:
        return self.root / MARKER_DIR

    @property
    def index_path(self) -> Path:
        return self.data_dir / "runs.duckdb"

    @property
    def mlflow_uri(self) -> str:
        return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{self.data_dir / 'mlflow.db'}"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.data_dir / "mlartifacts"

    @property
    def results_dir(self) -> Path:
        return self.data_dir / "results"

    @property
    def datasets_dir(self) -> Path:
        return self.data_dir / "datasets"

    @property
    def replay_dir(self) -> Path:
        return self.root / "replay"

    def ensure(self) -> "Workspace":
        """Create the data folders (not git/DVC: that is `halo-forge init`)."""
        for d in (self.data_dir, self.results_dir, self.datasets_dir, self.replay_dir):
            d.mkdir(parents=True, exist_ok=True)
        marker = self.data_dir / MARKER
        if not marker.exists():
            marker.write_text(json.dumps({"version": 1}) + "\n")
        return self


def find_workspace(start: Path | None = None) -> Workspace:
    """The workspace containing `start` (default: cwd), or the user-level default one.

    `$HALO_FORGE_WORKSPACE` names a workspace explicitly.
    """
    if os.environ.get("HALO_FORGE_WORKSPACE"):
        return Workspace(Path(os.environ["HALO_FORGE_WORKSPACE"]).resolve()).ensure()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / MARKER_DIR / MARKER).is_file():
            return Workspace(folder)
    return Workspace(home() / "workspace", default=True).ensure()
