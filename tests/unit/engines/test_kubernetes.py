"""KubernetesRuntime: manifests, pod parsing, the start wait and its failures, permissions and
an unreachable API server, with `kubectl` faked (pytest-subprocess) in the shapes v1.20 prints."""

from __future__ import annotations

import json

import pytest

from oubliette.engines import kube_objects as objects
from oubliette.engines import kubernetes as k
from oubliette.engines.endpoints import EngineEntry, parse_engines
from oubliette.errors import (
    AccessDeniedError,
    EngineError,
    EngineUnavailableError,
    ImageNotFoundError,
    OublietteError,
)
from oubliette.model import RUNNING, STOPPED
from tests.unit.engines.test_docker import IMAGE, spec

NAME = "oubliette-proj_0123456789ab"
HELD = "oubliette-proj-0123456789ab"  # the same name, as Kubernetes takes it: the label pods are found by
POD = f"{HELD}-abcde"  # the pod's own name: a suffix, so a new pod can run beside the old one
BY_NAME = ["-l", f"oubliette.name={HELD}"]


@pytest.fixture(autouse=True)
def suffix(monkeypatch):
    import uuid

    monkeypatch.setattr(k.uuid, "uuid4", lambda: uuid.UUID("abcde000-0000-4000-8000-000000000000"))


def runtime(**entry) -> k.KubernetesRuntime:
    rt = k.KubernetesRuntime("kubectl")
    rt.point_at(EngineEntry("cluster", "kubernetes", context="test", namespace="team", workspace="volume",
                            **entry), {})
    return rt


def volume_spec(**overrides):
    return spec(mounts=[], volumes=[("oubliette-ws-proj_0123456789ab", "/workspace")], **overrides)


def pod(phase="Running", state=None, reason=None, message="", scheduled=True, image_id=None, deleting=False,
        name=POD, created="2026-12-03T10:00:00Z"):
    """A pod as `kubectl get pod -o json` prints it (the fields oubliette reads)."""
    state = state or ({"running": {"startedAt": "2026-12-03T10:00:00Z"}} if phase == "Running"
                      else {"waiting": {"reason": reason or "ContainerCreating", "message": message}})
    status = {"phase": phase, "conditions": [
        {"type": "PodScheduled", "status": "True" if scheduled else "False",
         **({} if scheduled else {"reason": "Unschedulable", "message": message})}]}
    if scheduled:
        status["containerStatuses"] = [{"name": "main", "state": state, "image": IMAGE,
                                        "imageID": image_id or ""}]
    meta = {"name": name, "uid": f"{name}-uid", "creationTimestamp": created,
            "labels": {"oubliette.project": "proj_0123456789ab", "oubliette.name": HELD},
            "annotations": {"oubliette.name": NAME, "oubliette.project": "proj_0123456789ab",
                            "oubliette.image": IMAGE, "oubliette.type": "dev"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-03T10:00:00Z"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": "main", "image": IMAGE}]}, "status": status}


KUBECTL = ["kubectl", "--request-timeout=30s", "--context", "test", "--namespace", "team"]
WATCH = ["kubectl", "--context", "test", "--namespace", "team", "get", "pod", POD, "--watch", "-o", "json"]


def watched(*pods: dict) -> str:
    """What `kubectl get pod --watch -o json` prints: each state, pretty-printed, as it changes."""
    return "".join(json.dumps(p, indent=4) + "\n" for p in pods)


# --- manifests and parsing ----------------------------------------------------------------


