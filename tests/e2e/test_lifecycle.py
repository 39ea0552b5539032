"""Projects, containers, refresh and sessions: each scenario once per real engine.

Every outcome is checked with the engine's raw `inspect` / `ps --filter`: container
ids, image ids against the image just pushed, and container counts.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest

from tests.e2e.conftest import Engine, oubliette, scenario_engine, write_config


def project_containers(engine: Engine, project_id: str) -> list[str]:
    return engine.labelled(f"oubliette.project={project_id}")


def create(home, type_name: str, engine: Engine | None = None) -> str:
    result = oubliette("project", "create", f"p-{type_name}-{uuid.uuid4().hex[:6]}", "--type", type_name,
                       *(engine.create_args if engine else ()), home=home)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def start(engine: Engine, home, project_id: str) -> dict:
    result = oubliette("container", "start", project_id, home=home)
    assert result.returncode == 0, result.stderr
    info = engine.inspect(f"oubliette-{project_id}")
    assert info["State"]["Running"]
    return info


@pytest.fixture
def foreign(request):
    """A container (a pod) oubliette did not create, on an image of its own."""
    name = f"foreign-{uuid.uuid4().hex[:8]}"
    yield name
    scenario_engine(request).remove(name)


def test_two_projects_on_two_types_are_listed(any_engine, home, images):
    engine = any_engine  # on the cluster too
    base = images.push(images.repo("base") + ":latest")
    dev = images.push(images.repo("dev") + ":latest")
    engine.configure(home, {"base": base.ref, "dev": dev.ref})
    first, second = create(home, "base", engine), create(home, "dev", engine)
    one, two = start(engine, home, first), start(engine, home, second)
    assert one["Image"] == engine.image_of(base) and two["Image"] == engine.image_of(dev)
    assert one["Config"]["Labels"] == {"oubliette.project": first, "oubliette.type": "base",
                                       "oubliette.image": base.ref,
                                       "oubliette.home": (home / "data/home.id").read_text().strip()}
    assert one["Config"]["WorkingDir"] == "/workspace"
    assert f"OUBLIETTE_PROJECT_ID={first}" in one["Config"]["Env"]
    if engine.name == "cluster":  # the pause process is PID 1 (an init); the workspace, the project's claim
        spec = one["Pod"]["spec"]
        assert spec["shareProcessNamespace"] is True
        (volume,) = [v for v in spec["volumes"] if "persistentVolumeClaim" in v]  # beside the account's token
        mounts = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == volume["name"]]
        assert [m["mountPath"] for m in mounts] == ["/workspace"]
        claim = engine.cluster.get(engine.namespace, "pvc", volume["persistentVolumeClaim"]["claimName"])
        assert claim["metadata"]["annotations"]["oubliette.project"] == first
    else:
        assert one["HostConfig"]["Init"] is True and one["Config"]["Cmd"] == ["sleep", "infinity"]
        mount = one["Mounts"][0]
        assert mount["Destination"] == "/workspace"
        assert mount["Source"] == str(home / "data/projects" / first / "workspace")

    listed = json.loads(oubliette("container", "list", "--json", home=home).stdout)
    mine = {row["project_id"]: row for row in listed if row["project_id"] in (first, second)}
    assert mine[first]["image"] == base.ref and mine[second]["image"] == dev.ref
    assert {row["status"] for row in mine.values()} == {"running"}
    table = oubliette("container", "list", home=home).stdout.splitlines()
    assert table[0].split() == ["PROJECT", "ID", "NAME", "IMAGE", "STATUS"]
    assert any(line.split()[:1] + line.split()[2:] == [first, base.ref, "running"] for line in table)


def test_refresh_moves_the_container_onto_a_newer_image_and_spares_foreign_ones(any_engine, home, images, foreign):
    engine = any_engine  # on the cluster too
    repo = images.repo("dev") + ":latest"
    old_image = images.push(repo, marker="v1")
    engine.configure(home, {"dev": repo})
    project_id = create(home, "dev", engine)
    old = start(engine, home, project_id)
    foreign_id = engine.run_foreign(foreign, old_image.ref)
    new_image = images.push(repo, marker="v2")
    assert new_image.id != old_image.id

    result = oubliette("container", "refresh", project_id, home=home)
    assert result.returncode == 0, result.stderr
    new = engine.inspect(f"oubliette-{project_id}")
    assert new["Id"] != old["Id"] and new["Image"] == engine.image_of(new_image) and new["State"]["Running"]
    assert project_containers(engine, project_id) == [new["Id"]]
    assert f"Image updated: {engine.reported(old_image)} -> {engine.reported(new_image)}" in result.stdout
    assert engine.progress in result.stdout + result.stderr  # the engine's own progress
    assert engine.inspect(foreign)["Id"] == foreign_id and engine.inspect(foreign)["State"]["Running"]

    # refresh-all touches only running oubliette containers
    again = oubliette("container", "refresh", home=home)
    assert again.returncode == 0, again.stderr
    assert "Image unchanged." in again.stdout
    assert engine.inspect(foreign)["Id"] == foreign_id and engine.inspect(foreign)["State"]["Running"]


def test_failing_pull_leaves_the_old_container_with_the_same_id(engine, home, images):
    # An image on a registry that is down: present locally, so start needs no pull; then
    # its tag is removed, so refresh has no local image to fall back on.
    ref = f"localhost:{free_port()}/oubliette-test-offline-{uuid.uuid4().hex[:6]}:latest"
    images.build(ref)
    write_config(home, {"dev": ref})
    project_id = create(home, "dev")
    old = start(engine, home, project_id)
    engine.untag(ref)
    result = oubliette("container", "refresh", project_id, home=home)
    assert result.returncode == 1
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1 and "cannot reach the registry" in error_lines[0]
    assert f"{engine.name} pull {ref}" in result.stderr and "Traceback" not in result.stderr
    now = engine.inspect(f"oubliette-{project_id}")
    assert now["Id"] == old["Id"] and now["State"]["Running"]
    assert project_containers(engine, project_id) == [old["Id"]]


def test_a_new_image_that_cannot_start_brings_the_old_container_back(any_engine, home, images):
    engine = any_engine  # on the cluster too
    repo = images.repo("dev") + ":latest"
    images.push(repo, marker="good")
    engine.configure(home, {"dev": repo})
    project_id = create(home, "dev", engine)
    old = start(engine, home, project_id)
    images.push(repo, marker="no-sleep", with_sleep=False)
    result = oubliette("container", "refresh", project_id, home=home)
    assert result.returncode == 1
    assert "the new container did not start" in result.stderr and engine.dead_start in result.stderr
    back = engine.inspect(f"oubliette-{project_id}")
    assert back["Id"] == old["Id"] and back["State"]["Running"]
    assert project_containers(engine, project_id) == [old["Id"]]


def test_a_start_whose_command_cannot_run_is_caught_every_time(engine, home, images):
    """The one look after each engine's own window (none on podman) sees every such death."""
    repo = images.repo("dev") + ":latest"
    images.push(repo, marker="no-sleep", with_sleep=False)
    engine.configure(home, {"dev": repo})
    project_id = create(home, "dev", engine)
    for _ in range(3):
        result = oubliette("container", "start", project_id, home=home)
        assert result.returncode == 1, result.stdout
        assert "stopped right after it started" in result.stderr and engine.dead_start in result.stderr
        assert "Traceback" not in result.stderr
        assert project_containers(engine, project_id) == []


