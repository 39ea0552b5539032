"""PodmanRuntime: argv builders, parsing and error classification from texts recorded off
podman 4.3 (tests/unit/recorded/podman), detection over every registered engine, and the
engine boundary (unreadable output, timeouts, debug lines)."""

from __future__ import annotations

import pytest

from oubliette.engines import podman as p
from oubliette.engines import process
from oubliette.engines.detect import detect_runtime
from oubliette.engines.docker import DockerRuntime
from oubliette.engines.kinds import ENGINES, PROBE_ORDER, RUNTIME_CHOICES
from oubliette.errors import (
    EngineError,
    EngineOutputError,
    EngineUnavailableError,
    ImageNotFoundError,
    OublietteError,
    RegistryUnreachableError,
)
from tests.unit.engines.test_detect import fake_path
from tests.unit.engines.test_docker import IMAGE, spec
from tests.unit.helpers import recorded

RT = p.PodmanRuntime()


def test_run_argv_adds_init_path_and_keep_id_before_the_image():
    plain = p.run_argv("podman", spec())
    assert plain[:7] == ["podman", "run", "--detach", "--pull=never", "--name", "oubliette-proj_0123456789ab", "--init"]
    assert plain[-3:] == [IMAGE, "sleep", "infinity"] and "--init-path" not in plain
    argv = p.run_argv("podman", spec(), init_path="/usr/bin/tini", rootless=True)
    assert argv[-6:] == ["--init-path", "/usr/bin/tini", "--userns=keep-id", IMAGE, "sleep", "infinity"]
    assert "--init-path" not in p.run_argv("podman", spec(init=False), init_path="/usr/bin/tini")


def test_list_argv_uses_json_not_templates():
    assert p.list_argv("podman", "oubliette.project", include_stopped=True) == [
        "podman", "ps", "--all", "--filter", "label=oubliette.project", "--format", "json"]


def test_init_path_prefers_catatonit_then_tini(monkeypatch):
    monkeypatch.setattr(p.sys, "platform", "linux")
    monkeypatch.delenv("CONTAINER_HOST", raising=False)
    present: set[str] = set()
    monkeypatch.setattr(p.os.path, "exists", lambda path: path in present)
    assert RT.init_path() is None  # neither: plain --init, and podman's own error if it fails
    present.add("/usr/bin/tini")
    assert RT.init_path() == "/usr/bin/tini"
    present.add("/usr/libexec/podman/catatonit")
    assert RT.init_path() is None
    monkeypatch.setenv("CONTAINER_HOST", "ssh://box")
    present.discard("/usr/libexec/podman/catatonit")
    assert RT.init_path() is None  # a remote podman's init is not ours to look for


def test_rootless_podman_keeps_the_host_user(monkeypatch):
    monkeypatch.setattr(p.sys, "platform", "linux")
    monkeypatch.delenv("CONTAINER_HOST", raising=False)
    monkeypatch.setattr(p.os, "geteuid", lambda: 1000)
    assert "--userns=keep-id" in RT.run_argv(spec())
    monkeypatch.setattr(p.os, "geteuid", lambda: 0)
    assert "--userns=keep-id" not in RT.run_argv(spec())


def test_parse_ps_reads_the_recorded_json():
    infos = p.parse_ps(recorded("podman/ps_all.json"))
    assert [(i.name, i.status, i.project_id) for i in infos] == [
        ("oubliette-proj_0123456789ab", "running", "proj_0123456789ab"),
        ("oubliette-proj_abcdefabcdef", "stopped", "proj_abcdefabcdef")]
    assert infos[0].labels["oubliette.home"] == "0123456789abcdef"
    assert infos[0].image == "localhost:5055/pbb:v1" and infos[0].image_id.startswith("sha256:")
    assert p.parse_ps("[]") == [] and p.parse_ps("null") == []


def test_parse_inspect_reads_the_recorded_json():
    info = p.parse_inspect(recorded("podman/container_inspect_running.json"))
    assert info.name == "oubliette-proj_0123456789ab" and info.running
    assert info.image_id.startswith("sha256:") and len(info.image_id) == 71
    assert info.mounts == ("/tmp/ws",)


def test_image_ids_and_missing_things(fp):
    fp.register(p.image_id_argv("podman", IMAGE), stdout=recorded("podman/image_inspect_present.stdout"))
    assert RT.image_id(IMAGE).startswith("sha256:")
    fp.register(p.image_id_argv("podman", IMAGE), returncode=125,
                stderr=recorded("podman/image_inspect_missing.stderr"))
    assert RT.image_id(IMAGE) is None
    fp.register(["podman", "container", "inspect", "x"], returncode=125,
                stdout=recorded("podman/container_inspect_missing.stdout"),
                stderr=recorded("podman/container_inspect_missing.stderr"))
    assert RT.inspect("x") is None


@pytest.mark.parametrize("stderr, error", [
    ("podman/pull_missing_tag.stderr", ImageNotFoundError),
    ("podman/pull_registry_down.stderr", RegistryUnreachableError),
    ("podman/service_down.stderr", EngineUnavailableError),
])
def test_recorded_pull_failures_are_classified(stderr, error):
    result = process.Result(["podman", "pull", IMAGE], 125, "", recorded(stderr))
    classified = RT.classify(result, image=IMAGE)
    assert type(classified) is error
    assert classified.argv == ["podman", "pull", IMAGE] and classified.returncode == 125
    assert classified.stderr == recorded(stderr)
    if error is EngineUnavailableError:
        assert classified.exit_code == 3 and "podman system connection list" in classified.hint
    else:
        assert "podman pull" in classified.hint


