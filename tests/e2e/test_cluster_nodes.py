"""The cluster engine on two nodes (`.ci/cluster node2`: a second kubelet with its own
containerd and bridge on this machine). A workspace on a node's local volume binds its pods
to that node: a project is listed, exec'd into, pushed to and refreshed there, on either node,
and a refresh while that node is cordoned fails cleanly and keeps the old pod."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.e2e.conftest import oubliette, write_config
from tests.e2e.kube import Cluster, create_on_cluster, session_and_push

FIRST_NODE = "oubliette-k8s"


@pytest.fixture(scope="session")
def nodes(cluster: Cluster) -> tuple[str, str]:
    """The two nodes' names; each has a storage class of local volumes, `oubliette-node-1` and -2."""
    second = cluster.directory / "node2" / "name"
    if not second.exists():
        unavailable(f"the test cluster has no second node: `.ci/cluster node2 {cluster.directory}`")
    return FIRST_NODE, second.read_text().strip()


def on_node(home: Path, node: int) -> None:
    """The engine's workspaces become claims of node `node`'s local volumes."""
    config = json.loads((home / "config" / "oubliette.jsonc").read_text())
    config["engines"]["cluster"]["storage_class"] = f"oubliette-node-{node}"
    write_config(home, config["containers"], engines=config["engines"])


def the_pod(cluster: Cluster, namespace: str) -> dict:
    (pod,) = [p for p in cluster.pods(namespace) if not p["metadata"].get("deletionTimestamp")]
    return pod


@pytest.mark.parametrize("node", [1, 2])
def test_a_project_on_either_node_is_listed_execd_pushed_and_refreshed_there(cluster, namespace, cluster_home,
                                                                            nodes, images, tmp_path, node):
    home, repo = cluster_home
    on_node(home, node)
    project_id = create_on_cluster(home)
    started = oubliette("container", "start", project_id, home=home)
    assert started.returncode == 0, started.stderr
    assert the_pod(cluster, namespace)["spec"]["nodeName"] == nodes[node - 1]
    (row,) = json.loads(oubliette("container", "list", "--json", home=home).stdout)
    assert row["project_id"] == project_id and row["status"] == "running"
    session_and_push(home, project_id, tmp_path / "tree", "here", 5)

    images.push(repo, marker="v2")
    refreshed = oubliette("container", "refresh", project_id, home=home)
    assert refreshed.returncode == 0, refreshed.stderr
    pod = the_pod(cluster, namespace)
    assert pod["spec"]["nodeName"] == nodes[node - 1]  # where its workspace's volume is
    marker = oubliette("session", "start", project_id, "--", "cat", "/etc/oubliette-test-marker", home=home)
    assert marker.stdout.strip() == "v2", marker.stderr
    back = tmp_path / "back"
    pulled = oubliette("workspace", "pull", project_id, str(back), home=home)
    assert pulled.returncode == 0, pulled.stderr
    assert (back / "note").read_text() == "here\n" and (back / "src" / "main.c").exists()


def test_a_refresh_while_the_workspaces_node_is_cordoned_fails_cleanly_and_keeps_the_old_pod(
        cluster, namespace, cluster_home, nodes, images):
    home, repo = cluster_home
    on_node(home, 2)
    project_id = create_on_cluster(home)
    assert oubliette("container", "start", project_id, home=home).returncode == 0
    old = the_pod(cluster, namespace)
    assert old["spec"]["nodeName"] == nodes[1]
    images.push(repo, marker="v2")
    cluster.cli("cordon", nodes[1])
    try:
        refreshed = oubliette("container", "refresh", project_id, home=home)
    finally:
        cluster.cli("uncordon", nodes[1])
    assert refreshed.returncode == 1
    said = refreshed.stdout + refreshed.stderr
    assert "cannot be scheduled" in said and "the previous one runs on" in said, said
    assert "Traceback" not in refreshed.stderr
    pod = the_pod(cluster, namespace)
    assert pod["metadata"]["uid"] == old["metadata"]["uid"] and len(cluster.pods(namespace)) == 1
    ran = oubliette("session", "start", project_id, "--", "cat", "/etc/oubliette-test-marker", home=home)
    assert ran.stdout.strip() == "v1", ran.stderr  # the old pod, running as before
