"""GET /runs/…: search, one run's summary, curves, lineage, replay, links; compare. All through
`halo_forge.runs.RunIndex`, so the answers are the CLI's (`halo-forge runs search|show|compare|lineage`)."""

from __future__ import annotations

import json
import math
import shlex
from typing import Annotated

from fastapi import APIRouter, Query, Request

from halo_forge.dashboard.models import ErrorBody, MetricPoint, ReplayInfo, RunLinks, RunMetrics
from halo_forge.errors import HaloForgeError
from halo_forge.runs import Comparison, Lineage, RunNotFound, RunsError, SearchResult
from halo_forge.summary import TrainingSummary

router = APIRouter(tags=["runs"], responses={400: {"model": ErrorBody}, 404: {"model": ErrorBody},
                                             422: {"model": ErrorBody}})
MAX_OFFSET = 2 ** 62


def resolve(request: Request, run_id: str) -> TrainingSummary:
    """The run's summary; a launch that was a cache hit resolves to the recorded run it found."""
    state = request.app.state
    try:
        return state.index.get(run_id)
    except RunNotFound:
        if state.launcher.exists(run_id):
            launch = state.launcher.get(run_id, state.index)
            if launch.state == "running":
                raise RunNotFound(f"run {run_id} is still running: it is indexed when it ends",
                                  hint=f"follow it: GET /runs/{run_id}/events") from None
            if launch.result_run_ids and launch.result_run_ids[0] != run_id:
                return state.index.get(launch.result_run_ids[0])
        raise


@router.get("/runs/search", response_model=SearchResult)
def search(request: Request,
           modality: Annotated[str | None, Query(description="Only these modalities (comma-separated), e.g. sft,dpo.")] = None,
           model: Annotated[str | None, Query(description="Only models whose name contains this (any case).")] = None,
           verdict: Annotated[str | None, Query(description="passed, warned, failed (comma-separated).")] = None,
           status: Annotated[str | None, Query(description="completed, failed (comma-separated).")] = None,
           dataset: Annotated[str | None, Query(description="Only runs on exactly this dataset (short name, hub id or file).")] = None,
           since: Annotated[str | None, Query(description="Runs started on or after this ISO date/time (UTC when no zone).")] = None,
           until: Annotated[str | None, Query(description="Runs started on or before this ISO date (the whole day) or time.")] = None,
           where: Annotated[list[str], Query(description="FIELD OP VALUE figure filters, all must hold, e.g. eval_after>=0.6.")] = [],  # noqa: B006
           text: Annotated[str | None, Query(description="Free text: every word must occur in the run's text.")] = None,
           sort: Annotated[str, Query(description="A headline column (e.g. eval_after, final_train_loss).")] = "started_at",
           descending: Annotated[bool, Query(description="Sort descending (default) or ascending.")] = True,
           limit: Annotated[int, Query(description="At most this many rows (0–10000).")] = 20,
           offset: Annotated[int, Query(description="Skip this many matching runs first (paging).")] = 0,
           facets: Annotated[bool, Query(description="Count the matches by modality, verdict, status, model, dataset.")] = True,
           ) -> SearchResult:
    """Runs matching every filter, a sorted page of them, the total and the facet counts (`halo-forge runs search`)."""
    if not 0 <= offset <= MAX_OFFSET:
        raise RunsError(f"offset {offset} is out of range", hint=f"use 0 ≤ offset ≤ {MAX_OFFSET}")
    conditions = list(where)
    if dataset:
        conditions.append(f"dataset='{dataset}'")
    return request.app.state.index.search(
        modality=modality, model=model, verdict=verdict, status=status, since=since, until=until,
        where=conditions, text=text, sort=sort, descending=descending, limit=limit, offset=offset, facets=facets)


