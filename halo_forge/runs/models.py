"""What the run index answers with: plain pydantic models (the HTTP API serialises them as they are)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class RunRow(BaseModel):
    """A run's headline figures, as stored in the index."""

    run_id: str
    modality: str | None = None
    model_name: str | None = None
    dataset: str | None = Field(None, description="the dataset short name, hub id or file the run trained on")
    status: str | None = None
    verdict: str | None = None
    started_at: str | None = Field(None, description="ISO 8601, UTC")
    ended_at: str | None = Field(None, description="ISO 8601, UTC")
    duration_seconds: float | None = None
    final_train_loss: float | None = None
    total_train_steps: int | None = None
    weights_updated: bool | None = None
    eval_metric: str | None = None
    eval_before: float | None = None
    eval_after: float | None = None
    eval_delta: float | None = None
    cache_key: str | None = None
    dataset_digest: str | None = None
    model_digest: str | None = Field(None, description="digest of the input (base) model")
    output_model_digest: str | None = None
    output_path: str | None = None
    seed: int | None = None
    backend: str | None = None


class SearchResult(BaseModel):
    rows: list[RunRow]
    total: int = Field(description="runs matching the filters (rows holds at most `limit` of them)")
    limit: int
    offset: int
    sort: str
    descending: bool
    facets: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="counts of the matching runs by modality, verdict, status, model_name and dataset (top 20 models and datasets)")


class Comparison(BaseModel):
    runs: list[RunRow]
    headline: dict[str, list[Any]] = Field(description="each headline figure, one value per run in order")
    differing: list[str] = Field(description="headline figures whose values are not all equal")
    config: dict[str, list[Any]] = Field(description="config settings (dotted) whose values differ, one per run")
    extra: dict[str, list[Any]] = Field(default_factory=dict,
                                        description="scalar `extra` figures whose values differ, one per run")


class LineageLink(BaseModel):
    run_id: str
    depth: int = Field(description="1 = directly before/after the run, 2 = one further, …")
    via: str = Field(description="the model digest that links the two runs")
    modality: str | None = None
    model_name: str | None = None
    verdict: str | None = None
    started_at: str | None = None
    output_model_digest: str | None = None


class Lineage(BaseModel):
    run: RunRow
    dataset_digest: str | None = None
    base_model: str | None = Field(None, description="the input model's digest (or hub:<name> without one)")
    output_model_digest: str | None = None
    upstream: list[LineageLink] = Field(default_factory=list, description="earlier stages, nearest first")
    downstream: list[LineageLink] = Field(default_factory=list, description="later stages, nearest first")
    same_dataset: list[str] = Field(default_factory=list, description="other runs on the same dataset digest (≤ 50)")


class ReindexReport(BaseModel):
    roots: list[str]
    found: int = Field(description="training_summary.json files found")
    indexed: int = Field(description="runs in the rebuilt index")
    duplicates: int = Field(0, description="files whose run_id was already seen (the newest file wins)")
    rejected: dict[str, str] = Field(default_factory=dict, description="file → why it could not be read")
    recovered: dict[str, str] = Field(default_factory=dict, description=(
        "damaged or missing summary file → the replay record it was restored from (replay/<run_id>/)"))
    from_replay: int = Field(0, description="runs indexed from their replay record alone (no summary file found)")
    seconds: float
