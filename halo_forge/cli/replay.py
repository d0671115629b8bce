"""`halo-forge replay RUN`: re-execute a recorded run from its locked inputs and compare.

    halo-forge replay sft-1795713955105
    halo-forge replay sft-1795713955105 --allow-drift "torch upgrade, checking the effect"

`halo-forge replay exec MANIFEST --output DIR` is the command the run's DVC stage executes.
Exit codes: 0 identical, 1 replayed but different, 2 refused or failed (drift, missing inputs).
"""

from __future__ import annotations

from pathlib import Path

import typer
from typer.core import TyperGroup

from halo_forge.errors import ReplayDiffers  # noqa: F401 - raised here, defined with the others


class _RunIsDefault(TyperGroup):
    """`replay RUN …` means `replay run RUN …`; `replay exec …` is the DVC stage's command."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_RunIsDefault, no_args_is_help=True, help=(
    "Replay a recorded run: `halo-forge replay RUN [--allow-drift REASON]` checks its inputs for drift, "
    "re-executes it with `dvc repro` and compares the result with the record (exit 0 identical, "
    "1 different, 2 refused). Recorded runs live in replay/<run_id>/."))


def _fmt(value) -> str:
    return repr(value) if isinstance(value, float) else "none" if value is None else str(value)


@app.command("run")
def run(
    run_id: str = typer.Argument(..., metavar="RUN", help="Run id (a folder under replay/), or the path of its folder."),
    allow_drift: str = typer.Option(None, "--allow-drift", metavar="REASON",
                                    help="Replay even though inputs drifted; REASON is recorded in replays.jsonl."),
) -> None:
    """Check drift, re-execute RUN with `dvc repro`, and diff the new summary against the recorded one."""
    from rich.console import Console
    from rich.table import Table

    from halo_forge.lineage.replay import replay
    from halo_forge.workspace import find_workspace

    console = Console()
    ws = find_workspace()
    outcome = replay(ws, run_id, allow_drift=allow_drift)
    if outcome.drift:
        console.print(f"[yellow]replayed despite drift[/] (reason recorded: {allow_drift!r}):")
        for d in outcome.drift:
            console.print(f"  - {d}")
    if outcome.identical:
        console.print(f"[bold green]identical[/]: run {outcome.run_id} replayed with the same final loss, "
                      f"held-out figures, steps and output model digest ({outcome.folder / 'out'})")
        return
    table = Table(title=f"replay of {outcome.run_id} differs from the record")
    table.add_column("figure", no_wrap=True)
    table.add_column("recorded", overflow="fold")
    table.add_column("replayed", overflow="fold")
    for diff in outcome.differences:
        table.add_row(diff.figure, _fmt(diff.recorded), _fmt(diff.replayed))
    console.print(table)
    raise ReplayDiffers(f"the replay of {outcome.run_id} differs from the record in {len(outcome.differences)} "
                        f"figure(s) (table above); replayed run in {outcome.folder / 'out'}")


@app.command("exec", hidden=True)
def exec_(
    manifest: Path = typer.Argument(..., help="The run's manifest.json."),
    output: Path = typer.Option(..., "--output", help="Folder for the replayed model and training_summary.json."),
    metrics: Path = typer.Option(None, "--metrics", help="Also write the compared figures to this JSON file."),
) -> None:
    """Re-train from MANIFEST (what the run's DVC stage executes): no flow, no cache, no tracking."""
    from halo_forge.cli.report import print_summary
    from halo_forge.lineage.replay import exec_replay

    print_summary(exec_replay(manifest, output, metrics))