@router.get("/runs/compare", response_model=Comparison)
def compare(request: Request, ids: Annotated[list[str], Query(description="Two to four run ids.")]) -> Comparison:
    """Headline figures side by side, and the config and extra figures that differ (`halo-forge runs compare`)."""
    if len(ids) > 4:
        raise RunsError(f"compare takes at most 4 runs, got {len(ids)}", hint="pick 2 to 4 runs")
    return request.app.state.index.compare([resolve(request, i).run_id for i in ids])


@router.get("/runs/{run_id}", response_model=TrainingSummary)
def show(request: Request, run_id: str) -> TrainingSummary:
    """The run's whole training summary (`halo-forge runs show RUN --json`)."""
    return resolve(request, run_id)


@router.get("/runs/{run_id}/metrics", response_model=RunMetrics)
def metrics(request: Request, run_id: str) -> RunMetrics:
    """The run's curves: training loss and the trainer's histories (reward, KL, margins…), step by step."""
    summary = resolve(request, run_id)
    series: dict[str, list[MetricPoint]] = {}
    for key, value in summary.extra.items():
        if not isinstance(value, list) or not value or not all(isinstance(p, dict) and "step" in p for p in value):
            continue
        points = [MetricPoint(step=p["step"], value=v) for p in value
                  for v in [p.get("value", p.get("loss"))] if _number(v) and _number(p["step"])]
        if points:
            series[key.removesuffix("_history")] = points
    if len(summary.cycles) > 1:
        series["cycle_train_loss"] = [MetricPoint(step=c.cycle, value=c.train_loss) for c in summary.cycles
                                      if _number(c.train_loss)]
    return RunMetrics(run_id=summary.run_id, modality=summary.modality, series=series)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@router.get("/runs/{run_id}/lineage", response_model=Lineage)
def lineage(request: Request, run_id: str) -> Lineage:
    """Its dataset and base model, the earlier stages it built on and the later ones built on it."""
    return request.app.state.index.lineage(resolve(request, run_id).run_id)


@router.get("/runs/{run_id}/replay", response_model=ReplayInfo)
def replay(request: Request, run_id: str) -> ReplayInfo:
    """How to replay the run (`halo-forge replay RUN`) and its recorded manifest, when there is one."""
    from halo_forge.lineage.replay import LOG, find_recorded, load_manifest

    summary = resolve(request, run_id)
    command = f"halo-forge replay {summary.run_id}"
    try:
        folder = find_recorded(request.app.state.workspace, summary.run_id)
        manifest = load_manifest(folder / "manifest.json")
    except HaloForgeError as exc:
        why = "it failed, so nothing was recorded" if summary.status == "failed" else exc.message
        return ReplayInfo(run_id=summary.run_id, command=command, recorded=False, note=why)
    replays = []
    if (folder / LOG).is_file():
        for line in (folder / LOG).read_text(encoding="utf-8").splitlines():
            try:
                replays.append(json.loads(line))
            except ValueError:
                continue
    return ReplayInfo(run_id=summary.run_id, command=command, recorded=True, folder=str(folder), manifest=manifest,
                      replays=replays)


@router.get("/runs/{run_id}/links", response_model=RunLinks)
def links(request: Request, run_id: str) -> RunLinks:
    """The run's MLflow run and Prefect flow run, and how to open their UIs."""
    from halo_forge.orchestration import server

    state = request.app.state
    summary = resolve(request, run_id)
    extra = summary.inputs.model_extra or {}
    mlflow_id, flow_id = extra.get("mlflow_run_id"), extra.get("prefect_flow_run_id")
    prefect_api = server.status().get("url")
    return RunLinks(
        run_id=summary.run_id, mlflow_run_id=mlflow_id,
        mlflow_url=f"{state.mlflow_url.rstrip('/')}/#/runs/{mlflow_id}" if mlflow_id and state.mlflow_url else None,
        mlflow_ui_command=f"cd {shlex.quote(str(state.workspace.root))} && halo-forge ui",
        prefect_flow_run_id=flow_id,
        prefect_url=f"{prefect_api.removesuffix('/api')}/runs/flow-run/{flow_id}" if flow_id and prefect_api else None)
