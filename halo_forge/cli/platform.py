"""`halo-forge recipe …`, `halo-forge server …`, `halo-forge flows …`: the orchestration commands."""

from __future__ import annotations

from pathlib import Path

import typer

from halo_forge.cli.report import STRICT_HELP

recipe_app = typer.Typer(help="Run post-training recipes (SFT → DPO/ORPO → GRPO) stage by stage, cached.",
                         no_args_is_help=True)
server_app = typer.Typer(help="The local Prefect server halo-forge starts on first use.", no_args_is_help=True)
flows_app = typer.Typer(help="Prefect deployments (schedules, data-change triggers) and the workers of work pools.",
                        no_args_is_help=True)


@recipe_app.command("run")
def recipe_run(
    recipe: Path = typer.Argument(..., help="Recipe YAML (see recipes/quickstart.yaml)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Retrain every stage even when recorded."),
    retries: int = typer.Option(None, "--retries", min=0, help="Retries for transient failures per stage."),
    strict: bool = typer.Option(False, "--strict", help=STRICT_HELP),
) -> None:
    """Run every stage of RECIPE in order; each stage's model feeds the next."""
    from rich.console import Console

    from halo_forge.cli.report import exit_code, print_links, print_summary, quiet_library_warnings
    from halo_forge.orchestration.run import run_recipe
    from halo_forge.summary import TrainingSummary
    from halo_forge.workspace import find_workspace

    console = Console()
    quiet_library_warnings()
    ws = find_workspace()
    summaries = []
    for result in run_recipe(recipe, no_cache=no_cache, retries=retries, ws=ws):
        console.rule(f"stage {result['stage']}" + (" (cache hit)" if result["cache_hit"] else ""))
        summary = TrainingSummary.model_validate(result["summary"])
        print_summary(summary, console)
        print_links(summary, ws, console)
        summaries.append(summary)
    code = exit_code(summaries, strict)
    if code:
        raise typer.Exit(code)


@recipe_app.command("check")
def recipe_check(recipe: Path = typer.Argument(..., help="Recipe YAML to validate.")) -> None:
    """Validate RECIPE (trainers, every config field) without running it."""
    from halo_forge.orchestration.recipe import load_recipe

    r = load_recipe(recipe)
    typer.echo(f"{recipe}: ok ({len(r.stages)} stages: {' -> '.join(s.name for s in r.stages)})")


@server_app.command("status")
def server_status() -> None:
    """Show whether the Prefect server is up and where its UI is."""
    from halo_forge.orchestration import server

    st = server.status()
    if st["external"]:
        typer.echo(f"PREFECT_API_URL is set: {st['url']} ({'up' if st['running'] else 'not answering'})")
    elif st["running"]:
        typer.echo(f"local Prefect server up: {st['url']} (pid {st['pid']}); UI: {server.ui_url(st['url'])}")
    else:
        typer.echo("local Prefect server: not running (it starts on the next training run, or `halo-forge server start`)")
    problem = server.ui_problem(st["url"]) if st["running"] else None
    if problem:
        typer.echo(f"warning: {problem}: the UI will not show this server's runs; restart the server "
                   "(`halo-forge server stop`, then `halo-forge server start`)")


@server_app.command("start")
def server_start() -> None:
    """Start the local Prefect server now (training starts it by itself when needed)."""
    from halo_forge.orchestration import server

    url = server.ensure_server()
    typer.echo(f"Prefect server up: {url}; UI: {server.ui_url(url)}")


@server_app.command("stop")
def server_stop(
    force: bool = typer.Option(False, "--force", help="Stop it even while flow runs still train (they finish "
                                                      "without it and list the lost orchestrator as a platform error)."),
) -> None:
    """Stop the local Prefect server (refused while flow runs train, unless --force)."""
    from halo_forge.orchestration import server

    typer.echo("stopped the local Prefect server" if server.stop(force=force) else "no local Prefect server was running")


@flows_app.command("serve")
def flows_serve(
    recipe: Path = typer.Argument(..., help="Recipe YAML the deployments run."),
    cron: str = typer.Option(None, "--cron", help="Cron schedule, e.g. '0 3 * * *'."),
    watch: list[Path] = typer.Option([], "--watch", help="Data file(s): a new or changed file starts the recipe."),
    poll_seconds: float = typer.Option(30.0, "--poll-seconds", help="How often watched files are checked."),
    pool: str = typer.Option(None, "--pool", help="Register the deployments on this Prefect work pool: its "
                                                  "workers run them (`halo-forge flows worker --pool NAME`)."),
    image: str = typer.Option(None, "--image", help="With --pool on a docker or kubernetes pool: the container image "
                                                    "(halo-forge installed) the workers run the flow in."),
) -> None:
    """Register RECIPE as Prefect deployments (cron and/or data-change trigger) and serve them here, or on a
    work pool's workers with --pool (this process then only watches the --watch files)."""
    from halo_forge.orchestration.deploy import serve

    serve(recipe, cron=cron, watch=list(watch), poll_seconds=poll_seconds, pool=pool, image=image)


@flows_app.command("worker")
def flows_worker(
    pool: str = typer.Option(..., "--pool", help="The work pool to take flow runs from (a process pool is created "
                                                 "when it does not exist)."),
    worker_type: str = typer.Option("process", "--type", help="process (flow runs as processes here), docker "
                                                              "(needs prefect-docker) or kubernetes (needs "
                                                              "prefect-kubernetes)."),
    limit: int = typer.Option(None, "--limit", min=1, help="Run at most this many flow runs at once."),
    name: str = typer.Option(None, "--name", help="The worker's name in the Prefect UI."),
) -> None:
    """Start a Prefect worker for POOL: it runs the pool's scheduled, triggered and hand-started flow runs in the
    workspace it was started in, reporting to halo-forge's Prefect server (or PREFECT_API_URL)."""
    from halo_forge.orchestration.workers import start_worker

    start_worker(pool, worker_type=worker_type, limit=limit, name=name)
