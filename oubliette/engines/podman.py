"""PodmanRuntime: drives `podman`, often rootless and without Docker.

Most of podman's CLI is docker's, so this adapter shares Docker's argv builders and
differs where podman does: listings come from `--format json` (its Go templates have
no `.Label`, and `.State` is prose), image ids come without `sha256:`, errors have
their own words (recorded from podman 4.3), `--init` needs catatonit unless told
where another init is, and a rootless podman maps the host user into the container.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from oubliette.engines import docker
from oubliette.engines.kinds import ENGINES
from oubliette.engines.wording import ErrorTexts
from oubliette.errors import EngineError, OublietteError
from oubliette.model import LABEL_IMAGE, ContainerInfo
from oubliette.validate import check_image_reference as image_ok

if TYPE_CHECKING:
    from oubliette.spec import ContainerSpec

START_HINT = ("check `podman info`; for a remote or machine connection, `podman system connection list` "
              "(or `podman machine start`)")
CATATONIT_PATHS = ("/usr/libexec/podman/catatonit", "/usr/lib/podman/catatonit", "/usr/local/libexec/podman/catatonit")
TINI_PATHS = ("/usr/bin/tini", "/usr/bin/tini-static", "/usr/sbin/tini", "/usr/local/bin/tini")
INIT_HINT = ("install catatonit (`apt-get install catatonit`, `dnf install catatonit`), or set `init_path` "
             "in containers.conf")


# --- pure argv builders ---------------------------------------------------------------


def run_argv(binary: str, spec: ContainerSpec, init_path: str | None = None, rootless: bool = False) -> list[str]:
    """Docker's `run`, plus `--init-path` when catatonit is missing but another init is
    here, and `--userns=keep-id` rootless, so /workspace keeps its owner inside."""
    extra = []
    if spec.init and init_path:
        extra += ["--init-path", init_path]
    if rootless:
        extra.append("--userns=keep-id")
    return docker.run_argv(binary, spec, extra, ENGINES["podman"].init_flag)


def list_argv(binary: str, label: str, include_stopped: bool = False) -> list[str]:
    return [binary, "ps", *(["--all"] if include_stopped else []), "--filter", f"label={label}", "--format", "json"]


def image_id_argv(binary: str, ref: str) -> list[str]:
    return [binary, "image", "inspect", "--format", "{{.Id}}", image_ok(ref)]


# --- parsing ----------------------------------------------------------------------------


def full_id(image_id: str | None) -> str | None:
    """podman prints bare hex ids; oubliette reports `sha256:...` on every engine."""
    if image_id and ":" not in image_id:
        return f"sha256:{image_id}"
    return image_id or None


def parse_ps(stdout: str) -> list[ContainerInfo]:
    """`podman ps --format json`: one array; `Names` a list, `Labels` a map, `State` plain.
    `Mounts` holds destinations only, so podman containers are recognised by label alone."""
    infos = []
    for row in json.loads(stdout or "[]") or []:
        labels: dict[str, Any] = row.get("Labels") or {}
        names = row.get("Names") or [""]
        infos.append(ContainerInfo(
            id=row["Id"], name=names[0], status=docker.normalize_state(row.get("State", "")),
            image=labels.get(LABEL_IMAGE) or row.get("Image", ""), labels=labels,
            image_id=full_id(row.get("ImageID")),
        ))
    return infos


def parse_inspect(stdout: str) -> ContainerInfo | None:
    info = docker.parse_inspect(stdout)
    return info._replace(image_id=full_id(info.image_id)) if info is not None else None


TEXTS = ErrorTexts(
    not_running=("cannot connect to podman", "unable to connect to podman"),
    denied=("unauthorized", "denied", "authentication required", "forbidden", "invalid username/password"),
    unreachable=docker.TEXTS.unreachable,
    not_found=("manifest unknown", "image not known", "name unknown", "repository does not exist", "not found"),
    not_running_message="Podman cannot be reached",
    start_hint=START_HINT,
    pull_command=ENGINES["podman"].pull_command,
    login_command="podman login",
    exec_refused=("can only create exec sessions on running containers", "no such container",
                  "container state improper"),
    run_refused=("is already in use", "image not known", "no such image"),
)


class PodmanRuntime(docker.DockerRuntime):
    kind = ENGINES["podman"]
    texts = TEXTS

    def __init__(self, binary: str = "podman") -> None:
        super().__init__(binary)

    @property
    def local(self) -> bool:
        """A podman on this Linux host (not `--remote`/CONTAINER_HOST, not a macOS machine VM):
        only then do the host's init binaries and user namespace matter."""
        env = os.environ if self.env is None else self.env
        return sys.platform.startswith("linux") and not (env.get("CONTAINER_HOST") or env.get("CONTAINER_CONNECTION"))

    def init_path(self) -> str | None:
        """None when podman finds its own init (catatonit), else another init that is here."""
        if not self.local or any(os.path.exists(path) for path in CATATONIT_PATHS):
            return None
        return next((path for path in TINI_PATHS if os.path.exists(path)), None)

    def run_argv(self, spec: ContainerSpec) -> list[str]:
        rootless = self.local and os.geteuid() != 0
        return run_argv(self.binary, spec, self.init_path(), rootless)

    def run(self, spec: ContainerSpec) -> str:
        try:
            return super().run(spec)
        except EngineError as error:
            if "container-init binary not found" in error.stderr:
                raise OublietteError(f"podman has no init for --init: {error.detail}", hint=INIT_HINT) from None
            raise

    def image_id(self, ref: str) -> str | None:
        result = self._call(image_id_argv(self.binary, ref), check=False)
        if result.ok:
            return full_id(result.stdout.strip())
        if "image not known" in result.stderr.lower():
            return None
        raise self.classify(result)

    def image_ids(self, containers: Sequence[ContainerInfo], refs: Sequence[str]
                  ) -> tuple[dict[str, str | None], dict[str, str | None]]:
        """Listings carry the containers' image ids; the references in one call when all are here."""
        by_name = {c.name: c.image_id for c in containers}
        if not refs:
            return by_name, {}
        result = self._call([self.binary, "image", "inspect", "--format", "{{.Id}}", *map(image_ok, refs)],
                            check=False)
        lines = result.stdout.split()
        if result.ok and len(lines) == len(refs):
            return by_name, {ref: full_id(line) for ref, line in zip(refs, lines, strict=True)}
        return by_name, {ref: self.image_id(ref) for ref in refs}

    def list_containers(self, label: str, include_stopped: bool = False) -> list[ContainerInfo]:
        return self.parse(self._call(list_argv(self.binary, label, include_stopped)), parse_ps)

    def inspect(self, name: str) -> ContainerInfo | None:
        result = self._call(docker.inspect_argv(self.binary, name), check=False)
        if result.ok:
            return self.parse(result, parse_inspect)
        if "no such container" in result.stderr.lower():
            return None
        raise self.classify(result)

    def _normalized(self, info: ContainerInfo) -> ContainerInfo:
        return info._replace(image_id=full_id(info.image_id))

    def create_volume(self, name: str, labels: Mapping[str, str]) -> None:
        """podman's create fails when the volume exists (`--ignore` only came in 4.4)."""
        result = self._call(docker.volume_create_argv(self.binary, name, labels), check=False)
        if not result.ok and "already exists" not in result.stderr:
            raise self.classify(result)

    def context_endpoint(self, context: str) -> str | None:
        """A connection's URI, from `system connection list` (podman's own files, no service)."""
        result = self._call([self.binary, "system", "connection", "list", "--format", "json"], check=False)
        if not result.ok:
            return None
        rows = self.parse(result, lambda out: json.loads(out or "[]") or [])
        return next((row.get("URI") for row in rows if isinstance(row, dict) and row.get("Name") == context), None)
