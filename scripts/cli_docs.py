#!/usr/bin/env python3
"""Keep docs/CLI.md's help blocks equal to the commands' real --help.

    python scripts/cli_docs.py          # check: exit 1 and show what differs
    python scripts/cli_docs.py --write  # rewrite the blocks in place (prose is kept)

Each command has a section whose help block sits between
`<!-- help: PATH -->` and `<!-- /help -->` markers.
"""

from __future__ import annotations

import difflib
import re
import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "CLI.md"
WIDTH = 88  # fixed, so the blocks do not depend on the terminal that renders them
BLOCK = re.compile(r"<!-- help: (?P<path>[^>]*?) -->\n```text\n(?P<body>.*?)```\n<!-- /help -->", re.S)


def commands(group: click.Group | None = None, prefix: tuple[str, ...] = ()) -> dict[str, click.Command]:
    """Every command path ("" for the root) -> command."""
    from oubliette.cli.main import cli

    group = group or cli
    found: dict[str, click.Command] = {" ".join(prefix): group}
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # subcommands load lazily
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            found.update(commands(command, prefix + (name,)))
        else:
            found[" ".join(prefix + (name,))] = command
    return found


def render_help(path: str) -> str:
    from oubliette.cli.main import cli

    settings = dict(terminal_width=WIDTH, max_content_width=WIDTH, help_option_names=["-h", "--help"])
    ctx = click.Context(cli, info_name="oubliette", **settings)
    command: click.Command = cli
    for name in path.split():
        command = command.get_command(ctx, name)  # type: ignore[attr-defined]
        ctx = click.Context(command, info_name=name, parent=ctx, **settings)
    return command.get_help(ctx) + "\n"


def documented(text: str) -> dict[str, str]:
    return {m["path"]: m["body"] for m in BLOCK.finditer(text)}


def problems(text: str) -> list[str]:
    found = []
    blocks = documented(text)
    actual = commands()
    for path in sorted(set(actual) - set(blocks)):
        found.append(f"missing from docs/CLI.md: `oubliette {path}`".replace("  ", " "))
    for path in sorted(set(blocks) - set(actual)):
        found.append(f"docs/CLI.md documents a command that does not exist: `oubliette {path}`")
    for path in sorted(set(blocks) & set(actual)):
        expected = render_help(path)
        if blocks[path] != expected:
            diff = "".join(difflib.unified_diff(blocks[path].splitlines(True), expected.splitlines(True),
                                                "docs/CLI.md", "--help"))
            found.append(f"help of `oubliette {path}` differs from docs/CLI.md:\n{diff}")
    return found


def write(text: str) -> str:
    return BLOCK.sub(lambda m: f"<!-- help: {m['path']} -->\n```text\n{render_help(m['path'])}```\n<!-- /help -->",
                     text)


def main() -> int:
    text = DOC.read_text()
    if "--write" in sys.argv:
        DOC.write_text(write(text))
        text = DOC.read_text()
    issues = problems(text)
    for issue in issues:
        print(issue)
    return 1 if issues else 0


if __name__ == "__main__":
    sys.exit(main())
