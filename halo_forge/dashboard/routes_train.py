"""Launching and following runs: POST /train, POST /recipes/run, GET /runs/{id}/events (server-sent
events), POST /runs/{id}/cancel, and what the Train page offers (GET /train/options)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from halo_forge import registry
from halo_forge.config import build_config
from halo_forge.dashboard import command
from halo_forge.dashboard.models import ErrorBody, LaunchInfo, RecipeRequest, TrainOptions, TrainRequest
from halo_forge.errors import ConfigError, LaunchNotFound
from halo_forge.runs import RunNotFound

router = APIRouter(tags=["launch"], responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody},
                                               404: {"model": ErrorBody}, 422: {"model": ErrorBody}})
# the plain progress line of halo_forge.progress: "sft: step 3/5 loss 2.3456 elapsed 1s eta 1s"
PROGRESS = re.compile(r"^(?P<label>[\w-]+): step (?P<step>\d+)/(?P<total>\d+) loss (?P<loss>\S+) "
                      r"elapsed (?P<elapsed>\d+)s eta (?P<eta>\d+)s$")
POLL_S = 0.25
KEEPALIVE_S = 15.0
EVENTS_DOC = """Server-sent events, one JSON object per `data:` line:

- `launch`: the LaunchInfo, first;
- `log`: `{"line": …}` for every line the command prints (the event id is the byte offset after it:
  reconnect with `Last-Event-ID` to resume);
- `progress`: `{"label", "step", "total", "loss", "elapsed", "eta"}` parsed from the progress lines;
- `done`: the final LaunchInfo (state completed, failed or cancelled; result_run_ids, verdict), last.

For a run that was not launched here but is indexed, a single `done` event with its status and verdict."""


@router.get("/train/options", response_model=TrainOptions)
def train_options(request: Request) -> TrainOptions:
    """Goals → trainers, each trainer's datasets and config fields (defaults explained), models, verifiers."""
    from halo_forge.dashboard.options import train_options as build

    return build(request.app.state.workspace, request.app.state.index)


def _plan_train(request: Request, req: TrainRequest) -> LaunchInfo:
    """Validate the config exactly as `halo-forge <trainer> train` does and build the command."""
    from halo_forge.outputs import OutputFolder

    state = request.app.state
    cls = registry.config_class(req.trainer)  # ConfigError naming the trainers for an unknown one
    values = {str(k).replace("-", "_"): v for k, v in req.config.items()}
    run_id = f"{req.trainer}-{int(time.time() * 1000)}" if req.dry_run else state.launcher.new_id(req.trainer)
    values.setdefault("output", f"outputs/{run_id}")
    try:
        config = build_config(cls, values)
        try:
            OutputFolder(state.workspace.root / config.output, run_id, overwrite=config.overwrite)  # refuses a taken folder
        except (OSError, ValueError) as exc:  # a name the file system refuses (NUL, too long, …)
            raise ConfigError(f"--output {str(config.output)!r} cannot be used: {exc}",
                              hint="choose another --output") from None
    except Exception:
        if not req.dry_run:
            state.launcher.discard(run_id)
        raise
    yaml_path = str(state.launcher.folder(run_id) / "config.yaml")
    argv, yaml_text = command.train_argv(req.trainer, config, yaml_path=yaml_path, no_cache=req.no_cache)
    return LaunchInfo(run_id=run_id, kind="train", trainer=req.trainer, state="preview", command=command.shown(argv),
                      argv=argv, cwd=str(state.workspace.root), output=str(config.output),
                      config=config.model_dump(mode="json"), config_yaml=yaml_text)


@router.post("/train", response_model=LaunchInfo, status_code=201)
def train(request: Request, req: TrainRequest) -> LaunchInfo:
    """Validate the config (the trainer's pydantic class, the CLI's messages) and launch the run; returns its id.

    The run is `halo-forge <trainer> train …` in its own process group: it survives the dashboard and
    is indexed under the returned `run_id` (unless it is a cache hit: `result_run_ids` then names the
    recorded run). An unset `output` becomes `outputs/<run_id>`. With `dry_run` nothing starts."""
    info = _plan_train(request, req)
    if req.dry_run:
        return info
    return request.app.state.launcher.start(info, env={"HALO_FORGE_RUN_ID": info.run_id})


