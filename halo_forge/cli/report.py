"""How a finished run is shown on the console."""

from __future__ import annotations

from rich.console import Console

from halo_forge.summary import TrainingSummary

VERDICT_STYLE = {"passed": "bold green", "warned": "bold yellow", "failed": "bold red"}


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def print_summary(summary: TrainingSummary, console: Console | None = None) -> None:
    console = console or Console()
    eff = summary.effectiveness
    console.print(f"[bold]{summary.modality}[/] run [cyan]{summary.run_id}[/] on {summary.model_name}")
    console.print(f"  {summary.total_train_steps_executed} steps in {_fmt(summary.duration_seconds)} s, "
                  f"final train loss {_fmt(summary.final_train_loss)}")
    for ev in eff.evaluations:
        console.print(f"  held-out {ev.metric}: {_fmt(ev.before)} -> {_fmt(ev.after)} (n={ev.n})")
    console.print(f"  verdict: [{VERDICT_STYLE[eff.verdict]}]{eff.verdict}[/]")
    for reason in eff.reasons:
        console.print(f"    - {reason}")
    errors = summary.extra.get("platform_errors") or []
    if errors:
        console.print("  [yellow]platform errors[/] (the run and its model are fine; `halo-forge runs sync` "
                      "retries what was not recorded):")
        for problem in errors:
            console.print(f"    - {problem}", soft_wrap=True)
    console.print(f"  model:   {summary.outputs.model_path}")
    console.print(f"  summary: {summary.outputs.model_path}/training_summary.json")


def print_run(config, *, no_cache: bool = False, retries: int | None = None,
              console: Console | None = None) -> TrainingSummary:
    """Run `config` through the flow (or the cache) and show the result."""
    from halo_forge.orchestration import run_training
    from halo_forge.workspace import find_workspace

    console = console or Console()
    ws = find_workspace()
    if ws.default:
        console.print(f"[dim]no workspace here: using the default one at {ws.root} (`halo-forge init` makes one)[/]")
    from halo_forge.orchestration import liveness

    def tell(line: str) -> None:
        console.print(f"[yellow]{line}[/]", highlight=False)

    liveness.LISTENERS.append(tell)
    try:
        summary, hit = run_training(config, no_cache=no_cache, retries=retries, ws=ws)
    finally:
        liveness.LISTENERS.remove(tell)
    if hit:
        origin = summary.extra.get("cache_hit_from")
        placed = f"; its model was placed at {summary.outputs.model_path} (from {origin['model_path']})" if origin else ""
        console.print(f"[bold]cache hit[/]: identical inputs already trained as run {summary.run_id}; nothing trained"
                      f"{placed} (--no-cache forces a run)", highlight=False)
    print_summary(summary, console)
    return summary
