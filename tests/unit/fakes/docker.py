"""A stateful fake `docker` for unit tests, on pytest-subprocess callbacks.

It answers the calls oubliette makes with the shapes and error texts recorded from a
real engine (tests/unit/recorded/docker), and keeps containers and images in memory so
tests can assert the engine state after a workflow, and count the calls it took.

Captured calls go through pytest-subprocess. The one streamed call (`docker pull`) is
answered by replacing `process.stream`: pytest-subprocess fills a callback's output in a
thread, which a live pump may read before it is written. The real pump is covered by
tests/unit/engines/test_process.py (real processes) and engines/test_docker.py (static fakes).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import uuid
from dataclasses import dataclass, field

from oubliette.engines import process
from oubliette.store.sessions import NOT_THIS_HOME
from tests.unit.helpers import recorded

NO_SUCH_IMAGE = "Error response from daemon: no such image: {ref}: No such image: {ref}\n"
NO_SUCH_CONTAINER = "Error response from daemon: No such container: {name}\n"
CONFLICT = ('docker: Error response from daemon: Conflict. The container name "/{name}" is already in use by '
            'container "{id}". You have to remove (or rename) that container to be able to reuse that name.\n'
            "\nRun 'docker run --help' for more information\n")


def image_id(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


@dataclass
class Container:
    id: str
    name: str
    image: str
    image_id: str
    labels: dict
    state: str = "running"
    command: list = field(default_factory=list)
    mounts: list = field(default_factory=list)  # host sources
    volumes: list = field(default_factory=list)  # named volumes
    broken: bool = False  # made from an image whose command cannot run: it exits on every start
    env: dict = field(default_factory=dict)  # what its processes, `exec`s included, see


GIT_IDENTITY = "user.name Ada Lovelace\nuser.email ada@example.com\n"


class FakeDocker:
    """The local engine; `remote(host)` adds an engine that calls with DOCKER_HOST=host reach.
    FakePodman (fakes/podman.py) is the same engine in podman's words."""

    binary = "docker"
    host_variable = "DOCKER_HOST"
    no_such_container = NO_SUCH_CONTAINER
    daemon_down_text = "docker/daemon_down.stderr"

    def __init__(self, fp=None, monkeypatch=None) -> None:
        self.images: dict[str, str] = {}  # local ref -> id
        self.registry: dict[str, str] = {}  # ref -> id a pull gets
        self.pull_errors: dict[str, str] = {}  # ref -> recorded stderr file
        self.broken_images: set[str] = set()  # containers of these exit right after start
        self.silent_logs = 0  # this many `logs` calls find the log not yet written (podman)
        self.containers: dict[str, Container] = {}
        self.daemon_down = False
        self.fail_next: dict[str, str] = {}  # subcommand -> stderr for its next call
        self.exec_codes: list[int] = []
        self.removed_images: list[str] = []
        self.log: list[list[str]] = []
        self.volumes: dict[str, dict] = {}  # name -> labels
        self.remotes: dict[str, FakeDocker] = {}  # DOCKER_HOST -> that engine
        self.envs: list[dict | None] = []  # the environment of each call, beside `log`
        self._lock = threading.RLock()
        if fp is not None:
            fp.register([self.binary, fp.any()], callback=self._dispatch, occurrences=100_000)
            # the host's git identity, which sessions carry (ops/identity.py)
            fp.register(["git", "config", fp.any()], stdout=GIT_IDENTITY, occurrences=100_000)
            monkeypatch.setattr(process, "stream", self._stream)

    def remote(self, host: str) -> FakeDocker:
        """Another engine of this kind, reached with DOCKER_HOST=host (CONTAINER_HOST for
        podman); it pulls from the same registry."""
        engine = type(self)()
        engine.registry = self.registry
        engine._lock = self._lock
        self.remotes[host] = engine
        return engine

    def _engine_for(self, env) -> FakeDocker | None:
        """The engine a call reaches: DOCKER_HOST picks a remote one (None: nothing listens there)."""
        host = (os.environ if env is None else env).get(self.host_variable)
        if not host or host == "unix:///var/run/docker.sock":
            return self
        return self.remotes.get(host)

    # --- set-up helpers ---------------------------------------------------------------

    def push(self, ref: str, seed: str | None = None) -> str:
        self.registry[ref] = image_id(seed or ref + uuid.uuid4().hex)
        return self.registry[ref]

    def local(self, ref: str, seed: str | None = None) -> str:
        self.images[ref] = image_id(seed or ref + uuid.uuid4().hex)
        return self.images[ref]

    def foreign(self, name: str = "someone-elses", labels: dict | None = None) -> Container:
        container = Container(uuid.uuid4().hex * 2, name, "alpine:latest", image_id("alpine"), labels or {})
        self.containers[name] = container
        return container

    def calls(self, subcommand: str | None = None) -> list[list[str]]:
        """Every docker call so far, or those of one subcommand (`"pull"`, `"container inspect"`)."""
        return [c for c in self.log if subcommand is None or c[1:2] == [subcommand] or c[1:3] == subcommand.split()]

    # --- the engine -------------------------------------------------------------------

    def _dispatch(self, process) -> None:
        kwargs = process.kwargs or {}
        rc, out, err = self._routed([str(a) for a in process.args], kwargs.get("env"))
        for stream, key, text in ((process.stdout, "stdout", out), (process.stderr, "stderr", err)):
            if stream is not None and text:
                stream.write(text.encode())
                stream.seek(0)
            elif text and hasattr(kwargs.get(key), "fileno"):  # a file, as a real process writes it
                os.write(kwargs[key].fileno(), text.encode())
        process.returncode = rc

    def _stream(self, argv, out=None, err=None, progress_on_stderr=False, env=None) -> process.Result:
        rc, stdout, stderr = self._routed([str(a) for a in argv], env)
        (out or sys.stdout).write(stdout)
        held = tuple(prefix.decode() for prefix in process.ENGINE_ERROR_PREFIXES)  # as the real pump holds them
        (err or sys.stderr).write("".join(line for line in stderr.splitlines(keepends=True)
                                          if not line.lstrip().startswith(held)))
        return process.Result(list(argv), rc, "", stderr)

    def _routed(self, argv: list[str], env) -> tuple[int, str, str]:
        engine = self._engine_for(env)
        if engine is None:
            return 1, "", self._unreachable((os.environ if env is None else env)[self.host_variable])
        with self._lock:
            engine.envs.append(env)
        return engine._answer(argv)

    def _unreachable(self, host: str) -> str:
        return f"Cannot connect to the Docker daemon at {host}. Is the docker daemon running?\n"

    def _answer(self, full_argv: list[str]) -> tuple[int, str, str]:
        with self._lock:  # refresh calls the engine from several threads
            return self._answer_locked(full_argv)

    def _answer_locked(self, full_argv: list[str]) -> tuple[int, str, str]:
        self.log.append(full_argv)
        argv = full_argv[1:]
        rc, out, err = 0, "", ""
        if self.daemon_down:
            rc, err = 1, recorded(self.daemon_down_text)
        elif argv and argv[0] in self.fail_next:
            rc, err = 1, self.fail_next.pop(argv[0])
        else:
            handler = getattr(self, "_" + argv[0].replace("-", "_"), None)
            rc, out, err = handler(argv[1:]) if handler else (1, "", f"unknown command {argv[0]}\n")
        return rc, out, err

    def _version(self, args):
        return 0, "20.10.24\n", ""

    def _image(self, args):
        if args[0] == "rm":
            image = args[1]
            if any(c.image_id == image for c in self.containers.values()):
                return 1, "", (f"Error response from daemon: conflict: unable to delete {image[7:19]} (cannot be "
                               "forced) - image is being used by running container\n")
            self.images = {ref: i for ref, i in self.images.items() if i != image}
            self.removed_images.append(image)
            return 0, f"Deleted: {image}\n", ""
        assert args[:3] == ["inspect", "--format", "{{.Id}}"], args
        ref = args[3]
        if ref in self.images:
            return 0, self.images[ref] + "\n", ""
        return 1, "", NO_SUCH_IMAGE.format(ref=ref)

    def _inspect(self, args):
        """Generic `docker inspect --format '{{json .Id}} {{json (index . "Image")}}' OBJECT...`."""
        assert args[:2] == ["--format", '{{json .Id}} {{json (index . "Image")}}'], args
        out, err = [], []
        for name in args[2:]:
            if name in self.containers:
                out.append(f'"{self.containers[name].id}" "{self.containers[name].image_id}"')
            elif name in self.images:
                out.append(f'"{self.images[name]}" null')
            else:
                err.append(f"Error: No such object: {name}")
        return (1 if err else 0), "".join(line + "\n" for line in out), "".join(line + "\n" for line in err)

    def _pull(self, args):
        ref = args[0]
        if ref in self.pull_errors:
            return 1, "", recorded(f"docker/{self.pull_errors[ref]}")
        if ref not in self.registry:
            return 1, "", recorded("docker/pull_missing_tag.stderr").replace(
                "localhost:5000/oubliette-base:v1", ref)
        fresh = self.images.get(ref) != self.registry[ref]
        self.images[ref] = self.registry[ref]
        status = f"Downloaded newer image for {ref}" if fresh else f"Image is up to date for {ref}"
        tag = ref.rsplit(":", 1)[-1]
        return 0, f"{tag}: Pulling from x\nDigest: sha256:{'0' * 64}\nStatus: {status}\n{ref}\n", ""

    def _run(self, args):
        opts, i = {"labels": {}, "init": False, "mounts": []}, 0
        while args[i].startswith("--"):
            flag = args[i]
            if flag in ("--detach", "--init", "--pull=never"):
                opts["init"] = opts["init"] or flag == "--init"
                opts["pull_never"] = opts.get("pull_never") or flag == "--pull=never"
                i += 1
                continue
            value = args[i + 1]
            if flag == "--label":
                key, _, val = value.partition("=")
                opts["labels"][key] = val
            elif flag == "--env":
                key, _, val = value.partition("=")
                opts.setdefault("env", {})[key] = val
            elif flag == "--mount":
                fields = dict(part.split("=", 1) for part in value.split(","))
                assert fields["type"] in ("bind", "volume"), value
                if fields["type"] == "volume":
                    self.volumes.setdefault(fields["source"], {})
                    opts.setdefault("volumes", []).append(fields["source"])
                else:
                    opts["mounts"].append(fields["source"])
            else:
                opts[flag] = value
            i += 2
        name, image, command = opts["--name"], args[i], args[i + 1:]
        if name in self.containers:
            return 125, "", CONFLICT.format(name=name, id=self.containers[name].id)
        if image not in self.images:
            if opts.get("pull_never"):
                return 125, "", (f"docker: Error response from daemon: No such image: {image}\n\n"
                                 "Run 'docker run --help' for more information\n")
            return 125, "", f"Unable to find image '{image}' locally\n"
        container = Container(uuid.uuid4().hex + uuid.uuid4().hex, name, image, self.images[image],
                              opts["labels"], command=command, mounts=opts["mounts"],
                              volumes=opts.get("volumes", []), env=opts.get("env", {}))
        if image in self.broken_images:
            container.state, container.broken = "exited", True
        self.containers[name] = container
        return 0, container.id + "\n", ""

    def _ps(self, args):
        show_all = "--all" in args
        label = args[args.index("--filter") + 1].removeprefix("label=")
        key, has_value, value = label.partition("=")
        lines = []
        for c in self.containers.values():
            if key not in c.labels or (has_value and c.labels[key] != value):
                continue
            if not show_all and c.state != "running":
                continue
            lines.append(json.dumps({"id": c.id, "name": c.name, "state": c.state, "image": c.image, "labels": {
                k: c.labels.get(k, "") for k in ("oubliette.project", "oubliette.type", "oubliette.image",
                                                 "oubliette.home")}, "mounts": ",".join(c.mounts)}))
        return 0, "".join(line + "\n" for line in lines), ""

    def _container(self, args):
        assert args[0] == "inspect", args
        found = [self.containers[name] for name in args[1:] if name in self.containers]
        missing = [name for name in args[1:] if name not in self.containers]
        rows = [{"Id": c.id, "Name": "/" + c.name, "State": {"Status": c.state},
                 "Image": c.image_id, "Config": {"Image": c.image, "Labels": c.labels},
                 "Mounts": [{"Type": "bind", "Source": m, "Destination": "/workspace"} for m in c.mounts]}
                for c in found]
        err = "".join(self.no_such_container.format(name=name) for name in missing)
        return (1 if missing else 0), json.dumps(rows) + "\n", err

    def _each(self, names, action):
        for name in names:
            if name not in self.containers:
                return 1, "", self.no_such_container.format(name=name)
            action(self.containers[name])
        return 0, "".join(n + "\n" for n in names), ""

    def _stop(self, args):
        return self._each(args, lambda c: setattr(c, "state", "exited"))

    def _start(self, args):
        def start(c):
            c.state = "exited" if c.broken else "running"
        return self._each(args, start)

    def _rm(self, args):
        force = "--force" in args
        names = [a for a in args if a != "--force"]
        for name in names:
            c = self.containers.get(name)
            if c is None:
                return 1, "", self.no_such_container.format(name=name)
            if c.state == "running" and not force:
                return 1, "", f"Error response from daemon: You cannot remove a running container {c.id}.\n"
            del self.containers[name]
        return 0, "".join(n + "\n" for n in names), ""

    def _rename(self, args):
        old, new = args
        if old not in self.containers:
            return 1, "", self.no_such_container.format(name=old)
        if new in self.containers:
            return 1, "", f"Error response from daemon: Conflict. The container name \"/{new}\" is already in use\n"
        container = self.containers.pop(old)
        container.name = new
        self.containers[new] = container
        return 0, "", ""

    def _volume(self, args):
        if args[0] == "create":
            labels = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--label")
            self.volumes.setdefault(args[-1], labels)
            return 0, args[-1] + "\n", ""
        assert args[0] == "rm", args
        name = args[1]
        if any(name in c.volumes for c in self.containers.values()):
            return 1, "", f"Error response from daemon: remove {name}: volume is in use\n"
        if self.volumes.pop(name, None) is None:
            return 1, "", f"Error response from daemon: get {name}: no such volume\n"
        return 0, name + "\n", ""

    def _context(self, args):
        assert args[:3] == ["inspect", "--format", "{{.Endpoints.docker.Host}}"], args
        contexts = {"default": "unix:///var/run/docker.sock", "team-host": "ssh://me@team"}
        if args[3] not in contexts:
            return 1, "", f"context \"{args[3]}\" does not exist\n"
        return 0, contexts[args[3]] + "\n", ""

    def _logs(self, args):
        if self.silent_logs:
            self.silent_logs -= 1
            return 0, "", ""
        return 0, "", recorded("docker/logs_no_sleep.txt")

    def _exec(self, args):
        name = next(a for a in args if not a.startswith("--") and a not in self._exec_values(args))
        c = self.containers.get(name)
        if c is None:
            return 1, "", self.no_such_container.format(name=name)
        if c.state != "running":
            return 126, "", f"Error response from daemon: Container {c.id} is not running\n"
        if "oubliette-session" in args:  # the session wrapper's check, as its shell code does it
            expected = args[args.index("oubliette-session") + 1]
            if expected != "-" and c.env.get("OUBLIETTE_HOME_ID") != expected:
                return NOT_THIS_HOME, "", ""
        if args[-3:] == ["sh", "-c", 'printf %s "$OUBLIETTE_HOME_ID"']:
            return 0, c.env.get("OUBLIETTE_HOME_ID", ""), ""
        return (self.exec_codes.pop(0) if self.exec_codes else 0), "", ""

    @staticmethod
    def _exec_values(args):
        return {args[i + 1] for i, a in enumerate(args) if a in ("--env", "--workdir")}
