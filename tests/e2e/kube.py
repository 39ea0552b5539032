"""The test cluster (`.ci/cluster start`, named by OUBLIETTE_TEST_CLUSTER) driven as its admin,
and the fixtures of the cluster tests: a namespace of each test's own, reached by a user bound
to the README's Role, and a home whose engine `cluster` is that namespace."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.e2e.conftest import DOCKER, Engine, oubliette, write_config

STORAGE_CLASS = "oubliette-local"  # the volumes `.ci/cluster start` makes
ROLE_RULES = [  # what the README's Role grants, no more
    {"apiGroups": [""], "resources": ["pods", "persistentvolumeclaims"],
     "verbs": ["get", "list", "watch", "create", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["patch"]},
    {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
    {"apiGroups": [""], "resources": ["pods/log", "events"], "verbs": ["get", "list", "watch"]},
]


class Cluster:
    """The test cluster, driven as its admin."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.kubectl = str(directory / "bin" / "kubectl")
        self.admin = str(directory / "admin.kubeconfig")

    def cli(self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120):
        result = subprocess.run([self.kubectl, "--kubeconfig", self.admin, *args], capture_output=True, text=True,
                                input=input, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {result.stderr}")
        return result

    def get(self, namespace: str, *what: str) -> dict:
        return json.loads(self.cli("-n", namespace, "get", *what, "-o", "json").stdout)

    def pods(self, namespace: str) -> list[dict]:
        return self.get(namespace, "pods")["items"]

    def claims(self, namespace: str) -> list[dict]:
        return self.get(namespace, "pvc")["items"]

    def user(self, namespace: str, rules: list[dict], directory: Path) -> Path:
        """A kubeconfig whose user is a service account bound to a Role of `rules` in `namespace`."""
        objects = [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "oubliette"}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "oubliette"},
             "rules": rules},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "oubliette"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "oubliette"},
             "subjects": [{"kind": "ServiceAccount", "name": "oubliette", "namespace": namespace}]}]
        self.cli("-n", namespace, "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                         "items": objects}))
        deadline = time.monotonic() + 60  # the controller-manager makes its token (v1.20's `wait` has no jsonpath)
        name = ""
        while not name and time.monotonic() < deadline:
            name = self.cli("-n", namespace, "get", "serviceaccount", "oubliette",
                            "-o", "jsonpath={.secrets[0].name}").stdout.strip()
            if not name:
                time.sleep(0.3)
        assert name, "the service account got no token"
        token = base64.b64decode(self.get(namespace, "secret", name)["data"]["token"]).decode()
        server = json.loads(self.cli("config", "view", "--minify", "-o", "json").stdout)["clusters"][0]["cluster"]
        config = {"apiVersion": "v1", "kind": "Config",
                  "clusters": [{"name": "test", "cluster": server}],
                  "users": [{"name": namespace, "user": {"token": token}}],
                  "contexts": [{"name": namespace, "context": {"cluster": "test", "user": namespace,
                                                              "namespace": namespace}}],
                  "current-context": namespace}
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{namespace}.kubeconfig"
        path.write_text(json.dumps(config))
        path.chmod(0o600)
        return path

    def release_volumes(self, namespace: str) -> None:
        """Make the volumes this namespace's claims held available again, emptied."""
        for volume in self.get("default", "pv")["items"]:
            ref = volume["spec"].get("claimRef") or {}
            if ref.get("namespace") != namespace:
                continue
            source = volume["spec"].get("hostPath") or volume["spec"].get("local") or {}
            path = Path(source["path"])
            subprocess.run(["find", str(path), "-mindepth", "1", "-delete"], check=False)
            self.cli("patch", "pv", volume["metadata"]["name"], "--type", "json",
                     "-p", '[{"op": "remove", "path": "/spec/claimRef"}]', check=False)


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    given = os.environ.get("OUBLIETTE_TEST_CLUSTER")
    if not given:
        unavailable("no test cluster: set OUBLIETTE_TEST_CLUSTER (`.ci/cluster start` makes one)")
    found = Cluster(Path(given))
    if found.cli("get", "--raw", "/readyz", check=False, timeout=30).returncode != 0:
        unavailable(f"the test cluster in {given} does not answer")
    return found


@pytest.fixture
def namespace(cluster, monkeypatch) -> str:
    """A namespace of this test's own, and the cluster's kubectl (v1.20, as the server) first on PATH."""
    name = f"oubliette-t-{uuid.uuid4().hex[:8]}"
    cluster.cli("create", "namespace", name)
    monkeypatch.setenv("PATH", f"{cluster.directory / 'bin'}{os.pathsep}{os.environ['PATH']}")
    yield name
    cluster.cli("-n", name, "delete", "pods", "--all", "--grace-period=0", "--force", check=False, timeout=60)
    cluster.cli("delete", "namespace", name, "--wait=true", check=False, timeout=180)
    cluster.release_volumes(name)


@pytest.fixture
def cluster_home(cluster, namespace, home, images, tmp_path) -> tuple[Path, str]:
    """A home whose engine `cluster` is the namespace, reached as a user bound to the Role; an image."""
    kubeconfig = cluster.user(namespace, ROLE_RULES, tmp_path)
    repo = images.repo("k8s") + ":latest"
    images.push(repo, marker="v1")
    engines = {"cluster": {"runtime": "kubernetes", "kubeconfig": str(kubeconfig), "namespace": namespace,
                           "storage_class": STORAGE_CLASS, "workspace_size": "1Gi"}}
    write_config(home, {"dev": repo}, engines=engines)
    return home, repo


def create_on_cluster(home: Path) -> str:
    result = oubliette("project", "create", f"p-{uuid.uuid4().hex[:6]}", "--engine", "cluster", home=home)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def session_and_push(home: Path, project_id: str, tree: Path, note: str, code: int) -> None:
    """A session that writes /workspace/note and exits `code`; then a pushed tree, `src/main.c`."""
    ran = oubliette("session", "start", project_id, "--", "sh", "-c", f"echo {note} > /workspace/note; exit {code}",
                    home=home)
    assert ran.returncode == code, ran.stderr
    (tree / "src").mkdir(parents=True)
    (tree / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    pushed = oubliette("workspace", "push", project_id, str(tree), home=home)
    assert pushed.returncode == 0, pushed.stderr


class ClusterEngine(Engine):
    """The test cluster as a scenario's engine: a named engine `cluster` on a namespace of the
    test's own, reached as a user bound to the Role; raw calls go through the admin's kubectl."""

    create_args = ("--engine", "cluster")
    create_fields = {"engine": "cluster"}

    def __init__(self, cluster: Cluster, namespace: str, tmp_path: Path) -> None:
        super().__init__("cluster", progress="the cluster's nodes pull", down_env={}, down_error="",
                         dead_start='exec: "sleep": executable file not found')  # the kubelet's StartError
        self.cluster, self.namespace = cluster, namespace
        self.kubeconfig = cluster.user(namespace, ROLE_RULES, tmp_path / "kube")

    @property
    def builder(self) -> Engine:
        return DOCKER  # the images are Docker's, pushed to the registry the nodes pull from

    def configure(self, home: Path, containers: dict, **extra) -> None:
        write_config(home, containers, engines={"cluster": {
            "runtime": "kubernetes", "kubeconfig": str(self.kubeconfig), "namespace": self.namespace,
            "storage_class": STORAGE_CLASS, "workspace_size": "1Gi"}}, **extra)

    def pod(self, name: str) -> dict | None:
        """The pod holding the container name `name` as oubliette annotates it, or named `name`."""
        held = [p for p in self.cluster.pods(self.namespace) if not p["metadata"].get("deletionTimestamp")
                and name in (p["metadata"].get("annotations", {}).get("oubliette.name"), p["metadata"]["name"])]
        return held[0] if held else None

    def kubectl(self, *args: str, input: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([self.cluster.kubectl, "--kubeconfig", self.cluster.admin, "-n", self.namespace, *args],
                              capture_output=True, input=input, timeout=timeout)

    def cli(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        """`exec NAME CMD...` in the pod holding NAME; other engine commands have no kubectl twin."""
        assert args[0] == "exec", f"no kubectl twin for `{' '.join(args)}`"
        pod = self.pod(args[1])
        assert pod is not None, f"no pod holds {args[1]}"
        result = self.kubectl("exec", pod["metadata"]["name"], "-c", pod["spec"]["containers"][0]["name"], "--",
                              *args[2:], timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl exec {' '.join(args[1:])} failed: {result.stderr.decode()}")
        return result

    def runs(self, name: str) -> bool:
        pod = self.pod(name)
        return pod is not None and pod["status"].get("phase") == "Running"

    def inspect(self, name: str) -> dict | None:
        """The pod holding `name`, in the shape of `docker inspect`'s fields the scenarios read
        (its labels: oubliette's annotations; its image: the digest the node pulled), and `Pod`."""
        pod = self.pod(name)
        if pod is None:
            return None
        main = pod["spec"]["containers"][0]
        statuses = pod["status"].get("containerStatuses") or [{}]
        labels = {k: v for k, v in pod["metadata"].get("annotations", {}).items() if k != "oubliette.name"}
        return {"Id": pod["metadata"]["uid"], "State": {"Running": pod["status"].get("phase") == "Running"},
                "Image": statuses[0].get("imageID", "").rpartition("@")[2],
                "Config": {"Labels": labels, "WorkingDir": main.get("workingDir"),
                           "Cmd": main.get("args") or main.get("command"),
                           "Env": [f"{e['name']}={e.get('value', '')}" for e in main.get("env", [])]},
                "Pod": pod}

    def labelled(self, label: str) -> list[str]:
        """The uids of the pods (not being deleted) carrying `label` (`key=value`) as oubliette wrote it."""
        key, _, value = label.partition("=")
        return [p["metadata"]["uid"] for p in self.cluster.pods(self.namespace) if not p["metadata"].get(
            "deletionTimestamp") and p["metadata"].get("annotations", {}).get(key) == value]

    def image_of(self, image) -> str:
        return image.digest

    def reported(self, image) -> str:
        return image.digest

    def run_foreign(self, name: str, ref: str) -> str:
        """A pod of the namespace that oubliette did not make, running `ref`, once it runs; its uid."""
        ran = self.kubectl("run", name, f"--image={ref}", "--restart=Never", "--", "sleep", "infinity")
        assert ran.returncode == 0, ran.stderr
        ready = self.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=120s", timeout=150)
        assert ready.returncode == 0, ready.stderr
        return self.pod(name)["metadata"]["uid"]

    def remove(self, name: str) -> None:
        self.kubectl("delete", "pod", name, "--grace-period=0", "--force", "--ignore-not-found")

    def read_workspace(self, home: Path, project_id: str, path: str) -> str:  # noqa: ARG002 - the interface
        """A file of the workspace claim, read in the project's pod (the claim has no other door).
        An exec's stdout now and then comes back empty though the file is not (kubernetes#34256):
        an empty answer is asked again, and it stands only if the file says it is empty."""
        name = f"oubliette-{project_id}"
        for _ in range(5):
            text = self.cli("exec", name, "cat", f"/workspace/{path}").stdout.decode()
            if text or self.cli("exec", name, "test", "-s", f"/workspace/{path}", check=False).returncode != 0:
                return text
        raise AssertionError(f"/workspace/{path} is not empty, yet five reads of it came back empty")

    def write_workspace(self, home: Path, project_id: str, path: str, text: str) -> None:
        """The text goes in the command's arguments, not its stdin, which the apiserver is known to
        drop at random (kubernetes#112834); the file is read back before the scenario goes on."""
        self.cli("exec", f"oubliette-{project_id}", "sh", "-c", 'printf %s "$2" > "/workspace/$1"', "sh", path, text)
        assert self.read_workspace(home, project_id, path) == text, f"/workspace/{path} did not take the text"

    def has_workspace(self, home: Path, project_id: str) -> bool:  # noqa: ARG002 - the interface
        """The project's claim is there (and not being deleted)."""
        return any(c["metadata"].get("annotations", {}).get("oubliette.project") == project_id
                   and not c["metadata"].get("deletionTimestamp") for c in self.cluster.claims(self.namespace))
