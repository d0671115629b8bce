"""`halo-forge ui`: where to look at runs — the MLflow UI on this workspace's store and the Prefect UI."""

from __future__ import annotations

import typer


def ui(
    stop: bool = typer.Option(False, "--stop", help="Stop this workspace's MLflow UI and the local Prefect server."),
) -> None:
    """Print the MLflow and Prefect UI addresses, starting what is not up: the MLflow UI on this workspace's
    tracking store (`.halo-forge/mlflow.db`) and the local Prefect server. `--stop` stops both."""
    from halo_forge.orchestration import server
    from halo_forge.tracking import ui as mlflow_ui
    from halo_forge.workspace import find_workspace

    ws = find_workspace()
    if stop:
        typer.echo("stopped the MLflow UI" if mlflow_ui.stop(ws) else "no MLflow UI of this workspace was running")
        typer.echo("stopped the local Prefect server" if server.stop() else "no local Prefect server was running")
        return
    was_up = mlflow_ui.status(ws)["running"]
    st = mlflow_ui.start(ws)
    how = "its server" if st["external"] else ("up" if was_up else f"started, pid {st['pid']}")
    typer.echo(f"MLflow:  {st['url']}  ({how}; store {ws.mlflow_uri})")
    prefect = server.status()
    url = server.ensure_server()
    how = "PREFECT_API_URL" if prefect["external"] else ("up" if prefect["running"] else "started")
    typer.echo(f"Prefect: {server.ui_url(url)}  ({how}; API {url})")
    problem = server.ui_problem(url)
    if problem:
        typer.echo(f"warning: {problem}: restart it (`halo-forge ui --stop`, then `halo-forge ui`)")
    typer.echo("`halo-forge ui --stop` stops them")
