"""A Kubernetes engine on a real cluster (`.ci/cluster start`, named by OUBLIETTE_TEST_CLUSTER):
every project a pod, its workspace a claim, driven through `kubectl` as a user bound to a
Role in one namespace, the one each test makes for itself. Checked with the cluster's own
`kubectl` as its admin, never with oubliette's output alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import anyio

from tests.e2e.conftest import background, create, oubliette, write_config
from tests.e2e.kube import ROLE_RULES, Cluster, create_on_cluster, session_and_push
from tests.mcp_client import oubliette_mcp


def test_a_project_is_a_pod_with_its_workspace_a_claim_through_every_workflow(cluster, namespace, cluster_home,
                                                                            tmp_path):
    home, repo = cluster_home
    project_id = create_on_cluster(home)
    started = oubliette("container", "start", project_id, home=home)
    assert started.returncode == 0, started.stderr
    (pod,) = cluster.pods(namespace)
    assert pod["status"]["phase"] == "Running" and pod["metadata"]["labels"]["oubliette.project"] == project_id
    assert pod["metadata"]["annotations"]["oubliette.image"] == repo
    (claim,) = cluster.claims(namespace)
    assert claim["status"]["phase"] == "Bound"

    listed = oubliette("container", "list", "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["project_id"] == project_id and row["engine"] == "cluster" and row["status"] == "running"

    session_and_push(home, project_id, tmp_path / "push", "hello", 7)

    stopped = oubliette("container", "stop", project_id, home=home)
    assert stopped.returncode == 0, stopped.stderr
    assert cluster.pods(namespace) == [] and len(cluster.claims(namespace)) == 1  # the claim is kept

    back = tmp_path / "pulled"
    pulled = oubliette("workspace", "pull", project_id, str(back), home=home)  # starts a new pod on the claim
    assert pulled.returncode == 0, pulled.stderr
    assert (back / "note").read_text() == "hello\n" and (back / "src" / "main.c").exists()

    deleted = oubliette("project", "delete", project_id, "--purge", "--yes", home=home)
    assert deleted.returncode == 0, deleted.stderr
    assert cluster.pods(namespace) == []
    assert [c for c in cluster.claims(namespace) if not c["metadata"].get("deletionTimestamp")] == []


COLUMNS = "NAME:.metadata.name,DELETED:.metadata.deletionTimestamp,RUNNING:.status.containerStatuses[0].state.running"


def watched(cluster: Cluster, namespace: str, log: Path) -> subprocess.Popen:
    """The namespace's pods as the API server reports each change (`kubectl get -w`), into `log`."""
    with log.open("w") as out:
        return subprocess.Popen([cluster.kubectl, "--kubeconfig", cluster.admin, "-n", namespace, "get", "pods",
                                 "-w", "--no-headers", "-o", f"custom-columns={COLUMNS}"], stdout=out,
                                stderr=subprocess.DEVNULL)


def changes(watch: subprocess.Popen, log: Path) -> list[tuple[str, str]]:
    """(pod, what) for each change the watch saw: `deleting`, `running` or `waiting`."""
    watch.terminate()
    watch.wait(timeout=30)
    seen = []
    for line in log.read_text().splitlines():
        name, deleted, running = line.split(None, 2)
        seen.append((name, "deleting" if deleted != "<none>" else "running" if running != "<none>" else "waiting"))
    return seen


def test_refresh_runs_the_new_pod_beside_the_old_one_and_deletes_the_old_one_only_once_it_runs(
        cluster, namespace, cluster_home, images, tmp_path):
    home, repo = cluster_home
    project_id = create_on_cluster(home)
    assert oubliette("container", "start", project_id, home=home).returncode == 0
    (old,) = cluster.pods(namespace)
    assert oubliette("session", "start", project_id, "--", "touch", "/workspace/kept", home=home).returncode == 0
    images.push(repo, marker="v2")
    watch = watched(cluster, namespace, tmp_path / "watch")
    refreshed = oubliette("container", "refresh", project_id, home=home)
    assert refreshed.returncode == 0, refreshed.stderr
    assert "Image updated" in refreshed.stdout
    time.sleep(1)  # the watch's last events
    seen = changes(watch, tmp_path / "watch")
    (new,) = cluster.pods(namespace)
    assert new["status"]["containerStatuses"][0]["imageID"] != old["status"]["containerStatuses"][0]["imageID"]
    old_name, new_name = old["metadata"]["name"], new["metadata"]["name"]
    assert old_name != new_name and new["metadata"]["labels"]["oubliette.name"] == old_name.rsplit("-", 1)[0]
    assert seen.index((new_name, "running")) < seen.index((old_name, "deleting")), seen
    marker = oubliette("session", "start", project_id, "--", "cat", "/etc/oubliette-test-marker", home=home)
    assert marker.stdout.strip() == "v2", marker.stderr
    assert oubliette("session", "start", project_id, "--", "test", "-f", "/workspace/kept", home=home).returncode == 0


