"""After a run: MLflow, the run index and the replay stage get it; each is allowed to fail alone.

Only the training itself decides whether a run succeeded. A tracking, indexing or replay-writing
failure is logged, written into the summary (`extra.platform_errors`, which the CLI prints under the
summary) and never loses the trained model. A failed run is indexed as failed; when even that
fails, its summary is kept under `.halo-forge/failed/` so `halo-forge runs reindex` can find it.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

from halo_forge.summary import Effectiveness, Inputs, SUMMARY_FILE, TrainingSummary, write_json_atomic
from halo_forge.training import now_iso, versions
from halo_forge.workspace import Workspace

log = logging.getLogger("halo_forge.platform")


def _index(ws: Workspace, summary: TrainingSummary) -> str | None:
    try:
        from halo_forge.runs import RunIndex

        RunIndex(ws).add(summary)
        return None
    except Exception as exc:  # noqa: BLE001 - the index is derived data: `runs reindex` rebuilds it
        return f"run index: {type(exc).__name__}: {exc}"


def _report(summary: TrainingSummary, problems: list[str]) -> None:
    for p in problems:
        log.warning("run %s: %s", summary.run_id, p)
    summary.extra["platform_errors"] = summary.extra.get("platform_errors", []) + problems


def record_success(ws: Workspace, summary: TrainingSummary, config, data_file: Path, *, command: list[str],
                   tracker=None) -> TrainingSummary:
    problems: list[str] = list(summary.extra.get("platform_errors", []))
    out = Path(summary.outputs.model_path)
    if tracker is not None:
        problems += [f"mlflow: {p}" for p in tracker.finish(summary, out / SUMMARY_FILE, dataset_path=data_file)]
    try:
        from halo_forge.lineage.replay import record

        record(ws, summary=summary, config=config, data_file=data_file, command=list(command))
    except Exception as exc:  # noqa: BLE001 - the replay record is written again by `halo-forge runs sync`
        problems.append(f"replay manifest: {type(exc).__name__}: {exc}")
    problem = _index(ws, summary)
    if problem:
        problems.append(problem)
    if problems:
        summary.extra.pop("platform_errors", None)
        _report(summary, problems)
        summary.write(out)
    return summary


def failure_summary(trainer, config, exc: BaseException, *, lineage: dict) -> TrainingSummary:
    """The summary of a run that raised or was interrupted: failed, with its reason and traceback."""
    reason = "interrupted" if isinstance(exc, KeyboardInterrupt | SystemExit) else f"{type(exc).__name__}: {exc}"
    return TrainingSummary(
        modality=config.modality, model_name=config.model, run_id=trainer.run_id, seed=config.seed,
        status="failed", ended_at=now_iso(),
        effectiveness=Effectiveness(verdict="failed", reasons=[f"run failed: {reason}"[:2000]]),
        inputs=Inputs(**{k: v for k, v in lineage.items() if k in Inputs.model_fields}),
        versions=versions(), config=config.model_dump(mode="json"),
        extra={"traceback": "".join(traceback.format_exception(exc))[-8000:]},
    )


def record_failure(ws: Workspace, trainer, config, exc: BaseException, *, tracker=None, lineage: dict) -> None:
    """A run that raised or was interrupted is indexed as failed (never passed) with no output."""
    summary = failure_summary(trainer, config, exc, lineage=lineage)
    problems = []
    if tracker is not None:
        try:
            problems += [f"mlflow: {p}" for p in tracker.finish(summary, None)]
        except Exception as exc2:  # noqa: BLE001 - tracking must not hide the run's own failure
            problems.append(f"mlflow: {type(exc2).__name__}: {exc2}")
    problem = _index(ws, summary)
    if problem:
        problems.append(problem)
        kept = write_json_atomic(ws.data_dir / "failed" / f"{summary.run_id}.json", summary.model_dump(mode="json"))
        log.warning("run %s failed and could not be indexed; its summary is kept at %s (`halo-forge runs "
                    "reindex` picks it up)", summary.run_id, kept)
    if problems:
        _report(summary, problems)
