"""Damaged, hostile or unwritable homes: an `Error:`/`Hint:` pair or correct behaviour,
never a traceback, and no file lost."""

from __future__ import annotations

import errno
import json
import os
import stat

import pytest

from oubliette.store import files
from tests.unit.conftest import DEV
from tests.unit.helpers import assert_clean_error, create, write_config


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


# --- 3: private files whatever the umask ------------------------------------------------------


def test_everything_in_the_home_is_private_under_umask_000(run, docker, oubliette_home):
    old = os.umask(0)
    try:
        assert run("init", "--no-pull").exit_code == 0
        project_id = create(run, "web")
        assert run("container", "start", project_id).exit_code == 0
        docker.exec_codes = [0]
        assert run("session", "start", project_id, "--", "true").exit_code == 0
    finally:
        os.umask(old)
    for path in [oubliette_home, *oubliette_home.rglob("*")]:
        expected = 0o700 if path.is_dir() else 0o600
        assert mode(path) == expected, (path, oct(mode(path)))


def test_a_workspace_replaced_by_a_symlink_is_refused(run, docker, oubliette_home, tmp_path):
    project_id = create(run, "web")
    workspace = oubliette_home / "data/projects" / project_id / "workspace"
    workspace.rmdir()
    (tmp_path / "secret").mkdir()
    workspace.symlink_to(tmp_path / "secret")
    result = run("container", "start", project_id)
    assert_clean_error(result, 1, "symbolic link")
    assert docker.calls("run") == [] and (tmp_path / "secret").is_dir()


@pytest.mark.parametrize("kind", ["symlink", "directory"])
def test_an_admin_token_that_is_a_symlink_or_a_directory_is_refused(run, oubliette_home, tmp_path, kind):
    token = oubliette_home / "data" / "admin.token"
    token.parent.mkdir(parents=True)
    target = tmp_path / "target"
    target.write_text("not a token\n")
    os.chmod(target, 0o644)
    if kind == "symlink":
        token.symlink_to(target)
    else:
        token.mkdir()
    result = run("init", "--no-pull")
    assert_clean_error(result, 1, "admin token", "symbolic link" if kind == "symlink" else "not a regular file")
    assert mode(target) == 0o644  # init never chmods what a link points to


def test_read_token_refuses_a_loose_mode_and_accepts_a_private_one(oubliette_home, run):
    from oubliette.errors import OublietteError
    from oubliette.store.home import read_token

    assert run("init", "--no-pull").exit_code == 0
    token = oubliette_home / "data" / "admin.token"
    assert read_token(oubliette_home) == token.read_text().strip()
    os.chmod(token, 0o644)
    with pytest.raises(OublietteError, match="readable by others"):
        read_token(oubliette_home)
    assert run("init", "--no-pull").exit_code == 0  # init tightens it
    assert mode(token) == 0o600


# --- 4, 5, 6: damaged records stay local ----------------------------------------------------


def test_a_session_record_can_never_name_a_path(run, docker, oubliette_home, tmp_path):
    project_id = create(run, "web")
    victim = tmp_path / "victim.json"
    victim.write_text("{}")
    sessions = oubliette_home / "data/projects" / project_id / "sessions"
    sessions.mkdir()
    record = {"id": os.path.relpath(tmp_path / "victim", sessions), "project_id": project_id, "pid": 1,
              "pid_started": "x", "command": [], "started_at": ""}
    (sessions / "sess_0000abcd.json").write_text(json.dumps(record))
    for _ in range(2):
        result = run("session", "list")
        assert result.exit_code == 0 and "Traceback" not in result.output
        assert "damaged" in result.stderr
    assert victim.exists()


@pytest.mark.parametrize("pid", ["abc", 1.5, None, 2**70, True, -1])
def test_wrong_typed_session_records_are_reported_not_tracebacks(run, docker, oubliette_home, pid):
    project_id = create(run, "web")
    assert run("container", "start", project_id).exit_code == 0
    sessions = oubliette_home / "data/projects" / project_id / "sessions"
    sessions.mkdir()
    (sessions / "sess_0000abcd.json").write_text(json.dumps(
        {"id": "sess_0000abcd", "project_id": project_id, "pid": pid, "pid_started": "1", "command": [],
         "started_at": ""}))
    for args in (("session", "list"), ("container", "refresh", project_id), ("project", "show", project_id),
                 ("project", "delete", project_id)):
        result = run(*args)
        assert "Traceback" not in result.output and result.exception is None or isinstance(
            result.exception, SystemExit), (args, result.output)
        assert result.exit_code == 0, (args, result.output)


def test_one_truncated_metadata_file_affects_its_own_project_only(run, docker, oubliette_home):
    healthy = create(run, "healthy")
    broken = create(run, "broken")
    metadata = oubliette_home / "data/projects" / broken / "metadata.json"
    metadata.write_text(metadata.read_text()[:20])
    (oubliette_home / "data/projects" / broken / "workspace" / "keep.txt").write_text("work")

    listed = run("project", "list", "--json")
    assert listed.exit_code == 0
    assert [p["id"] for p in json.loads(listed.stdout)] == [healthy]
    assert broken in listed.stderr and "damaged" in listed.stderr
    assert run("project", "show", healthy[:8]).exit_code == 0  # prefixes of healthy projects resolve
    shown = run("project", "show", broken)
    assert_clean_error(shown, 1, "damaged")
    assert "workspace/ beside it is not touched" in shown.stderr and "delete the project directory" not in shown.stderr
    assert (oubliette_home / "data/projects" / broken / "workspace" / "keep.txt").read_text() == "work"