@router.post("/recipes/run", response_model=LaunchInfo, status_code=201)
def recipe_run(request: Request, req: RecipeRequest) -> LaunchInfo:
    """Validate a recipe (every stage's trainer and fields) and launch `halo-forge recipe run`; returns the launch id."""
    from halo_forge.orchestration.recipe import load_recipe, stage_config

    state = request.app.state
    if (req.path is None) == (req.text is None):
        raise ConfigError("give the recipe as `path` or as `text` (one of them)",
                          hint='e.g. {"path": "recipes/quickstart.yaml"}')
    run_id = f"recipe-{int(time.time() * 1000)}" if req.dry_run else state.launcher.new_id("recipe")
    folder = state.launcher.folder(run_id)
    path = (state.workspace.root / req.path) if req.path is not None else folder / "recipe.yaml"
    try:
        if req.text is not None:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(req.text, encoding="utf-8")
        recipe = load_recipe(path)
    except Exception:
        state.launcher.discard(run_id)
        raise
    finally:
        if req.dry_run:
            state.launcher.discard(run_id)
    argv = ["recipe", "run", str(path)] + (["--no-cache"] if req.no_cache else [])
    outputs = [str(stage_config(recipe, s, None)["output"]) for s in recipe.stages]
    info = LaunchInfo(run_id=run_id, kind="recipe", state="preview", command=command.shown(argv), argv=argv,
                      cwd=str(state.workspace.root),
                      config={"name": recipe.name, "stages": [s.name for s in recipe.stages], "stage_outputs": outputs})
    return info if req.dry_run else state.launcher.start(info)


@router.get("/launches", response_model=list[LaunchInfo])
def launches(request: Request) -> list[LaunchInfo]:
    """The runs and recipes this dashboard launched, newest first (at most 50)."""
    return request.app.state.launcher.list(request.app.state.index)


@router.get("/launches/{run_id}", response_model=LaunchInfo)
def launch(request: Request, run_id: str) -> LaunchInfo:
    """One launch: its command, process state and outcome."""
    return request.app.state.launcher.get(run_id, request.app.state.index)


@router.post("/runs/{run_id}/cancel", response_model=LaunchInfo)
def cancel(request: Request, run_id: str) -> LaunchInfo:
    """Interrupt a run this dashboard launched, like Ctrl-C: SIGINT to its process group (SIGTERM, then
    SIGKILL if it lingers). The run removes its staging folder and is indexed as failed."""
    state = request.app.state
    if not state.launcher.exists(run_id):
        row = _indexed_row(request, run_id)
        raise LaunchNotFound(f"run {run_id} was not launched by this dashboard ({row.status or 'finished'})",
                             hint="cancel it where it runs (Ctrl-C in its terminal)")
    return state.launcher.cancel(run_id, state.index)


def _indexed_row(request: Request, run_id: str):
    """The indexed run's headline row; LaunchNotFound (404) when it is neither indexed nor launched here."""
    try:
        return request.app.state.index.row(run_id)
    except RunNotFound as exc:
        raise LaunchNotFound(f"no run {run_id!r}: neither indexed nor launched by this dashboard",
                             hint=exc.hint) from None


def _sse(event: str, data, event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data)}\n\n".encode()


@router.get("/runs/{run_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                             "description": EVENTS_DOC}})
async def events(request: Request, run_id: str,
                 last_event_id: Annotated[str | None, Header(description="Resume after this byte offset.")] = None):
    """Live progress of a launched run as server-sent events (its output, progress and outcome)."""
    state = request.app.state
    if not state.launcher.exists(run_id):
        row = await asyncio.to_thread(_indexed_row, request, run_id)
        done = {"run_id": row.run_id, "state": row.status or "completed", "verdict": row.verdict,
                "result_run_ids": [row.run_id]}
        return StreamingResponse(iter([_sse("done", done)]), media_type="text/event-stream")
    offset = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
    return StreamingResponse(_follow(request, run_id, offset), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _follow(request: Request, run_id: str, offset: int):
    launcher, index = request.app.state.launcher, request.app.state.index
    info = await asyncio.to_thread(launcher.get, run_id, index)
    yield _sse("launch", info.model_dump(mode="json"))
    log, pending, beat = launcher.log_path(run_id), b"", time.monotonic()
    while True:
        chunk = _read(log, offset)
        if chunk:
            offset += len(chunk)
            *lines, pending = (pending + chunk).split(b"\n")
            end = offset - len(pending)
            for raw in lines:
                line = raw.decode("utf-8", "replace").rstrip("\r")
                yield _sse("log", {"line": line}, str(end))
                m = PROGRESS.match(line)
                if m:
                    yield _sse("progress", _progress(m))
            continue
        if not launcher.running(info):
            if pending:
                yield _sse("log", {"line": pending.decode("utf-8", "replace")}, str(offset))
            final = await asyncio.to_thread(launcher.get, run_id, index)
            yield _sse("done", final.model_dump(mode="json"))
            return
        if time.monotonic() - beat > KEEPALIVE_S:
            beat = time.monotonic()
            yield b": keepalive\n\n"
        await asyncio.sleep(POLL_S)


def _read(path: Path, offset: int, size: int = 65536) -> bytes:
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return fh.read(size)
    except OSError:
        return b""


def _progress(m: re.Match) -> dict:
    try:
        loss = float(m["loss"])
    except ValueError:
        loss = None
    return {"label": m["label"], "step": int(m["step"]), "total": int(m["total"]),
            "loss": loss if loss == loss else None, "elapsed": int(m["elapsed"]), "eta": int(m["eta"])}
