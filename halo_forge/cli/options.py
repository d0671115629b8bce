"""Click options generated from a trainer's pydantic config, so flags, help and docs share one source.

Every option defaults to None: only values the user gave override the YAML file (`--config`),
which overrides the model's defaults (CLI > YAML > defaults).
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, Callable, Literal

import click

from halo_forge.config import TrainConfig, build_config, flag_name


def _unwrap(annotation: Any) -> Any:
    """Strip Optional[...] / X | None down to X."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def option_for(name: str, field) -> click.Option:
    ann = _unwrap(field.annotation)
    default = field.default
    shown = "" if default is None or default is False else f" [default: {default}]"
    help_text = (field.description or "") + shown
    if ann is bool:
        return click.Option([flag_name(name)], is_flag=True, default=None, help=field.description)
    if typing.get_origin(ann) is Literal:
        kind: Any = click.Choice([str(a) for a in typing.get_args(ann)])
    elif ann in (int, float, str):
        kind = ann
    elif ann is Path:
        kind = click.Path(path_type=Path)
    else:
        kind = str
    return click.Option([flag_name(name)], type=kind, default=None, help=help_text)


def config_options(cls: type[TrainConfig]) -> list[click.Option]:
    opts = [click.Option(["--config"], type=click.Path(path_type=Path), default=None,
                         help="YAML file of field: value pairs; flags given on the command line win.")]
    return opts + [option_for(name, f) for name, f in cls.model_fields.items()]


def strict_option() -> click.Option:
    """`--strict`: exit non-zero (report.EXIT_VERDICT_FAILED) when a verdict is failed."""
    from halo_forge.cli.report import STRICT_HELP

    return click.Option(["--strict"], is_flag=True, default=False, help=STRICT_HELP)


def train_command(cls: type[TrainConfig], run: Callable[[TrainConfig], None], *, help: str) -> click.Command:
    """`<trainer> train`: flags from `cls`, merged with --config, validated, then `run(config)`."""

    def callback(config: Path | None = None, no_cache: bool = False, retries: int | None = None,
                 strict: bool = False, **values: Any) -> None:
        from halo_forge.cli.report import exit_code

        cli = {k: v for k, v in values.items() if v is not None}
        summary = run(build_config(cls, cli, config), no_cache=no_cache, retries=retries)
        code = exit_code([summary], strict)
        if code:
            raise click.exceptions.Exit(code)

    run_options = [
        click.Option(["--no-cache"], is_flag=True, default=False,
                     help="Train even when an identical run (same data, model, config, code) is recorded."),
        click.Option(["--retries"], type=click.IntRange(min=0), default=None,
                     help="Retry transient failures (I/O, connection) this many times [default: $HALO_FORGE_RETRIES or 0]."),
        strict_option(),
    ]
    return click.Command("train", params=config_options(cls) + run_options, callback=callback, help=help,
                         context_settings={"max_content_width": 120, "help_option_names": ["-h", "--help"]})
