"""Click options generated from a trainer's pydantic config, so flags, help and docs share one source.

Every option defaults to None: only values the user gave override the YAML file (`--config`),
which overrides the model's defaults (CLI > YAML > defaults).
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, Literal

import click

from halo_forge.config import TrainConfig, flag_name


def _unwrap(annotation: Any) -> Any:
    """Strip Optional[...] / X | None down to X."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


METAVAR = {int: "INTEGER", float: "FLOAT", str: "TEXT", Path: "PATH"}


def option_for(name: str, field) -> click.Option:
    """One `--flag` for a config field. Values reach pydantic as given (strings), so a bad number or a
    value outside a field's choices is reported with every other problem of the config, at once."""
    ann = _unwrap(field.annotation)
    default = field.default
    shown = "" if default is None or default is False else f" [default: {default}]"
    if ann is bool:
        return click.Option([flag_name(name), name], is_flag=True, default=None, help=field.description)
    if typing.get_origin(ann) is Literal:
        choices = [str(a) for a in typing.get_args(ann)]
        return click.Option([flag_name(name), name], type=str, default=None, metavar="[" + "|".join(choices) + "]",
                            help=f"{field.description or ''} One of: {', '.join(choices)}.{shown}")
    return click.Option([flag_name(name), name], type=str, default=None, metavar=METAVAR.get(ann, "TEXT"),
                        help=(field.description or "") + shown)


def config_options(cls: type[TrainConfig]) -> list[click.Option]:
    opts = [click.Option(["--config"], type=click.Path(path_type=Path), default=None,
                         help="YAML file of field: value pairs; flags given on the command line win.")]
    return opts + [option_for(name, f) for name, f in cls.model_fields.items()]


def strict_option() -> click.Option:
    """`--strict`: exit non-zero (report.EXIT_VERDICT_FAILED) when a verdict is failed."""
    from halo_forge.cli.report import STRICT_HELP

    return click.Option(["--strict"], is_flag=True, default=False, help=STRICT_HELP)
