"""`halo-forge dpo …`"""

from __future__ import annotations

import typer

app = typer.Typer(help="Direct preference optimisation on prompt/chosen/rejected pairs.", no_args_is_help=True)


def show_preference_datasets(trainer: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from halo_forge.data.registry import PREFERENCE_DATASETS

    table = Table(title=f"Preference datasets for {trainer} (or any hub id, or --data FILE with prompt/chosen/rejected)")
    table.add_column("name", no_wrap=True, min_width=max(map(len, PREFERENCE_DATASETS)))
    table.add_column("source", overflow="fold")
    table.add_column("description")
    for spec in PREFERENCE_DATASETS.values():
        source = spec.source + (f" ({spec.split})" if spec.split != "train" else "")
        table.add_row(spec.name, source, spec.description)
    Console().print(table)


@app.command("datasets")
def datasets() -> None:
    """List the built-in preference dataset short names for --dataset."""
    show_preference_datasets("DPO")


def run_train(config, *, no_cache: bool = False, retries: int | None = None):
    from halo_forge.cli.report import print_run

    return print_run(config, no_cache=no_cache, retries=retries)


def train_command():
    from halo_forge.cli.options import train_command as make
    from halo_forge.dpo.config import DPOConfig

    return make(DPOConfig, run_train, help=(
        "Align a model on preference pairs (TRL DPOTrainer + PEFT).\n\n"
        "Example: halo-forge dpo train --dataset ultrafeedback --model outputs/sft "
        "--beta 0.1 --loss-type sigmoid --learning-rate 5e-6 --epochs 1"))
