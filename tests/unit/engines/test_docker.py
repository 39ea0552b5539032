"""DockerRuntime: pure argv builders, parsing and error classification from texts
recorded off a real engine (tests/unit/recorded/docker), with every call faked."""

from __future__ import annotations

import io

import pytest

from oubliette.engines import docker as d
from oubliette.engines.base import exec_argv
from oubliette.engines.process import Result
from oubliette.errors import (
    AccessDeniedError,
    EngineError,
    EngineUnavailableError,
    ImageNotFoundError,
    RegistryUnreachableError,
)
from oubliette.spec import ContainerSpec
from tests.unit.helpers import recorded

IMAGE = "localhost:5000/oubliette-base:latest"
RT = d.DockerRuntime()


def spec(**overrides):
    values = dict(
        name="oubliette-proj_0123456789ab",
        image=IMAGE,
        labels={"oubliette.project": "proj_0123456789ab", "oubliette.type": "dev", "oubliette.image": IMAGE},
        mounts=[("/h/data/projects/proj_0123456789ab/workspace", "/workspace")],
        workdir="/workspace",
        env={"OUBLIETTE_PROJECT_ID": "proj_0123456789ab"},
        command=["sleep", "infinity"],
    )
    values.update(overrides)
    return ContainerSpec(**values)


def test_run_argv_puts_every_option_before_the_image():
    argv = d.run_argv("docker", spec())
    assert argv == [
        "docker", "run", "--detach", "--pull=never", "--name", "oubliette-proj_0123456789ab", "--init",
        "--label", "oubliette.project=proj_0123456789ab", "--label", "oubliette.type=dev",
        "--label", f"oubliette.image={IMAGE}",
        "--mount", "type=bind,source=/h/data/projects/proj_0123456789ab/workspace,target=/workspace",
        "--workdir", "/workspace", "--env", "OUBLIETTE_PROJECT_ID=proj_0123456789ab",
        IMAGE, "sleep", "infinity",
    ]
    assert "--init" not in d.run_argv("docker", spec(init=False))


def test_other_argv_builders():
    assert d.pull_argv("docker", IMAGE) == ["docker", "pull", IMAGE]
    assert d.image_id_argv("docker", IMAGE) == ["docker", "image", "inspect", "--format", "{{.Id}}", IMAGE]
    assert d.stop_argv("docker", ["a", "b"]) == ["docker", "stop", "a", "b"]
    assert d.remove_argv("docker", ["a"], force=True) == ["docker", "rm", "--force", "a"]
    assert d.remove_argv("docker", ["a", "b"]) == ["docker", "rm", "a", "b"]
    assert d.rename_argv("docker", "a", "b") == ["docker", "rename", "a", "b"]
    assert d.start_argv("docker", "a") == ["docker", "start", "a"]
    assert d.list_argv("docker", "oubliette.project")[:6] == [
        "docker", "ps", "--no-trunc", "--filter", "label=oubliette.project", "--format"]
    assert d.list_argv("docker", "oubliette.project", include_stopped=True)[2] == "--all"
    assert d.inspect_argv("docker", "n") == ["docker", "container", "inspect", "n"]
    assert exec_argv("docker", "n", ["sh"], tty=True, env={"A": "1"}, workdir="/w") == [
        "docker", "exec", "--interactive", "--tty", "--env", "A=1", "--workdir", "/w", "n", "sh"]
    assert exec_argv("docker", "n", ["true"], tty=False, interactive=False) == ["docker", "exec", "n", "true"]


def test_parse_ps_recorded_output_normalises_states():
    infos = d.parse_ps(recorded("docker/ps_all.stdout"))
    by_project = {i.project_id: i for i in infos}
    assert by_project["proj_0123456789ab"].status == "running"
    assert by_project["proj_abcdefabcdef"].status == "stopped"  # Docker said "created"
    assert by_project["proj_abcdefabcdef"].type == "base"
    assert all(i.image == IMAGE for i in infos)
    assert by_project["proj_0123456789ab"].name == "oubliette-proj_0123456789ab"


@pytest.mark.parametrize("state, expected", [
    ("running", "running"), ("exited", "stopped"), ("created", "stopped"), ("dead", "stopped"),
    ("paused", "paused"), ("restarting", "restarting"), ("", "unknown"),
])
def test_normalize_state(state, expected):
    assert d.normalize_state(state) == expected


def test_parse_inspect_recorded_output():
    info = d.parse_inspect(recorded("docker/container_inspect_running.json"))
    assert info.name == "t1" and info.status == "running" and info.project_id == "proj_aaaaaaaaaaaa"
    assert info.image_id.startswith("sha256:")
    assert d.parse_inspect(recorded("docker/container_inspect_missing.stdout")) is None


def failed(name, argv=("docker", "pull", IMAGE)):
    return Result(list(argv), 1, "", recorded(f"docker/{name}"))


@pytest.mark.parametrize("name, kind", [
    ("pull_missing_tag.stderr", ImageNotFoundError),
    ("pull_registry_down.stderr", RegistryUnreachableError),
    ("pull_dns.stderr", RegistryUnreachableError),
    ("pull_no_credentials.stderr", AccessDeniedError),
    ("daemon_down.stderr", EngineUnavailableError),
])
def test_classify_recorded_pull_errors(name, kind):
    error = RT.classify(failed(name), image=IMAGE)
    assert type(error) is kind
    assert error.hint
    if kind is not EngineUnavailableError:
        assert IMAGE in error.message
        assert f"docker pull {IMAGE}" in error.hint
    else:
        assert error.exit_code == 3 and "start Docker" in error.hint
    assert "Error response from daemon" not in error.message


