"""TrainingSummary: the one output shape every trainer writes, and the verdict rules.

Pure Python (pydantic only): the CLI, the run index and the UI read summaries without torch.
`docs/summary.schema.json` is generated from these models (`python -m halo_forge.summary`).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
SUMMARY_FILE = "training_summary.json"
Verdict = Literal["passed", "warned", "failed"]
# Below this many held-out rows a figure cannot carry a verdict: one row moves an accuracy by more than
# 5 points (1/19), more than the gains runs are judged on (the 2-point tolerance, a few points of
# improvement), so a "pass" could be one lucky row. 20 rows is the least that keeps a row under 5 %.
MIN_HELDOUT_N = 20


class Evaluation(BaseModel):
    """One held-out figure measured before and after training."""

    metric: str = Field(description="e.g. heldout_accuracy, heldout_loss")
    before: float | None = None
    after: float | None = None
    delta: float | None = Field(None, description="after - before")
    higher_is_better: bool = True
    n: int = Field(0, description="held-out rows the figure was measured on")
    tolerance: float = Field(0.0, description="a move against the metric larger than this is a regression")

    @classmethod
    def of(cls, metric: str, before: float | None, after: float | None, *, higher_is_better: bool = True,
           n: int = 0, tolerance: float = 0.0) -> "Evaluation":
        delta = None if before is None or after is None else after - before
        return cls(metric=metric, before=before, after=after, delta=delta,
                   higher_is_better=higher_is_better, n=n, tolerance=tolerance)

    @property
    def improvement(self) -> float | None:
        """The delta signed so that positive is better."""
        if self.delta is None:
            return None
        return self.delta if self.higher_is_better else -self.delta


class Effectiveness(BaseModel):
    verdict: Verdict
    reasons: list[str] = Field(default_factory=list)
    evaluation: Evaluation | None = Field(None, description="the primary held-out figure the verdict rests on")
    evaluations: list[Evaluation] = Field(default_factory=list, description="every held-out figure measured")


class Cycle(BaseModel):
    model_config = ConfigDict(extra="allow")
    cycle: int
    train_loss: float | None = None
    cycle_duration_seconds: float
    steps: int = 0


class Recovery(BaseModel):
    model_config = ConfigDict(extra="allow")
    resumed: bool = False
    resumed_from: str | None = None
    notes: list[str] = Field(default_factory=list)


class Inputs(BaseModel):
    model_config = ConfigDict(extra="allow")
    dataset: str | None = None
    dataset_digest: str | None = None
    train_rows: int = 0
    eval_rows: int = 0
    model_digest: str | None = None
    verifier: str | None = None
    cache_key: str | None = None


class Outputs(BaseModel):
    model_config = ConfigDict(extra="allow")
    model_path: str | None = None
    model_digest: str | None = None
    adapter: bool = False


class TrainingSummary(BaseModel):
    """What one training run did and whether it helped."""

    schema_version: int = SCHEMA_VERSION
    modality: str
    model_name: str
    run_id: str
    seed: int
    status: Literal["completed", "failed"] = "completed"
    backend: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    duration_seconds: float | None = None
    cycles: list[Cycle] = Field(default_factory=list)
    total_train_steps_executed: int = 0
    final_train_loss: float | None = None
    weights_updated: bool = False
    effectiveness: Effectiveness
    yield_diagnostics: dict[str, Any] = Field(default_factory=dict)
    recovery: Recovery = Field(default_factory=Recovery)
    extra: dict[str, Any] = Field(default_factory=dict)
    inputs: Inputs = Field(default_factory=Inputs)
    outputs: Outputs = Field(default_factory=Outputs)
    versions: dict[str, str] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)

    def write(self, folder: Path) -> Path:
        """Write `<folder>/training_summary.json` atomically (temp file + rename)."""
        return write_json_atomic(Path(folder) / SUMMARY_FILE, self.model_dump(mode="json"))

    @classmethod
    def read(cls, folder_or_file: Path) -> "TrainingSummary":
        path = Path(folder_or_file)
        if path.is_dir():
            path = path / SUMMARY_FILE
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


def write_json_atomic(path: Path, data: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def judge(evaluations: list[Evaluation], *, steps: int, weights_updated: bool) -> Effectiveness:
    """The verdict: failed without steps, moved weights or on a held-out regression; warned when the
    primary figure did not improve, was measured on fewer than MIN_HELDOUT_N rows, or a secondary one
    regressed; passed otherwise.

    The first evaluation is the primary one.
    """
    reasons: list[str] = []
    verdict: Verdict = "passed"

    def worse(v: Verdict) -> None:
        nonlocal verdict
        order = {"passed": 0, "warned": 1, "failed": 2}
        if order[v] > order[verdict]:
            verdict = v

    if steps <= 0:
        worse("failed")
        reasons.append("no optimiser steps were executed")
    if not weights_updated:
        worse("failed")
        reasons.append("no trainable weight changed during training")
    primary = evaluations[0] if evaluations else None
    if primary is None or primary.improvement is None:
        worse("warned")
        reasons.append("no held-out evaluation before and after training: effectiveness unknown")
    for i, ev in enumerate(evaluations):
        imp = ev.improvement
        if imp is None:
            continue
        text = f"{ev.metric} {ev.before:.4g} -> {ev.after:.4g} (n={ev.n})"
        if imp < -ev.tolerance:
            worse("failed" if i == 0 else "warned")
            reasons.append(f"regression on held-out {text}")
        elif i == 0 and imp <= 0:
            worse("warned")
            reasons.append(f"no improvement on held-out {text}")
        elif i == 0:
            reasons.append(f"improved held-out {text}")
    if primary is not None and primary.improvement is not None and 0 < primary.n < MIN_HELDOUT_N:
        worse("warned")
        reasons.append(f"held-out {primary.metric} was measured on only n={primary.n} rows (fewer than "
                       f"{MIN_HELDOUT_N}): each row is {100 / primary.n:.0f} % of the figure, too few to judge; hold "
                       f"out more rows (a higher --eval-split, --max-eval-samples {MIN_HELDOUT_N} or more, or more data)")
    return Effectiveness(verdict=verdict, reasons=reasons, evaluation=primary, evaluations=evaluations)


def json_schema() -> dict[str, Any]:
    return TrainingSummary.model_json_schema()


SCHEMA_PATH = Path(__file__).resolve().parent.parent / "docs" / "summary.schema.json"


if __name__ == "__main__":  # python -m halo_forge.summary  → regenerate docs/summary.schema.json
    SCHEMA_PATH.write_text(json.dumps(json_schema(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")
