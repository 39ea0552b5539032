"""Projects on a second engine that cannot see the client's files, as a remote one.

The second engine is a dockerd reached over tcp (`.ci/second-engine`), in a mount
namespace where the directory holding the tests' homes is hidden. Outcomes are
checked with raw `docker` calls against each engine.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import DOCKER, PODMAN, Engine, oubliette, write_config


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def make_tree(root: Path) -> dict[str, bytes]:
    files = {"a/b/c.txt": b"deep\n", "with space.txt": b"spaced\n", "top.txt": b"top\n",
             "bin/x/y/blob.bin": os.urandom(300_000)}
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


def created(home, *args: str) -> dict:
    result = oubliette("project", "create", f"p-{uuid.uuid4().hex[:6]}", *args, "--json", home=home)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def ok(*args: str, home, env: dict | None = None) -> str:
    result = oubliette(*args, home=home, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


@dataclass
class Remote:
    """A named engine for the round trip: its config entry, and its raw CLI for checks."""

    entry: dict
    raw: Engine
    hides_client_files: bool  # the second dockerd cannot see the client's files; the podman service can


@pytest.fixture(params=["dockerd", "ssh", "podman"])
def remote(request) -> Remote:
    """The second dockerd over tcp (volume by default: not a local socket), this machine's
    docker over a loopback sshd (`ssh://user@host:port`, docker's SSH helper), or a podman
    service on a socket told to keep volume workspaces."""
    if request.param == "dockerd":
        second = request.getfixturevalue("second_engine")
        return Remote({"runtime": "docker", "host": second.host}, second, True)
    if request.param == "ssh":
        server = request.getfixturevalue("ssh_engine")
        return Remote({"runtime": "docker", "host": server.url}, DOCKER, False)
    url = request.getfixturevalue("podman_service")
    return Remote({"runtime": "podman", "host": url, "workspace": "volume"}, PODMAN, False)


def test_a_pinned_project_lives_on_its_engine_with_a_volume_workspace_and_files_round_trip(
        home, images, remote: Remote, tmp_path, monkeypatch):
    monkeypatch.setenv("OUBLIETTE_RUNTIME", "docker")
    image = images.push(images.repo("remote") + ":latest")
    write_config(home, {"dev": image.ref},
                 engines={"box": remote.entry, "boxbind": {**remote.entry, "workspace": "bind"}})
    raw = remote.raw
    record = created(home, "--engine", "box")
    project_id, name, volume = record["id"], f"oubliette-{record['id']}", f"oubliette-{record['id']}-workspace"
    assert record["engine"] == "box" and record["workspace_kind"] == "volume" and record["volume"] == volume
    try:
        ok("container", "start", project_id, home=home)
        info = raw.inspect(name)
        assert info["State"]["Running"] and (not remote.hides_client_files or DOCKER.inspect(name) is None)
        assert [(m["Type"], m["Name"], m["Destination"]) for m in info["Mounts"]] == [
            ("volume", volume, "/workspace")]
        labels = json.loads(raw.out("volume", "inspect", "--format", "{{json .Labels}}", volume))
        assert labels == {"oubliette.project": project_id,
                          "oubliette.home": (home / "data/home.id").read_text().strip()}

        source = tmp_path / "src"
        files = make_tree(source)
        ok("workspace", "push", project_id, str(source), home=home)
        listed = ok("session", "start", project_id, "--", "sh", "-c", "find . -type f | sort; cat a/b/c.txt",
                    home=home)
        assert listed.split("\n")[:4] == ["./a/b/c.txt", "./bin/x/y/blob.bin", "./top.txt", "./with space.txt"]
        assert listed.endswith("deep\n")

        ok("session", "start", project_id, "--", "sh", "-c",
           "mkdir -p out/sub && echo made > out/sub/new.txt && cp bin/x/y/blob.bin out/copy.bin", home=home)
        assert ok("session", "start", project_id, "--", "cat", "out/sub/new.txt", home=home) == "made\n"
        here = created(home)["id"]  # a project on the default engine, listed beside it
        ok("container", "start", here, home=home)
        rows = json.loads(ok("container", "list", "--json", home=home))
        assert {(r["project_id"], r["engine"], r["status"]) for r in rows} == {
            (project_id, "box", "running"), (here, "default", "running")}
        old_id = info["Id"]
        ok("container", "refresh", project_id, home=home)
        assert raw.inspect(name)["Id"] != old_id  # replaced; the volume kept the files
        destination = tmp_path / "dest"
        pulled = json.loads(ok("workspace", "pull", project_id, str(destination), "--json", home=home))
        assert pulled["bytes"] > 600_000
        assert tree(destination) == {**files, "out/sub/new.txt": b"made\n",
                                     "out/copy.bin": files["bin/x/y/blob.bin"]}

        # A tree the container cannot take (a file where /workspace has a directory) is one clean Error.
        clash = tmp_path / "clash"
        clash.mkdir()
        (clash / "a").write_text("a file, where a directory is\n")
        result = oubliette("workspace", "push", project_id, str(clash), home=home)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and errors[0].startswith("Error: copying failed (in the container)"), result.stderr

        if remote.hides_client_files:
            # The engine cannot see the client's files: a bind workspace there is an error, not an empty one.
            bound = created(home, "--engine", "boxbind")
            result = oubliette("container", "start", bound["id"], home=home)
            assert result.returncode != 0 and "Error:" in result.stderr and "Traceback" not in result.stderr
            assert raw.inspect(f"oubliette-{bound['id']}") is None

        # The shell pointing the engine's CLI elsewhere changes nothing for a pinned project.
        elsewhere = {"DOCKER_HOST": "unix:///nonexistent.sock", "CONTAINER_HOST": "unix:///nonexistent.sock"}
        ok("container", "stop", project_id, home=home, env=elsewhere)
        assert raw.inspect(name) is None
        ok("project", "delete", project_id, "--purge", "--yes", home=home)
        assert raw.cli("volume", "inspect", volume, check=False).returncode != 0
    finally:
        raw.cli("rm", "--force", name, check=False)
        raw.cli("volume", "rm", "--force", volume, check=False)
        if raw is PODMAN:
            raw.cli("image", "rm", "--force", image.ref, check=False)


@pytest.fixture
def proxy(second_engine):
    """A TCP forwarder to the second engine (the bench's, without added latency): closing
    it takes that engine off the network, as the client sees it, while it keeps running."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "latency_proxy", Path(__file__).resolve().parents[2] / "scripts" / "latency_proxy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    forwarder = module.LatencyProxy(second_engine.host, delay=0)
    yield forwarder
    forwarder.close()


def test_list_covers_both_engines_and_goes_on_without_one_that_is_down(engine, home, images, second_engine,
                                                                      proxy):
    image = images.push(images.repo("both") + ":latest")
    write_config(home, {"dev": image.ref}, engines={"box": {"runtime": "docker", "host": proxy.url}})
    here, there = created(home)["id"], created(home, "--engine", "box")["id"]
    for project_id in (here, there):
        ok("container", "start", project_id, home=home)
    assert engine.inspect(f"oubliette-{here}") and second_engine.inspect(f"oubliette-{there}")
    rows = json.loads(ok("container", "list", "--json", home=home))
    assert {(r["project_id"], r["engine"], r["status"]) for r in rows} == {
        (here, "default", "running"), (there, "box", "running")}
    assert ok("container", "list", home=home).splitlines()[0].split()[-1] == "ENGINE"

    proxy.close()
    result = oubliette("container", "list", "--json", home=home)
    assert result.returncode == 0, result.stderr
    assert [r["project_id"] for r in json.loads(result.stdout)] == [here]
    assert "Warning: the engine 'box'" in result.stderr and proxy.url in result.stderr
    result = oubliette("container", "start", there, home=home)
    assert result.returncode == 3 and "Error: the engine 'box'" in result.stderr
    assert second_engine.inspect(f"oubliette-{there}")["State"]["Running"]  # untouched, still there
    result = oubliette("container", "stop", "--all", "--json", home=home)  # the others' work, then exit 3
    assert result.returncode == 3 and [r["project_id"] for r in json.loads(result.stdout)] == [here]
    assert "Error: the engine 'box'" in result.stderr and engine.inspect(f"oubliette-{here}") is None


@pytest.fixture
def podman_service(podman_config, tmp_path_factory):
    """`podman system service` on a unix socket: a podman engine reached by URL
    (CONTAINER_HOST), as a named engine's `host` reaches it."""
    import shutil
    import subprocess
    import time

    from tests.conftest import unavailable

    if shutil.which("podman") is None:
        unavailable("podman is not installed")
    socket_path = tmp_path_factory.mktemp("podman-service") / "podman.sock"
    service = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{socket_path}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not socket_path.exists() and time.monotonic() < deadline and service.poll() is None:
        time.sleep(0.05)
    if not socket_path.exists():
        service.kill()
        unavailable("`podman system service` did not start")
    yield f"unix://{socket_path}"
    service.terminate()
    service.wait(timeout=30)


def test_a_podman_engine_named_by_its_socket_url_beside_the_default_docker(home, images, podman_service,
                                                                         monkeypatch):
    monkeypatch.setenv("OUBLIETTE_RUNTIME", "docker")
    image = images.push(images.repo("pm") + ":latest")
    write_config(home, {"dev": image.ref}, engines={"pm": {"runtime": "podman", "host": podman_service}})
    here, there = created(home), created(home, "--engine", "pm")
    assert there["workspace_kind"] == "oubliette"  # a local socket: a bind workspace
    try:
        for record in (here, there):
            ok("container", "start", record["id"], home=home)
        assert PODMAN.inspect(f"oubliette-{there['id']}")["State"]["Running"]
        assert DOCKER.inspect(f"oubliette-{there['id']}") is None
        ok("session", "start", there["id"], "--", "sh", "-c", "echo via-podman > made.txt", home=home)
        assert (Path(there["workspace"]) / "made.txt").read_text() == "via-podman\n"
        rows = json.loads(ok("container", "list", "--json", home=home))
        assert {(r["project_id"], r["engine"]) for r in rows} == {(here["id"], "default"), (there["id"], "pm")}
        ok("project", "delete", there["id"], home=home)
        assert PODMAN.inspect(f"oubliette-{there['id']}") is None
    finally:
        PODMAN.cli("rm", "--force", f"oubliette-{there['id']}", check=False)
        PODMAN.cli("image", "rm", "--force", image.ref, check=False)
