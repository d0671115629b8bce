"""`halo-forge sft …`"""

from __future__ import annotations

import typer

app = typer.Typer(help="Supervised fine-tuning on instruction/response pairs, chats or text.", no_args_is_help=True)


@app.command("datasets")
def datasets() -> None:
    """List the built-in dataset short names for --dataset."""
    from rich.console import Console
    from rich.table import Table

    from halo_forge.data.registry import SFT_DATASETS

    table = Table(title="SFT datasets (or any hub id, or --data FILE)")
    # names and sources are what users copy: never cut them short with "…" on a narrow terminal
    table.add_column("name", no_wrap=True, min_width=max(map(len, SFT_DATASETS)))
    table.add_column("source", overflow="fold")
    table.add_column("description")
    for spec in SFT_DATASETS.values():
        source = spec.source + (f" ({spec.config})" if spec.config else "")
        table.add_row(spec.name, source, spec.description + (f" Needs the {spec.needs} trainer." if spec.needs else ""))
    Console().print(table)


def run_train(config, *, no_cache: bool = False, retries: int | None = None):
    from halo_forge.cli.report import print_run

    return print_run(config, no_cache=no_cache, retries=retries)


def train_command():
    from halo_forge.cli.options import train_command as make
    from halo_forge.sft.config import SFTConfig

    return make(SFTConfig, run_train, help=(
        "Fine-tune a model on a dataset (TRL SFTTrainer + PEFT).\n\n"
        "Example: halo-forge sft train --dataset codealpaca --model Qwen/Qwen2.5-Coder-3B "
        "--epochs 3 --batch-size 2 --gradient-accumulation 16 --lora-rank 16 --lora-alpha 32 --use-dora"))
