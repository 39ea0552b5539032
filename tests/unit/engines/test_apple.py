"""AppleContainerRuntime against both JSON generations and the CLI's error texts."""

from __future__ import annotations

import io

import pytest

from oubliette.engines import apple as a
from oubliette.engines.process import Result
from oubliette.errors import (
    AccessDeniedError,
    EngineUnavailableError,
    ImageNotFoundError,
    OublietteError,
    RegistryUnreachableError,
)
from oubliette.spec import ContainerSpec
from tests.unit.helpers import recorded

DEV = "ghcr.io/hyphagroup/oubliette-dev:latest"


def spec(**overrides):
    values = dict(name="oubliette-proj_0123456789ab", image=DEV,
                  labels={"oubliette.project": "proj_0123456789ab"},
                  mounts=[("/ws", "/workspace")], workdir="/workspace",
                  env={"OUBLIETTE_PROJECT_ID": "proj_0123456789ab"}, command=["sleep", "infinity"])
    values.update(overrides)
    return ContainerSpec(**values)


@pytest.mark.parametrize("text, version", [
    (recorded("apple/version_1.2.txt"), (1, 2, 2)),
    (recorded("apple/version_0.9.txt"), (0, 9, 0)),
    ("container version 0.10", (0, 10, 0)),
    ("garbage", (0, 0, 0)),
])
def test_parse_version_is_loose(text, version):
    assert a.parse_version(text) == version


@pytest.mark.parametrize("version, has_init", [((0, 9, 0), False), ((0, 10, 0), True), ((1, 2, 2), True)])
def test_init_flag_only_from_0_10(version, has_init):
    argv = a.run_argv("container", spec(), version)
    assert ("--init" in argv) is has_init
    assert argv[:5] == ["container", "run", "--detach", "--name", "oubliette-proj_0123456789ab"]
    image_at = argv.index(DEV)
    assert argv[image_at + 1:] == ["sleep", "infinity"]
    assert all(not arg.startswith("-") for arg in argv[image_at:])  # options before the image


def test_exec_argv():
    runtime = a.AppleContainerRuntime("container")
    runtime._version = (0, 3, 0)
    assert runtime.exec_argv("n", ["sh"], tty=True, workdir="/workspace") == [
        "container", "exec", "--interactive", "--tty", "--workdir", "/workspace", "n", "sh"]
    runtime._version = (0, 2, 9)
    with pytest.raises(OublietteError, match="before 0.3.0"):
        runtime.exec_argv("n", ["sh"], tty=False)


@pytest.mark.parametrize("ref, normalised", [
    ("alpine", "docker.io/library/alpine:latest"),
    ("alpine:3", "docker.io/library/alpine:3"),
    ("me/tool", "docker.io/me/tool:latest"),
    ("ghcr.io/hyphagroup/oubliette-dev:latest", "ghcr.io/hyphagroup/oubliette-dev:latest"),
    ("localhost:5000/x", "localhost:5000/x:latest"),
    ("localhost/x", "localhost/x:latest"),
    ("x@sha256:" + "a" * 64, "docker.io/library/x@sha256:" + "a" * 64),
])
def test_normalize_reference(ref, normalised):
    assert a.normalize_reference(ref) == normalised


@pytest.mark.parametrize("generation", ["0.9", "1.2"])
def test_list_both_generations_keeps_only_labelled_and_filters_state(generation):
    stdout = recorded(f"apple/list_{generation}.json")
    running = a.parse_list(stdout, "oubliette.project", include_stopped=False)
    assert [i.project_id for i in running] == ["proj_0123456789ab"]
    assert running[0].image == DEV and running[0].status == "running"
    assert running[0].image_id == "sha256:" + "1" * 64
    everything = a.parse_list(stdout, "oubliette.project", include_stopped=True)
    assert {i.project_id: i.status for i in everything} == {
        "proj_0123456789ab": "running", "proj_abcdefabcdef": "stopped"}
    assert all(i.name.startswith("oubliette-") for i in everything)  # buildkit and foreign ignored


@pytest.mark.parametrize("generation", ["0.12", "1.2"])
def test_image_digest_both_generations(generation):
    stdout = recorded(f"apple/image_list_{generation}.json")
    assert a.image_digest(stdout, DEV) == "sha256:" + "1" * 64
    assert a.image_digest(stdout, "alpine") == "sha256:" + "5" * 64  # normalised lookup
    assert a.image_digest(stdout, "ghcr.io/x/missing:1") is None


def result(stderr, argv=("container", "image", "pull", DEV)):
    return Result(list(argv), 1, "", stderr)


