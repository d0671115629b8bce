"""Docs move with the code: generated files are current and every command has help."""

import click

from halo_forge.cli import docs
from halo_forge.cli.main import _build


def test_trainers_md_is_current():
    assert docs.DOC_PATH.read_text() == docs.render(), "docs/TRAINERS.md is stale: python -m halo_forge.cli.docs"


def _walk(cmd, path=()):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from _walk(sub, path + (name,))


def test_every_command_and_option_has_help():
    for path, cmd in _walk(_build()):
        assert (cmd.help or cmd.short_help), f"`halo-forge {' '.join(path)}` has no help text"
        for param in cmd.params:
            if isinstance(param, click.Option) and param.name != "help":
                assert param.help, f"`halo-forge {' '.join(path)}` option {param.opts} has no help"


def test_readme_opens_with_the_two_commands():
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    head = readme.split("```")[1]
    assert "make quickstart" in head and "make test" in head


# --- docs/SCALE.md: every command parses with the installed tools -------------------------------------
# Shell and package-manager lines are not halo-forge's or its tools' commands; the DVC test runs the git ones.
NOT_PARSED = {"cd", "export", "pip", "git"}


def _scale_commands() -> list[list[str]]:
    import re
    import shlex
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "SCALE.md").read_text()
    lines = [line.strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S) for line in block.splitlines()]
    commands = []
    for line in lines:
        args = shlex.split(line, comments=True)
        while args and re.match(r"^[A-Z_]+=", args[0]):  # VAR=value before a command
            args.pop(0)
        if args:
            commands.append(args)
    return commands


def _click_parse(group, args: list[str]):
    """Resolve `args` through a click group (whose groups take no options) to its command and parse the rest
    there: an unknown command or flag, or a bad value, raises. Typer's groups are its own vendored click's,
    so groups are recognised by what they do, not by class."""
    cmd, rest, name = group, list(args), group.name
    while hasattr(cmd, "get_command"):
        name = rest.pop(0)
        sub = cmd.get_command(cmd.context_class(cmd), name)
        assert sub is not None, f"no command {name!r}"
        cmd = sub
    return cmd, cmd.make_context(name, rest)


def _parse(args: list[str]) -> None:
    tool, rest = args[0], args[1:]
    if tool == "halo-forge":
        cmd, ctx = _click_parse(_build(), rest)
        if cmd.name == "train":  # the values a trainer's config takes, field by field
            from halo_forge.config import REPEATED_FLAGS
            from halo_forge.registry import config_class

            cls = config_class(rest[0])
            values = {k: (list(v) if k in REPEATED_FLAGS else v) for k, v in ctx.params.items()
                      if k in cls.model_fields and v not in (None, ())}
            cls(**values)
    elif tool == "prefect":
        from prefect.cli._app import _app

        _app.parse_args(rest, exit_on_error=False, print_error=False)
    elif tool == "mlflow":
        from mlflow.cli import cli

        _click_parse(cli, rest)
    elif tool == "dvc":
        from dvc.cli import parse_args

        parse_args(rest)
    elif tool == "trl" and rest[0] == "vllm-serve":
        from trl.scripts.vllm_serve import make_parser

        make_parser().parse_args_and_config(rest[1:])
    else:
        raise AssertionError(f"docs/SCALE.md runs {tool!r}: teach tests/test_docs.py to check it")


def test_every_command_in_scale_md_parses_with_the_installed_tools():
    commands = _scale_commands()
    assert len(commands) > 30
    checked = 0
    for args in commands:
        if args[0] in NOT_PARSED:
            continue
        try:
            _parse(args)
        except BaseException as exc:  # argparse and cyclopts exit or raise their own errors
            raise AssertionError(f"docs/SCALE.md: `{' '.join(args)}` does not parse: {type(exc).__name__}: {exc}")
        checked += 1
    assert checked >= 20
