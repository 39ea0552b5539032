"""The `oubliette` command group, its global options, and the one place errors become exits.

Command modules import the core inside their functions, so `oubliette --help` and
`oubliette container list --json` load only what they use.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from oubliette import __version__
from oubliette.engines.kinds import RUNTIME_CHOICES
from oubliette.errors import EXIT_INTERRUPTED, OublietteError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class OublietteCliError(click.ClickException):
    """An OublietteError shown as `Error: ...` plus a hint line, with its exit code."""

    def __init__(self, error: OublietteError) -> None:
        super().__init__(error.message)
        setattr(self, "exit_code", error.exit_code)  # noqa: B010 - Click reads it from the instance
        self.hint = error.hint

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.format_message()}", file=file, err=True)
        if self.hint:
            click.echo(f"Hint: {self.hint}", file=file, err=True)


class OublietteGroup(click.Group):
    """Loads subcommands on first use, and turns core errors and Ctrl-C into messages
    and exit codes for every one of them."""

    lazy_commands = {
        "init": "oubliette.cli.init:init",
        "project": "oubliette.cli.project:project",
        "container": "oubliette.cli.container:container",
        "session": "oubliette.cli.session:session",
        "workspace": "oubliette.cli.workspace:workspace",
        "mcp": "oubliette.cli.mcp:mcp",
        "doctor": "oubliette.cli.doctor:doctor",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in self.lazy_commands:
            import importlib

            module, attr = self.lazy_commands[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OublietteError as error:
            raise OublietteCliError(error) from None
        except BrokenPipeError:
            raise  # `oubliette ... | head`: main() exits quietly
        except OSError as exc:  # a file the core did not expect to fail (full disk, read-only home)
            from oubliette.store.files import os_error

            raise OublietteCliError(os_error("cannot complete the command", exc)) from None
        except KeyboardInterrupt as interrupt:
            from oubliette.interrupts import CUT_SHORT, EXIT_SIGTERM, ForcedInterrupt, Terminated

            forced = isinstance(interrupt, ForcedInterrupt)
            terminated = interrupt.terminated if isinstance(interrupt, ForcedInterrupt) else \
                isinstance(interrupt, Terminated)
            click.echo("\nTerminated." if terminated else "\nInterrupted.", err=True)
            if forced:
                click.echo(f"Warning: {CUT_SHORT}.", err=True)
            raise click.exceptions.Exit(EXIT_SIGTERM if terminated else EXIT_INTERRUPTED) from None


@click.group(cls=OublietteGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="oubliette", message="%(prog)s %(version)s")
@click.option("--home", metavar="DIR", type=click.Path(file_okay=False),
              help="Home directory (default: $OUBLIETTE_HOME, else ~/.oubliette).")
@click.option("--runtime", type=click.Choice(RUNTIME_CHOICES),
              help="Container engine (default: $OUBLIETTE_RUNTIME, else the config's \"runtime\", else auto).")
@click.pass_context
def cli(ctx: click.Context, home: str | None, runtime: str | None) -> None:
    """Give each project its own long-running container, from images your config names."""
    from oubliette.app import App
    from oubliette.interrupts import handle_sigterm

    handle_sigterm()
    ctx.obj = App(home=home, runtime_choice=runtime)


def main(argv: list[str] | None = None) -> NoReturn:
    """Console-script entry point: runs the command, then ends the process (see `leave`)."""
    try:
        cli.main(args=argv, prog_name="oubliette")
    except SystemExit as done:  # click's standalone mode always ends this way
        leave(done.code)
    except OSError as exc:  # `oubliette container list | head`, or `--help` into a full disk
        _unwritable(exc, 0)
    leave(0)


def leave(code: str | int | None) -> NoReturn:
    """End the process with `code` as sys.exit would, without the interpreter's teardown
    when nothing is left for it to do: freeing every module and object one by one cost
    ~8 ms of a `container list` here (more than all our imports), and the kernel frees the
    memory, closes the files and releases the locks anyway. Only the main thread may be
    left and no exit handler registered (a refresh's thread pool imports logging, which
    registers one): otherwise Python ends it, as it always has."""
    import atexit
    import os
    import threading

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError as exc:
        _unwritable(exc, code)
    except ValueError:  # a stream the command closed
        sys.exit(code)
    handlers = getattr(atexit, "_ncallbacks", None)  # CPython's; elsewhere, always the slow way
    if (code is None or isinstance(code, int)) and handlers is not None and handlers() == 0 \
            and threading.active_count() == 1:
        os._exit(code or 0)
    sys.exit(code)


def _unwritable(exc: OSError, code: str | int | None) -> NoReturn:
    """The output could not be written: say so in one error line (a reader that went away,
    `| head`, needs no word) and end at once, for Python would only try the same write
    again at exit and print its own report of the failure."""
    import os

    status = code if isinstance(code, int) else 0
    if not isinstance(exc, BrokenPipeError):
        from oubliette.store.files import os_error

        error = OublietteCliError(os_error("cannot write the output", exc))
        status = status or error.exit_code
        try:
            error.show()
            sys.stderr.flush()
        except OSError:
            pass
    os._exit(status)
