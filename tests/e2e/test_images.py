"""The real images: a Debian base made with debootstrap (no image comes from the
internet), both Dockerfiles built unmodified with scripts/build.sh, then a dev-mode
project whose sessions must find their tools and be able to write to /workspace
whoever owns it on the host."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.e2e.conftest import docker, oubliette

ROOT = Path(__file__).resolve().parents[2]
MIRROR = os.environ.get("OUBLIETTE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PROBE = """
set -e
echo "uid=$(id -u) user=$(id -un) home=$HOME"
touch /workspace/written-by-session && echo "wrote /workspace"
git --version
curl --version | head -n 1
rg --version | head -n 1
python3 --version
echo "node $(node --version)"
echo "npm $(npm --version)"
gcc --version | head -n 1
make --version | head -n 1
python3 -m venv /tmp/probe-venv && /tmp/probe-venv/bin/python -c 'print("venv works")'
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def debian_base(docker_engine, tmp_path_factory) -> Iterator[str]:
    """`debian:bookworm-slim`, made locally with debootstrap unless it is already here (and
    removed at the end when this run made it)."""
    if docker("image", "inspect", "debian:bookworm-slim", check=False).returncode == 0:
        yield "debian:bookworm-slim"
        return
    if shutil.which("debootstrap") is None:
        unavailable("debootstrap is not installed (Debian package debootstrap)")
    if os.geteuid() != 0:
        unavailable("debootstrap needs root")
    rootfs = tmp_path_factory.mktemp("debootstrap") / "rootfs"
    made = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), MIRROR],
                          capture_output=True, text=True, timeout=1200)
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    imported = subprocess.run(["docker", "import", "-", "debian:bookworm-slim"], stdin=tar.stdout,
                              capture_output=True, text=True)
    tar.wait()
    assert imported.returncode == 0, imported.stderr
    shutil.rmtree(rootfs, ignore_errors=True)
    yield "debian:bookworm-slim"
    docker("image", "rm", "debian:bookworm-slim", check=False)


@pytest.fixture(scope="session")
def built_images(debian_base) -> Iterator[None]:
    made = [ref for ref in ("oubliette-base:latest", "oubliette-dev:latest")
            if docker("image", "inspect", ref, check=False).returncode != 0]
    result = subprocess.run([str(ROOT / "scripts" / "build.sh")], capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    assert "Built oubliette-base:latest and oubliette-dev:latest." in result.stdout
    labels = docker("image", "inspect", "--format", "{{json .Config.Entrypoint}} {{json .Config.Cmd}}",
                    "oubliette-dev:latest").stdout.decode().strip()
    assert labels == '["/usr/local/bin/oubliette-container-init"] ["sleep","infinity"]'
    yield
    for ref in reversed(made):  # the images this run built where there were none before
        docker("image", "rm", ref, check=False)


def dev_project(home) -> str:
    env = {"OUBLIETTE_DEV": "1"}
    assert oubliette("init", home=home, env=env).returncode == 0
    created = oubliette("project", "create", "probe", "--type", "dev", home=home, env=env)
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


def probe(home, project_id: str) -> str:
    result = oubliette("session", "start", project_id, "--", "sh", "-c", PROBE, home=home,
                       env={"OUBLIETTE_DEV": "1"}, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize("owner", [None, 1000, 4321], ids=["host-user", "uid-1000", "uid-4321"])
def test_a_dev_container_session_has_its_tools_and_can_write_the_workspace(built_images, home, owner):
    project_id = dev_project(home)
    workspace = home / "data" / "projects" / project_id / "workspace"
    if owner is not None:
        os.chown(workspace, owner, owner)
    expected_uid = workspace.stat().st_uid  # aligned with the owner; root-owned means root sessions

    started = oubliette("container", "start", project_id, home=home, env={"OUBLIETTE_DEV": "1"})
    assert started.returncode == 0, started.stderr
    assert docker("container", "inspect", "--format", "{{.Config.Image}}", f"oubliette-{project_id}"
                  ).stdout.decode().strip() == "oubliette-dev:latest"

    out = probe(home, project_id)
    expected_user = "root" if expected_uid == 0 else "dev"
    assert f"uid={expected_uid} user={expected_user}" in out
    if expected_uid:
        assert "home=/home/dev" in out
    assert "wrote /workspace" in out
    written = workspace / "written-by-session"
    assert written.exists() and written.stat().st_uid == expected_uid  # the host sees its own user
    for tool in ("git version", "curl ", "ripgrep ", "Python 3.", "node v", "npm ", "gcc ", "GNU Make", "venv works"):
        assert tool in out, (tool, out)
    pushed = home / "to-push"
    (pushed / "sub").mkdir(parents=True)
    (pushed / "sub" / "pushed.txt").write_text("pushed\n")
    result = oubliette("workspace", "push", project_id, str(pushed), home=home, env={"OUBLIETTE_DEV": "1"})
    assert result.returncode == 0, result.stderr
    for path in (workspace / "sub", workspace / "sub" / "pushed.txt"):  # the session user's, as its own files
        assert path.stat().st_uid == expected_uid, (path, path.stat().st_uid)
    rooted = oubliette("session", "start", "--root", project_id, "--", "id", "-u", home=home,
                       env={"OUBLIETTE_DEV": "1"})
    assert rooted.returncode == 0 and rooted.stdout.strip() == "0", rooted.stderr  # not the session user
