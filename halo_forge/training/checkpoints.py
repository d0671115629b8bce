"""Resumable checkpoints beside --output: `.<name>.state/<key>/checkpoint-<step>/`.

The key is the digest of the result-affecting config and the data, so `--resume` only ever continues
an identical run. Transformers' Trainer writes each checkpoint (weights or adapter, optimiser,
scheduler, RNG states, trainer state with the step and data position); a checkpoint counts only once
our `on_save` callback has marked it complete, so a kill while one is written falls back to the one
before it (two are kept). The folder is removed when the run publishes its output. In a multi-process run
rank 0 prepares the folder and writes the markers; every rank writes its own RNG state into each checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from halo_forge.training.ranks import barrier, is_main

COMPLETE = "halo_forge_complete"


def state_root(output: Path) -> Path:
    output = Path(output).resolve()
    return output.parent / f".{output.name}.state"


def _step(folder: Path) -> int:
    try:
        return int(folder.name.rsplit("-", 1)[-1])
    except ValueError:
        return -1


def latest_complete(folder: Path) -> Path | None:
    """The newest checkpoint in `folder` that was marked complete, or None."""
    done = [p for p in folder.glob("checkpoint-*") if (p / COMPLETE).is_file()]
    return max(done, key=_step) if done else None


def _meta(config, data_digest: str) -> dict:
    return {"config": config.result_fields(), "data_digest": data_digest}


def _differences(old: dict, new: dict) -> list[str]:
    a, b = old.get("config", {}), new["config"]
    diffs = [f"{k}: {a.get(k)!r} there, {b.get(k)!r} now" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    if old.get("data_digest") != new["data_digest"]:
        diffs.append("the data rows differ")
    return diffs


@dataclass
class CheckpointState:
    """Where one run checkpoints, and the checkpoint it resumes from (None: from step 0)."""

    dir: Path
    resume_from: Path | None
    notes: list[str] = field(default_factory=list)
    resumed: bool = False

    @classmethod
    def open(cls, config, *, data_digest: str) -> "CheckpointState":
        from halo_forge.lineage.digests import sha256_json

        meta = _meta(config, data_digest)
        root = state_root(config.output)
        folder = root / sha256_json(meta).split(":")[-1][:16]
        if not is_main():  # the other ranks of a multi-process run read the folder rank 0 prepares
            latest = latest_complete(folder) if config.resume else None
            return cls(dir=folder, resume_from=latest, resumed=latest is not None)
        if not config.resume:
            shutil.rmtree(folder, ignore_errors=True)  # a fresh run never continues an interrupted one
        latest = latest_complete(folder) if config.resume else None
        notes = []
        if config.resume and latest is None:
            notes.append("--resume: no complete checkpoint of this exact run was found; trained from step 0"
                         + _other_runs(root, folder, meta))
        elif latest is not None:
            notes.append(f"resumed from {latest.name} (step {_step(latest)}) of an interrupted run")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "run.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return cls(dir=folder, resume_from=latest, notes=notes, resumed=latest is not None)

    def callback(self):
        """A TrainerCallback that logs the loss at every checkpoint step (so the loss windows of a resumed
        run are those of an uninterrupted one) and marks each checkpoint complete once it is written."""
        from transformers import TrainerCallback

        folder = self.dir

        class MarkComplete(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if control.should_save:
                    control.should_log = True
                return control

            def on_save(self, args, state, control, **kwargs):
                barrier()  # every rank has written its part (its RNG state) before rank 0 marks it complete
                target = folder / f"checkpoint-{state.global_step}"
                if state.is_world_process_zero and target.is_dir():
                    with open(target / COMPLETE, "w", encoding="utf-8") as fh:
                        fh.write(f"{state.global_step}\n")
                        fh.flush()
                        os.fsync(fh.fileno())

        return MarkComplete()

    def recovery(self) -> dict:
        return {"resumed": self.resumed,
                "resumed_from": f"step {_step(self.resume_from)}" if self.resume_from else None,
                "notes": list(self.notes)}

    def finished(self) -> None:
        """The run published its output: its checkpoints are no longer needed."""
        remove_state(self.dir)


def remove_state(folder: Path) -> None:
    """Remove a run's state folder, and the `.<name>.state` folder above it once it is empty."""
    shutil.rmtree(folder, ignore_errors=True)
    try:
        folder.parent.rmdir()
    except OSError:
        pass  # other runs' state is still there


def _other_runs(root: Path, folder: Path, meta: dict) -> str:
    """Why --resume found nothing: checkpoints of other configs of this output, and how they differ."""
    others = []
    for other in sorted(root.glob("*/run.json")):
        if other.parent == folder or latest_complete(other.parent) is None:
            continue
        try:
            diffs = _differences(json.loads(other.read_text(encoding="utf-8")), meta)
        except (OSError, ValueError):
            continue
        others.append(f"{other.parent.name} ({'; '.join(diffs[:4])})")
    if not others:
        return ""
    return (". Checkpoints of other configs of this --output exist: " + ", ".join(others)
            + " — --resume continues only an identical config and data; the current values win")