def test_a_pod_is_named_and_labelled_as_kubernetes_accepts_with_the_model_names_in_annotations():
    manifest = objects.pod_manifest(volume_spec(cpus=1.5, memory="4g", hostname="My_Web"), {
        "oubliette-ws-proj_0123456789ab": "oubliette-ws-proj-0123456789ab"}, "abcde")
    meta, pod_spec = manifest["metadata"], manifest["spec"]
    assert meta["name"] == POD and meta["annotations"]["oubliette.name"] == NAME
    assert meta["labels"]["oubliette.name"] == HELD
    assert meta["annotations"]["oubliette.image"] == IMAGE and "oubliette.image" not in meta["labels"]
    assert meta["labels"]["oubliette.project"] == "proj_0123456789ab"
    main = pod_spec["containers"][0]
    assert main["image"] == IMAGE and main["args"] == ["sleep", "infinity"] and main["imagePullPolicy"] == "Always"
    assert main["resources"] == {"limits": {"cpu": "1.5", "memory": "4Gi"}} and pod_spec["hostname"] == "my-web"
    assert main["volumeMounts"] == [{"name": "v0", "mountPath": "/workspace"}]
    claim = {"claimName": "oubliette-ws-proj-0123456789ab"}
    assert pod_spec["volumes"] == [{"name": "v0", "persistentVolumeClaim": claim}]
    assert pod_spec["restartPolicy"] == "Never" and pod_spec["shareProcessNamespace"] is True  # --init's part


@pytest.mark.parametrize("setting", [{"ports": ["127.0.0.1:8080:8080"]}, {"ssh_agent": "/tmp/agent.sock"},
                                     {"ro_mounts": [("/etc/x", "/x")]}])
def test_a_setting_a_pod_cannot_honour_is_an_error_not_a_silent_drop(setting):
    with pytest.raises(OublietteError, match="Kubernetes engine"):
        objects.pod_manifest(volume_spec(**setting), {"oubliette-ws-proj_0123456789ab": "ws"}, "abcde")
    with pytest.raises(OublietteError, match="cannot mount directories"):
        objects.pod_manifest(spec(), {}, "abcde")  # a bind-mounted workspace


def test_pods_read_back_as_the_model_made_them():
    info = objects.pod_info(pod(image_id=f"localhost:5000/oubliette-base@sha256:{'a' * 64}"))
    assert (info.name, info.status, info.image, info.image_id) == (NAME, RUNNING, IMAGE, "sha256:" + "a" * 64)
    assert info.labels["oubliette.type"] == "dev" and "oubliette.name" not in info.labels
    assert objects.pod_info(pod(phase="Pending")).status == "starting"
    assert objects.pod_info(pod(phase="Failed", state={"terminated": {"exitCode": 127}})).status == STOPPED
    assert objects.pod_info(pod(deleting=True)).status == "stopping"


def test_the_engine_entry_is_validated_with_the_key_in_the_error():
    def error(key, problem):
        return ValueError(f"{key}: {problem}")

    entry = parse_engines({"c": {"runtime": "kubernetes", "namespace": "team", "context": "prod",
                                 "storage_class": "fast", "workspace_size": "20Gi"}}, error)["c"]
    assert (entry.namespace, entry.context) == ("team", "prod")
    assert (entry.storage_class, entry.workspace_size) == ("fast", "20Gi")
    assert entry.endpoint == "context prod, namespace team"
    for bad, key in [({"namespace": "Team!"}, "c.namespace"), ({"workspace_size": "lots"}, "c.workspace_size"),
                     ({"host": "ssh://x"}, "c.host"), ({"context": "--all"}, "c.context")]:
        with pytest.raises(ValueError, match=key):
            parse_engines({"c": {"runtime": "kubernetes", **bad}}, error)


# --- calls ---------------------------------------------------------------------------------


def test_start_waits_until_the_pod_runs(fp):
    rt = runtime()
    fp.register([*KUBECTL, "create", "-f", "-"], stdout=f"pod/{POD} created\n")
    fp.register(WATCH, stdout=watched(pod(phase="Pending"), pod()))
    assert rt.run(volume_spec()) == f"{POD}-uid"