def test_registry_without_the_image_uses_the_local_rebuild(engine, home, images, auth_registry):
    # A custom image that exists only locally, on a registry that demands credentials.
    ref = f"{auth_registry}/oubliette-test-custom-{uuid.uuid4().hex[:6]}:latest"
    first = images.build(ref, marker="local-1")
    write_config(home, {"custom": ref})
    project_id = create(home, "custom")
    assert start(engine, home, project_id)["Image"] == first.id
    rebuilt = images.build(ref, marker="local-2")
    result = oubliette("container", "refresh", project_id, home=home)
    assert result.returncode == 0, result.stderr
    assert "denied access; using the local image" in result.stdout
    assert engine.inspect(f"oubliette-{project_id}")["Image"] == rebuilt.id


def test_two_refreshes_at_once_leave_exactly_one_container(any_engine, home, images):
    engine = any_engine  # on the cluster too
    repo = images.repo("dev") + ":latest"
    images.push(repo)
    engine.configure(home, {"dev": repo})
    project_id = create(home, "dev", engine)
    start(engine, home, project_id)
    env = {"OUBLIETTE_HOME": str(home)}
    procs = [subprocess.Popen([sys.executable, "-m", "oubliette", "container", "refresh", project_id],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, **env}) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert not any("Error" in err for _, err in outputs)
    assert any(f"Waiting for `oubliette container refresh {project_id}` (pid " in err for _, err in outputs)
    (only,) = project_containers(engine, project_id)
    assert engine.inspect(f"oubliette-{project_id}")["Id"] == only


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def stalled_registry():
    """A port that accepts connections and never answers: a pull hangs on it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"localhost:{server.getsockname()[1]}"
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


def test_ctrl_c_during_a_pull_keeps_the_old_container_and_exits_130(engine, home, images, stalled_registry):
    ref = f"{stalled_registry}/oubliette-test-stalled:latest"
    images.build(ref)
    write_config(home, {"dev": ref})
    project_id = create(home, "dev")
    old = start(engine, home, project_id)
    proc = subprocess.Popen([sys.executable, "-m", "oubliette", "container", "refresh", project_id],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OUBLIETTE_HOME": str(home)})
    first_line = proc.stdout.readline()
    assert first_line.startswith("Refreshing")
    assert proc.stdout.readline().strip() == f"Pulling {ref}..."
    time.sleep(1.0)  # the pull is now waiting on the stalled registry
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Interrupted." in err and "Traceback" not in err
    now = engine.inspect(f"oubliette-{project_id}")
    assert now["Id"] == old["Id"] and now["State"]["Running"]
    assert project_containers(engine, project_id) == [old["Id"]]


def test_a_live_session_blocks_refresh_and_delete_until_it_ends(any_engine, home, images):
    engine = any_engine  # on the cluster too
    repo = images.repo("dev") + ":latest"
    images.push(repo)
    engine.configure(home, {"dev": repo})
    project_id = create(home, "dev", engine)
    old = start(engine, home, project_id)
    client = subprocess.Popen([sys.executable, "-m", "oubliette", "session", "start", project_id, "--",
                               "sleep", "300"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "OUBLIETTE_HOME": str(home)})
    try:
        deadline = time.monotonic() + 30
        sessions = []
        while not sessions and time.monotonic() < deadline:
            sessions = json.loads(oubliette("session", "list", "--json", home=home).stdout)
            time.sleep(0.2)
        (session,) = sessions
        time.sleep(0.5)
        assert "sleep 300" in engine.out("exec", f"oubliette-{project_id}", "ps")

        refused = oubliette("container", "refresh", project_id, home=home)
        assert refused.returncode == 1
        assert "Error: cannot refresh container: 1 active session(s) exist - end them first" in refused.stderr
        deleted = oubliette("project", "delete", project_id, home=home)
        assert deleted.returncode == 1 and "active session" in deleted.stderr
        assert engine.inspect(f"oubliette-{project_id}")["Id"] == old["Id"]

        ended = oubliette("session", "end", session["id"], home=home)
        assert ended.returncode == 0, ended.stderr
        client.wait(timeout=30)
        assert "sleep 300" not in engine.out("exec", f"oubliette-{project_id}", "ps")  # gone in there too
        assert json.loads(oubliette("session", "list", "--json", home=home).stdout) == []
        assert oubliette("container", "refresh", project_id, home=home).returncode == 0
    finally:
        client.kill()


def test_session_runs_in_the_workspace_with_the_commands_exit_code(any_engine, home, images):
    engine = any_engine  # on the cluster too
    repo = images.repo("dev") + ":latest"
    images.push(repo)
    engine.configure(home, {"dev": repo})
    project_id = create(home, "dev", engine)
    result = oubliette("session", "start", project_id, "--", "sh", "-c",
                       'echo "$OUBLIETTE_PROJECT_ID" > made-in-session; pwd; exit 7', home=home)
    assert result.returncode == 7, result.stderr
    assert result.stdout.strip() == "/workspace"
    assert "exit code" not in result.stderr  # the exit code says it (kubectl would add a line)
    assert engine.read_workspace(home, project_id, "made-in-session") == f"{project_id}\n"
    assert engine.inspect(f"oubliette-{project_id}")["State"]["Running"]  # started on the way


def test_a_session_execs_first_and_never_runs_its_command_twice(engine, home, images):
    """One engine call where the container runs; a stopped, removed or older container is
    looked at, started or used, and the command runs once; the engine's refusal is not shown."""
    repo = images.repo("dev") + ":latest"
    images.push(repo)
    write_config(home, {"dev": repo})
    project_id = create(home, "dev")
    start(engine, home, project_id)
    name = f"oubliette-{project_id}"
    count = home / "data/projects" / project_id / "workspace/count"
    bump = ["sh", "-c", "echo x >> /workspace/count; exit 3"]

    def session(*command: str) -> subprocess.CompletedProcess:
        return oubliette("session", "start", project_id, "--", *command, home=home, env={"OUBLIETTE_DEBUG": "1"})

    result = session(*bump)
    calls = [line for line in result.stderr.splitlines() if line.startswith("[oubliette] ")]
    assert result.returncode == 3 and len(calls) == 1, result.stderr  # the exec alone
    assert " exec " in calls[-1] and count.read_text() == "x\n"
    engine.cli("stop", "--time", "1", name)  # stopped behind oubliette's back
    result = session(*bump)
    assert result.returncode == 3 and count.read_text() == "x\n" * 2, result.stderr
    assert not [line for line in result.stderr.splitlines() if line.startswith("Error")]  # the refusal unseen
    assert engine.inspect(name)["State"]["Running"]
    engine.cli("rm", "--force", name)  # gone
    result = oubliette("session", "start", project_id, "--", *bump, home=home)
    assert result.returncode == 3 and count.read_text() == "x\n" * 3, result.stderr
    assert "no such container" not in result.stderr.lower() and "Started container" in result.stderr
    refusal = f"Error response from daemon: Container {name} is not running"
    result = oubliette("session", "start", project_id, "--", "sh", "-c", f"echo x >> /workspace/count; "
                       f"echo '{refusal}' >&2; exit 1", home=home)
    assert result.returncode == 1 and count.read_text() == "x\n" * 4 and refusal in result.stderr
    # a container made before sessions checked OUBLIETTE_HOME_ID: the wrapper refuses it, the command runs once
    labels = engine.inspect(name)["Config"]["Labels"]
    engine.cli("rm", "--force", name)
    engine.out("run", "-d", "--init", "--name", name, *[a for k, v in labels.items() for a in ("--label", f"{k}={v}")],
               "-v", f"{count.parent}:/workspace", repo, "sleep", "infinity")
    result = oubliette("session", "start", project_id, "--", *bump, home=home)
    assert result.returncode == 3 and count.read_text() == "x\n" * 5, result.stderr


