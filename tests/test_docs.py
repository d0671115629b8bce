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
