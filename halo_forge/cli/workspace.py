"""`halo-forge init [DIR]`: make a workspace (git + DVC repository, replay/, .halo-forge/)."""

from __future__ import annotations

from pathlib import Path

import typer


def init(
    folder: Path = typer.Argument(Path("."), metavar="DIR", help="Folder to make a workspace of (default: here)."),
) -> None:
    """Make DIR a workspace: git init (unless already in a repo), dvc init, dvc.yaml, replay/, .halo-forge/.

    Safe to run again: only what is missing is made.
    """
    from halo_forge.lineage.dvcrepo import init_workspace

    made = init_workspace(folder)
    root = folder.resolve()
    if not made:
        typer.echo(f"{root} is already a halo-forge workspace: nothing to do")
        return
    typer.echo(f"workspace {root}:")
    for item in made:
        typer.echo(f"  made {item}")
    typer.echo("next: train a run here; `halo-forge replay RUN` replays it (docs/REPLAY.md)")
