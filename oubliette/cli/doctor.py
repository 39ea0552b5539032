"""`oubliette doctor`: one command that says whether the setup is healthy."""

from __future__ import annotations

import click

from oubliette.app import App
from oubliette.cli.output import json_option, print_json


@click.command("doctor")
@json_option
@click.pass_obj
def doctor(app: App, as_json: bool) -> None:
    """Check the engine, the config, the configured images, the named engines, the home
    and the token.

    Exit 0 when healthy (an image not pulled yet, no token because init never ran, or a
    named engine no project uses not answering, is a warning with its hint), 1 when
    something is wrong (a broken config, unsafe permissions, a named engine a project
    uses not answering), 3 when no engine is usable. Each problem comes with a hint.
    """
    from oubliette.ops.doctor import exit_code, run_checks

    checks = run_checks(app)
    code = exit_code(checks)
    if as_json:
        print_json({"healthy": code == 0, "checks": [c.to_dict() for c in checks]})
    else:
        width = max(len(c.name) for c in checks)
        for check in checks:
            click.echo(f"{check.status:<5} {check.name:<{width}}  {check.detail}")
            if check.hint and check.status != "ok":
                click.echo(f"{'':<5} {'':<{width}}  Hint: {check.hint}")
    raise click.exceptions.Exit(code)
