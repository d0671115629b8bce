"""The index's inbox: summaries written atomically before they are ingested, so none is ever lost.

`add()` first writes the summary into `<workspace>/.halo-forge/index-inbox/`; an ingest (under the
exclusive lock) moves the inbox files to `index-inbox/claimed/`, writes them in one transaction and
only then deletes them. A process that dies anywhere leaves its summary in the inbox or in
`claimed/`, and the next ingest picks it up; a file that is not a summary goes to `rejected/`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

from halo_forge.summary import TrainingSummary

log = logging.getLogger("halo_forge.runs")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,150}$")


def inbox_name(run_id: str) -> str:
    if _SAFE_NAME.match(run_id):
        return f"{run_id}.json"
    return "run-" + hashlib.sha256(run_id.encode()).hexdigest()[:32] + ".json"


def why(exc: Exception) -> str:
    """An exception as one short line (for reports and rejected/*.error.txt)."""
    return " ".join(str(exc).split())[:300]


def _json_files(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.suffix == ".json" and not p.name.startswith(".")]
    except FileNotFoundError:
        return []


class InboxMixin:
    """RunIndex's inbox side (`self.inbox`, `self.claimed`, `self.rejected` are its folders)."""

    def pending(self) -> int:
        """Summaries waiting in the inbox (not yet in the index)."""
        return len(self._inbox_files()) + len(self._claimed_files())

    def _inbox_files(self) -> list[Path]:
        return _json_files(self.inbox)

    def _claimed_files(self) -> list[Path]:
        return _json_files(self.claimed)

    def _claim(self) -> tuple[list[TrainingSummary], list[Path]]:
        """Under the exclusive lock: move inbox files to claimed/ and read every claimed summary."""
        self.claimed.mkdir(parents=True, exist_ok=True)
        for p in self._inbox_files():
            os.replace(p, self.claimed / p.name)
        summaries: dict[str, TrainingSummary] = {}
        files = sorted(self._claimed_files())
        for f in files:
            try:
                s = TrainingSummary.model_validate_json(f.read_bytes())
            except (OSError, ValueError) as exc:
                self._reject(f, exc)
                continue
            summaries[s.run_id] = s
        return list(summaries.values()), files

    def _reject(self, f: Path, exc: Exception) -> None:
        self.rejected.mkdir(parents=True, exist_ok=True)
        log.warning("run index: %s is not a valid training summary (%s); moved to %s", f.name, why(exc), self.rejected)
        (self.rejected / f"{f.name}.error.txt").write_text(why(exc) + "\n", encoding="utf-8")
        os.replace(f, self.rejected / f.name)