@pytest.mark.parametrize(("message", "error"), [
    ('rpc error: code = NotFound desc = failed to pull and unpack image "x": not found', ImageNotFoundError),
    ("failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized", AccessDeniedError),
])
def test_an_image_the_node_cannot_pull_is_classified_like_other_engines(fp, message, error):
    rt = runtime()
    fp.register([*KUBECTL, "create", "-f", "-"], stdout=f"pod/{POD} created\n")
    fp.register(WATCH, stdout=watched(pod(phase="Pending", reason="ErrImagePull", message=message)))
    with pytest.raises(error) as caught:
        rt.run(volume_spec())
    assert IMAGE in caught.value.message


def test_a_pod_that_stays_unschedulable_is_one_error_with_the_schedulers_reason(fp, monkeypatch):
    monkeypatch.setattr(k, "UNSCHEDULABLE_GRACE_SECONDS", 0.0)
    rt = runtime()
    why = "0/1 nodes are available: 1 node(s) were unschedulable."
    fp.register([*KUBECTL, "create", "-f", "-"], stdout=f"pod/{POD} created\n")
    fp.register(WATCH, stdout=watched(pod(phase="Pending", scheduled=False, message=why)))
    with pytest.raises(EngineError, match="cannot be scheduled: 0/1 nodes"):
        rt.run(volume_spec())


def test_a_missing_permission_names_the_verb_and_the_resource(fp):
    rt = runtime()
    fp.register([*KUBECTL, "get", "pods", *BY_NAME, "-o", "json"], stdout=json.dumps({"items": [pod()]}))
    fp.register(["kubectl", "--context", "test", "--namespace", "team", "exec", POD, "-c", "main", "--", "true"],
                returncode=1, stderr='Error from server (Forbidden): pods "x" is forbidden: User '
                '"system:serviceaccount:team:oubliette" cannot create resource "pods/exec" in API group "" '
                'in the namespace "team"\n')
    result = rt.exec_capture(NAME, ["true"])
    error = rt.classify(result)
    assert error.message == "the cluster does not let this user create pods/exec in the namespace team"
    assert "Role" in (error.hint or "")


def test_an_unreachable_api_server_is_exit_3_naming_the_context(fp):
    rt = runtime()
    fp.register([*KUBECTL, "get", "pods", "-l", "oubliette.home=h1", "-o", "json"], returncode=1,
                stderr="The connection to the server 127.0.0.1:16444 was refused - did you specify the right "
                       "host or port?\n")
    fp.register(["kubectl", "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}",
                 "--context", "test"], stdout="https://127.0.0.1:16444")
    with pytest.raises(EngineUnavailableError) as caught:
        rt.list_containers("oubliette.home=h1")
    assert caught.value.exit_code == 3
    assert "context test, namespace team" in caught.value.message and "127.0.0.1:16444" in caught.value.message
    assert "API server" not in caught.value.message  # kubectl named it already


def test_an_api_server_that_stops_answering_is_named_from_the_kubeconfig(fp):
    rt = runtime()
    fp.register([*KUBECTL, "get", "pods", "-l", "oubliette.home=h1", "-o", "json"], returncode=1,
                stderr="Unable to connect to the server: net/http: TLS handshake timeout\n")
    fp.register(["kubectl", "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}",
                 "--context", "test"], stdout="https://10.0.0.7:6443")
    with pytest.raises(EngineUnavailableError) as caught:
        rt.list_containers("oubliette.home=h1")
    assert caught.value.exit_code == 3
    assert "context test, namespace team" in caught.value.message
    assert "API server https://10.0.0.7:6443: Unable to connect" in caught.value.message