def test_a_missing_init_is_a_clear_error_with_what_to_install(fp, monkeypatch):
    monkeypatch.setattr(RT, "init_path", lambda: None)
    fp.register(p.run_argv("podman", spec()), returncode=127, stderr=recorded("podman/init_missing.stderr"))
    with pytest.raises(OublietteError) as caught:
        RT.run(spec())
    assert "no init for --init" in caught.value.message and "catatonit" in caught.value.hint


def test_the_service_down_on_a_listing_exits_3(fp):
    fp.register(p.list_argv("podman", "oubliette.project"), returncode=125,
                stderr=recorded("podman/service_down.stderr"))
    with pytest.raises(EngineUnavailableError) as caught:
        RT.list_containers("oubliette.project")
    assert caught.value.exit_code == 3


# --- the registry and auto-detection ----------------------------------------------------------


def test_the_registry_is_the_one_list_of_engines():
    from oubliette.store.config import RUNTIME_CHOICES as config_choices

    local = [name for name, kind in ENGINES.items() if not kind.cluster]  # a cluster is only ever named
    assert RUNTIME_CHOICES == ("auto", *local) == config_choices
    assert set(PROBE_ORDER) == set(local)
    for name in local:
        assert detect_runtime(name, {}).name == name


def test_only_podman_installed_is_used_without_a_probe(tmp_path, monkeypatch, fp):
    env = fake_path(tmp_path, "podman")
    monkeypatch.setenv("PATH", env["PATH"])
    notes = []
    assert detect_runtime("auto", env, note=notes.append).name == "podman"
    assert len(fp.calls) == 0 and notes == []


def test_docker_and_podman_installed_probe_docker_first(tmp_path, monkeypatch, fp):
    env = fake_path(tmp_path, "docker", "podman")
    monkeypatch.setenv("PATH", env["PATH"])
    fp.register(["docker", "version", "--format", "{{.Server.Version}}"], returncode=1,
                stderr=recorded("docker/daemon_down.stderr"))
    fp.register(["podman", "version", "--format", "{{.Server.Version}}"], stdout="4.3.1\n")
    notes = []
    assert detect_runtime("auto", env, note=notes.append).name == "podman"
    assert notes and "Podman" in notes[0] and "Docker did not answer" in notes[0]


# --- the engine boundary ----------------------------------------------------------------------


@pytest.mark.parametrize("runtime, argv, stdout", [
    (DockerRuntime(), ["docker", "ps", "--no-trunc", "--filter", "label=oubliette.project"], "Up 7 seconds ago\n"),
    (p.PodmanRuntime(), p.list_argv("podman", "oubliette.project"), '{"not": "an array"'),
])
def test_unreadable_engine_output_is_an_error_naming_the_command(fp, runtime, argv, stdout):
    fp.register([*argv, fp.any()], stdout=stdout)
    with pytest.raises(EngineOutputError) as caught:
        runtime.list_containers("oubliette.project")
    assert f"`{' '.join(argv[:3])}` printed output oubliette cannot read" in caught.value.message
    assert caught.value.argv[:3] == argv[:3] and "OUBLIETTE_DEBUG=1" in caught.value.hint


def test_a_quick_call_that_hangs_times_out_with_exit_3(monkeypatch):
    def hang(argv, timeout=None, env=None, on_spawn=None, stdin=None):
        raise process.TimedOut(timeout, argv)

    monkeypatch.setattr(process, "capture", hang)
    with pytest.raises(EngineUnavailableError) as caught:
        DockerRuntime().list_containers("oubliette.project")
    assert "did not answer within 60 s" in caught.value.message and caught.value.exit_code == 3


def test_debug_prints_every_engine_call_with_its_duration(monkeypatch, capfd):
    monkeypatch.setenv("OUBLIETTE_DEBUG", "1")
    process.capture(["sh", "-c", "exit 3"])
    err = capfd.readouterr().err
    assert "[oubliette] sh -c 'exit 3'" in err and " s, exit 3)" in err


def test_engine_errors_keep_the_call(fp):
    fp.register(["docker", "start", "x"], returncode=1, stderr="Error response from daemon: boom\n")
    with pytest.raises(EngineError) as caught:
        DockerRuntime().start("x")
    assert caught.value.argv == ["docker", "start", "x"] and caught.value.returncode == 1
    assert "boom" in caught.value.stderr


def test_volume_create_of_an_existing_volume_and_rm_of_a_missing_one(fp):
    """podman 4.3 has no `volume create --ignore`: an existing volume is its error text."""
    runtime = p.PodmanRuntime()
    name = "oubliette-proj_0123456789ab-workspace"
    create = ["podman", "volume", "create", "--label", "oubliette.project=proj_0123456789ab", name]
    fp.register(create, returncode=125, stderr=recorded("podman/volume_create_exists.stderr"))
    runtime.create_volume(name, {"oubliette.project": "proj_0123456789ab"})
    fp.register(["podman", "volume", "rm", name], returncode=1, stderr=recorded("podman/volume_rm_missing.stderr"))
    assert runtime.remove_volume(name) is False
    fp.register(create, returncode=125, stderr="Error: creating volume: no space left on device\n")
    with pytest.raises(EngineError):
        runtime.create_volume(name, {"oubliette.project": "proj_0123456789ab"})