def test_refresh_without_a_container_fails(any_engine, home, images):
    engine = any_engine  # on the cluster too
    repo = images.repo("dev") + ":latest"
    images.push(repo)
    engine.configure(home, {"dev": repo})
    project_id = create(home, "dev", engine)
    result = oubliette("container", "refresh", project_id, home=home)
    assert result.returncode == 1 and "Error: no container to refresh" in result.stderr
    assert project_containers(engine, project_id) == []


def test_stop_one_and_stop_all_spare_foreign_containers(any_engine, home, images, foreign):
    engine = any_engine  # on the cluster too
    repo = images.repo("dev") + ":latest"
    images.push(repo)
    engine.configure(home, {"dev": repo})
    first, second, third = (create(home, "dev", engine) for _ in range(3))
    for project_id in (first, second, third):
        start(engine, home, project_id)
    foreign_id = engine.run_foreign(foreign, repo)

    stopped = oubliette("container", "stop", first, home=home)
    assert stopped.returncode == 0 and project_containers(engine, first) == []
    again = oubliette("container", "stop", first, home=home)
    assert again.returncode == 0 and "has no container" in again.stdout

    result = oubliette("container", "stop", "--all", home=home)
    assert result.returncode == 0, result.stderr
    assert project_containers(engine, second) == [] and project_containers(engine, third) == []
    assert engine.inspect(foreign)["Id"] == foreign_id and engine.inspect(foreign)["State"]["Running"]


