"""One run as its trainer sees it: `staged_run` (the clock, the staging folder that is published
atomically on success and removed on failure, the callbacks) and `Run.fit` (snapshot, train, check
that the weights moved), the two pieces every `train()` calls in sight."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from halo_forge.training.checkpoints import CheckpointState
from halo_forge.training.ranks import barrier, is_main


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Fit:
    """What one training call did: steps, time, whether the trainable weights moved, the log."""

    steps: int
    seconds: float
    moved: bool
    delta_l2: float
    log_history: list[dict] = field(default_factory=list)

    @property
    def final_loss(self) -> float | None:
        return final_loss(self.log_history)


def final_loss(log_history: list[dict]) -> float | None:
    """The last training loss a trainer logged (its end-of-training average when it logged no step)."""
    losses = [e["loss"] for e in log_history if "loss" in e]
    if losses:
        return float(losses[-1])
    train = [e["train_loss"] for e in log_history if "train_loss" in e]
    return float(train[-1]) if train else None


class Run:
    """The bookkeeping of one run: clock, staging folder, notes for the summary, progress and the
    flow's callbacks, and the checkpoint state an interrupted run resumes from."""

    def __init__(self, trainer, staging: Path) -> None:
        from halo_forge.progress import make_callback

        self.owner = trainer  # the halo-forge trainer this run belongs to (its TRL trainer is built in train())
        self.config = trainer.config
        self.staging = staging
        self.started, self.t0 = now_iso(), time.monotonic()
        self.notes: list[str] = list(trainer.warnings)  # what it warned of before it began
        self.progress = make_callback(trainer.modality, quiet=trainer.quiet)
        self.callbacks = [self.progress, *trainer.callbacks]
        self.state: CheckpointState | None = None
        self.initial_adapter: Path | None = None

    def load(self, load_data, *, chat_template: bool = False, processor=None):
        """The run's rows (unless the flow passed them), the resolved model reference and its tokenizer
        (given a plain chat template when it has none and `chat_template`) — or, for a model whose inputs are
        prepared by something else (a VLM's or a speech model's processor), `processor(model_ref)`; notes go
        to the summary."""
        from halo_forge.models.loading import ensure_chat_template, load_tokenizer, resolve_model

        data = self.owner.data if self.owner.data is not None else load_data(self.config)
        model_ref = resolve_model(self.config.model)
        tokenizer = (processor or load_tokenizer)(model_ref)
        self.notes += data.notes
        note = ensure_chat_template(tokenizer) if chat_template else None
        if note:
            self.notes.append(note)
        return data, model_ref, tokenizer

    def checkpoints(self, data) -> CheckpointState:
        """The folder this run checkpoints into (keyed by config and data), resuming from it with --resume."""
        self.state = CheckpointState.open(self.config, data_digest=data.digest)
        self.notes += self.state.notes
        self.callbacks.append(self.state.callback())
        return self.state

    def fit(self, trainer, *, keep_initial_adapter: bool = True) -> Fit:
        """Snapshot the trainable weights (and a PiSSA/OLoRA adapter's initial state, converted to a plain
        LoRA when saved), train — from the last checkpoint when resuming — and check which weights moved."""
        from halo_forge.models.loading import save_initial_adapter
        from halo_forge.training.library import wrap_for_training
        from halo_forge.training.weights import trainable_snapshot, weights_changed

        snapshot = trainable_snapshot(trainer.model)
        keep = self.state.dir if self.state is not None else self.staging
        if keep_initial_adapter and is_main():
            self.initial_adapter = save_initial_adapter(trainer.model, self.config, keep)
        resume = self.state.resume_from if self.state is not None else None
        wrap_for_training(trainer)  # several processes: DDP even after an evaluation before training
        start = time.monotonic()
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        seconds = time.monotonic() - start
        moved, delta = weights_changed(trainer.model, snapshot)
        return Fit(steps=int(trainer.state.global_step), seconds=seconds, moved=moved, delta_l2=delta,
                   log_history=list(trainer.state.log_history))

    @property
    def recovery(self) -> dict:
        return self.state.recovery() if self.state is not None else {}


@contextmanager
def staged_run(trainer) -> Iterator[Run]:
    """Open `trainer`'s staging folder beside --output and yield its `Run`; publish the folder when the
    block finishes, remove it when the block raises (the output is never half-written). The
    checkpoint folder is kept after a failure (for --resume) and removed after a success. In a multi-process
    run only rank 0 touches the folders, once every rank has finished the block."""
    from halo_forge.training.library import quiet_libraries

    quiet_libraries()
    staging = trainer.output.open() if is_main() else trainer.output.staging
    try:
        run = Run(trainer, staging)
        yield run
    except BaseException:
        if is_main():
            trainer.output.abort()
        raise
    barrier()  # no rank still writes into the checkpoint folder rank 0 is about to remove
    if is_main():
        trainer.output.publish()
        if run.state is not None:
            run.state.finished()
