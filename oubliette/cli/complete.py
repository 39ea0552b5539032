"""Shell completion for project ids and names, container types, engines and session ids.

Click calls these while the user presses Tab (`_OUBLIETTE_COMPLETE=bash_source
oubliette` installs it): they read the home's files only, never an engine, and
never fail - a broken home completes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # click.shell_completion costs ~0.8 ms to import; only Tab needs it
    from click.shell_completion import CompletionItem


def _home(ctx: click.Context) -> str:
    from oubliette.store.config import resolve_home

    return resolve_home(ctx.find_root().params.get("home"))


def complete_projects(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Project ids and names that start with what was typed."""
    from click.shell_completion import CompletionItem

    from oubliette.store.projects import ProjectStore

    try:
        projects = ProjectStore(_home(ctx)).list()
    except Exception:  # noqa: BLE001 - completion must never print a traceback into a prompt
        return []
    items = [CompletionItem(p.id, help=p.name) for p in projects if p.id.startswith(incomplete)]
    items += [CompletionItem(p.name, help=p.id) for p in projects if p.name.startswith(incomplete)]
    return items


def complete_types(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The container types of the config."""
    from click.shell_completion import CompletionItem

    from oubliette.store.config import load_config

    try:
        containers = load_config(_home(ctx)).containers
    except Exception:  # noqa: BLE001
        return []
    return [CompletionItem(name, help=image) for name, image in sorted(containers.items())
            if name.startswith(incomplete)]


def complete_engines(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The named engines of the config."""
    from click.shell_completion import CompletionItem

    from oubliette.store.config import load_config

    try:
        engines = load_config(_home(ctx)).engines
    except Exception:  # noqa: BLE001
        return []
    return [CompletionItem(name, help=f"{e.runtime} at {e.endpoint}") for name, e in sorted(engines.items())
            if name.startswith(incomplete)]


def complete_sessions(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Session ids of live sessions."""
    from click.shell_completion import CompletionItem

    from oubliette.store.sessions import SessionRegistry

    try:
        sessions = SessionRegistry(_home(ctx)).active()
    except Exception:  # noqa: BLE001
        return []
    return [CompletionItem(s.id, help=f"{s.project_id} {' '.join(s.command)}".strip()) for s in sessions
            if s.id.startswith(incomplete)]
