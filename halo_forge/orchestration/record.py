"""After a run: MLflow, the run index and the replay stage get it; each is allowed to fail alone.

Only the training itself decides whether a run succeeded. A tracking, indexing or replay-writing
failure is written into the summary (`extra.platform_errors`) and never loses the trained model.
"""

from __future__ import annotations

import traceback
from pathlib import Path

from halo_forge.summary import Effectiveness, Inputs, SUMMARY_FILE, TrainingSummary
from halo_forge.training import now_iso, versions
from halo_forge.workspace import Workspace


def _index(ws: Workspace, summary: TrainingSummary) -> str | None:
    try:
        from halo_forge.runs import RunIndex

        RunIndex(ws).add(summary)
        return None
    except Exception as exc:  # noqa: BLE001 - the index is derived data: `runs reindex` rebuilds it
        return f"run index: {type(exc).__name__}: {exc}"


def record_success(ws: Workspace, summary: TrainingSummary, config, data_file: Path, *, command: list[str],
                   tracker=None) -> TrainingSummary:
    problems: list[str] = []
    out = Path(summary.outputs.model_path)
    if tracker is not None:
        problems += [f"mlflow: {p}" for p in tracker.finish(summary, out / SUMMARY_FILE, dataset_path=data_file)]
    try:
        from halo_forge.lineage.replay import record

        record(ws, summary=summary, config=config, data_file=data_file, command=list(command))
    except Exception as exc:  # noqa: BLE001
        problems.append(f"replay manifest: {type(exc).__name__}: {exc}")
    problem = _index(ws, summary)
    if problem:
        problems.append(problem)
    if problems:
        summary.extra["platform_errors"] = problems
        summary.write(out)
    return summary


def record_failure(ws: Workspace, trainer, config, exc: BaseException, *, tracker=None, lineage: dict) -> None:
    """A run that raised or was interrupted is indexed as failed (never passed) with no output."""
    reason = "interrupted" if isinstance(exc, KeyboardInterrupt | SystemExit) else f"{type(exc).__name__}: {exc}"
    summary = TrainingSummary(
        modality=config.modality, model_name=config.model, run_id=trainer.run_id, seed=config.seed,
        status="failed", ended_at=now_iso(),
        effectiveness=Effectiveness(verdict="failed", reasons=[f"run failed: {reason}"[:2000]]),
        inputs=Inputs(**{k: v for k, v in lineage.items() if k in Inputs.model_fields}),
        versions=versions(), config=config.model_dump(mode="json"),
        extra={"traceback": "".join(traceback.format_exception(exc))[-8000:]},
    )
    if tracker is not None:
        try:
            tracker.finish(summary, None)
        except Exception:  # noqa: BLE001
            pass
    _index(ws, summary)
