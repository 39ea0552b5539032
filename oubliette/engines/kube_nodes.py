"""What oubliette asks of a cluster beyond its namespace's pods: the API server a context
points at (for errors), the permissions `doctor` checks, and warming images on the nodes
(`init`), as far as the user's Role allows. Used by engines/kubernetes.py."""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

from oubliette.engines import process
from oubliette.engines.kube_objects import MAIN, ended, waiting_reason
from oubliette.errors import EngineError
from oubliette.validate import check_argv_safe as name_ok
from oubliette.validate import check_image_reference as image_ok

if TYPE_CHECKING:
    from oubliette.engines.kubernetes import KubernetesRuntime

NEEDED = (("get", "pods"), ("list", "pods"), ("watch", "pods"), ("create", "pods"), ("delete", "pods"),
          ("patch", "pods"), ("create", "pods/exec"), ("get", "pods/log"), ("create", "persistentvolumeclaims"),
          ("delete", "persistentvolumeclaims"))
WARM_SECONDS = 600  # a first pull of a large image, on every node at once
WARM_POLL_SECONDS = 0.5
WARM_LABEL = "oubliette.warm"
STARTED_OR_PULLED = ("CreateContainerError", "RunContainerError", "CreateContainerConfigError")  # after its pull


def server(runtime: KubernetesRuntime) -> str | None:
    """The API server the context points at, as the kubeconfig says (no request to it)."""
    argv = [runtime.binary, "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}",
            *(["--context", name_ok(runtime.context)] if runtime.context else [])]
    try:
        result = process.capture(argv, timeout=10, env=runtime.env)
    except process.ProcessError:
        return None
    found = result.stdout.strip()
    return found if result.ok and 0 < len(found) < 300 and found.isprintable() else None


def health(runtime: KubernetesRuntime) -> list[tuple[str, bool | None, str]]:
    """Each permission the Role must grant (`kubectl auth can-i`), and the storage class."""
    checks: list[tuple[str, bool | None, str]] = []
    where = f"in the namespace {runtime.namespace}" if runtime.namespace else "in the context's namespace"
    for verb, resource in NEEDED:
        kind, _, sub = resource.partition("/")  # `pods/exec` alone would read as the pod named exec
        result = runtime._call(runtime.kubectl("auth", "can-i", verb, kind, *([f"--subresource={sub}"] if sub else [])),
                               check=False)
        allowed = result.stdout.strip() == "yes"
        checks.append((f"{verb} {resource}", allowed, ("allowed " if allowed else "not allowed ") + where))
    if runtime.storage_class:
        result = runtime._call(runtime.kubectl("get", "storageclass", name_ok(runtime.storage_class), "-o", "name"),
                               check=False)
        text = result.stderr.lower()
        found: bool | None = True if result.ok else None if "forbidden" in text else False
        checks.append((f"storage class {runtime.storage_class}", found,
                       {True: "exists", None: "cannot tell (this user may not read storage classes)",
                        False: "not found"}[found]))
    return checks


def schedulable_nodes(listing: str) -> list[str]:
    """The Ready, schedulable nodes of a `kubectl get nodes -o json`."""
    names = []
    for node in json.loads(listing).get("items") or ():
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (node.get("status") or {}).get("conditions") or ())
        name = (node.get("metadata") or {}).get("name")
        if ready and not (node.get("spec") or {}).get("unschedulable") and isinstance(name, str):
            names.append(name_ok(name))
    return names


def warm_pod(image: str, node: str, batch: str, index: int) -> dict[str, Any]:
    """A pod that only pulls `image` on `node` (its command, `true`, may even be missing)."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"oubliette-warm-{batch}-{index}", "labels": {WARM_LABEL: batch}},
            "spec": {"nodeName": node, "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": MAIN, "image": image_ok(image), "imagePullPolicy": "Always",
                                     "command": ["true"]}]}}


def warm(runtime: KubernetesRuntime, image: str) -> str:
    """Pull `image` on every schedulable node, with one short pod each, and say what was done.
    Listing the nodes is cluster-wide: a user bound to a namespace's Role may not, and then
    the nodes pull when a pod starts, as without this."""
    listed = runtime._call(runtime.kubectl("get", "nodes", "-o", "json"), check=False)
    if not listed.ok:
        if "forbidden" in listed.stderr.lower():
            return "this user may not list the cluster's nodes: each node pulls it when a project's pod starts there"
        raise runtime.classify(listed)
    nodes = runtime.parse(listed, schedulable_nodes)
    if not nodes:
        return "no node is Ready and schedulable: nothing pulled"
    batch = uuid.uuid4().hex[:8]
    pods = {"apiVersion": "v1", "kind": "List", "items": [warm_pod(image, n, batch, i) for i, n in enumerate(nodes)]}
    created = runtime._call(runtime.kubectl("create", "-f", "-"), stdin=json.dumps(pods).encode(), check=False)
    try:
        if not created.ok:
            raise runtime.classify(created)
        pulled, failed = _await_pulls(runtime, batch, len(nodes))
    finally:
        runtime._call(runtime.kubectl("delete", "pods", "-l", f"{WARM_LABEL}={batch}", "--ignore-not-found",
                                      "--wait=false", "--grace-period=0", "--force"), check=False)
    said = f"pulled on {len(pulled)} of {len(nodes)} node(s)" + (f" ({', '.join(sorted(pulled))})" if pulled else "")
    return said + "".join(f"; {node}: {why}" for node, why in sorted(failed.items()))


def _await_pulls(runtime: KubernetesRuntime, batch: str, count: int) -> tuple[set[str], dict[str, str]]:
    """Each warming pod's node, once its pull is done (its command ran, or could not be
    created after the pull) or failed (and why); bounded by WARM_SECONDS."""
    deadline = time.monotonic() + WARM_SECONDS
    pulled: set[str] = set()
    failed: dict[str, str] = {}
    while len(pulled) + len(failed) < count:
        result = runtime._call(runtime.kubectl("get", "pods", "-l", f"{WARM_LABEL}={batch}", "-o", "json"))
        for pod in runtime.parse(result, lambda out: json.loads(out).get("items") or []):
            node = str((pod.get("spec") or {}).get("nodeName") or "?")
            reason, message = waiting_reason(pod)
            statuses = (pod.get("status") or {}).get("containerStatuses") or []
            if ended(pod) or reason in STARTED_OR_PULLED or any("running" in (s.get("state") or {}) for s in statuses):
                pulled.add(node)
            elif reason in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName"):
                failed[node] = f"{reason}: {message}"[:300]
        if len(pulled) + len(failed) < count:
            if time.monotonic() >= deadline:
                raise EngineError(f"the nodes did not pull within {WARM_SECONDS} s "
                                  f"(pulled on {len(pulled)} of {count})")
            time.sleep(WARM_POLL_SECONDS)
    return pulled, failed
