"""`halo-forge orpo …`"""

from __future__ import annotations

import typer

from halo_forge.cli.dpo import run_train, show_preference_datasets

app = typer.Typer(help="Odds-ratio preference optimisation (no reference model).", no_args_is_help=True)


@app.command("datasets")
def datasets() -> None:
    """List the built-in preference dataset short names for --dataset."""
    show_preference_datasets("ORPO")


def train_command():
    from halo_forge.cli.options import train_command as make
    from halo_forge.orpo.config import ORPOConfig

    return make(ORPOConfig, run_train, help=(
        "Align a model on preference pairs with ORPO (TRL's experimental ORPOTrainer + PEFT).\n\n"
        "Example: halo-forge orpo train --dataset ultrafeedback --model Qwen/Qwen2.5-0.5B-Instruct --beta 0.1"))