def test_exec_wraps_env_workdir_and_user_that_kubectl_exec_does_not_take(fp):
    rt = runtime()
    for _ in range(2):
        fp.register([*KUBECTL, "get", "pods", *BY_NAME, "-o", "json"], stdout=json.dumps({"items": []}))
    assert rt.inspect(NAME) is None  # no pod holds the name: kubectl is told the name, and says "not found"
    assert rt.exec_argv(NAME, ["id"], tty=False)[7] == HELD
    fp.register([*KUBECTL, "get", "pods", *BY_NAME, "-o", "json"], stdout=json.dumps({"items": [pod()]}))
    assert rt.inspect(NAME).status == RUNNING  # the look before an exec: it remembers the pod
    argv = rt.exec_argv(NAME, ["id"], tty=True, env={"A": "1"}, workdir="/workspace/src", user="dev")
    assert argv[:9] == ["kubectl", "--context", "test", "--namespace", "team", "exec", "-i", "-t", POD]
    tail = argv[argv.index("--") + 1:]
    assert tail[:2] == ["env", "A=1"] and tail[-1] == "id" and "/workspace/src" in tail
    assert "--reuid=dev" in tail
    assert "setpriv" not in rt.exec_argv(NAME, ["id"], tty=False, user="0")
    assert len(fp.calls) == 3  # the looks; the execs after one that found the pod asked nothing more


def test_stop_deletes_the_pod_once_its_command_has_ended_and_keeps_the_claim(fp):
    rt = runtime()
    fp.register([*KUBECTL, "delete", "pods", *BY_NAME, "--ignore-not-found", "--wait=false", "--grace-period=10"])
    stopping = pod(deleting=True)
    ended = pod(deleting=True, phase="Failed", state={"terminated": {"exitCode": 143}})
    for seen in (stopping, ended):  # looked at until its command has ended...
        fp.register([*KUBECTL, "get", "pods", *BY_NAME, "-o", "json"], stdout=json.dumps({"items": [seen]}))
    fp.register([*KUBECTL, "delete", "pods", *BY_NAME, "--ignore-not-found", "--wait=true", "--grace-period=0",
                 "--force"])  # ...then its object goes at once, not when the kubelet gets to it
    rt.stop([NAME])
    assert len(fp.calls) == 4
    assert not any("pvc" in call for call in fp.calls)


def test_a_captured_exec_keeps_the_commands_own_stderr_and_kubectls_refusal_is_an_error():
    from oubliette.engines.process import Result

    rt = runtime()
    ran = rt.exec_result(Result(["kubectl"], 3, "out\n", "err\ncommand terminated with exit code 3\n"))
    assert (ran.returncode, ran.stdout, ran.stderr) == (3, "out\n", "err\n")
    forbidden = ('Error from server (Forbidden): pods "x" is forbidden: User "u" cannot create resource '
                 '"pods/exec" in API group "" in the namespace "team"\n')
    with pytest.raises(EngineError, match="does not let this user create pods/exec"):
        rt.exec_result(Result(["kubectl"], 1, "", forbidden))


def test_a_registry_that_times_out_for_the_node_is_not_an_unreachable_api_server(fp):
    from oubliette.errors import RegistryUnreachableError

    rt = runtime()
    fp.register([*KUBECTL, "create", "-f", "-"], stdout=f"pod/{POD} created\n")
    timed_out = 'failed to resolve reference "x": dial tcp 10.0.0.9:443: i/o timeout'
    fp.register(WATCH, stdout=watched(pod(phase="Pending", reason="ErrImagePull", message=timed_out)))
    with pytest.raises(RegistryUnreachableError):
        rt.run(volume_spec())


def test_a_rename_relabels_the_pod_which_keeps_running_under_its_own_name(fp):
    rt = runtime()
    fp.register([*KUBECTL, "get", "pods", *BY_NAME, "-o", "json"], stdout=json.dumps({"items": [pod()]}))
    patch = {"metadata": {"labels": {"oubliette.name": f"{HELD}-previous"},
                          "annotations": {"oubliette.name": f"{NAME}-previous"}}}
    fp.register([*KUBECTL, "patch", "pod", POD, "--type", "merge", "-p", json.dumps(patch)])
    rt.rename(NAME, f"{NAME}-previous")
    assert rt.logs_argv(f"{NAME}-previous")[-1] == POD  # known without asking again
    assert len(fp.calls) == 2