def test_user_errors_are_one_line_with_the_documented_exit_code(engine, home, images):
    write_config(home, {"dev": "localhost:1/x:latest"})
    unknown = oubliette("container", "start", "proj_ffffffffffff", home=home)
    assert unknown.returncode == 1 and unknown.stderr.startswith("Error: no project matches")
    bad_type = oubliette("project", "create", "x", "--type", "nope", home=home)
    assert bad_type.returncode == 1 and "valid types: dev" in bad_type.stderr
    project_id = create(home, "dev")
    down = oubliette("container", "start", project_id, home=home, env=engine.down_env)
    assert down.returncode == 3 and engine.down_error in down.stderr
    missing = oubliette("container", "list", home=home, env={"PATH": "/nonexistent"})
    assert missing.returncode == 3 and f"Error: {engine.name} not found" in missing.stderr
    no_engine = oubliette("--runtime", "auto", "container", "list", home=home, env={"PATH": "/nonexistent"})
    assert no_engine.returncode == 3 and "no container engine found" in no_engine.stderr
    for result in (unknown, bad_type, down, missing, no_engine):
        assert "Traceback" not in result.stderr
        assert sum(line.startswith("Error:") for line in result.stderr.splitlines()) == 1


def test_project_delete_removes_the_container_and_keeps_the_workspace_unless_purged(any_engine, home, images):
    engine = any_engine  # on the cluster too: the claim is the workspace
    repo = images.repo("dev") + ":latest"
    images.push(repo)
    engine.configure(home, {"dev": repo})
    kept, purged = create(home, "dev", engine), create(home, "dev", engine)
    for project_id in (kept, purged):
        start(engine, home, project_id)
        engine.write_workspace(home, project_id, "notes.txt", "mine")
    assert oubliette("project", "delete", kept, home=home).returncode == 0
    assert project_containers(engine, kept) == [] and engine.has_workspace(home, kept)
    if engine.name != "cluster":  # a claim is read in a pod, and a deleted project has none
        assert engine.read_workspace(home, kept, "notes.txt") == "mine"
    assert oubliette("project", "delete", purged, "--purge", "--yes", home=home).returncode == 0
    assert project_containers(engine, purged) == [] and not (home / "data/projects" / purged).exists()
    assert not engine.has_workspace(home, purged)
    listed = json.loads(oubliette("project", "list", "--json", home=home).stdout)
    assert listed == []


