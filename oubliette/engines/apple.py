"""AppleContainerRuntime: drives Apple's `container` CLI (macOS 26+).

It parses both JSON generations the CLI has printed (up to 0.12, and 1.0+), passes
flags only to versions that have them, and has no rename: the name is the id.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from oubliette.engines import process
from oubliette.engines.base import RUN_SECONDS, STOP_SECONDS, Runtime
from oubliette.engines.kinds import ENGINES
from oubliette.engines.wording import ErrorTexts
from oubliette.errors import OublietteError
from oubliette.model import LABEL_IMAGE, RUNNING, STOPPED, ContainerInfo
from oubliette.validate import check_argv_safe as name_ok
from oubliette.validate import check_image_reference as image_ok
from oubliette.validate import split_reference

if TYPE_CHECKING:
    from oubliette.spec import ContainerSpec

START_HINT = "start it with `container system start` and try again"
USAGE_ERROR = 64  # Swift ArgumentParser's exit code for an unknown command or option
INIT_SINCE = (0, 10)
# Before 0.3.0 `exec --interactive` never closes the container's stdin at EOF (a push
# hangs), and 0.1.0's `exec` returns before its output is drained (a pull is cut short).
EXEC_SINCE = (0, 3, 0)
STOPPING_SECONDS = 30  # 1.x refuses to delete a container that is still `stopping`
STOPPING = "stopping"


def default_binary(env: Mapping[str, str] = os.environ) -> str:
    """`APPLE_CONTAINER_BINARY` if set, else `container` on PATH."""
    return ENGINES["apple"].binary_path(env)


def parse_version(text: str) -> tuple[int, int, int]:
    """`container CLI version 1.2.2 (build: ...)` -> (1, 2, 2); loose on purpose."""
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not found:
        return (0, 0, 0)
    return (int(found[1]), int(found[2]), int(found[3] or 0))


def normalize_reference(ref: str) -> str:
    """The form the engine stores: `alpine` -> `docker.io/library/alpine:latest`.

    Assumes the CLI's default registry is docker.io: the CLI lets users change it
    (`container system property`, `registry.domain`), and then an unqualified reference
    in the config is not found by this name. Fully qualified references (what the
    shipped config uses) never depend on it; the README says so.
    """
    parts = split_reference(ref)
    path = parts.path if parts.domain or "/" in parts.path else f"library/{parts.path}"
    tag = parts.tag or (None if parts.digest else "latest")
    return f"{parts.domain or 'docker.io'}/{path}" + (f":{tag}" if tag else "") + \
        (f"@{parts.digest}" if parts.digest else "")


# --- pure argv builders ---------------------------------------------------------------


def host_platform(machine: str | None = None) -> str:
    """`linux/arm64` on Apple silicon (`linux/amd64` on Intel): without `--platform` a pull
    fetches and unpacks every platform of a multi-arch image, `run` only the host's."""
    import platform

    arch = (machine or platform.machine()).lower()
    return "linux/" + {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(arch, arch)


def pull_argv(binary: str, ref: str, platform: str) -> list[str]:
    # No --progress flag: the CLI picks bars on a terminal and plain lines elsewhere.
    return [binary, "image", "pull", "--platform", platform, image_ok(ref)]


def tag_argv(binary: str, source: str, target: str) -> list[str]:
    return [binary, "image", "tag", image_ok(source), image_ok(target)]


def untag_argv(binary: str, ref: str) -> list[str]:
    return [binary, "image", "delete", image_ok(ref)]


def run_argv(binary: str, spec: ContainerSpec, version: tuple[int, int, int]) -> list[str]:
    if spec.volumes:  # only named docker/podman engines hold volume workspaces
        raise OublietteError("Apple's container CLI keeps no volume workspaces here",
                             hint="check the project's \"engine\" and \"volume\" in its metadata.json")
    argv = [binary, "run", "--detach", "--name", name_ok(spec.name)]
    for key, value in spec.labels.items():
        argv += ["--label", f"{key}={value}"]
    for source, target in spec.mounts:
        argv += ["--volume", f"{source}:{target}"]
    for source, target in spec.ro_mounts:
        argv += ["--mount", f"type=bind,source={source},target={target},readonly"]
    for key, value in spec.env.items():
        argv += ["--env", f"{key}={value}"]
    if spec.workdir:
        argv += ["--workdir", spec.workdir]
    for port in spec.ports:
        argv += ["--publish", port]
    if spec.cpus is not None:
        argv += ["--cpus", str(max(1, round(spec.cpus)))]  # whole CPUs: each container is a VM
    if spec.memory is not None:
        argv += ["--memory", spec.memory]
    if spec.ssh_agent:
        argv.append("--ssh")  # the CLI forwards the host's agent itself
    # No --hostname: a container's hostname is its name on Apple's engine.
    init_flag = ENGINES["apple"].init_flag
    if spec.init and init_flag and version >= INIT_SINCE:
        argv.append(init_flag)
    return argv + [image_ok(spec.image), *spec.command]



# --- parsing both JSON generations -------------------------------------------------------


def _state(row: dict[str, Any]) -> str:
    status = row.get("status")
    if isinstance(status, dict):  # 1.0+: {"state": "running", ...}
        status = status.get("state")
    return str(status or "unknown").lower()


def normalize_state(state: str) -> str:
    return RUNNING if state == RUNNING else STOPPED if state == STOPPED else state


def image_names(stdout: str, digest: str) -> list[str]:
    """The references `container image list --format json` shows for `digest` (either generation)."""
    names = []
    for row in json.loads(stdout or "[]"):
        config = row.get("configuration")
        name, descriptor = ((config.get("name", ""), config.get("descriptor") or {}) if isinstance(config, dict)
                            else (row.get("reference", ""), row.get("descriptor") or {}))
        if descriptor.get("digest") == digest and name:
            names.append(name)
    return names


def container_from_json(row: dict[str, Any]) -> ContainerInfo:
    config = row.get("configuration") or {}
    labels = config.get("labels") or {}
    image = config.get("image") or {}
    return ContainerInfo(
        id=row.get("id") or config.get("id", ""),
        name=row.get("id") or config.get("id", ""),
        status=normalize_state(_state(row)),
        image=labels.get(LABEL_IMAGE) or image.get("reference", ""),
        labels=labels,
        image_id=(image.get("descriptor") or {}).get("digest"),
        mounts=tuple(m.get("source", "") for m in config.get("mounts") or () if isinstance(m, dict)),
    )


def parse_list(stdout: str, label: str, include_stopped: bool) -> list[ContainerInfo]:
    """`container list [-a] --format json`, filtered here: the CLI has no `--filter`.

    `label` is `key` or `key=value`, as for `docker ps --filter label=...`; up to 0.9
    the JSON ignores `-a`, so the state is filtered here too.
    """
    key, has_value, value = label.partition("=")
    infos = [container_from_json(row) for row in json.loads(stdout or "[]")]
    return [i for i in infos
            if key in i.labels and (not has_value or i.labels[key] == value)
            and (include_stopped or i.status == RUNNING)]


def image_digest(stdout: str, ref: str) -> str | None:
    """Find `ref` in `container image list --format json`, either generation."""
    wanted = normalize_reference(ref)
    for row in json.loads(stdout or "[]"):
        config = row.get("configuration")
        if isinstance(config, dict):  # 1.0+
            name, descriptor = config.get("name", ""), config.get("descriptor") or {}
            fallback = f"sha256:{row['id']}" if row.get("id") else None
        else:  # up to 0.12
            name, descriptor = row.get("reference", ""), row.get("descriptor") or {}
            fallback = None
        if name in (ref, wanted):
            return descriptor.get("digest") or fallback
    return None


TEXTS = ErrorTexts(
    # "XPC timeout": the service is registered but does not answer; restarting it is the fix too.
    not_running=("xpc connection error", "xpc timeout", "container system start", "apiserver is not running"),
    denied=("401 unauthorized", "403 forbidden", "unauthorized", "denied"),
    unreachable=("connection refused", "connectionrefused", "could not connect", "timed out", "offline",
                 "hostname could not be found", "network connection was lost", "no route to host", "unreachable"),
    not_found=("404 not found", "notfound", "not found"),
    not_running_message="the container system service is not running",
    start_hint=START_HINT,
    pull_command=ENGINES["apple"].pull_command,
    login_command="container registry login",
)



class AppleContainerRuntime(Runtime):
    kind = ENGINES["apple"]
    texts = TEXTS

    def __init__(self, binary: str | None = None) -> None:
        super().__init__(binary or default_binary())
        self._version: tuple[int, int, int] | None = None

    @property
    def version(self) -> tuple[int, int, int]:
        """The CLI's version, asked once and only when a version-gated flag is needed."""
        if self._version is None:
            self._version = parse_version(self._call([self.binary, "--version"]).stdout)
        return self._version

    def is_running(self) -> bool:
        """`system status`; 0.1.0 has no such command (a usage error), so there a plain
        `list` tells whether the service answers."""

        try:
            status = process.capture([self.binary, "system", "status"], timeout=30, env=self.env)
            if status.returncode == USAGE_ERROR:
                return process.capture([self.binary, "list", "--format", "json"], timeout=30, env=self.env).ok
            return status.ok
        except process.ProcessError:
            return False

    def image_exists(self, ref: str) -> bool:
        # The exit code is the one signal that held across every release.
        result = self._call([self.binary, "image", "inspect", image_ok(ref)], check=False)
        if result.ok:
            return True
        if any(s in result.stderr.lower() for s in TEXTS.not_running):
            raise self.classify(result)
        return False

    def image_id(self, ref: str) -> str | None:
        result = self._call([self.binary, "image", "list", "--format", "json"])
        return self.parse(result, lambda out: image_digest(out, ref))

    def pull(self, ref: str, out: TextIO | None = None, err: TextIO | None = None) -> None:
        try:
            result = process.stream(pull_argv(self.binary, ref, host_platform()), out=out, err=err,
                                  progress_on_stderr=True)
        except process.BinaryMissing:
            raise self.missing_binary() from None
        if not result.ok:
            raise self.classify(result, image=ref)


    def tag(self, source: str, target: str) -> None:
        self._call(tag_argv(self.binary, source, target))

    def untag(self, ref: str) -> None:
        self._call(untag_argv(self.binary, ref))

    def run(self, spec: ContainerSpec) -> str:
        version = self.version if spec.init else (0, 0, 0)
        result = self._call(run_argv(self.binary, spec, version), timeout=RUN_SECONDS)
        return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else spec.name

    def start(self, name: str) -> None:
        self._call([self.binary, "start", name_ok(name)])

    def stop(self, names: Sequence[str]) -> None:
        if names:
            self._call([self.binary, "stop", *map(name_ok, names)], timeout=STOP_SECONDS)

    def remove(self, names: Sequence[str], force: bool = False) -> None:
        """Delete; a container still `stopping` (1.x refuses to delete it, even forced) is waited for."""
        if names:
            self._wait_stopped(names)
            self._call([self.binary, "delete", *(["--force"] if force else []), *map(name_ok, names)])

    def _wait_stopped(self, names: Sequence[str]) -> None:
        """Until none of `names` is `stopping`, within STOPPING_SECONDS (one listing a round)."""
        import time

        deadline, pause = time.monotonic() + STOPPING_SECONDS, 0.05
        while True:
            states = {i.name: i.status for i in self.list_all()}
            stopping = [name for name in names if states.get(name) == STOPPING]
            if not stopping:
                return
            if time.monotonic() >= deadline:
                raise OublietteError(f"{', '.join(stopping)} still stopping after {STOPPING_SECONDS} s; "
                                     "Apple's container CLI cannot delete it before it has stopped",
                                     hint="run the command again once `container list --all` shows it stopped "
                                          f"(or `container stop {stopping[0]}`)")
            time.sleep(pause)
            pause = min(pause * 2, 1.0)

    def list_all(self) -> list[ContainerInfo]:
        """Every container, labelled or not, any state."""
        result = self._call([self.binary, "list", "--all", "--format", "json"])
        return self.parse(result, lambda out: [container_from_json(row) for row in json.loads(out or "[]")])

    def list_containers(self, label: str, include_stopped: bool = False) -> list[ContainerInfo]:
        argv = [self.binary, "list", *(["--all"] if include_stopped else []), "--format", "json"]
        return self.parse(self._call(argv), lambda out: parse_list(out, label, include_stopped))

    def inspect(self, name: str) -> ContainerInfo | None:
        result = self._call([self.binary, "inspect", name_ok(name)], check=False)
        if result.ok:
            rows = self.parse(result, lambda out: json.loads(out or "[]"))
            return self.parse(result, lambda _out: container_from_json(rows[0])) if rows else None
        if "not found" in result.stderr.lower() and not any(s in result.stderr.lower() for s in TEXTS.not_running):
            return None
        raise self.classify(result)

    def logs_tail(self, name: str, lines: int = 5) -> str:
        result = self._call([self.binary, "logs", "-n", str(lines), name_ok(name)], check=False)
        return "\n".join((result.stdout + result.stderr).strip().splitlines()[-lines:])

    def remove_image(self, image_id: str) -> bool:
        """The CLI deletes images by name only: delete every name of `image_id` unless a
        container runs it; True once no name refers to it (never forced)."""
        if any(info.image_id == image_id for info in self.list_all()):
            return False
        result = self._call([self.binary, "image", "list", "--format", "json"])
        names = self.parse(result, lambda out: image_names(out, image_id))
        if names:
            deleted = self._call([self.binary, "image", "delete", *map(image_ok, names)], check=False)
            if not deleted.ok:
                if any(s in deleted.stderr.lower() for s in TEXTS.not_running):
                    raise self.classify(deleted)
                return False
        return True

    def exec_argv(self, name: str, command: Sequence[str], tty: bool, env: Mapping[str, str] | None = None,
                  workdir: str | None = None, interactive: bool = True, user: str | None = None) -> list[str]:
        """As every engine's, once the CLI is one whose `exec` can be trusted with a stream."""
        if self.version < EXEC_SINCE:
            shown = ".".join(map(str, self.version))
            raise OublietteError(
                f"Apple's container CLI {shown} cannot run commands in a container safely: before 0.3.0 its "
                "`exec` never closes the command's input (a push hangs) and 0.1.0 cuts output short",
                hint="upgrade it (https://github.com/apple/container/releases); oubliette needs 0.3.0 or later "
                     "for sessions, `workspace push/pull` and MCP `exec`")
        return super().exec_argv(name, command, tty, env, workdir, interactive, user)
