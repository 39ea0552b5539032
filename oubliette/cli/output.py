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
    """tabulate's `plain` format; an empty table prints the header alone."""
    from tabulate import tabulate  # lazy: --json and -q never pay for it

    click.echo(tabulate(rows, headers=list(headers), tablefmt="plain", disable_numparse=True))


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
