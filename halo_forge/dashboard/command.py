"""The exact CLI command for a config: `halo-forge <trainer> train --flag value …`.

The flags are checked by parsing them back through the real click command and rebuilding the config:
only when that gives the same config are they used; otherwise (a value no flag can say, such as a
`false` whose default is `true`) the command reads the config from a YAML file with `--config`.
"""

from __future__ import annotations

import shlex
from typing import Any

from halo_forge.config import REPEATED_FLAGS, TrainConfig, build_config, flag_name

RUN_OPTIONS = ("config", "no_cache", "retries", "strict")  # options of the run, not fields of its config


def flags(trainer: str, config: TrainConfig) -> list[str] | None:
    """`[trainer, "train", --flag, value, …]` giving exactly `config`, or None when flags cannot."""
    cls = type(config)
    args = [trainer, "train"]
    for name, value in config.model_dump(mode="json", include=config.model_fields_set).items():
        default = cls.model_fields[name].default
        if value is None or value == default:
            continue
        if isinstance(value, bool):
            if not value:
                return None
            args.append(flag_name(name))
        elif isinstance(value, list):
            if name not in REPEATED_FLAGS:
                return None
            for item in value:
                args += [flag_name(name), str(item)]
        elif isinstance(value, dict):
            return None
        else:
            args += [flag_name(name), str(value)]
    return args if _parses_back(trainer, args, config) else None


def _parses_back(trainer: str, args: list[str], config: TrainConfig) -> bool:
    """Parse `args` with the real `halo-forge <trainer> train` command and rebuild the config."""
    import click

    from halo_forge.cli.trainers import trainer_group

    command = trainer_group(trainer).commands["train"]
    try:
        ctx = command.make_context("train", list(args[2:]))
    except click.ClickException:
        return False
    values: dict[str, Any] = {}
    for key, value in ctx.params.items():
        if key in RUN_OPTIONS or value is None or value == ():
            continue
        values[key] = list(value) if isinstance(value, tuple) else value
    try:
        rebuilt = build_config(type(config), values)
    except Exception:  # noqa: BLE001 - any failure means "not expressible as flags"
        return False
    return rebuilt.model_dump(mode="json") == config.model_dump(mode="json")


def config_yaml(config: TrainConfig) -> str:
    """The config's given fields as YAML (what `--config` reads)."""
    import yaml

    return yaml.safe_dump(config.model_dump(mode="json", include=config.model_fields_set), sort_keys=False)


def train_argv(trainer: str, config: TrainConfig, *, yaml_path: str, no_cache: bool) -> tuple[list[str], str | None]:
    """(arguments after `halo-forge`, the YAML to write at `yaml_path` or None)."""
    args = flags(trainer, config)
    text = None
    if args is None:
        args, text = [trainer, "train", "--config", yaml_path], config_yaml(config)
    return args + (["--no-cache"] if no_cache else []), text


def shown(args: list[str]) -> str:
    return shlex.join(["halo-forge", *args])