def test_a_refresh_whose_new_pod_cannot_run_leaves_the_old_pod_running_untouched(cluster, namespace,
                                                                                 cluster_home, images):
    home, repo = cluster_home
    project_id = create_on_cluster(home)
    assert oubliette("container", "start", project_id, home=home).returncode == 0
    assert oubliette("session", "start", project_id, "--", "touch", "/tmp/alive", home=home).returncode == 0
    (old,) = cluster.pods(namespace)
    images.push(repo, marker="broken", with_sleep=False)  # its command cannot start
    refreshed = oubliette("container", "refresh", project_id, home=home)
    assert refreshed.returncode == 1
    assert "the previous one runs on" in refreshed.stderr + refreshed.stdout, refreshed.stderr
    assert "Traceback" not in refreshed.stderr
    (pod,) = cluster.pods(namespace)
    assert pod["metadata"]["uid"] == old["metadata"]["uid"]  # the same pod, never stopped
    assert pod["metadata"]["annotations"]["oubliette.name"] == f"oubliette-{project_id}"
    assert oubliette("session", "start", project_id, "--", "test", "-f", "/tmp/alive", home=home).returncode == 0


def test_refresh_if_changed_keeps_the_pod_while_the_tag_names_the_digest_it_runs(cluster, namespace,
                                                                                 cluster_home, images):
    home, repo = cluster_home
    project_id = create_on_cluster(home)
    assert oubliette("container", "start", project_id, home=home).returncode == 0
    (old,) = cluster.pods(namespace)
    same = oubliette("container", "refresh", project_id, "--if-changed", "--json", home=home)
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)[0]["status"] == "unchanged"
    (pod,) = cluster.pods(namespace)
    assert pod["metadata"]["uid"] == old["metadata"]["uid"]
    images.push(repo, marker="v2")
    moved = oubliette("container", "refresh", project_id, "--if-changed", "--json", home=home)
    (row,) = json.loads(moved.stdout)
    assert row["status"] == "refreshed" and row["changed"] and row["new_image_id"] != row["old_image_id"], row
    (pod,) = cluster.pods(namespace)
    assert pod["metadata"]["uid"] != old["metadata"]["uid"]


def test_an_image_the_node_cannot_pull_is_one_error_and_leaves_no_pod(cluster, namespace, cluster_home, home):
    _, repo = cluster_home
    engines = json.loads((home / "config" / "oubliette.jsonc").read_text())["engines"]
    write_config(home, {"dev": repo.rsplit(":", 1)[0] + "-missing:latest"}, engines=engines)
    project_id = create_on_cluster(home)
    result = oubliette("container", "start", project_id, home=home)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "not found" in errors[0], result.stderr
    assert "Traceback" not in result.stderr and cluster.pods(namespace) == []


def test_a_role_without_exec_is_an_error_naming_the_verb_and_resource(cluster, namespace, cluster_home, tmp_path):
    home, _ = cluster_home
    project_id = create_on_cluster(home)
    assert oubliette("container", "start", project_id, home=home).returncode == 0
    narrow = cluster.user(namespace, [r for r in ROLE_RULES if r["resources"] != ["pods/exec"]],
                          tmp_path / "narrow")
    config = json.loads((home / "config" / "oubliette.jsonc").read_text())
    config["engines"]["cluster"]["kubeconfig"] = str(narrow)
    (home / "config" / "oubliette.jsonc").write_text(json.dumps(config))
    result = oubliette("session", "start", project_id, "--", "true", home=home)
    assert result.returncode != 0
    assert "Error: the cluster does not let this user create pods/exec" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    doctor = oubliette("doctor", home=home)
    assert doctor.returncode == 1
    assert "create pods/exec" in doctor.stdout and "not allowed" in doctor.stdout, doctor.stdout


