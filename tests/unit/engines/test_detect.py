"""Runtime choice: flag, env, config, then auto with no probe unless both engines exist."""

from __future__ import annotations

import pytest

from oubliette.engines.detect import detect_runtime, requested_runtime
from oubliette.errors import ConfigError, EngineUnavailableError


def fake_path(tmp_path, *names):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in names:
        path = bin_dir / name
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755)
    return {"PATH": str(bin_dir)}


def test_precedence_flag_env_config_auto():
    env = {"OUBLIETTE_RUNTIME": "apple"}
    assert requested_runtime("docker", "apple", env) == "docker"
    assert requested_runtime(None, "docker", env) == "apple"
    assert requested_runtime(None, "docker", {}) == "docker"
    assert requested_runtime(None, None, {}) == "auto"


def test_bad_env_value_is_a_clear_error():
    with pytest.raises(ConfigError, match="OUBLIETTE_RUNTIME"):
        requested_runtime(None, None, {"OUBLIETTE_RUNTIME": "lxc"})


@pytest.mark.parametrize("installed, expected", [(("docker",), "docker"), (("container",), "apple")])
def test_one_engine_installed_means_no_probe(tmp_path, monkeypatch, fp, installed, expected):
    env = fake_path(tmp_path, *installed)
    monkeypatch.setenv("PATH", env["PATH"])
    notes = []
    runtime = detect_runtime("auto", env, note=notes.append)
    assert runtime.name == expected
    assert len(fp.calls) == 0 and notes == []


def test_neither_installed_exits_3_naming_both(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineUnavailableError) as caught:
        detect_runtime("auto", {"PATH": str(tmp_path)})
    assert caught.value.exit_code == 3
    assert "docker" in caught.value.message and "container" in caught.value.message


def test_both_installed_probes_apple_then_docker(tmp_path, monkeypatch, fp):
    env = fake_path(tmp_path, "docker", "container")
    monkeypatch.setenv("PATH", env["PATH"])
    fp.register(["container", "system", "status"], returncode=1, stdout="apiserver is not running\n")
    fp.register(["docker", "version", "--format", "{{.Server.Version}}"], stdout="20.10.24\n")
    notes = []
    assert detect_runtime("auto", env, note=notes.append).name == "docker"
    assert len(notes) == 1 and "Docker" in notes[0]

    fp.register(["container", "system", "status"], returncode=0)
    assert detect_runtime("auto", env, note=notes.append).name == "apple"

    fp.register(["container", "system", "status"], returncode=1)
    fp.register(["docker", "version", "--format", "{{.Server.Version}}"], returncode=1,
                stderr="Cannot connect to the Docker daemon at unix:///var/run/docker.sock.\n")
    with pytest.raises(EngineUnavailableError, match="no container engine is running"):
        detect_runtime("auto", env)


def test_explicit_choice_never_probes(fp):
    assert detect_runtime("docker", {}).name == "docker"
    assert detect_runtime("apple", {"APPLE_CONTAINER_BINARY": "/opt/c"}).binary == "/opt/c"
    assert len(fp.calls) == 0
