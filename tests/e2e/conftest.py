"""Real engines (Docker, and Podman) and a loopback registry, with images made offline
from busybox.

Without a reachable engine the e2e tests skip, unless OUBLIETTE_E2E=require (set by
.ci/run), which turns a skip into a failure. Results are checked with the engine's own
raw commands, never with oubliette's own output. Scenarios that take the `engine`
fixture run once per engine (`OUBLIETTE_E2E_ENGINES`, default `docker,podman`).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from tests.conftest import require_tool, unavailable


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


# --- the engine ------------------------------------------------------------------------


def docker(*args: str, check: bool = True, env: dict | None = None, input: bytes | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess:
    """A raw docker call for setting up and checking: never oubliette's code."""
    result = subprocess.run(["docker", *args], capture_output=True, input=input, env=env, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {result.stderr.decode()}")
    return result


def docker_out(*args: str) -> str:
    return docker(*args).stdout.decode().strip()


@dataclass
class Engine:
    """One engine as the tests drive it raw: its CLI, and the words it uses."""

    name: str  # the runtime name oubliette takes (--runtime, OUBLIETTE_RUNTIME)
    progress: str  # a line of its own pull progress
    dead_start: str  # what a container without `sleep` leaves in its log
    down_env: dict  # environment that points its CLI at an endpoint nobody serves
    down_error: str  # oubliette's error then

    def cli(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run([self.name, *args], capture_output=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{self.name} {' '.join(args)} failed: {result.stderr.decode()}")
        return result

    def out(self, *args: str) -> str:
        return self.cli(*args).stdout.decode().strip()

    def inspect(self, name: str) -> dict | None:
        result = self.cli("container", "inspect", name, check=False)
        return json.loads(result.stdout)[0] if result.returncode == 0 else None

    def labelled(self, label: str) -> list[str]:
        """Full ids of the containers carrying `label` (`key=value`)."""
        return self.out("ps", "-aq", "--no-trunc", "--filter", f"label={label}").split()

    def untag(self, ref: str) -> None:
        """Remove a tag whose image a container still runs (the image stays)."""
        if self.name == "podman":
            self.cli("untag", ref)
        else:
            self.cli("image", "rm", "--force", ref)  # docker only untags an image in use

    def image_id(self, ref: str) -> str:
        return self.out("image", "inspect", "--format", "{{.Id}}", ref)

    @staticmethod
    def full_id(image_id: str) -> str:
        """As oubliette reports it on every engine: `sha256:...`."""
        return image_id if ":" in image_id else f"sha256:{image_id}"

    def image_of(self, image: Image) -> str:
        """What `inspect(name)["Image"]` holds for a container of `image`."""
        return image.id

    def reported(self, image: Image) -> str:
        """How oubliette names `image` when it reports a change (`Image updated: A -> B`)."""
        return self.full_id(image.id)

    def run_foreign(self, name: str, ref: str) -> str:
        """A container oubliette did not make, running `ref`; its id."""
        return self.out("run", "-d", "--name", name, ref, "sleep", "infinity")

    def remove(self, name: str) -> None:
        self.cli("rm", "--force", name, check=False)

    def read_workspace(self, home: Path, project_id: str, path: str) -> str:
        """A file of the project's workspace, where this engine keeps it (here: the home)."""
        return (home / "data/projects" / project_id / "workspace" / path).read_text()

    def write_workspace(self, home: Path, project_id: str, path: str, text: str) -> None:
        (home / "data/projects" / project_id / "workspace" / path).write_text(text)

    def has_workspace(self, home: Path, project_id: str) -> bool:
        return (home / "data/projects" / project_id / "workspace").exists()

    create_args: ClassVar[tuple[str, ...]] = ()  # what `project create` adds to put a project on this engine
    create_fields: ClassVar[dict[str, str]] = {}  # ... and the MCP `project` tool's create

    @property
    def builder(self) -> Engine:
        """The engine whose store the scenario's images are made in, and pushed from."""
        return self

    def configure(self, home: Path, containers: dict, **extra) -> None:
        """The home's config: these container types, on this engine (and `extra` settings)."""
        write_config(home, containers, **extra)

    def runs(self, name: str) -> bool:
        """The container `name` runs on this engine (the scenario ran where it was meant to)."""
        found = self.inspect(name)
        return found is not None and found["State"]["Running"] and os.environ.get("OUBLIETTE_RUNTIME") == self.name

    def reachable(self) -> bool:
        if shutil.which(self.name) is None:
            return False
        try:
            return self.cli("info", check=False, timeout=60).returncode == 0
        except subprocess.TimeoutExpired:
            return False


DOCKER = Engine("docker", progress="Digest: sha256:", dead_start="exec sleep failed",
                down_env={"DOCKER_HOST": "unix:///nonexistent.sock"},
                down_error="Error: Docker at unix:///nonexistent.sock (DOCKER_HOST) cannot be reached")
PODMAN = Engine("podman", progress="Copying blob", dead_start="failed to exec pid1",
                down_env={"CONTAINER_HOST": "unix:///nonexistent.sock"},
                down_error="Error: Podman at unix:///nonexistent.sock (CONTAINER_HOST) cannot be reached")
ENGINES = {"docker": DOCKER, "podman": PODMAN}
SCENARIO_ENGINES = [name for name in os.environ.get("OUBLIETTE_E2E_ENGINES", "docker,podman").split(",") if name]


@functools.cache
def available_engines() -> tuple[Engine, ...]:
    return tuple(engine for engine in ENGINES.values() if engine.reachable())


@pytest.fixture(scope="session")
def docker_engine() -> None:
    if shutil.which("docker") is None:
        unavailable("the docker CLI is not installed")
    if not DOCKER.reachable():
        unavailable("no Docker engine is reachable (`docker info` failed)")


def _oci_runtime() -> str:
    """crun (podman's default) refuses a machine whose cgroup v1 sits beside a cgroup2
    hierarchy with controllers ("cgroups in hybrid mode not supported"), as some VMs are;
    runc runs there, so the tests use it on such a machine."""
    try:
        hybrid = bool(Path("/sys/fs/cgroup/unified/cgroup.controllers").read_text().strip())
    except OSError:
        hybrid = False
    return '[engine]\nruntime = "runc"\n' if hybrid and shutil.which("runc") else ""


@pytest.fixture(scope="session")
def podman_config(tmp_path_factory, registry, auth_registry) -> None:
    """containers.conf with the ulimits this VM needs, and registries.conf marking the
    loopback registries insecure (plain http), for every podman the tests start."""
    if os.environ.get("CONTAINERS_CONF") and os.environ.get("CONTAINERS_REGISTRIES_CONF"):
        given = Path(os.environ["CONTAINERS_REGISTRIES_CONF"]).read_text()
        if registry in given and auth_registry in given:
            return  # .ci/run wrote them for these registries
    directory = tmp_path_factory.mktemp("podman-conf")
    (directory / "containers.conf").write_text(
        '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n' + _oci_runtime())
    (directory / "registries.conf").write_text("".join(
        f'[[registry]]\nlocation = "{address}"\ninsecure = true\n\n' for address in (registry, auth_registry)))
    os.environ["CONTAINERS_CONF"] = str(directory / "containers.conf")
    os.environ["CONTAINERS_REGISTRIES_CONF"] = str(directory / "registries.conf")


@pytest.fixture(params=SCENARIO_ENGINES)
def engine(request, monkeypatch) -> Engine:
    """Each scenario once per engine; oubliette is told to use it (OUBLIETTE_RUNTIME)."""
    return _scenario_engine(request.param, request, monkeypatch)


@pytest.fixture(params=[*SCENARIO_ENGINES, "cluster"])
def any_engine(request, monkeypatch) -> Engine:
    """As `engine`, and the test cluster too: a scenario that runs on pods as on containers
    (its project made with `engine.create_args`, its config by `engine.configure`)."""
    if request.param == "cluster":
        from tests.e2e.kube import ClusterEngine

        return ClusterEngine(request.getfixturevalue("cluster"), request.getfixturevalue("namespace"),
                             request.getfixturevalue("tmp_path"))
    return _scenario_engine(request.param, request, monkeypatch)


def _scenario_engine(name: str, request, monkeypatch) -> Engine:
    chosen = ENGINES[name]
    if chosen.name == "podman":
        request.getfixturevalue("podman_config")
    if not chosen.reachable():
        unavailable(f"{chosen.name} is not installed or does not answer (`{chosen.name} info` failed)")
    monkeypatch.setenv("OUBLIETTE_RUNTIME", chosen.name)
    return chosen


# --- registries ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answered (401 for the auth registry)
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start_registry(tmp: Path, auth: bool = False):
    """`docker-registry serve` on a free loopback port, in the background via `sh`."""
    import sh

    binary = shutil.which("docker-registry") or shutil.which("registry")
    if binary is None:
        unavailable("docker-registry is not installed (Debian package docker-registry)")
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    lines = ["version: 0.1", "log: {level: warn}",
             f"storage: {{filesystem: {{rootdirectory: {tmp / 'storage'}}}, delete: {{enabled: true}}}}",
             f'http: {{addr: "127.0.0.1:{port}"}}']
    if auth:
        htpasswd = shutil.which("htpasswd")
        if htpasswd is None:
            unavailable("htpasswd is not installed (Debian package apache2-utils)")
        (tmp / "htpasswd").write_bytes(subprocess.run([htpasswd, "-Bbn", "user", "secret"],
                                                      capture_output=True, check=True).stdout)
        lines.append(f"auth: {{htpasswd: {{realm: test, path: {tmp / 'htpasswd'}}}}}")
    (tmp / "config.yml").write_text("\n".join(lines) + "\n")
    process = sh.Command(binary)("serve", str(tmp / "config.yml"), _bg=True, _bg_exc=False,
                                 _out=str(tmp / "registry.log"), _err_to_out=True)
    wait_http(f"http://127.0.0.1:{port}/v2/")
    return process, f"localhost:{port}"


@pytest.fixture(scope="session")
def registry(docker_engine, tmp_path_factory) -> str:
    """`host:port` of a registry on loopback; OUBLIETTE_TEST_REGISTRY reuses a running one."""
    given = os.environ.get("OUBLIETTE_TEST_REGISTRY")
    if given:
        wait_http(f"http://{given.replace('localhost', '127.0.0.1')}/v2/")
        yield given
        return
    process, address = start_registry(tmp_path_factory.mktemp("registry"))
    yield address
    process.terminate()


@pytest.fixture(scope="session")
def auth_registry(docker_engine, tmp_path_factory) -> str:
    """A registry that demands credentials nobody has given docker."""
    process, address = start_registry(tmp_path_factory.mktemp("auth-registry"), auth=True)
    yield address
    process.terminate()


# --- images made offline ----------------------------------------------------------------


@dataclass
class Image:
    ref: str
    id: str
    digest: str = ""  # its manifest's, as the registry has it (`docker push` says it; a node reports it)


class ImageFactory:
    """Busybox root file systems imported as images into one engine's store and pushed to
    the loopback registry."""

    def __init__(self, registry: str, workdir: Path, engine: Engine = DOCKER) -> None:
        self.registry = registry
        self.engine = engine
        self.workdir = workdir
        self.created: list[str] = []
        self.ids: list[str] = []
        busybox = shutil.which("busybox")
        if busybox is None:
            unavailable("busybox is not installed (Debian package busybox-static)")
        self.busybox = busybox

    def repo(self, stem: str = "img") -> str:
        return f"{self.registry}/oubliette-test-{stem}-{uuid.uuid4().hex[:8]}"

    def build(self, ref: str, marker: str = "", with_sleep: bool = True, size_mb: int = 0,
              ignore_term: bool = False) -> Image:
        """Import a local image `ref`; `marker` makes its content (and id) unique.

        `ignore_term`: its entrypoint ignores SIGTERM, so `docker stop` waits out its
        whole timeout (10 s) before it kills the container.
        """
        tar_path = self.workdir / f"{uuid.uuid4().hex}.tar"
        with tarfile.open(tar_path, "w") as tar:
            tar.add(self.busybox, arcname="bin/busybox")
            applets = ["sh", "ls", "cat", "echo", "true", "id", "touch", "kill", "ps", "env", "test", "tar",
                       "mkdir", "find", "sort", "cp", "md5sum", "httpd", "hostname", "pwd"]
            if with_sleep:
                applets.append("sleep")
            for applet in applets:
                info = tarfile.TarInfo(f"bin/{applet}")
                info.type, info.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(info)
            for directory in ("tmp", "workspace"):
                info = tarfile.TarInfo(directory)
                info.type, info.mode = tarfile.DIRTYPE, 0o1777
                tar.addfile(info)
            data = f"{marker or uuid.uuid4().hex}\n".encode()
            info = tarfile.TarInfo("etc/oubliette-test-marker")
            info.size = len(data)
            import io

            tar.addfile(info, io.BytesIO(data))
            if size_mb:
                blob = self.workdir / "blob"
                blob.write_bytes(os.urandom(size_mb * 1024 * 1024))
                tar.add(blob, arcname="blob")
        changes = ["--change", 'CMD ["sleep","infinity"]']
        if ignore_term:
            changes += ["--change", 'ENTRYPOINT ["sh","-c","trap \\"\\" TERM; exec \\"$@\\"","sh"]']
        self.engine.cli("import", *changes, str(tar_path), ref)
        tar_path.unlink()
        self.created.append(ref)
        self.ids.append(self.engine.image_id(ref))
        return Image(ref, self.ids[-1])

    def push(self, ref: str, marker: str = "", with_sleep: bool = True, size_mb: int = 0,
             keep_local: bool = False, ignore_term: bool = False) -> Image:
        """Build and push `ref`; by default leave it absent locally, as on a fresh machine."""
        image = self.build(ref, marker, with_sleep, size_mb, ignore_term)
        pushed = self.engine.cli("push", ref).stdout.decode()
        image.digest = next((word for word in pushed.split() if word.startswith("sha256:")), "")
        if not keep_local:
            self.engine.cli("image", "rm", ref)
        return image

    def cleanup(self) -> None:
        """Remove every image this factory made, by tag and by id (a moved tag leaves the old
        image dangling), after the containers made from them (unique to this test)."""
        cli = self.engine.cli
        for image_id in self.ids:
            users = self.engine.out("ps", "-aq", "--filter", f"ancestor={image_id}").split()
            if users:
                cli("rm", "--force", *users, check=False)
        for ref in set(self.created):
            cli("image", "rm", "--force", ref, check=False)
        for image_id in dict.fromkeys(self.ids):
            cli("image", "rm", "--force", image_id, check=False)


def scenario_engine(request) -> Engine:
    """The engine of the test asking (its `engine` or `any_engine`), else Docker."""
    chosen = next((name for name in ("engine", "any_engine") if name in request.fixturenames), None)
    return request.getfixturevalue(chosen) if chosen else DOCKER


@pytest.fixture
def images(registry, tmp_path, request) -> ImageFactory:
    """Images in the store of the scenario's engine (Docker for tests without one)."""
    factory = ImageFactory(registry, tmp_path, scenario_engine(request).builder)
    yield factory
    factory.cleanup()


# --- a second engine, standing in for a remote one ----------------------------------------


class SecondEngine(Engine):
    """The second dockerd `.ci/second-engine` starts (OUBLIETTE_TEST_SECOND_ENGINE): it
    cannot see the directory the tests keep their homes in, as a remote engine could not."""

    def __init__(self, host: str) -> None:
        super().__init__(**vars(DOCKER))
        self.host = host

    def cli(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "DOCKER_CONTEXT"}
        result = subprocess.run(["docker", *args], capture_output=True, timeout=timeout,
                                env={**env, "DOCKER_HOST": self.host})
        if check and result.returncode != 0:
            raise AssertionError(f"docker -H {self.host} {' '.join(args)} failed: {result.stderr.decode()}")
        return result

    def remove_home(self, home: Path) -> None:
        """This home's containers and volumes there, and the test images pulled there."""
        id_file = home / "data" / "home.id"
        if id_file.exists():
            label = f"label=oubliette.home={id_file.read_text().strip()}"
            names = self.out("ps", "-aq", "--filter", label).split()
            if names:
                self.cli("rm", "--force", *names, check=False)
            volumes = self.out("volume", "ls", "-q", "--filter", label).split()
            if volumes:
                self.cli("volume", "rm", "--force", *volumes, check=False)
        refs = [ref for ref in self.out("images", "--format", "{{.Repository}}:{{.Tag}}").split()
                if "/oubliette-test-" in ref]
        if refs:
            self.cli("image", "rm", "--force", *refs, check=False)


@pytest.fixture(scope="session")
def second_engine_host() -> str:
    host = os.environ.get("OUBLIETTE_TEST_SECOND_ENGINE")
    if not host:
        unavailable("no second engine: set OUBLIETTE_TEST_SECOND_ENGINE (`.ci/second-engine start` makes one)")
    if SecondEngine(host).cli("version", check=False, timeout=60).returncode != 0:
        unavailable(f"the second engine at {host} does not answer")
    return host


@pytest.fixture
def second_engine(second_engine_host, home) -> SecondEngine:
    engine = SecondEngine(second_engine_host)
    yield engine
    engine.remove_home(home)


@pytest.fixture(scope="session")
def sshd(docker_engine, tmp_path_factory):
    """A real sshd on loopback (tests/e2e/sshd.py): this machine's docker, reached over SSH."""
    from tests.e2e.sshd import SSHD, SSHServer

    if not Path(SSHD).exists():
        unavailable(f"{SSHD} is not installed (openssh-server)")
    require_tool("ssh-keygen", "openssh-client")
    server = SSHServer(tmp_path_factory.mktemp("sshd"))
    try:
        server.start()
    except RuntimeError as error:
        server.stop()
        unavailable(str(error))
    yield server
    server.stop()


@pytest.fixture
def ssh_engine(sshd, monkeypatch):
    """The sshd, with the tests' `ssh` (its own config) first on PATH for docker's SSH helper."""
    monkeypatch.setenv("PATH", sshd.path_env())
    return sshd


# --- running oubliette for real --------------------------------------------------------


def remove_home_containers(home: Path) -> None:
    """Remove the containers and volume workspaces of this home's projects (and only those):
    by its home id, and by the ids of its projects."""
    filters = []
    id_file = home / "data" / "home.id"
    if id_file.exists():
        filters.append(f"label=oubliette.home={id_file.read_text().strip()}")
    projects = home / "data" / "projects"
    filters += [f"label=oubliette.project={p.name}" for p in projects.iterdir()] if projects.exists() else []
    for engine in available_engines():
        for label in filters:
            names = engine.out("ps", "-aq", "--filter", label).split()
            if names:
                engine.cli("rm", "--force", *names, check=False)
            volumes = engine.out("volume", "ls", "-q", "--filter", label).split()  # volume workspaces
            if volumes:
                engine.cli("volume", "rm", "--force", *volumes, check=False)


@pytest.fixture
def home(oubliette_home) -> Path:
    yield oubliette_home
    remove_home_containers(oubliette_home)


@pytest.fixture
def other_home(tmp_path_factory) -> Path:
    """A second oubliette home on the same engine (another user, or a personal home)."""
    second = tmp_path_factory.mktemp("other-home")
    yield second
    remove_home_containers(second)


def write_config(home: Path, containers: dict, **extra) -> Path:
    path = home / "config" / "oubliette.jsonc"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"containers": containers, **extra}, indent=2))
    return path