def test_an_unreachable_api_server_is_exit_3_and_other_engines_projects_are_still_listed(cluster, namespace,
                                                                                        cluster_home, tmp_path):
    home, repo = cluster_home
    create_on_cluster(home)
    local = create(home)  # on the default engine (Docker)
    assert oubliette("container", "start", local, home=home).returncode == 0
    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(json.dumps({"apiVersion": "v1", "kind": "Config",
                                "clusters": [{"name": "gone", "cluster": {"server": "https://127.0.0.1:9"}}],
                                "users": [{"name": "u", "user": {"token": "x"}}],
                                "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}],
                                "current-context": "gone"}))
    config = json.loads((home / "config" / "oubliette.jsonc").read_text())
    config["engines"]["cluster"]["kubeconfig"] = str(dead)
    (home / "config" / "oubliette.jsonc").write_text(json.dumps(config))
    listed = oubliette("container", "list", home=home)
    assert local in listed.stdout, listed.stderr
    assert "cluster" in listed.stderr and "127.0.0.1:9" in listed.stderr and "Traceback" not in listed.stderr
    started = oubliette("container", "start", create_on_cluster(home), home=home)
    assert started.returncode == 3 and "127.0.0.1:9" in started.stderr, started.stderr


def test_an_agents_exec_over_mcp_runs_in_the_pod_and_a_timeout_stops_it_there(cluster, namespace, cluster_home):
    home, _ = cluster_home
    project_id = create_on_cluster(home)

    async def agent():
        async with oubliette_mcp(home) as tools:
            ran = await tools.ok("exec", project_id=project_id,
                                 command=["sh", "-c", "echo out; echo err >&2; pwd; exit 3"])
            error = await tools.error("exec", project_id=project_id, command=["sleep", "77"], timeout_s=2)
            processes = await tools.ok("exec", project_id=project_id, command=["ps"])
            return ran, error, processes

    ran, error, processes = anyio.run(agent)
    assert ran == {"exit_code": 3, "stdout": "out\n/workspace\n", "stderr": "err\n", "truncated": False}
    assert "timed out after 2 s" in error
    assert "sleep 77" not in processes["stdout"]
    assert len(cluster.pods(namespace)) == 1


def test_a_refresh_killed_while_its_new_pod_starts_leaves_the_project_one_running_pod(cluster, namespace,
                                                                                     cluster_home, images):
    home, repo = cluster_home
    project_id = create_on_cluster(home)
    assert oubliette("container", "start", project_id, home=home).returncode == 0
    assert oubliette("session", "start", project_id, "--", "touch", "/workspace/kept", home=home).returncode == 0
    images.push(repo, marker="v2")
    refresh = background(home, "container", "refresh", project_id)
    deadline = time.monotonic() + 60
    while not any(p["metadata"]["labels"].get("oubliette.name", "").endswith("-previous")
                  for p in cluster.pods(namespace)):  # the old pod is set aside: the new one is starting
        assert time.monotonic() < deadline and refresh.poll() is None, "the old pod was never set aside"
        time.sleep(0.05)
    refresh.kill()  # SIGKILL: no clean-up of its own
    refresh.communicate()
    listed = oubliette("container", "list", "--json", home=home)  # finishes, or undoes, what the kill left
    assert listed.returncode == 0, listed.stderr
    started = oubliette("container", "start", project_id, home=home)
    assert started.returncode == 0, started.stderr
    (pod,) = [p for p in cluster.pods(namespace) if not p["metadata"].get("deletionTimestamp")]
    assert pod["metadata"]["annotations"]["oubliette.name"] == f"oubliette-{project_id}"
    assert oubliette("session", "start", project_id, "--", "test", "-f", "/workspace/kept", home=home).returncode == 0


def test_a_pod_stuck_pending_is_one_error_with_the_schedulers_reason_and_leaves_no_pod(cluster, namespace,
                                                                                      cluster_home, home):
    engines = json.loads((home / "config" / "oubliette.jsonc").read_text())["engines"]
    engines["cluster"]["storage_class"] = "no-such-class"  # its claim never binds: the pod stays Pending
    write_config(home, {"dev": cluster_home[1]}, engines=engines)
    project_id = create_on_cluster(home)
    began = time.monotonic()
    result = oubliette("container", "start", project_id, home=home)
    assert result.returncode == 1 and time.monotonic() - began < 60
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "cannot be scheduled" in errors[0] and "PersistentVolumeClaim" in errors[0], \
        result.stderr
    assert "Hint:" in result.stderr and "Traceback" not in result.stderr
    assert cluster.pods(namespace) == []
    doctor = oubliette("doctor", home=home)
    assert "storage class no-such-class" in doctor.stdout, doctor.stdout  # a namespace's Role cannot read classes:
    assert "cannot tell" in doctor.stdout.split("storage class no-such-class")[1].splitlines()[0]  # not "ok"


