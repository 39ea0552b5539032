"""A container a person can live in (issue 22): a type with env, a port, an extra mount,
setup and limits, on every engine; per-session options; git identity; the current
directory's project; a kept workspace purged later."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

from tests.e2e.conftest import create, free_port, oubliette, write_config


def ok(*args: str, home, env: dict | None = None, input: str | None = None) -> str:
    result = oubliette(*args, home=home, env=env, input=input)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


def web_type(image: str, shared: Path, port: int, greeting: str = "hi", setup: list | None = None) -> dict:
    return {"image": image, "env": {"GREETING": greeting}, "ports": [f"{port}:8080"],
            "mounts": [f"{shared}:/shared:ro"], "cpus": 1, "memory": "256m",
            "setup": setup or ["echo set-up-ran > /etc/setup-done", "httpd -p 8080 -h /shared"]}


def test_a_type_with_env_port_mount_setup_and_limits(engine, home, images, tmp_path):
    image = images.repo("typed") + ":latest"
    images.push(image)
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "hello.txt").write_text("from the host\n")
    port = free_port()
    write_config(home, {"web": web_type(image, shared, port)})
    project_id = ok("project", "create", "my-web", "--type", "web", home=home).strip()
    name = f"oubliette-{project_id}"
    ok("container", "start", project_id, home=home)

    info = engine.inspect(name)
    assert info["HostConfig"]["NanoCpus"] == 10**9 and info["HostConfig"]["Memory"] == 256 * 2**20
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello.txt", timeout=10) as answer:
        assert answer.read() == b"from the host\n"
    seen = "sh -c 'echo $GREETING; cat /shared/hello.txt; cat /etc/setup-done; hostname'"
    assert ok("session", "start", project_id, "--", "sh", "-c", seen.split("'")[1], home=home) == \
        "hi\nfrom the host\nset-up-ran\nmy-web\n"
    logs = ok("container", "logs", project_id, home=home)
    assert "setup 1/2: echo set-up-ran > /etc/setup-done" in logs and "(exit 0)" in logs
    shown = json.loads(ok("project", "show", project_id, "--json", home=home))
    assert shown["status"] == "running" and shown["ports"][0]["url"] == f"http://127.0.0.1:{port}"
    (row,) = json.loads(ok("container", "list", "--json", home=home))
    assert row["project_name"] == "my-web" and row["ports"][0]["url"] == f"http://127.0.0.1:{port}"

    # setup's effect survives stop and start, and a refresh: every new container gets it
    ok("container", "stop", project_id, home=home)
    ok("container", "start", project_id, home=home)
    assert ok("session", "start", project_id, "--", "cat", "/etc/setup-done", home=home) == "set-up-ran\n"
    ok("container", "refresh", project_id, home=home)
    assert ok("session", "start", project_id, "--", "cat", "/etc/setup-done", home=home) == "set-up-ran\n"

    # a changed definition is noticed by --outdated and replaced by --if-changed
    before = engine.inspect(name)["Id"]
    ok("container", "refresh", project_id, "--if-changed", home=home)
    assert engine.inspect(name)["Id"] == before  # nothing changed: left running
    write_config(home, {"web": web_type(image, shared, port, greeting="hello")})
    assert ok("container", "list", "--outdated", "-q", home=home).split() == [project_id]
    ok("container", "refresh", project_id, "--if-changed", home=home)
    after = engine.inspect(name)["Id"]
    assert after != before
    assert ok("session", "start", project_id, "--", "sh", "-c", "echo $GREETING", home=home) == "hello\n"

    # a failing setup rolls back: the old container keeps running
    write_config(home, {"web": web_type(image, shared, port, setup=["echo about to fail", "exit 3"])})
    failed = oubliette("container", "refresh", project_id, home=home)
    assert failed.returncode != 0 and "setup step 2" in failed.stderr + failed.stdout, failed.stderr
    assert engine.inspect(name)["Id"] == after and engine.inspect(name)["State"]["Running"]
    assert "about to fail" in ok("container", "logs", project_id, home=home)


def test_sessions_take_options_anywhere_before_the_command_and_carry_git_identity(any_engine, home, images,
                                                                                   tmp_path):
    engine = any_engine  # on the cluster too
    image = images.repo("sess") + ":latest"
    images.push(image)
    engine.configure(home, {"dev": image})
    project_id = create(home, "sess", engine)
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text("[user]\n\tname = Ada Lovelace\n\temail = ada@example.com\n")
    env = {"GIT_CONFIG_GLOBAL": str(gitconfig)}
    assert ok("session", "start", project_id, "-e", "A=1", "-w", "/tmp", "--", "sh", "-c", "echo $A; pwd",
              home=home, env=env) == "1\n/tmp\n"
    assert ok("session", "start", "-e", "B=2", project_id, "--", "sh", "-c", "echo $B", home=home) == "2\n"
    assert ok("session", "start", project_id, "--root", "--", "id", "-u", home=home) == "0\n"
    identity = ok("session", "start", project_id, "--", "sh", "-c", "echo $GIT_AUTHOR_NAME / $GIT_COMMITTER_EMAIL",
                  home=home, env=env)
    assert identity == "Ada Lovelace / ada@example.com\n"
    engine.configure(home, {"dev": image}, identity={"git": False})
    assert ok("session", "start", project_id, "--", "sh", "-c", "echo x${GIT_AUTHOR_NAME}x",
              home=home, env=env) == "xx\n"


def test_the_current_directory_names_the_project_and_a_kept_workspace_can_be_purged(engine, home, images,
                                                                                    tmp_path, monkeypatch):
    image = images.repo("cwd") + ":latest"
    images.push(image)
    write_config(home, {"dev": image})
    mine = tmp_path / "mine"
    (mine / "src").mkdir(parents=True)
    project_id = ok("project", "create", "here", "--workspace", str(mine), home=home).strip()
    again = oubliette("project", "create", "twice", "--workspace", str(mine), home=home)
    assert again.returncode == 1 and "already the workspace of" in again.stderr
    monkeypatch.chdir(mine / "src")
    started = oubliette("container", "start", home=home)
    assert started.returncode == 0 and f"Using {project_id} (here)" in started.stderr, started.stderr
    assert ok("session", "start", "--", "sh", "-c", "echo $OUBLIETTE_PROJECT_ID", home=home) == f"{project_id}\n"
    monkeypatch.chdir(tmp_path)

    kept = create(home, "kept")
    workspace = home / "data" / "projects" / kept / "workspace"
    (workspace / "notes.txt").write_text("mine")
    ok("project", "delete", kept, home=home)
    assert workspace.exists()
    listed = json.loads(ok("project", "list", "--all", "--json", home=home))
    assert {"id": kept, "name": None, "status": "deleted", "workspace": str(workspace)} in listed
    ok("project", "delete", kept, "--purge", "--yes", home=home)
    assert not (home / "data" / "projects" / kept).exists()
    ok("project", "delete", project_id, home=home)  # a --workspace project leaves no empty directory behind
    assert not (home / "data" / "projects" / project_id).exists() and (mine / "src").is_dir()
    assert [e for e in os.listdir(home / "data" / "projects") if not e.startswith(".")] == []
