"""`oubliette init` end to end through Click, with every engine call faked."""

from __future__ import annotations

import re
import stat

import pytest
from click.testing import CliRunner

from oubliette.cli.main import cli
from oubliette.engines.docker import pull_argv
from tests.unit.helpers import assert_clean_error, recorded, write_config

TOKEN_RE = re.compile(r"oub_[0-9a-f]{64}")


@pytest.fixture
def run():
    runner = CliRunner()
    return lambda *args, **kw: runner.invoke(cli, list(args), **kw)


def test_fresh_init_creates_layout_config_and_secret_token(run, oubliette_home):
    result = run("init", "--no-pull")
    assert result.exit_code == 0, result.output
    for sub in ("config", "data/projects", "data/logs"):
        assert (oubliette_home / sub).is_dir()
    token_file = oubliette_home / "data" / "admin.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    assert TOKEN_RE.fullmatch(token)
    assert result.stdout.count(token) == 1  # shown once
    config = (oubliette_home / "config" / "oubliette.jsonc").read_text()
    assert "ghcr.io/hyphagroup/oubliette-dev:latest" in config and "//" in config


def test_second_run_keeps_config_and_token(run, oubliette_home):
    run("init", "--no-pull")
    config = (oubliette_home / "config" / "oubliette.jsonc").read_bytes()
    token = (oubliette_home / "data" / "admin.token").read_bytes()
    result = run("init", "--no-pull")
    assert result.exit_code == 0
    assert "Kept existing config" in result.stdout and "Kept existing admin token" in result.stdout
    assert not TOKEN_RE.search(result.stdout)
    assert (oubliette_home / "config" / "oubliette.jsonc").read_bytes() == config
    assert (oubliette_home / "data" / "admin.token").read_bytes() == token


def test_force_backs_up_config_and_keeps_token(run, oubliette_home):
    run("init", "--no-pull")
    token = (oubliette_home / "data" / "admin.token").read_bytes()
    write_config(oubliette_home, '{"containers": {"mine": "my/img:1"}}')
    result = run("init", "--no-pull", "--force")
    assert result.exit_code == 0
    assert (oubliette_home / "config" / "oubliette.jsonc.bak").read_text() == '{"containers": {"mine": "my/img:1"}}'
    assert "ghcr.io/hyphagroup/oubliette-base:latest" in (oubliette_home / "config" / "oubliette.jsonc").read_text()
    assert (oubliette_home / "data" / "admin.token").read_bytes() == token


def test_init_home_option_wins(run, tmp_path):
    result = run("init", "--no-pull", "--home", str(tmp_path / "elsewhere"))
    assert result.exit_code == 0
    assert (tmp_path / "elsewhere" / "data" / "admin.token").exists()


def test_pulls_each_distinct_image_once_in_sorted_type_order(run, oubliette_home, fp):
    write_config(oubliette_home, {"containers": {"zeta": "reg.example/z:1", "alpha": "reg.example/a:1",
                                                 "beta": "reg.example/z:1"}})
    for image in ("reg.example/a:1", "reg.example/z:1"):
        fp.register(pull_argv("docker", image), stdout=recorded("docker/pull_new.stdout"))
    result = run("--runtime", "docker", "init")
    assert result.exit_code == 0, result.output
    pulls = [call[2] for call in fp.calls]
    assert pulls == ["reg.example/a:1", "reg.example/z:1"]
    assert "Pulling reg.example/a:1..." in result.stdout
    assert "Digest: sha256:" in result.stdout and "Status: Downloaded newer image" in result.stdout


def test_a_cluster_whose_nodes_this_user_may_not_list_is_told_they_pull_at_start(run, oubliette_home, fp):
    write_config(oubliette_home, {"containers": {"a": "reg.example/a:1"},
                                  "engines": {"cluster": {"runtime": "kubernetes", "namespace": "team"}}})
    fp.register(pull_argv("docker", "reg.example/a:1"), stdout=recorded("docker/pull_new.stdout"))
    fp.register(["kubectl", "--request-timeout=30s", "--namespace", "team", "get", "nodes", "-o", "json"],
                returncode=1, stderr='Error from server (Forbidden): nodes is forbidden: User "u" cannot list '
                                     'resource "nodes" in API group "" at the cluster scope\n')
    result = run("--runtime", "docker", "init")
    assert result.exit_code == 0, result.output
    assert [call[2] for call in fp.calls][0] == "reg.example/a:1"  # the default engine pulls; the cluster's nodes:
    assert "Engine cluster: warming reg.example/a:1 on the cluster's nodes..." in result.stdout
    assert "this user may not list the cluster's nodes: each node pulls it when a project's pod starts" \
        in result.stdout