def test_auto_with_only_this_engine_on_path_uses_it(engine, home, images, tmp_path, monkeypatch):
    """`--runtime auto` with one engine installed picks it without a probe."""
    repo = images.repo("dev") + ":latest"
    images.push(repo)
    write_config(home, {"dev": repo})
    project_id = create(home, "dev")
    only = tmp_path / "bin"
    only.mkdir()
    others = {name for name in ("docker", "podman", "container") if name != engine.name}
    for directory in os.environ["PATH"].split(os.pathsep):  # the system's tools, less the other engines
        for entry in os.scandir(directory) if os.path.isdir(directory) else ():
            if entry.name not in others and not (only / entry.name).exists():
                (only / entry.name).symlink_to(entry.path)
    monkeypatch.delenv("OUBLIETTE_RUNTIME")
    result = oubliette("--runtime", "auto", "container", "start", project_id, home=home,
                       env={"PATH": str(only), "OUBLIETTE_DEBUG": "1"})
    assert result.returncode == 0, result.stderr
    calls = [line for line in result.stderr.splitlines() if line.startswith("[oubliette] ")]
    assert calls and all(line.startswith(f"[oubliette] {engine.name} ") for line in calls)
    assert engine.inspect(f"oubliette-{project_id}")["State"]["Running"]