def test_several_names_are_one_listing_and_a_pod_being_deleted_yields_its_name_to_the_new_one(fp):
    rt = runtime()
    old = pod(name=f"{HELD}-old00", deleting=True, created="2026-12-03T09:00:00Z")
    new = pod(name=POD, created="2026-12-03T10:00:00Z")
    aside = pod(name=f"{HELD}-aside")
    aside["metadata"]["annotations"]["oubliette.name"] = f"{NAME}-previous"
    aside["metadata"]["labels"]["oubliette.name"] = f"{HELD}-previous"
    selector = f"oubliette.name in ({HELD},{HELD}-previous,oubliette-proj-ffffffffffff)"
    fp.register([*KUBECTL, "get", "pods", "-l", selector, "-o", "json"],
                stdout=json.dumps({"items": [new, aside, old]}))
    found = rt.inspect_many([NAME, f"{NAME}-previous", "oubliette-proj_ffffffffffff"])
    assert [(i.name, i.id, i.status) for i in found] == [(NAME, f"{POD}-uid", RUNNING),
                                                        (f"{NAME}-previous", f"{HELD}-aside-uid", RUNNING)]
    assert rt.pod_of(NAME) == POD and len(fp.calls) == 1


# --- a refresh's swap on a cluster: the new pod beside the old one ------------------------------


class Pods(k.KubernetesRuntime):
    """Pods in memory, and the order things happened to them."""

    def __init__(self, fails: bool = False, digest: str = "sha256:new") -> None:
        super().__init__("kubectl")
        self.pods: dict[str, str] = {NAME: "old"}  # model name -> pod
        self.events: list[str] = []
        self.fails, self.digest = fails, digest

    def run(self, spec):
        self.pods[spec.name] = "new"
        self.events.append("new runs" if not self.fails else "new fails")
        return "new-uid"

    def inspect(self, name):
        if name not in self.pods:
            return None
        pod = self.pods[name]
        running = pod == "old" or not self.fails
        return objects.ContainerInfo(f"{pod}-uid", name, RUNNING if running else STOPPED, IMAGE,
                                     {"oubliette.project": "proj_0123456789ab"},
                                     image_id=self.digest if pod == "new" else "sha256:old")

    def logs_tail(self, name, lines=5):
        return "sleep: not found"

    def rename(self, old, new):
        self.pods[new] = self.pods.pop(old)
        self.events.append(f"{self.pods[new]} is {new.rpartition('-')[2]}")

    def remove(self, names, force=False):
        for name in names:
            self.events.append(f"{self.pods.pop(name)} deleted")


def test_a_refreshs_new_pod_runs_before_the_old_one_goes():
    from oubliette.ops import swap

    pods = Pods()
    old = pods.inspect(NAME)
    replaced, new = swap._replace_beside(pods, volume_spec(labels={"oubliette.project": "proj_0123456789ab"}), old,
                                         f"{NAME}-previous", None)
    assert replaced and new is not None and new.name == NAME
    assert pods.events == ["old is previous", "new runs", "old deleted"]
    assert pods.pods == {NAME: "new"}


def test_a_new_pod_that_does_not_run_leaves_the_old_one_running_untouched():
    from oubliette.ops import swap

    pods = Pods(fails=True)
    with pytest.raises(swap.RolledBack, match="sleep: not found.*the previous one runs on"):
        swap._replace_beside(pods, volume_spec(labels={"oubliette.project": "proj_0123456789ab"}),
                             pods.inspect(NAME), f"{NAME}-previous", None)
    assert pods.events == ["old is previous", "new fails", "new deleted", "old is proj_0123456789ab"]
    assert pods.pods == {NAME: "old"}