def children(pid: int) -> list[str]:
    """The command lines of a process's children (its engine calls)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            for child in (task / "children").read_text().split():
                found.append(Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


def test_an_api_server_stopped_mid_list_is_a_warning_beside_the_other_engines_and_exit_3(cluster, namespace,
                                                                                         cluster_home):
    home, _ = cluster_home
    on_cluster = create_on_cluster(home)
    assert oubliette("container", "start", on_cluster, home=home).returncode == 0
    local = create(home)
    assert oubliette("container", "start", local, home=home).returncode == 0
    apiserver = int((cluster.directory / "apiserver.pid").read_text())
    server = json.loads(cluster.cli("config", "view", "--minify", "-o", "json").stdout)["clusters"][0]["cluster"]
    listing = background(home, "container", "list", "--json")
    deadline = time.monotonic() + 30
    while not any("kubectl" in c and "get pods" in c for c in children(listing.pid)):  # the list is under way
        assert time.monotonic() < deadline and listing.poll() is None, "the list never asked the cluster"
        time.sleep(0.005)
    os.kill(apiserver, signal.SIGSTOP)  # the real API server stops answering, mid-list
    try:
        began = time.monotonic()
        out, err = listing.communicate(timeout=90)
        assert time.monotonic() - began < 45  # kubectl's own bounds: a TLS handshake 10 s, a request 30 s
        assert [row["project_id"] for row in json.loads(out)] == [local], err
        assert "Warning:" in err and "'cluster'" in err and server["server"] in err and "Traceback" not in err, err
        session = oubliette("session", "start", on_cluster, "--", "true", home=home, timeout=90)
        assert session.returncode == 3, session.stderr
        assert session.stderr.startswith("Error:") and server["server"] in session.stderr, session.stderr
        assert "Hint:" in session.stderr
    finally:
        os.kill(apiserver, signal.SIGCONT)
    cluster.cli("get", "--raw", "/readyz", timeout=60)
    listed = oubliette("container", "list", "--json", home=home)
    assert sorted(row["project_id"] for row in json.loads(listed.stdout)) == sorted([local, on_cluster])


def test_init_warms_every_node_where_the_user_may_list_them_and_says_so_where_not(cluster, namespace,
                                                                                  cluster_home, home):
    _, repo = cluster_home
    as_role = oubliette("init", home=home)
    assert as_role.returncode == 0, as_role.stderr
    assert "this user may not list the cluster's nodes" in as_role.stdout, as_role.stdout
    config = json.loads((home / "config" / "oubliette.jsonc").read_text())
    config["engines"]["cluster"]["kubeconfig"] = cluster.admin  # an admin may list the nodes
    (home / "config" / "oubliette.jsonc").write_text(json.dumps(config))
    nodes = [n["metadata"]["name"] for n in cluster.get("default", "nodes")["items"]
             if not n["spec"].get("unschedulable")]
    as_admin = oubliette("init", home=home)
    assert as_admin.returncode == 0, as_admin.stderr
    assert f"pulled on {len(nodes)} of {len(nodes)} node(s)" in as_admin.stdout, as_admin.stdout
    sockets = [cluster.directory / "containerd.sock", cluster.directory / "node2" / "containerd.sock"]
    for socket in [s for s in sockets if s.exists()][:len(nodes)]:  # each node's own store has it now
        listed = subprocess.run(["ctr", "-a", str(socket), "-n", "k8s.io", "images", "ls", "-q"],
                                capture_output=True, text=True, check=True).stdout
        assert repo in listed, (socket, listed)
    deadline = time.monotonic() + 30
    while [p for p in cluster.pods(namespace) if p["metadata"]["name"].startswith("oubliette-warm-")]:
        assert time.monotonic() < deadline, "the warming pods were left behind"
        time.sleep(0.2)
