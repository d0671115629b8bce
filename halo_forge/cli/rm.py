"""`halo-forge rm …`"""

from __future__ import annotations

import typer

from halo_forge.cli.dpo import run_train, show_preference_datasets

app = typer.Typer(help="Reward models: a scalar head trained on preference pairs.", no_args_is_help=True)


@app.command("datasets")
def datasets() -> None:
    """List the built-in preference dataset short names for --dataset."""
    show_preference_datasets("RM")


def train_command():
    from halo_forge.cli.options import train_command as make
    from halo_forge.rm.config import RMConfig

    return make(RMConfig, run_train, help=(
        "Train a reward model on preference pairs (TRL RewardTrainer, Bradley-Terry, sequence-classification head).\n\n"
        "Example: halo-forge rm train --dataset hh_rlhf --model Qwen/Qwen2.5-0.5B --center-rewards-coefficient 0.01"))