@pytest.mark.parametrize("name, kind", [
    ("pull_404.stderr", ImageNotFoundError),
    ("pull_401.stderr", AccessDeniedError),
    ("pull_refused.stderr", RegistryUnreachableError),
    ("xpc_error.stderr", EngineUnavailableError),
])
def test_classify_pull_errors(name, kind):
    error = a.AppleContainerRuntime().classify(result(recorded(f"apple/{name}")), image=DEV)
    assert type(error) is kind
    if kind is EngineUnavailableError:
        assert "container system start" in error.hint and error.exit_code == 3
    else:
        assert f"container image pull {DEV}" in error.hint


def test_image_exists_uses_exit_code_across_versions(fp):
    rt = a.AppleContainerRuntime("container")
    fp.register(["container", "image", "inspect", DEV], stdout="[{}]")
    assert rt.image_exists(DEV)
    for name in ("image_inspect_missing_1.2.stderr", "image_inspect_missing_0.8.stderr"):
        fp.register(["container", "image", "inspect", DEV], returncode=1, stderr=recorded(f"apple/{name}"))
        assert rt.image_exists(DEV) is False
    fp.register(["container", "image", "inspect", DEV], returncode=1, stderr=recorded("apple/xpc_error.stderr"))
    with pytest.raises(EngineUnavailableError):
        rt.image_exists(DEV)


def test_inspect_missing_in_both_generations(fp):
    rt = a.AppleContainerRuntime("container")
    fp.register(["container", "inspect", "x"], stdout="[]")  # up to 0.12
    assert rt.inspect("x") is None
    fp.register(["container", "inspect", "x"], returncode=1, stderr=recorded("apple/inspect_missing_1.2.stderr"))
    assert rt.inspect("x") is None


def test_run_asks_version_once_and_gates_init(fp):
    rt = a.AppleContainerRuntime("container")
    fp.register(["container", "--version"], stdout=recorded("apple/version_0.9.txt"))
    fp.register(a.run_argv("container", spec(), (0, 9, 0)), stdout="oubliette-proj_0123456789ab\n")
    fp.register(a.run_argv("container", spec(), (0, 9, 0)), stdout="oubliette-proj_0123456789ab\n")
    assert rt.run(spec()) == "oubliette-proj_0123456789ab"
    rt.run(spec())
    assert fp.call_count(["container", "--version"]) == 1


def test_pull_routes_progress_and_classifies(fp):
    rt = a.AppleContainerRuntime("container")
    err = io.StringIO()
    platform = a.host_platform()
    fp.register(["container", "image", "pull", "--platform", platform, DEV],
                stderr="Fetching image 10% (1 of 3 blobs)\n")
    rt.pull(DEV, out=io.StringIO(), err=err)
    assert "Fetching image" in err.getvalue()
    fp.register(["container", "image", "pull", "--platform", platform, DEV], returncode=1,
                stderr=recorded("apple/pull_404.stderr"))
    with pytest.raises(ImageNotFoundError):
        rt.pull(DEV, out=io.StringIO(), err=err)


def test_binary_from_environment():
    assert a.default_binary({"APPLE_CONTAINER_BINARY": "/opt/x/container"}) == "/opt/x/container"
    assert a.default_binary({}) == "container"


@pytest.mark.parametrize("machine, platform", [("arm64", "linux/arm64"), ("aarch64", "linux/arm64"),
                                               ("x86_64", "linux/amd64"), ("AMD64", "linux/amd64")])
def test_pulls_ask_for_the_hosts_platform_only(machine, platform):
    assert a.host_platform(machine) == platform
    assert a.pull_argv("container", DEV, platform) == ["container", "image", "pull", "--platform", platform, DEV]


def test_tag_and_untag_argv():
    assert a.tag_argv("container", DEV, "registry.example/x:kept") == [
        "container", "image", "tag", DEV, "registry.example/x:kept"]
    assert a.untag_argv("container", "registry.example/x:kept") == ["container", "image", "delete",
                                                                    "registry.example/x:kept"]


def test_an_xpc_timeout_is_the_service_not_running():
    result = Result(["container", "list"], 1, "",
                    'Error: internalError: "XPC timeout for request to com.apple.container.apiserver/containerList"\n')
    error = a.AppleContainerRuntime("container").classify(result)
    assert isinstance(error, EngineUnavailableError) and error.exit_code == 3
    assert "container system start" in error.hint


def test_without_system_status_0_1_0_is_probed_with_list(fp):
    rt = a.AppleContainerRuntime("container")
    fp.register(["container", "system", "status"], returncode=64,
                stderr="Error: Unexpected argument 'status'\nUsage: container system <subcommand>\n")
    fp.register(["container", "list", "--format", "json"], stdout="[]\n")
    assert rt.is_running()
    fp.register(["container", "system", "status"], returncode=64, stderr="Error: Unexpected argument 'status'\n")
    fp.register(["container", "list", "--format", "json"], returncode=1, stderr=recorded("apple/xpc_error.stderr"))
    assert not rt.is_running()
