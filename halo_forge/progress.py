"""Console progress for long training: a rich bar with loss and ETA on a terminal, plain lines elsewhere.

Imported when a run starts (it imports transformers), never by the CLI at start-up.
"""

from __future__ import annotations

import os
import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from transformers import TrainerCallback


def plain_every_seconds() -> float:
    """Plain (non-terminal) progress lines: at most one per this many seconds ($HALO_FORGE_PROGRESS_SECONDS)."""
    return float(os.environ.get("HALO_FORGE_PROGRESS_SECONDS") or 10)


class ProgressCallback(TrainerCallback):
    """Shows step, loss and ETA; keeps the loss history for the summary."""

    def __init__(self, label: str, *, quiet: bool = False) -> None:
        self.label, self.quiet = label, quiet
        self.console = Console(stderr=True)
        self.progress = None
        self.task = None
        self.loss = float("nan")
        self.started = time.monotonic()
        self.last_print = 0.0
        self.history: list[dict] = []

    def on_train_begin(self, args, state, control, **kw):
        self.started = time.monotonic()
        if self.quiet or not self.console.is_terminal:
            return
        self.progress = Progress(TextColumn(f"[bold]{self.label}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(), TextColumn("eta"),
                                 TimeRemainingColumn(), console=self.console)
        self.progress.start()
        self.task = self.progress.add_task(self.label, total=state.max_steps, loss="-")

    def on_log(self, args, state, control, logs=None, **kw):
        logs = logs or {}
        if "loss" in logs:
            self.loss = float(logs["loss"])
            self.history.append({"step": state.global_step, "loss": self.loss})
        if self.progress is not None:
            self.progress.update(self.task, loss=f"{self.loss:.4f}")

    def on_step_end(self, args, state, control, **kw):
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)
            return
        now = time.monotonic()
        if self.quiet or (now - self.last_print < plain_every_seconds() and state.global_step < state.max_steps):
            return
        self.last_print = now
        done, total = state.global_step, max(state.max_steps, 1)
        elapsed = now - self.started
        eta = elapsed / max(done, 1) * (total - done)
        loss = "-" if self.loss != self.loss else f"{self.loss:.4f}"
        print(f"{self.label}: step {done}/{total} loss {loss} elapsed {elapsed:.0f}s eta {eta:.0f}s",
              file=sys.stderr, flush=True)

    def on_train_end(self, args, state, control, **kw):
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)
            self.progress.stop()
            self.progress = None


def make_callback(label: str, *, quiet: bool = False) -> ProgressCallback:
    return ProgressCallback(label, quiet=quiet)
