"""The output folder: refuse to clobber another run, stage writes, publish atomically.

A run writes into a hidden staging folder beside `--output` and renames it into place only when
it succeeded, so a failed or interrupted run leaves nothing half-written and an earlier run in
that folder is kept until the new one is complete.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from halo_forge.errors import OutputError
from halo_forge.summary import SUMMARY_FILE


class OutputFolder:
    def __init__(self, path: Path, run_id: str, *, overwrite: bool) -> None:
        self.path = Path(path).resolve()
        self.overwrite = overwrite
        self.staging = self.path.parent / f".{self.path.name}.{run_id}.partial"
        self.check()

    def check(self) -> None:
        """Raise OutputError when the folder holds another run (or any files) and --overwrite is off."""
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"--output {self.path} is a file, not a folder", hint="choose another --output")
        if self.overwrite or not self.path.is_dir() or not any(self.path.iterdir()):
            return
        what = "files"
        summary = self.path / SUMMARY_FILE
        if summary.is_file():
            try:
                old = json.loads(summary.read_text())
                what = f"run {old.get('run_id')} ({old.get('modality')} on {old.get('model_name')})"
            except (OSError, ValueError):
                what = "a run"
        raise OutputError(f"--output {self.path} already holds {what}",
                          hint="choose another --output, or pass --overwrite to replace it")

    def open(self) -> Path:
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(parents=True)
        return self.staging

    def publish(self) -> Path:
        """Move the staged run into place (replacing the old folder only now)."""
        self.check()
        trash = None
        if self.path.exists():
            trash = self.path.parent / f".{self.path.name}.old.partial"
            shutil.rmtree(trash, ignore_errors=True)
            self.path.rename(trash)
        self.staging.rename(self.path)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        return self.path

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
