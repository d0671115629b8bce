"""`halo-forge grpo …` and `halo-forge raft …`: the RL trainers (prompts + verifiers)."""

from __future__ import annotations

import typer

grpo_app = typer.Typer(help="GRPO: group-relative policy optimisation with verifier rewards (TRL GRPOTrainer).",
                       no_args_is_help=True)
raft_app = typer.Typer(help="RAFT: sample, verify, keep the best, fine-tune on them; repeat for several cycles.",
                       no_args_is_help=True)


def show_prompt_datasets(trainer: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from halo_forge.data.prompts import PROMPT_DATASETS

    table = Table(title=f"Prompt datasets for {trainer} (or any hub id, or --data prompts.jsonl: prompt + ground truth)")
    table.add_column("name", no_wrap=True, min_width=max(map(len, PROMPT_DATASETS)))
    table.add_column("source", overflow="fold")
    table.add_column("description")
    for spec in PROMPT_DATASETS.values():
        table.add_row(spec.name, spec.source + (f" ({spec.split})" if spec.split != "train" else ""), spec.description)
    Console().print(table)


@grpo_app.command("datasets")
def grpo_datasets() -> None:
    """List the built-in prompt dataset short names for --dataset."""
    show_prompt_datasets("GRPO")


@raft_app.command("datasets")
def raft_datasets() -> None:
    """List the built-in prompt dataset short names for --dataset."""
    show_prompt_datasets("RAFT")


def run_train(config, *, no_cache: bool = False, retries: int | None = None):
    from halo_forge.cli.report import print_run

    return print_run(config, no_cache=no_cache, retries=retries)


# list fields → repeatable singular flags
REPEATABLE = {"verifiers": ("--verifier", str), "verifier_weights": ("--verifier-weight", float),
              "verifier_args": ("--verifier-arg", str)}

HELP = {
    "grpo": ("Optimise a policy against verifier rewards with GRPO (TRL GRPOTrainer).\n\n"
             "Example: halo-forge grpo train --dataset gsm8k --model Qwen/Qwen2.5-0.5B-Instruct --verifier math "
             "--num-generations 8 --beta 0.04 --max-completion-length 256"),
    "raft": ("RAFT: each cycle samples from the current policy, verifies, keeps the best and fine-tunes on them.\n\n"
             "Example: halo-forge raft train --dataset code_prompts --verifier execution --cycles 3 "
             "--samples-per-prompt 8 --keep-percent 0.5"),
}


def train_command(name: str):
    import click

    from halo_forge.cli.options import train_command as make
    from halo_forge.registry import config_class

    cls = config_class(name)
    cmd = make(cls, run_train, help=HELP[name])
    params = []
    for p in cmd.params:
        if p.name in REPEATABLE:
            flag, kind = REPEATABLE[p.name]
            params.append(click.Option([flag, p.name], type=kind, multiple=True, default=None,
                                       help=cls.model_fields[p.name].description))
        else:
            params.append(p)
    cmd.params = params
    inner = cmd.callback

    def callback(**values):
        for key in REPEATABLE:
            if not values.get(key):
                values[key] = None  # not given: the YAML or the default applies
            else:
                values[key] = list(values[key])
        return inner(**values)

    cmd.callback = callback
    return cmd
