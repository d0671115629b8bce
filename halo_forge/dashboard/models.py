"""The HTTP API's own request and response models. Runs travel as the run index's models
(`halo_forge.runs`: SearchResult, Comparison, Lineage) and the one summary shape
(`halo_forge.summary.TrainingSummary`); configs as the trainers' config classes (`halo_forge.registry`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

LaunchState = Literal["preview", "running", "completed", "failed", "cancelled"]


class ErrorBody(BaseModel):
    """A refused request: `error` is the text the CLI prints after `Error: ` (what, where, how to fix)."""

    error: str
    message: str
    hint: str | None = None


class TrainRequest(BaseModel):
    """Launch `halo-forge <trainer> train` with `config` (the trainer's config fields, as in a YAML file)."""

    model_config = ConfigDict(extra="forbid")
    trainer: str = Field(description="sft, dpo, orpo, rm, grpo or raft (`GET /train/options` lists them)")
    config: dict[str, Any] = Field(default_factory=dict,
                                   description="field: value pairs of the trainer's config (defaults fill the rest)")
    no_cache: bool = Field(False, description="Train even when an identical run is recorded (--no-cache).")
    dry_run: bool = Field(False, description="Validate and return the command without launching anything.")


class RecipeRequest(BaseModel):
    """Launch `halo-forge recipe run` on a recipe file in the workspace, or on recipe YAML given inline."""

    model_config = ConfigDict(extra="forbid")
    path: str | None = Field(None, description="A recipe YAML file (relative paths: from the workspace root).")
    text: str | None = Field(None, description="The recipe YAML itself (written into the launch folder).")
    no_cache: bool = Field(False, description="Retrain every stage even when recorded (--no-cache).")
    dry_run: bool = Field(False, description="Validate and return the command without launching anything.")


class LaunchInfo(BaseModel):
    """A run (or recipe) the dashboard launched: its command, process and outcome."""

    run_id: str = Field(description="the id the run is indexed under (a recipe: the launch id)")
    kind: Literal["train", "recipe"]
    trainer: str | None = None
    state: LaunchState
    command: str = Field(description="the exact CLI command (run from `cwd`)")
    argv: list[str] = Field(description="the command as an argument list")
    cwd: str
    pid: int | None = None
    started_at: str | None = None
    ended_at: str | None = None
    returncode: int | None = None
    cancel_requested: bool = False
    output: str | None = Field(None, description="the run's output folder (train)")
    config: dict[str, Any] = Field(default_factory=dict, description="the validated config (train)")
    config_yaml: str | None = Field(None, description="the YAML the command reads with --config, when it needs one")
    error: str | None = Field(None, description="the `Error: …` line the command printed, when it failed")
    result_run_ids: list[str] = Field(default_factory=list,
                                      description="runs it produced or found: a cache hit names the recorded run")
    cache_hit: bool | None = None
    verdict: str | None = None


class MetricPoint(BaseModel):
    step: float
    value: float


class RunMetrics(BaseModel):
    """A run's curves: loss and the trainer's histories (reward, KL, margins…), one series per name."""

    run_id: str
    modality: str
    series: dict[str, list[MetricPoint]]


class RunLinks(BaseModel):
    """Where else the run shows: its MLflow run and its Prefect flow run."""

    run_id: str
    mlflow_run_id: str | None = None
    mlflow_url: str | None = Field(None, description="the run in the MLflow UI (at --mlflow-url)")
    mlflow_ui_command: str
    prefect_flow_run_id: str | None = None
    prefect_url: str | None = Field(None, description="the flow run in the Prefect UI, when its server is known")


class ReplayInfo(BaseModel):
    """How to replay a run: the command, and its recorded manifest when the workspace holds one."""

    run_id: str
    command: str
    recorded: bool
    folder: str | None = None
    manifest: dict[str, Any] | None = None
    replays: list[dict[str, Any]] = Field(default_factory=list, description="earlier replays (replays.jsonl)")
    note: str | None = None


class Choice(BaseModel):
    name: str
    description: str = ""
    source: str | None = None


class Goal(BaseModel):
    """A goal the Train page starts from, and the trainers that serve it."""

    id: str
    title: str
    description: str
    trainers: list[str]


class TrainerOptions(BaseModel):
    name: str
    description: str
    datasets: list[Choice]
    fields: dict[str, dict[str, Any]] = Field(description="each config field: type, default, description, choices")


class TrainOptions(BaseModel):
    """What the Train page offers: goals → trainers, their datasets and fields, models and verifiers."""

    workspace: str
    goals: list[Goal]
    trainers: dict[str, TrainerOptions]
    models: list[Choice]
    verifiers: list[Choice]
