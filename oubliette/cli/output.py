"""Output helpers shared by commands: --json, tables, the reporter for a command."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from oubliette.report import Reporter

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def json_option(func: F) -> F:
    """`--json`: data alone on stdout; progress and engine output move to stderr."""
    return click.option("--json", "as_json", is_flag=True,
                        help="Print JSON on stdout; progress goes to stderr.")(func)


def quiet_option(what: str) -> Callable[[F], F]:
    """`-q/--quiet`: one id per line, for scripts."""
    return click.option("-q", "--quiet", is_flag=True, help=f"Print {what} ids only.")


def print_listing(items: Sequence[T], as_json: bool, quiet: bool, *, record: Callable[[T], Any],
                  ident: Callable[[T], Any], headers: Sequence[str], row: Callable[[T], Sequence[Any]]) -> None:
    """A listing as JSON records, as bare ids (-q), or as a table: the same three forms everywhere."""
    if as_json:
        print_json([record(item) for item in items])
    elif quiet:
        for item in items:
            click.echo(ident(item))
    else:
        print_table(headers, [row(item) for item in items])


def print_json(data: Any) -> None:
    """Indented; a list of records one record a line (C's encoder: a listing of a
    thousand containers prints in ~2 ms, not ~7 with indentation's pure-Python one)."""
    if isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
        click.echo("[\n  " + ",\n  ".join(json.dumps(item) for item in data) + "\n]")
    else:
        click.echo(json.dumps(data, indent=2))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Columns left-aligned, two spaces apart, each at least its header and two wide, no
    trailing blanks: tabulate's `plain` layout, without importing tabulate (~50 ms). An
    empty table prints the header alone.
    None is an empty cell; wide characters (CJK) count two columns."""
    table = [[str(cell) for cell in headers]] + [["" if cell is None else str(cell) for cell in row] for row in rows]
    widths = [max([_width(table[0][i]) + 2] + [_width(line[i]) for line in table[1:]]) for i in range(len(headers))]
    lines = ("  ".join(cell + " " * (width - _width(cell)) for cell, width in zip(line, widths, strict=True))
             for line in table)
    click.echo("\n".join(line.rstrip() for line in lines))


def _width(text: str) -> int:
    """Terminal columns: two for a wide or full-width character, none for a combining one."""
    if text.isascii():
        return len(text)
    import unicodedata

    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in text)


def reporter_for(app: Any, as_json: bool) -> Reporter:
    """Route progress to stderr when stdout carries JSON; returns the app's reporter."""

    app.reporter = Reporter(to_stderr=as_json)
    return app.reporter


def project_name(app: Any, project_id: str | None) -> str | None:
    """A project's name, or None when it is gone."""
    from oubliette.errors import OublietteError

    try:
        return str(app.projects.get(project_id or "").name)
    except OublietteError:
        return None


def named(app: Any, project_id: str | None) -> str:
    """`proj_ab12 (web)`: a project id with its name, for messages (the id alone when the
    project is gone)."""
    name = project_name(app, project_id)
    return f"{project_id} ({name})" if name else str(project_id)
