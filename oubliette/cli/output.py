"""Output helpers shared by commands: --json, tables, the reporter for a command."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def json_option(func: F) -> F:
    """`--json`: data alone on stdout; progress and engine output move to stderr."""
    return click.option("--json", "as_json", is_flag=True,
                        help="Print JSON on stdout; progress goes to stderr.")(func)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """tabulate's `plain` format; an empty table prints the header alone."""
    from tabulate import tabulate  # lazy: --json and -q never pay for it

    click.echo(tabulate(rows, headers=list(headers), tablefmt="plain", disable_numparse=True))


def reporter_for(app: Any, as_json: bool) -> Any:
    """Route progress to stderr when stdout carries JSON; returns the app's reporter."""
    from oubliette.report import Reporter

    app.reporter = Reporter(to_stderr=as_json)
    return app.reporter