@pytest.mark.parametrize("field,value", [("type", []), ("created_at", 5), ("name", None), ("id", "../x"),
                                         ("type", "Not A Type")])
def test_wrong_typed_metadata_is_a_clean_error(run, docker, oubliette_home, field, value):
    project_id = create(run, "web")
    metadata = oubliette_home / "data/projects" / project_id / "metadata.json"
    data = json.loads(metadata.read_text())
    data[field] = value
    metadata.write_text(json.dumps(data))
    assert run("project", "list").exit_code == 0
    for args in (("project", "show", project_id), ("container", "refresh", project_id),
                 ("project", "delete", project_id)):
        assert_clean_error(run(*args), 1, "damaged")
    assert metadata.exists()


# --- 7, 8: read-only and full disks -------------------------------------------------------------


def test_a_read_only_home_still_lists_and_stops(run, docker, oubliette_home, monkeypatch):
    project_id = create(run, "web")
    assert run("container", "start", project_id).exit_code == 0
    real_open = os.open
    home = str(oubliette_home)

    def read_only_open(path, flags, *args, **kwargs):
        if str(path).startswith(home) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only_open)
    listed = run("container", "list", "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout)[0]["project_id"] == project_id
    assert run("project", "list").exit_code == 0
    stopped = run("container", "stop", project_id)
    assert stopped.exit_code == 0, stopped.output
    assert f"oubliette-{project_id}" not in docker.containers
    assert_clean_error(run("project", "create", "other"), 1, "Read-only")


def test_a_full_disk_is_an_error_and_leaves_nothing_half_written(run, docker, oubliette_home, monkeypatch):
    assert run("init", "--no-pull").exit_code == 0
    config = oubliette_home / "config" / "oubliette.jsonc"
    before = config.read_text()

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", no_space)
    result = run("init", "--no-pull", "--force")
    assert_clean_error(result, 1, "No space left")
    assert config.read_text() == before and sorted(p.name for p in config.parent.iterdir()) == ["oubliette.jsonc"]
    assert_clean_error(run("project", "create", "web"), 1, "No space left")
    assert list((oubliette_home / "data/projects").iterdir()) == [] or all(
        not (p / "metadata.json").exists() for p in (oubliette_home / "data/projects").iterdir())


def test_init_force_twice_keeps_every_earlier_config(run, oubliette_home):
    config = oubliette_home / "config" / "oubliette.jsonc"
    write_config(oubliette_home, '{"containers": {"mine": "my/img:1"}}')
    assert run("init", "--no-pull", "--force").exit_code == 0
    assert run("init", "--no-pull", "--force").exit_code == 0
    backups = sorted(p.name for p in config.parent.iterdir() if p.name != config.name)
    assert backups == ["oubliette.jsonc.bak", "oubliette.jsonc.bak.1"]
    assert (config.parent / "oubliette.jsonc.bak").read_text() == '{"containers": {"mine": "my/img:1"}}'


def test_a_missing_config_with_a_backup_beside_it_is_never_replaced_by_defaults(run, docker, oubliette_home):
    write_config(oubliette_home, {"containers": {"dev": DEV}})
    assert run("init", "--no-pull", "--force").exit_code == 0
    (oubliette_home / "config" / "oubliette.jsonc").unlink()
    result = run("project", "options")
    assert_clean_error(result, 1, "missing", "backup")
    assert "oubliette.jsonc.bak" in result.stderr


# --- 9, 10, 11: hostile config and names -----------------------------------------------------


@pytest.mark.parametrize("text", ['{"x": ' + "[" * 60 + "]" * 60 + ", // json5\n}",
                                  '{"containers": {}, "ignored": ' + "[" * 1000 + "]" * 1000 + "}",
                                  "{" + '"a":{' * 5000 + "}" * 5001])
def test_a_deeply_nested_config_is_an_error_naming_the_file(run, docker, oubliette_home, text):
    path = write_config(oubliette_home, text)
    result = run("project", "list")
    if result.exit_code == 0:  # shallow enough to read: fine
        return
    assert_clean_error(result, 1, str(path), "nested too deeply")


@pytest.mark.parametrize("image", ["reg.example/app:latést", "reg.example/app:١٢", "reg.example/App:1",
                                   "Team/app:1"])
def test_image_references_outside_the_grammar_are_config_errors(run, docker, oubliette_home, image):
    write_config(oubliette_home, {"containers": {"dev": image}})
    result = run("project", "create", "x")
    assert_clean_error(result, 1, "containers.dev")
    assert "network" not in result.stderr


@pytest.mark.parametrize("name", ["bad\x7fname", "c1\x85control", "bidi\u202eevil", "zero\u200bwidth", "line\u2028sep"])
def test_project_names_must_be_printable(run, docker, name):
    result = run("project", "create", name)
    assert_clean_error(result, 1, "invalid project name", "unprintable")
    assert "Hint:" in result.stderr