def oubliette(*args: str, home: Path | None = None, env: dict | None = None, timeout: float = 300,
              input: str | None = None) -> subprocess.CompletedProcess:
    """Run the real `oubliette` in a child process (its own stdin/stdout, no terminal)."""
    full_env = {**os.environ, **(env or {})}
    if home is not None:
        full_env["OUBLIETTE_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "oubliette", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, input=input if input is not None else "")


# --- shared by the scenarios that interrupt or race commands ----------------------------------


def create(home, name: str | None = None, engine: Engine | None = None) -> str:
    where = engine.create_args if engine else ()
    result = oubliette("project", "create", name or f"p-{uuid.uuid4().hex[:6]}", *where, home=home)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def start(engine: Engine, home, project_id: str) -> dict:
    result = oubliette("container", "start", project_id, home=home)
    assert result.returncode == 0, result.stderr
    return engine.inspect(f"oubliette-{project_id}")


def background(home, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "oubliette", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OUBLIETTE_HOME": str(home)})


def wait_for_line(stream, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if text in line:
            return
        assert line, f"the process ended before printing {text!r}"
    raise AssertionError(f"{text!r} never printed")


@pytest.fixture
def slow_stopping(engine, home, images):
    """A project whose container ignores SIGTERM (docker stop waits 10 s), and a newer image."""
    repo = images.repo("dev") + ":latest"
    images.push(repo, marker="v1", ignore_term=True)
    write_config(home, {"dev": repo})
    project_id = create(home)
    old = start(engine, home, project_id)
    new_image = images.push(repo, marker="v2")
    return project_id, old, new_image


# The cluster tests' fixtures (test_cluster.py, test_cluster_nodes.py); kube.py uses the helpers above.
from tests.e2e.kube import cluster, cluster_home, namespace  # noqa: E402, F401
