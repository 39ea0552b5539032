"""What a container type and a project's own settings add to its container, and the
type's `setup`, run in every new container before it counts as started.

Loaded only for projects whose type is an object or that have settings of their own:
the plain image types of most homes never import it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from oubliette.errors import OublietteError
from oubliette.model import LABEL_CONFIG
from oubliette.store.config import has_settings, type_spec
from oubliette.store.types import TypeSpec, fingerprint, parse_ports

if TYPE_CHECKING:
    from oubliette.app import App
    from oubliette.engines.base import Runtime
    from oubliette.spec import ContainerSpec
    from oubliette.store.projects import Project

SETUP_SECONDS = 30 * 60  # a setup step may install packages; a hung one still ends
LOG_LIMIT = 4 * 2**20  # a project's log is cut to its last part past this


def with_settings(app: App, project: Project, spec: ContainerSpec) -> ContainerSpec:
    """`spec` with the type's and the project's env, ports, mounts, limits, agent and setup."""
    from oubliette.ops.containers import mountable

    kind = type_spec(app.config, project.type)
    own_ports = parse_ports("ports", list(project.ports or ()), _project_error)
    mounts, ro_mounts = list(spec.mounts), list(spec.ro_mounts)
    for mount in kind.mounts:
        if not os.path.exists(mount.source):
            raise OublietteError(f"the type {project.type!r} mounts {mount.source}, which does not exist",
                                 hint=f"create it, or change containers.{project.type}.mounts in {app.config.path}")
        if project.volume:
            raise OublietteError(f"the type {project.type!r} mounts host paths, but {project.id} is on the engine "
                                 f"{project.engine!r}, which cannot see this machine's files",
                                 hint="use a type without \"mounts\" for projects on that engine")
        hint = f"change containers.{project.type}.mounts in {app.config.path}"
        (ro_mounts if mount.readonly else mounts).append((mountable(mount.source, hint), mount.target))
    agent = None
    if kind.ssh_agent:
        agent = _agent_socket(project, app.env)
    return spec._replace(
        labels={**spec.labels, LABEL_CONFIG: _fingerprint(kind, project)},
        env={**spec.env, **kind.env, **(project.env or {})},
        ports=[str(p) for p in (*kind.ports, *own_ports)],
        mounts=mounts, ro_mounts=ro_mounts, cpus=kind.cpus, memory=kind.memory,
        ssh_agent=agent, setup=list(kind.setup), setup_log=project_log(app.home, project.id))


def project_log(home: str | os.PathLike[str], project_id: str) -> str:
    """The project's log: its setup output (`container logs` shows it first)."""
    return os.path.join(home, "data", "logs", f"{project_id}.log")


def expected_config_label(app: App, project: Project) -> str | None:
    """The fingerprint a container of this project carries now (None: a plain type)."""
    if not has_settings(app.config, project) or project.type not in app.config.containers:
        return None
    return _fingerprint(type_spec(app.config, project.type), project)


def _fingerprint(kind: TypeSpec, project: Project) -> str:
    return fingerprint(kind.definition(), {"env": dict(project.env or {}), "ports": list(project.ports or ())})


def _agent_socket(project: Project, env: Mapping[str, str]) -> str:
    socket = env.get("SSH_AUTH_SOCK")
    if project.volume:
        raise OublietteError(f"the type {project.type!r} forwards the ssh agent, which an engine on another host "
                             "cannot reach", hint="use a type without \"ssh_agent\" for projects on that engine")
    if not socket or not os.path.exists(socket):
        raise OublietteError(f"the type {project.type!r} forwards the ssh agent, but no agent is running here "
                             "(SSH_AUTH_SOCK is unset or gone)", hint="start one (`eval $(ssh-agent)`, then "
                                                                       "`ssh-add`) and run the command again")
    return str(socket)


def _project_error(key: str, problem: str) -> OublietteError:
    return OublietteError(f"the project's {key}: {problem}",
                          hint="fix it with `oubliette project update ID --port ...`")


def run_setup(runtime: Runtime, spec: ContainerSpec) -> None:
    """Each setup command as root with `sh -c`, in order; its output to the project's log.
    A failing one is an error naming it and its last line (the caller removes the container)."""
    for number, command in enumerate(spec.setup, 1):
        result = runtime.exec_capture(spec.name, ["sh", "-c", command], user="0", timeout=SETUP_SECONDS)
        output = result.stdout + result.stderr
        if spec.setup_log:
            append_log(spec.setup_log, f"setup {number}/{len(spec.setup)}: {command}\n{output}"
                            f"(exit {result.returncode})\n")
        if result.returncode != 0:
            last = next((line.strip() for line in reversed(output.splitlines()) if line.strip()), "")
            raise OublietteError(f"setup step {number} of {spec.name} failed (exit {result.returncode}): "
                                 f"`{command[:200]}`" + (f": {last[:300]}" if last else ""),
                                 hint="see the whole output with `oubliette container logs ID`, then fix "
                                      "the type's \"setup\" in the config")


def append_log(path: str, text: str) -> None:
    """Add to a project's log (0600), keeping its last LOG_LIMIT bytes."""
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8", errors="replace") as handle:
            handle.write(f"[{stamp}] {text}")
        if os.stat(path).st_size > LOG_LIMIT:
            with open(path, "rb") as log:  # its last half only: never the whole of a grown file
                log.seek(-(LOG_LIMIT // 2), os.SEEK_END)
                tail = log.read(LOG_LIMIT // 2)
            with open(path, "wb") as log:
                log.write(tail)
    except OSError:
        pass  # a log that cannot be written never fails the start
