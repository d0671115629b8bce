"""`halo-forge <trainer> train|datasets` for every trainer in the registry, generated from its config.

A trainer's config class carries what its commands show: its docstring (the description), `summary`
(the group's one-line help), `train_help`, `example` and `datasets` (the dataset registry to list).
Flags come from the config's fields (`options.py`); list fields take one value per repeated flag
(`--verifier math --verifier regex_format`).
"""

from __future__ import annotations

from typing import Any

import click

from halo_forge.config import REPEATED_FLAGS

CONTEXT = {"max_content_width": 120, "help_option_names": ["-h", "--help"]}


def run_train(config, *, no_cache: bool = False, retries: int | None = None, strict: bool = False) -> None:
    """Run `config` through the flow (or answer it from the cache) and print the result; under `strict` a
    failed verdict exits with report.EXIT_VERDICT_FAILED."""
    from halo_forge.cli.report import exit_code, print_run

    code = exit_code([print_run(config, no_cache=no_cache, retries=retries)], strict)
    if code:
        raise click.exceptions.Exit(code)


def show_datasets(cls) -> None:
    """The dataset short names a trainer's --dataset takes, with their sources."""
    from rich.console import Console
    from rich.table import Table

    from halo_forge.dispatch import load_ref

    # a short name another trainer needs (llava: the vlm trainer) is refused by this one's --dataset: not listed
    specs = {name: spec for name, spec in load_ref(cls.datasets).items() if spec.needs in (None, cls.modality)}
    table = Table(title=f"{cls.modality.upper()} datasets (or any hub id, or --data FILE)")
    # names and sources are what users copy: never cut them short with "…" on a narrow terminal
    table.add_column("name", no_wrap=True, min_width=max(map(len, specs)))
    table.add_column("source", overflow="fold")
    table.add_column("description")
    for spec in specs.values():
        source = spec.source + (f" ({spec.config})" if spec.config else "") + \
            (f" [{spec.split}]" if spec.split != "train" else "")
        table.add_row(spec.name, source, spec.description)
    Console().print(table)


def train_command(cls) -> click.Command:
    """`<trainer> train`: flags from `cls`, merged with --config, validated at once, then run."""
    from halo_forge.cli.options import config_options, strict_option
    from halo_forge.config import build_config

    def callback(config=None, no_cache: bool = False, retries: int | None = None, strict: bool = False,
                 **values: Any) -> None:
        cli = {k: (list(v) if k in REPEATED_FLAGS else v) for k, v in values.items() if v not in (None, ())}
        run_train(build_config(cls, cli, config), no_cache=no_cache, retries=retries, strict=strict)

    params = [_repeatable(p, cls) if p.name in REPEATED_FLAGS else p for p in config_options(cls)]
    params += [
        click.Option(["--no-cache"], is_flag=True, default=False,
                     help="Train even when an identical run (same data, model, config, code) is recorded."),
        click.Option(["--retries"], type=click.IntRange(min=0), default=None,
                     help="Retry transient failures (I/O, connection) this many times [default: $HALO_FORGE_RETRIES or 0]."),
        strict_option(),
    ]
    return click.Command("train", params=params, callback=callback, context_settings=CONTEXT,
                         help=f"{cls.train_help}\n\nExample: {' '.join(cls.example.split())}".replace(" \\ ", " "))


def _repeatable(option: click.Option, cls) -> click.Option:
    return click.Option([REPEATED_FLAGS[option.name], option.name], type=str, multiple=True, default=None,
                        help=cls.model_fields[option.name].description)


def trainer_group(modality: str) -> click.Group:
    """`halo-forge <modality>`: its train and datasets commands."""
    from halo_forge.registry import config_class

    cls = config_class(modality)
    group = click.Group(modality, help=cls.summary, no_args_is_help=True, context_settings=CONTEXT)
    group.add_command(train_command(cls), "train")
    group.add_command(click.Command("datasets", callback=lambda: show_datasets(cls), context_settings=CONTEXT,
                                    help="List the built-in dataset short names for --dataset."), "datasets")
    return group