def test_failed_pull_is_a_warning_with_the_manual_command(run, oubliette_home, fp):
    write_config(oubliette_home, {"containers": {"a": "localhost:5000/a:v1", "b": "localhost:5000/b:v1"}})
    fp.register(pull_argv("docker", "localhost:5000/a:v1"), returncode=1,
                stderr=recorded("docker/pull_missing_tag.stderr"))
    fp.register(pull_argv("docker", "localhost:5000/b:v1"), stdout=recorded("docker/pull_new.stdout"))
    result = run("--runtime", "docker", "init")
    assert result.exit_code == 0
    assert "Warning: image not found: localhost:5000/a:v1" in result.stderr
    assert "docker pull localhost:5000/a:v1" in result.stderr
    assert len(fp.calls) == 2  # carried on to the next image
    assert "Traceback" not in result.output


def test_daemon_down_warns_once_and_lists_manual_pulls(run, oubliette_home, fp):
    write_config(oubliette_home, {"containers": {"a": "r.example/a:1", "b": "r.example/b:1"}})
    fp.register(pull_argv("docker", "r.example/a:1"), returncode=1, stderr=recorded("docker/daemon_down.stderr"))
    result = run("--runtime", "docker", "init")
    assert result.exit_code == 0
    assert result.stderr.count("Warning:") == 1 and "cannot be reached" in result.stderr
    assert "docker pull r.example/a:1" in result.stderr and "docker pull r.example/b:1" in result.stderr
    assert "scripts/build.sh" in result.stderr and "OUBLIETTE_DEV=1 oubliette init --dev" in result.stderr
    assert len(fp.calls) == 1


def test_no_engine_at_all_is_a_warning_and_exit_0(run, oubliette_home, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = run("init")
    assert result.exit_code == 0
    assert "Warning: cannot pull container images: no container engine found" in result.stderr
    assert "docker pull ghcr.io/hyphagroup/oubliette-dev:latest" in result.stderr
    assert (oubliette_home / "data" / "admin.token").exists()


def test_dev_mode_writes_local_names_and_never_pulls(run, oubliette_home, monkeypatch, fp):
    monkeypatch.setenv("OUBLIETTE_DEV", "1")
    result = run("--runtime", "docker", "init")
    assert result.exit_code == 0
    assert '"dev": "oubliette-dev:latest"' in (oubliette_home / "config" / "oubliette.jsonc").read_text()
    assert "scripts/build.sh" in result.stdout
    assert len(fp.calls) == 0


@pytest.mark.parametrize("config, fragment", [
    ('{"containers": {"dev": "x",,}}', "config syntax error at"),
    ('{"containers": {"dev": "-x"}}', "containers.dev"),
    ('{"containers": {"Dev": "x"}}', "containers.Dev"),
    ('{"containers": "dev"}', "containers: expected an object"),
])
def test_bad_config_is_one_clear_error_exit_1(run, oubliette_home, config, fragment):
    write_config(oubliette_home, config)
    result = run("init")
    assert_clean_error(result, 1, fragment)
    assert "Hint:" in result.stderr


def test_usage_errors_are_clicks_exit_2(run):
    assert run("init", "--bogus").exit_code == 2
    assert run("--runtime", "lxc", "init").exit_code == 2


def test_version_and_help(run):
    from oubliette import __version__

    assert run("--version").stdout.strip() == f"oubliette {__version__}"
    assert "init" in run("-h").stdout


def test_init_dev_switches_the_config_to_the_local_images_and_doctor_knows_dev_mode(run, oubliette_home,
                                                                                      monkeypatch, docker):
    assert run("init", "--no-pull").exit_code == 0  # keeps the fixture's registry config
    monkeypatch.setenv("OUBLIETTE_DEV", "1")
    kept = run("init")
    assert kept.exit_code == 0 and "`oubliette init --dev` rewrites it" in kept.stderr
    switched = run("init", "--dev")
    assert switched.exit_code == 0, switched.output
    text = (oubliette_home / "config" / "oubliette.jsonc").read_text()
    assert '"dev": "oubliette-dev:latest"' in text and "registry.example/oubliette" not in text
    assert list((oubliette_home / "config").glob("oubliette.jsonc.bak*"))
    doctor = run("doctor")
    assert "not built yet (dev mode never pulls)" in doctor.output and "scripts/build.sh" in doctor.output