def test_classify_hub_style_denied_and_unknown():
    hub = Result(["docker", "pull", "x"], 1, "",
                 "Error response from daemon: pull access denied for x, repository does not exist "
                 "or may require 'docker login': denied: requested access to the resource is denied\n")
    assert isinstance(RT.classify(hub, image="x"), AccessDeniedError)
    odd = Result(["docker", "pull", "x"], 1, "", "something else entirely\n")
    error = RT.classify(odd, image="x")
    assert type(error) is EngineError and "something else entirely" in error.message


def test_classify_non_pull_failure_names_the_command():
    error = RT.classify(Result(["docker", "run", "--detach"], 125, "", recorded("docker/run_name_conflict.stderr")))
    assert type(error) is EngineError
    assert error.message.startswith("`docker run --detach` failed: Conflict.")


# --- methods, with the engine faked --------------------------------------------------------


def test_image_id_present_absent_and_daemon_down(fp):
    rt = d.DockerRuntime()
    fp.register(d.image_id_argv("docker", IMAGE), stdout=recorded("docker/image_inspect_present.stdout"))
    assert rt.image_id(IMAGE).startswith("sha256:4e1e67")
    fp.register(d.image_id_argv("docker", IMAGE), returncode=1, stderr=recorded("docker/image_inspect_missing.stderr"))
    assert rt.image_exists(IMAGE) is False
    fp.register(d.image_id_argv("docker", IMAGE), returncode=1, stderr=recorded("docker/daemon_down.stderr"))
    with pytest.raises(EngineUnavailableError):
        rt.image_exists(IMAGE)


def test_pull_streams_engine_output_and_raises_classified(fp):
    rt = d.DockerRuntime()
    out, err = io.StringIO(), io.StringIO()
    fp.register(d.pull_argv("docker", IMAGE), stdout=recorded("docker/pull_new.stdout"))
    rt.pull(IMAGE, out=out, err=err)
    assert "Digest: sha256:" in out.getvalue() and "Status: Downloaded newer image" in out.getvalue()
    fp.register(d.pull_argv("docker", IMAGE), returncode=1, stderr=recorded("docker/pull_missing_tag.stderr"))
    with pytest.raises(ImageNotFoundError) as caught:
        rt.pull(IMAGE, out=out, err=err)
    assert "manifest unknown" in caught.value.message  # the engine's own words, restated once
    assert "Error response from daemon" not in err.getvalue()  # not shown twice


def test_missing_binary_is_engine_unavailable(tmp_path):
    rt = d.DockerRuntime(binary=str(tmp_path / "docker"))
    with pytest.raises(EngineUnavailableError) as caught:
        rt.list_containers("oubliette.project")
    assert caught.value.exit_code == 3 and "not found" in caught.value.message
    with pytest.raises(EngineUnavailableError):
        rt.pull(IMAGE, out=io.StringIO(), err=io.StringIO())
    assert rt.is_running() is False


def test_list_inspect_run_and_lifecycle_calls(fp):
    rt = d.DockerRuntime()
    fp.register(d.list_argv("docker", "oubliette.project"), stdout=recorded("docker/ps_running.stdout"))
    assert [i.project_id for i in rt.list_containers("oubliette.project")] == ["proj_0123456789ab"]
    fp.register(d.inspect_argv("docker", "nosuch"), returncode=1,
                stdout=recorded("docker/container_inspect_missing.stdout"),
                stderr=recorded("docker/container_inspect_missing.stderr"))
    assert rt.inspect("nosuch") is None
    fp.register(d.run_argv("docker", spec()), stdout="abc123\n")
    assert rt.run(spec()) == "abc123"
    fp.register(["docker", "stop", "a", "b"])
    fp.register(["docker", "rm", "a", "b"])
    fp.register(["docker", "rename", "a", "b"])
    rt.stop(["a", "b"])
    rt.remove(["a", "b"])
    rt.rename("a", "b")
    rt.stop([])  # nothing to do: no call
    assert fp.call_count(["docker", "stop", "a", "b"]) == 1


def test_run_failure_is_classified(fp):
    rt = d.DockerRuntime()
    fp.register(d.run_argv("docker", spec()), returncode=125, stderr=recorded("docker/run_name_conflict.stderr"))
    with pytest.raises(EngineError, match="already in use"):
        rt.run(spec())


@pytest.mark.parametrize("build", [
    lambda: d.pull_argv("docker", "--privileged"),
    lambda: d.image_id_argv("docker", "-v"),
    lambda: d.run_argv("docker", spec(name="--rm")),
    lambda: d.run_argv("docker", spec(image="-it")),
    lambda: d.stop_argv("docker", ["ok", "-t"]),
    lambda: d.remove_argv("docker", ["--all"]),
    lambda: d.rename_argv("docker", "a", "-b"),
    lambda: d.inspect_argv("docker", "a b"),
    lambda: exec_argv("docker", "--privileged", ["sh"], tty=False),
])
def test_argv_builders_refuse_values_that_could_become_flags(build):
    from oubliette.errors import InvalidReferenceError

    with pytest.raises(InvalidReferenceError):
        build()
