"""How a finished run is shown on the console: the summary, then its MLflow and Prefect links."""

from __future__ import annotations

import os
import sys
import warnings

from rich.console import Console

from halo_forge.summary import TrainingSummary

VERDICT_STYLE = {"passed": "bold green", "warned": "bold yellow", "failed": "bold red"}
# `--strict`: the exit code when a verdict is failed (2 is a user mistake, 1 a crash)
EXIT_VERDICT_FAILED = 3
STRICT_HELP = f"Exit with code {EXIT_VERDICT_FAILED} when a verdict is failed (a CI gate); without it a finished run exits 0."
# libraries whose deprecation notices are theirs to act on, not the user's
LIBRARIES = r"(transformers|trl|peft|accelerate|datasets|torch|huggingface_hub|mlflow|prefect)(\.|$)"


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def quiet_library_warnings() -> None:
    """Hide the libraries' FutureWarning/DeprecationWarning notices in a normal run (errors, our own warnings
    and every other warning still show). Python's -W or PYTHONWARNINGS, when given, decide instead."""
    if sys.warnoptions:
        return
    for category in (FutureWarning, DeprecationWarning, PendingDeprecationWarning):
        warnings.filterwarnings("ignore", category=category, module=LIBRARIES)


def print_summary(summary: TrainingSummary, console: Console | None = None) -> None:
    """The summary, one line per fact: a terminal wraps long lines itself, a log or a pipe keeps them whole."""
    console = console or Console()
    eff = summary.effectiveness

    def say(text: str) -> None:
        console.print(text, soft_wrap=True)

    say(f"[bold]{summary.modality}[/] run [cyan]{summary.run_id}[/] on {summary.model_name}")
    say(f"  {summary.total_train_steps_executed} steps in {_fmt(summary.duration_seconds)} s, "
        f"final train loss {_fmt(summary.final_train_loss)}")
    for ev in eff.evaluations:
        say(f"  held-out {ev.metric}: {_fmt(ev.before)} -> {_fmt(ev.after)} (n={ev.n})")
    say(f"  verdict: [{VERDICT_STYLE[eff.verdict]}]{eff.verdict}[/]")
    for reason in eff.reasons:
        say(f"    - {reason}")
    errors = summary.extra.get("platform_errors") or []
    if errors:
        say("  [yellow]platform errors[/] (the run and its model are fine; `halo-forge runs sync` retries what was "
            "not recorded):")
        for problem in errors:
            say(f"    - {problem}")
    say(f"  model:   {summary.outputs.model_path}")
    say(f"  summary: {summary.outputs.model_path}/training_summary.json")


def links(summary: TrainingSummary, ws) -> list[tuple[str, str]]:
    """[(what, url)]: the run's MLflow page and its Prefect flow run (for a cache hit, the Cached flow run)."""
    from halo_forge.orchestration import server
    from halo_forge.tracking import ui

    out = []
    inputs = summary.inputs.model_extra or {}
    if inputs.get("mlflow_run_id"):
        url, up = ui.run_url(ws, inputs["mlflow_run_id"])
        out.append(("MLflow", url + ("" if up else "  (`halo-forge ui` serves it)")))
    flow_run = summary.extra.get("prefect_cache_hit_flow_run_id") or inputs.get("prefect_flow_run_id")
    api = os.environ.get("PREFECT_API_URL") or server.status().get("url")
    if flow_run and api:
        out.append(("Prefect", f"{server.ui_url(api)}/runs/flow-run/{flow_run}"))
    return out


def print_links(summary: TrainingSummary, ws, console: Console) -> None:
    for what, url in links(summary, ws):
        console.print(f"  {what + ':':9}{url}", highlight=False, soft_wrap=True)


def exit_code(summaries: list[TrainingSummary], strict: bool) -> int:
    """EXIT_VERDICT_FAILED under --strict when any verdict is failed, else 0."""
    failed = any(s.effectiveness.verdict == "failed" for s in summaries)
    return EXIT_VERDICT_FAILED if strict and failed else 0


def print_run(config, *, no_cache: bool = False, retries: int | None = None, console: Console | None = None,
              stage: str | None = None) -> TrainingSummary:
    """Run `config` through the flow (or the cache) and show the result and its links."""
    from halo_forge.orchestration import run_training
    from halo_forge.workspace import find_workspace

    console = console or Console()
    quiet_library_warnings()
    ws = find_workspace()
    if ws.default:
        console.print(f"[dim]no workspace here: using the default one at {ws.root} (`halo-forge init` makes one)[/]")
    from halo_forge.orchestration import liveness

    def tell(line: str) -> None:
        console.print(f"[yellow]{line}[/]", highlight=False)

    liveness.LISTENERS.append(tell)
    try:
        summary, hit = run_training(config, no_cache=no_cache, retries=retries, ws=ws, stage=stage)
    finally:
        liveness.LISTENERS.remove(tell)
    if hit:
        origin = summary.extra.get("cache_hit_from")
        placed = f"; its model was placed at {summary.outputs.model_path} (from {origin['model_path']})" if origin else ""
        console.print(f"[bold]cache hit[/]: identical inputs already trained as run {summary.run_id}; nothing trained"
                      f"{placed} (--no-cache forces a run)", highlight=False, soft_wrap=True)
    print_summary(summary, console)
    print_links(summary, ws, console)
    return summary