# --- freshness: --outdated, --if-changed, --prune, local images -------------------------------


def test_if_changed_keeps_an_unchanged_container_and_replaces_a_changed_one(any_engine, home, images):
    engine = any_engine  # on the cluster too
    same_repo, moving_repo = images.repo("same") + ":latest", images.repo("moving") + ":latest"
    images.push(same_repo)
    images.push(moving_repo, marker="v1")
    engine.configure(home, {"same": same_repo, "moving": moving_repo})
    steady, moving = create(home, "same", engine), create(home, "moving", engine)
    kept, old = start(engine, home, steady), start(engine, home, moving)
    newer = images.push(moving_repo, marker="v2")
    result = oubliette("container", "refresh", "--if-changed", "--json", home=home)
    assert result.returncode == 0, result.stderr
    records = {r["project_id"]: r for r in json.loads(result.stdout)}
    assert records[steady]["status"] == "unchanged" and records[moving]["status"] == "refreshed"
    assert engine.inspect(f"oubliette-{steady}")["Id"] == kept["Id"]
    now = engine.inspect(f"oubliette-{moving}")
    assert now["Id"] != old["Id"] and now["Image"] == engine.image_of(newer)


def test_list_outdated_shows_a_container_after_a_newer_pull_and_not_after_its_refresh(engine, home, images):
    repo = images.repo("dev") + ":latest"
    first = images.push(repo, marker="v1")
    write_config(home, {"dev": repo})
    project_id = create(home, "dev")
    start(engine, home, project_id)
    assert json.loads(oubliette("container", "list", "--outdated", "--json", home=home).stdout) == []
    newer = images.push(repo, marker="v2")
    engine.cli("pull", repo)  # the newer image arrives locally, e.g. by `init` or another project
    (row,) = json.loads(oubliette("container", "list", "--outdated", "--json", home=home).stdout)
    assert row["project_id"] == project_id and row["outdated"] is True
    assert engine.full_id(row["image_id"]) == engine.full_id(first.id)
    assert engine.full_id(row["latest_image_id"]) == engine.full_id(newer.id)
    quiet = oubliette("container", "list", "--outdated", "-q", home=home).stdout.split()
    assert quiet == [project_id]
    assert oubliette("container", "refresh", *quiet, home=home).returncode == 0
    assert oubliette("container", "list", "--outdated", "-q", home=home).stdout.split() == []


def test_prune_removes_the_superseded_image(engine, home, images):
    repo = images.repo("dev") + ":latest"
    old_image = images.push(repo, marker="v1")
    write_config(home, {"dev": repo})
    project_id = create(home, "dev")
    start(engine, home, project_id)
    images.push(repo, marker="v2")
    result = oubliette("container", "refresh", project_id, "--prune", home=home)
    assert result.returncode == 0, result.stderr
    assert "Removed the superseded image" in result.stdout
    assert engine.cli("image", "inspect", old_image.id, check=False).returncode != 0


def test_a_locally_rebuilt_image_is_picked_up_without_a_registry(engine, home, images):
    ref = f"localhost:{free_port()}/oubliette-test-local-{uuid.uuid4().hex[:6]}:latest"  # nobody serves it
    images.build(ref, marker="build-1")
    write_config(home, {"dev": ref})
    project_id = create(home, "dev")
    old = start(engine, home, project_id)
    unchanged = oubliette("container", "refresh", project_id, "--json", home=home)
    assert unchanged.returncode == 0, unchanged.stderr
    assert json.loads(unchanged.stdout)[0]["status"] == "unchanged (registry unreachable)"
    assert engine.inspect(f"oubliette-{project_id}")["Id"] == old["Id"]
    rebuilt = images.build(ref, marker="build-2")
    result = oubliette("container", "refresh", project_id, home=home)
    assert result.returncode == 0, result.stderr
    assert f"using the local image {ref}" in result.stdout
    assert engine.inspect(f"oubliette-{project_id}")["Image"] == rebuilt.id
