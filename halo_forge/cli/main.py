"""`halo-forge`: the entry point. Imports no torch; trainers load it when they run."""

from __future__ import annotations

from pathlib import Path

import typer

from halo_forge import __version__
from halo_forge.cli.report import STRICT_HELP
from halo_forge.errors import HaloForgeError

app = typer.Typer(name="halo-forge", help="Post-training for language models: one command surface for every trainer.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"halo-forge {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    """Post-training for language models: SFT → DPO/ORPO → GRPO, tracked and replayable."""


@app.command()
def quickstart(
    output_dir: Path = typer.Option(Path("outputs/quickstart"), help="Where the quickstart's runs are written."),
    seed: int = typer.Option(42, help="Random seed."),
    max_steps: int = typer.Option(None, help="Override the SFT step count (default 1000)."),
    dpo_max_steps: int = typer.Option(None, help="Override the DPO step count (default 100)."),
    grpo_max_steps: int = typer.Option(None, help="Override the GRPO step count (default 200)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Train even if this exact run is already recorded."),
    strict: bool = typer.Option(False, "--strict", help=STRICT_HELP),
    accelerator: str = typer.Option("auto", help="Backend of the three stages: auto (PyTorch), cpu, cuda, rocm, mps or "
                                                 "mlx (the MLX trainers; slow on a Linux CPU: use the step options)."),
) -> None:
    """Offline demo: the built-in tiny model learns two-digit addition (SFT, DPO, then GRPO) (about 4 CPU-minutes)."""
    from rich.console import Console

    from halo_forge import quickstart as qs
    from halo_forge.cli.report import exit_code, print_run

    console = Console()
    console.print("[bold]halo-forge quickstart[/]: SFT, DPO then GRPO of the built-in tiny model (halo-forge/tiny, ~1M "
                  "params) on two-digit addition, fully offline.")
    console.print("The SFT labels come from a teacher with two flaws: (1) it always forgets the carry into the tens "
                  "(47+38 -> 75); (2) on 60 % of the problems whose answer reaches 100 it leaves off the hundreds "
                  "digit (67+52 -> 19). SFT copies both. DPO's pairs prefer the carry done right over the carry done "
                  "wrong, both written in the teacher's hand: they fix flaw 1 and say nothing about the hundreds "
                  "digit. GRPO samples answers and rewards those the `math` verifier finds equal to the true sum: "
                  "it fixes flaw 2. Held-out problems are never trained on and are scored against the true sums.\n")
    if accelerator == "mlx":
        console.print("On MLX: the MLX trainers run the same stages; their figures need not match PyTorch's. On a Linux "
                      "CPU MLX is ~10x slower than PyTorch: --max-steps, --dpo-max-steps and --grpo-max-steps shorten "
                      "the run.\n")
    summaries = {"sft": print_run(qs.sft_config(output_dir, seed, max_steps, accelerator), no_cache=no_cache,
                                  console=console)}
    console.print()
    summaries["dpo"] = print_run(qs.dpo_config(output_dir, summaries["sft"].outputs.model_path, seed, dpo_max_steps,
                                               accelerator), no_cache=no_cache, console=console)
    console.print()
    summaries["grpo"] = print_run(qs.grpo_config(output_dir, summaries["dpo"].outputs.model_path, seed,
                                                 grpo_max_steps, accelerator), no_cache=no_cache, console=console)
    n = summaries["sft"].effectiveness.evaluation.n
    flaws = {stage: qs.flaw_counts(s.outputs.model_path, n) for stage, s in summaries.items()}
    figures = qs.results(seed, summaries, flaws, backend=summaries["sft"].backend)
    path = qs.write_results(output_dir, figures)
    console.print()
    for line in qs.report_lines(figures):
        console.print(line, soft_wrap=True)
    console.print(f"  figures: {path}")
    code = exit_code(list(summaries.values()), strict)
    if code:
        raise typer.Exit(code)


# Command groups: each module imports only typer/rich at load; trainers and services load lazily.
from halo_forge.cli import platform, replay as replay_cli, runs, workspace as workspace_cli  # noqa: E402
from halo_forge.cli import verifiers as verifiers_cli  # noqa: E402
from halo_forge.cli import dashboard as dashboard_cli  # noqa: E402
from halo_forge.cli import ui as ui_cli  # noqa: E402

app.add_typer(verifiers_cli.app, name="verifiers")
app.add_typer(platform.recipe_app, name="recipe")
app.add_typer(runs.app, name="runs")
app.add_typer(replay_cli.app, name="replay")
app.command("init")(workspace_cli.init)
app.add_typer(platform.server_app, name="server")
app.add_typer(platform.flows_app, name="flows")
app.command("dashboard")(dashboard_cli.serve)
app.command("ui")(ui_cli.ui)


def _build() -> "typer.main.click.Group":
    """The click group: typer's commands plus one group per trainer, generated from its config."""
    from halo_forge.cli.trainers import trainer_group
    from halo_forge.registry import modalities

    group = typer.main.get_command(app)
    for modality in modalities():
        group.add_command(trainer_group(modality), modality)
    return group


def _click_errors() -> tuple[tuple, tuple, tuple]:
    """(usage errors, exits, aborts) as both click and typer raise them: typer ≥ 0.2x vendors its own click
    (`typer._click`), so its commands raise those classes, while the generated trainer groups raise click's."""
    import click

    usage, exits, aborts = [click.ClickException], [click.exceptions.Exit, typer.Exit], [click.exceptions.Abort,
                                                                                       typer.Abort]
    try:
        from typer._click.exceptions import ClickException as VendoredClickException
    except ImportError:
        pass
    else:
        usage.append(VendoredClickException)
    return tuple(usage), tuple(exits), tuple(aborts)


def main(argv: list[str] | None = None) -> int:
    import click

    usage, exits, aborts = _click_errors()
    try:
        rc = _build().main(args=argv, prog_name="halo-forge", standalone_mode=False)
    except HaloForgeError as exc:
        click.echo(f"Error: {exc}", err=True)
        return exc.exit_code
    except exits as exc:
        return exc.exit_code
    except usage as exc:  # a mistyped option or command: usage and exit 2
        exc.show()
        return exc.exit_code
    except aborts:
        click.echo("Aborted.", err=True)
        return 130
    return rc if isinstance(rc, int) else 0


def run() -> None:
    """Console-script entry point."""
    from halo_forge.shutdown import exit_now

    exit_now(main())


if __name__ == "__main__":
    run()