def test_if_changed_keeps_the_old_pod_when_the_new_ones_node_pulled_the_same_digest():
    from oubliette.ops import swap

    pods = Pods(digest="sha256:old")
    old = pods.inspect(NAME)
    replaced, new = swap._replace_beside(pods, volume_spec(labels={"oubliette.project": "proj_0123456789ab"}), old,
                                         f"{NAME}-previous", lambda new: new.image_id == old.image_id)
    assert not replaced and new is None and pods.pods == {NAME: "old"}
    assert pods.events == ["old is previous", "new runs", "new deleted", "old is proj_0123456789ab"]


def test_a_start_follows_the_pod_and_ends_at_the_change_it_waits_for_not_the_next_poll(tmp_path):
    """A real process that watches on after the pod runs: the start returns at that change
    and stops the watch (no kubectl left behind)."""
    import os
    import sys
    import time

    states = tmp_path / "states.json"
    states.write_text(watched(pod(phase="Pending"), pod(phase="Pending", reason="ContainerCreating")) + "@"
                      + watched(pod()))
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(f"""#!{sys.executable}
import os, sys, time
if "create" in sys.argv:
    sys.stdin.read(); print("pod created"); sys.exit(0)
open({str(tmp_path / "pid")!r}, "w").write(str(os.getpid()))
before, after = open({str(states)!r}).read().split("@")
sys.stdout.write(before); sys.stdout.flush(); time.sleep(0.3)
sys.stdout.write(after); sys.stdout.flush(); time.sleep(60)
""")
    kubectl.chmod(0o755)
    rt = k.KubernetesRuntime(str(kubectl))
    rt.point_at(EngineEntry("cluster", "kubernetes", context="test", namespace="team", workspace="volume"), {})
    began = time.monotonic()
    assert rt.run(volume_spec()) == f"{POD}-uid"
    assert 0.3 <= time.monotonic() - began < 5
    pid = int((tmp_path / "pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped, and reaped


@pytest.mark.parametrize(("printed", "error"), [
    ("[1, 2]\n}\n", "cannot read"),  # not an object
    ("{\n" + '"x": "' + "y" * (2 << 20) + '"\n}\n', "cannot read"),  # over the bound
    ("", "was deleted while it started"),  # kubectl ended with nothing more: the pod went away
])
def test_what_a_watch_prints_is_bounded_and_anything_but_a_pod_is_an_error(fp, printed, error):
    rt = runtime()
    fp.register([*KUBECTL, "create", "-f", "-"], stdout=f"pod/{POD} created\n")
    fp.register(WATCH, stdout=printed)
    with pytest.raises(EngineError, match=error):
        rt.run(volume_spec())


def test_a_watch_refused_is_classified_as_kubectls_other_errors(fp):
    rt = runtime()
    fp.register([*KUBECTL, "create", "-f", "-"], stdout=f"pod/{POD} created\n")
    fp.register(WATCH, returncode=1, stderr='Error from server (Forbidden): pods "x" is forbidden: User "u" cannot '
                'watch resource "pods" in API group "" in the namespace "team"\n')
    with pytest.raises(EngineError, match="does not let this user watch pods in the namespace team"):
        rt.run(volume_spec())


def test_a_pod_gone_at_once_needs_no_more_than_its_delete(fp):
    rt = runtime()
    fp.register([*KUBECTL, "delete", "pods", *BY_NAME, "--ignore-not-found", "--wait=false", "--grace-period=10"])
    fp.register([*KUBECTL, "get", "pods", *BY_NAME, "-o", "json"], stdout=json.dumps({"items": []}))
    rt.stop([NAME])
    assert len(fp.calls) == 2


def test_a_pod_name_kubernetes_would_not_accept_never_reaches_kubectls_argv(fp):
    rt = runtime()
    fp.register([*KUBECTL, "get", "pods", *BY_NAME, "-o", "json"],
                stdout=json.dumps({"items": [pod(name="--kubeconfig=/tmp/evil")]}))
    assert rt.pod_of(NAME) == HELD  # not the listed name: kubectl is told the model's, and says "not found"


# --- warming the nodes (init) -----------------------------------------------------------------


def node(name, ready=True, cordoned=False):
    return {"metadata": {"name": name}, "spec": {"unschedulable": True} if cordoned else {},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_warming_pulls_the_image_on_each_ready_schedulable_node_with_a_pod_of_its_own(fp, monkeypatch):
    import uuid

    from oubliette.engines import kube_nodes

    monkeypatch.setattr(kube_nodes.uuid, "uuid4", lambda: uuid.UUID("0badcafe-0000-4000-8000-000000000000"))
    monkeypatch.setattr(kube_nodes, "WARM_POLL_SECONDS", 0.0)
    rt = runtime()
    fp.register([*KUBECTL, "get", "nodes", "-o", "json"], stdout=json.dumps({"items": [
        node("n1"), node("n2"), node("n3", cordoned=True), node("n4", ready=False)]}))
    fp.register([*KUBECTL, "create", "-f", "-"], stdout="pod/oubliette-warm-0badcafe-0 created\n")

    def warming(name, **status):
        return {"metadata": {"name": name}, "spec": {"nodeName": name[-2:]}, "status": status}

    pulling = warming("oubliette-warm-0badcafe-n1", phase="Pending",
                      containerStatuses=[{"name": "main", "state": {"waiting": {"reason": "ContainerCreating"}}}])
    done = warming("oubliette-warm-0badcafe-n1", phase="Succeeded",
                   containerStatuses=[{"name": "main", "state": {"terminated": {"exitCode": 0}}}])
    denied = warming("oubliette-warm-0badcafe-n2", phase="Pending", containerStatuses=[
        {"name": "main", "state": {"waiting": {"reason": "ErrImagePull", "message": "401 Unauthorized"}}}])
    listing = [*KUBECTL, "get", "pods", "-l", "oubliette.warm=0badcafe", "-o", "json"]
    fp.register(listing, stdout=json.dumps({"items": [pulling, denied]}))
    fp.register(listing, stdout=json.dumps({"items": [done, denied]}))
    fp.register([*KUBECTL, "delete", "pods", "-l", "oubliette.warm=0badcafe", "--ignore-not-found", "--wait=false",
                 "--grace-period=0", "--force"])
    said = rt.warm(IMAGE)
    assert said == "pulled on 1 of 2 node(s) (n1); n2: ErrImagePull: 401 Unauthorized"
    assert len(fp.calls) == 5  # nodes, create, two looks, the clean-up


def test_the_warming_pods_are_one_per_node_pinned_there_and_pull_always():
    from oubliette.engines import kube_nodes

    pod_ = kube_nodes.warm_pod(IMAGE, "n2", "0badcafe", 1)
    assert pod_["metadata"] == {"name": "oubliette-warm-0badcafe-1", "labels": {"oubliette.warm": "0badcafe"}}
    assert pod_["spec"]["nodeName"] == "n2" and pod_["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    with pytest.raises(OublietteError):
        kube_nodes.warm_pod("--evil", "n2", "0badcafe", 1)


def test_a_command_that_never_started_is_told_by_the_kubelets_reason_as_it_leaves_no_log(fp):
    rt = runtime()
    why = ('failed to create containerd task: OCI runtime create failed: exec: "sleep": executable file not '
           'found in $PATH: unknown')
    dead = pod(phase="Failed", state={"terminated": {"reason": "StartError", "message": why, "exitCode": 128}})
    fp.register([*KUBECTL, "get", "pods", *BY_NAME, "-o", "json"], stdout=json.dumps({"items": [dead]}), occurrences=2)
    logs = ["kubectl", "--context", "test", "--namespace", "team", "logs", "--tail=5", POD]
    fp.register(logs)
    assert rt.logs_tail(NAME) == f"StartError: {why}"
    fp.register(logs, stdout="exec sleep failed\n")
    assert rt.logs_tail(NAME) == "exec sleep failed"  # a log, where there is one, is the command's own word
