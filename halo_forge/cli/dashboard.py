"""`halo-forge dashboard`: serve the dashboard pages and the HTTP API (FastAPI + uvicorn) for this workspace."""

from __future__ import annotations

import typer

from halo_forge.errors import DashboardError


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind. Off loopback every request needs the token."),
    port: int = typer.Option(8765, help="Port to listen on."),
    mlflow_url: str = typer.Option("http://127.0.0.1:5000", help="Where your MLflow UI runs (run pages link to it)."),
    cors_origin: list[str] = typer.Option(None, "--cors-origin", help="Allow this browser origin (CORS; off by default). Repeatable."),
) -> None:
    """Serve the dashboard (runs, run detail, compare, goal-first Train) and the HTTP API."""
    import socket

    from halo_forge.dashboard.auth import is_loopback, token_path
    from halo_forge.workspace import find_workspace

    try:
        import uvicorn

        from halo_forge.dashboard.app import create_app
    except ImportError as exc:
        raise DashboardError(f"the dashboard needs fastapi and uvicorn ({exc.name} is missing)",
                             hint='pip install -e ".[dashboard]"') from None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise DashboardError(f"cannot listen on {host}:{port}: {exc.strerror}",
                                 hint="choose another --port (or stop what uses it)") from None
    ws = find_workspace()
    app = create_app(ws, host=host, cors_origins=cors_origin or (), mlflow_url=mlflow_url)
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"halo-forge dashboard for workspace {ws.root}" + (" (the default one)" if ws.default else ""))
    typer.echo(f"  open: http://{shown if host not in ('0.0.0.0', '::') else '127.0.0.1'}:{port}/?token={app.state.token}")
    typer.echo(f"  API:  http://{shown}:{port}/api/docs  (token in {token_path(ws)})")
    if not is_loopback(host):
        typer.echo("  bound off loopback: every request needs the token", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
