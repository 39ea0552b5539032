"""`oubliette mcp`: the project, container, refresh and exec tools over MCP, on the CLI's core.

Each tool call builds a fresh App, so config edits apply to the next call, and calls
the same lifecycle functions as the CLI. Failures become MCP tool errors carrying the
core's message and hint; locks and files are released by the core's own `with`
blocks on every path, so the next call always works. Progress (engine pull output
included) goes to stderr: stdout carries the protocol, and no child gets our stdin.

Imported only by `oubliette mcp`: importing the SDK takes most of a second.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from oubliette import __version__
from oubliette.app import App
from oubliette.errors import OublietteError, UnknownTypeError
from oubliette.report import Reporter

T = TypeVar("T")

INSTRUCTIONS = """\
oubliette gives each project one long-running container, built from the image that the
user's config names for the project's container type. Use `project` to create, list,
inspect and delete projects and to see the configured types (`options`); `container`
to start, stop and list containers; `container_refresh` to pull a newer image and
replace a project's container (refused while the project has active sessions); `exec`
to run a command in a project's container. Everything in a container outside
/workspace is discarded by stop and refresh."""

# Tools with one nature carry MCP's hints; `project` and `container` mix reads and changes.
REFRESH_HINTS = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False,
                                open_world_hint=True)  # it pulls from a registry
EXEC_HINTS = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False,
                             open_world_hint=False)


LOCK_WAIT_SECONDS = 30  # a tool call waits this long for a project another command holds, then fails naming it


def build_server(new_app: Callable[[], App]) -> MCPServer:
    """The MCP server; `new_app` gives a fresh App (home, runtime choice) per call."""

    def make_app() -> App:
        app = new_app()
        app.lock_timeout = LOCK_WAIT_SECONDS  # an agent gets an answer, never a call that hangs on a lock
        return app

    server = MCPServer("oubliette", version=__version__, instructions=INSTRUCTIONS)

    @server.tool()
    def project(
        action: Annotated[Literal["create", "list", "get", "delete", "options"], Field(
            description="create a project, list them, get one, delete one, or list the configured container types")],
        name: Annotated[str | None, Field(description="create: the project's name")] = None,
        container_type: Annotated[str | None, Field(
            description="create: a container type from the config (default: the config's default type)")] = None,
        project_id: Annotated[str | None, Field(
            description="get, delete: the project's id (proj_...), its name, or a unique id prefix")] = None,
        purge: Annotated[bool, Field(description="delete: also delete the project's workspace")] = False,
        engine: Annotated[str | None, Field(
            description="create: pin the project to this named engine of the config (default: the default "
                        "engine)")] = None,
    ) -> dict[str, Any]:
        """Create, list, get and delete projects; `options` lists the container types.
        Changes state: create, delete. Reads only: list, get, options."""
        from oubliette.ops import projects as project_ops

        app = make_app()
        if action == "create":
            return _call(lambda: _create(app, _required(name, "name", action), container_type, engine))
        if action == "list":
            return {"projects": [project_ops.project_record(app, p) for p in _call(app.projects.list)]}
        if action == "get":
            ref = _required(project_id, "project_id", action)
            return _call(lambda: dict(project_ops.project_record(app, app.projects.get(ref), with_sessions=True)))
        if action == "delete":
            return _call(lambda: _delete(app, _required(project_id, "project_id", action), purge))
        return _call(lambda: project_ops.type_options(app))

    @server.tool()
    def container(
        action: Annotated[Literal["start", "stop", "list"], Field(
            description="start or stop (and remove) a project's container, or list oubliette's containers")],
        project_id: Annotated[str | None, Field(
            description="start, stop: the project's id, its name, or a unique id prefix")] = None,
        all: Annotated[bool, Field(description="list: include stopped containers")] = False,  # noqa: A002 (the tool's argument)
    ) -> dict[str, Any]:
        """Start, stop or list project containers. Changes state: start, stop (stop discards
        everything outside /workspace). Reads only: list."""
        from oubliette.ops import containers as lifecycle

        app = make_app()
        if action == "start":
            ref = _required(project_id, "project_id", action)
            return _call(lambda: lifecycle.start_container(app, ref, app.reporter).to_dict())
        if action == "stop":
            ref = _required(project_id, "project_id", action)
            return _call(lambda: lifecycle.stop_containers(app, [ref], app.reporter)[0].to_dict())
        from oubliette.engines.fleet import home_containers
        from oubliette.ops.rows import container_rows

        infos = _call(lambda: home_containers(app, include_stopped=all))
        return {"containers": list(container_rows(app, infos))}

    @server.tool(annotations=REFRESH_HINTS)
    def container_refresh(
        project_id: Annotated[str | None, Field(
            description="refresh this project's container: pull its image, then replace the container")] = None,
        container_type: Annotated[str | None, Field(
            description="only pull this container type's image (no container is touched)")] = None,
    ) -> dict[str, Any]:
        """Pull the latest image and replace a project's container, reporting the old and new
        image ids; or, with container_type, only pull that type's image. Changes state: it
        replaces the container (everything outside /workspace is discarded). Refused while
        the project has active sessions."""
        if bool(project_id) == bool(container_type):
            raise ToolError("container_refresh needs either project_id or container_type (exactly one of them)")
        app = make_app()
        if container_type:
            return _call(lambda: _pull_type(app, container_type))
        return _call(lambda: _refresh(app, project_id or ""))

    @server.tool(annotations=EXEC_HINTS)
    def exec(  # noqa: A001 - the tool's name, as agents call it
        project_id: Annotated[str, Field(description="the project: its id, name, or a unique id prefix")],
        command: Annotated[list[str], Field(
            description='argv to run, e.g. ["make", "test"]; no shell is added (use ["sh", "-c", "..."] for one)',
            min_length=1)],
        timeout_s: Annotated[float | None, Field(
            description="stop the command, and all it started, after this many seconds (default 3600; "
                        "then the call fails saying so)", gt=0)] = None,
        workdir: Annotated[str | None, Field(description="absolute directory to run in (default /workspace)")] = None,
    ) -> dict[str, Any]:
        """Run a command in the project's container (started first if needed), in /workspace,
        and return its exit code, stdout and stderr (each cut at 64 KiB; "truncated" says so).
        Changes state: the command may change anything in the container. It runs as a
        session, so container_refresh is refused while it runs."""
        from oubliette.ops.sessions import exec_captured

        app = make_app()
        return _call(lambda: exec_captured(app, project_id, command, app.reporter, timeout_s, workdir).to_dict())

    return server


def serve(home: str | None, runtime_choice: str | None) -> None:
    """Run the server on stdio until the client goes away."""
    import anyio

    from oubliette.mcp.stdio import run_stdio

    server = build_server(lambda: App(home=home, runtime_choice=runtime_choice, reporter=Reporter(to_stderr=True)))
    anyio.run(run_stdio, server)


# --- the tools' bodies: thin calls into the core ------------------------------------------


def _call(action: Callable[[], T]) -> T:
    """Run a core call; an OublietteError becomes a tool error with its hint."""
    try:
        return action()
    except OublietteError as error:
        raise ToolError(error.message + (f" (hint: {error.hint})" if error.hint else "")) from None


def _required(value: str | None, name: str, action: str) -> str:
    if not value:
        raise ToolError(f"{name} is required for action {action!r}")
    return value


def _create(app: App, name: str, container_type: str | None, engine: str | None = None) -> dict[str, Any]:
    from oubliette.ops.projects import create_project, project_record

    try:
        return dict(project_record(app, create_project(app, name, container_type, engine=engine)))
    except UnknownTypeError:
        # The original server's words, which agents already know.
        kind = container_type or app.config.default_type
        raise OublietteError(f"invalid container_type: {kind} (valid types: {', '.join(app.types.valid_types())})",
                             hint="see the configured types with action 'options'") from None


def _delete(app: App, ref: str, purge: bool) -> dict[str, Any]:
    from oubliette.ops.projects import delete_project, deletion_record

    return deletion_record(app, delete_project(app, ref, purge, app.reporter), purge)


def _refresh(app: App, ref: str) -> dict[str, Any]:
    from oubliette.ops.refresh import refresh_one

    result = refresh_one(app, app.projects.get(ref), app.reporter)
    if result.status == "failed":
        raise OublietteError(result.error or "refresh failed", hint=result.hint)
    return result.to_dict()


def _pull_type(app: App, container_type: str) -> dict[str, Any]:
    """Pull one type's image (dev mode: only check it is here), reporting whether it changed."""
    from oubliette.ops.images import not_built

    image = app.types.get_image_name(container_type)
    engine = app.engine()  # types are pulled on the default engine, as `init` does
    runtime = engine.runtime
    old = runtime.image_id(image)
    if app.config.dev_mode:
        if old is None:
            raise not_built(image)
        return {"container_type": container_type, "image": image, "pulled": False, "old_image_id": old,
                "new_image_id": old, "changed": False}
    engine.images.pull(image, app.reporter)
    new = runtime.image_id(image)
    return {"container_type": container_type, "image": image, "pulled": True, "old_image_id": old,
            "new_image_id": new, "changed": old != new}
