"""Kubernetes objects as oubliette makes and reads them: the Pod of a container spec, the
claim of a workspace, and a pod read back as the core's ContainerInfo. Pure functions,
tested without a cluster; engines/kubernetes.py runs `kubectl` with them."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from oubliette.engines import process
from oubliette.engines.kinds import ENGINES
from oubliette.errors import OublietteError
from oubliette.model import LABEL_IMAGE, RUNNING, STOPPED, ContainerInfo, engine_name
from oubliette.validate import check_image_reference as image_ok

if TYPE_CHECKING:
    from oubliette.spec import ContainerSpec

NAME_ANNOTATION = "oubliette.name"  # the model's container name, whole
NAME_LABEL = "oubliette.name"  # ... as a label value: pods are found by it (their own names carry a suffix)
MAIN = "main"  # the pod's one container
LABEL_VALUE_RE = re.compile(r"([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?")
EXIT_LINE_RE = re.compile(re.escape(ENGINES["kubernetes"].exec_trailer or "") + r"\d+")  # kubectl's own line


def dns(name: str) -> str:
    """A model name as a Kubernetes object name."""
    return engine_name(name, "dns")


def pod_name(name: str, suffix: str) -> str:
    """A pod's own name: the model name and a suffix, so that a refresh's new pod can run
    beside the old one (which a rename, a relabel, has set aside) until it is ready."""
    return f"{dns(name)}-{suffix}"


def name_selector(names: Sequence[str]) -> str:
    """The label selector of the pods holding these model names (one call for several); safe
    for an argv as it is: dns() leaves only lower-case letters, digits and '-'."""
    mapped = sorted({dns(name) for name in names})
    return f"{NAME_LABEL}={mapped[0]}" if len(mapped) == 1 else f"{NAME_LABEL} in ({','.join(mapped)})"


def renamed(new: str) -> dict[str, Any]:
    """The merge patch that gives a pod another model name (how a pod is "renamed")."""
    return {"metadata": {"labels": {NAME_LABEL: dns(new)}, "annotations": {NAME_ANNOTATION: new}}}


# --- pure argv builders and manifests --------------------------------------------------


def pod_manifest(spec: ContainerSpec, claims: Mapping[str, str], suffix: str) -> dict[str, Any]:
    """The Pod for a spec, named with `suffix`; `claims` maps each volume to its claim's name.
    A setting a pod cannot honour here (host mounts, published ports, agent forwarding) is an error."""
    if spec.mounts or spec.ro_mounts:
        raise OublietteError("a Kubernetes engine cannot mount directories of this machine",
                             hint="remove \"mounts\" from the type, or use a docker or podman engine")
    if spec.ports:
        raise OublietteError("a Kubernetes engine does not publish ports on this machine",
                             hint="remove \"ports\" from the type and the project, and reach the pod with "
                                  "`kubectl port-forward`")
    if spec.ssh_agent:
        raise OublietteError("a Kubernetes engine cannot forward this machine's ssh agent",
                             hint="turn \"ssh_agent\" off in the type")
    labels = {key: value for key, value in spec.labels.items() if LABEL_VALUE_RE.fullmatch(value)}
    labels[NAME_LABEL] = dns(spec.name)
    annotations = {**spec.labels, NAME_ANNOTATION: spec.name}
    container: dict[str, Any] = {"name": MAIN, "image": image_ok(spec.image), "imagePullPolicy": "Always",
                                 "env": [{"name": k, "value": v} for k, v in spec.env.items()],
                                 "volumeMounts": [{"name": f"v{i}", "mountPath": target}
                                                  for i, (_, target) in enumerate(spec.volumes)]}
    if spec.command:
        container["args"] = list(spec.command)
    if spec.workdir:
        container["workingDir"] = spec.workdir
    limits = {**({"cpu": f"{spec.cpus:g}"} if spec.cpus is not None else {}),
              **({"memory": _quantity(spec.memory)} if spec.memory else {})}
    if limits:
        container["resources"] = {"limits": limits}
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never", "terminationGracePeriodSeconds": 10, "containers": [container],
        "volumes": [{"name": f"v{i}", "persistentVolumeClaim": {"claimName": claims[volume]}}
                    for i, (volume, _) in enumerate(spec.volumes)]}
    if spec.init:  # the pod's pause process is PID 1, as docker's --init: it reaps orphans, and the
        pod_spec["shareProcessNamespace"] = True  # command dies of SIGTERM at stop (no 10 s grace)
    if spec.hostname:
        pod_spec["hostname"] = dns(spec.hostname)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name(spec.name, suffix), "labels": labels, "annotations": annotations},
            "spec": pod_spec}


def _quantity(memory: str) -> str:
    """docker's `4g`, `512m` as Kubernetes quantities (`4Gi`, `512Mi`)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([bkmgt]?)b?", memory.strip().lower())
    if match is None:
        return memory
    number, unit = match.groups()
    return number + {"": "", "b": "", "k": "Ki", "m": "Mi", "g": "Gi", "t": "Ti"}[unit]


def claim_manifest(name: str, labels: Mapping[str, str], size: str, storage_class: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": dns(name), "annotations": dict(labels),
                         "labels": {k: v for k, v in labels.items() if LABEL_VALUE_RE.fullmatch(v)}},
            "spec": spec}


def without_exit_line(result: process.Result) -> process.Result:
    """Drop the `command terminated with exit code N` kubectl adds after a failing command."""
    lines = result.stderr.splitlines(keepends=True)
    if lines and EXIT_LINE_RE.fullmatch(lines[-1].strip()):
        return result._replace(stderr="".join(lines[:-1]))
    return result


# --- parsing ---------------------------------------------------------------------------


def pod_info(pod: dict[str, Any]) -> ContainerInfo:
    """A Pod as the core sees a container: named and labelled as the model made it."""
    meta = pod.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    labels = {k: v for k, v in annotations.items() if k.startswith("oubliette.") and k != NAME_ANNOTATION}
    status = pod.get("status") or {}
    main = _main_status(status)
    image_id = (main.get("imageID") or "").rpartition("@")[2] or None
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    return ContainerInfo(id=meta.get("uid", ""), name=annotations.get(NAME_ANNOTATION) or meta.get("name", ""),
                         status=pod_state(pod), image=labels.get(LABEL_IMAGE) or containers[0].get("image", ""),
                         labels=labels, image_id=image_id if image_id and image_id.startswith("sha256:") else None)


def _main_status(status: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next((c for c in status.get("containerStatuses") or () if c.get("name") == MAIN), {})
    return found


def pod_state(pod: dict[str, Any]) -> str:
    """`running` (its container runs), `stopped` (it ended), `stopping`, else `starting`."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "stopping"
    status = pod.get("status") or {}
    phase = status.get("phase")
    if phase in ("Succeeded", "Failed"):
        return STOPPED
    main = _main_status(status)
    state = main.get("state") or {}
    if "terminated" in state:
        return STOPPED
    return RUNNING if phase == "Running" and "running" in state else "starting"


def ended(pod: dict[str, Any]) -> bool:
    """Its command has ended (whether or not the pod is being deleted): nothing of it runs."""
    status = pod.get("status") or {}
    return status.get("phase") in ("Succeeded", "Failed") or "terminated" in (_main_status(status).get("state") or {})


def parse_pods(stdout: str) -> list[dict[str, Any]]:
    """A `kubectl get pods -o json` listing's pods, each pod holding a model name last among
    those holding it (a pod being deleted first, then the oldest first): read in order, the
    last one seen of a name is the one that holds it now."""
    items = json.loads(stdout).get("items") or []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError("items is not a list of objects")
    return sorted(items, key=_rank)


def _rank(pod: dict[str, Any]) -> tuple[bool, str]:
    meta = pod.get("metadata") or {}
    return not meta.get("deletionTimestamp"), str(meta.get("creationTimestamp") or "")


def ended_reason(pod: dict[str, Any]) -> str:
    """Why the pod's container ended, as the kubelet says it (`StartError: exec: "sleep": ...`):
    a command that never started leaves no log, only this."""
    terminated = (_main_status(pod.get("status") or {}).get("state") or {}).get("terminated") or {}
    reason, message = terminated.get("reason") or "", (terminated.get("message") or "").strip()
    return f"{reason}: {message}" if reason and message else message


def waiting_reason(pod: dict[str, Any]) -> tuple[str, str]:
    """(reason, message) of the pod's container waiting, or of its scheduling."""
    status = pod.get("status") or {}
    main = _main_status(status)
    waiting = (main.get("state") or {}).get("waiting") or {}
    if waiting.get("reason"):
        return waiting["reason"], waiting.get("message") or ""
    for condition in status.get("conditions") or ():
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return condition.get("reason") or "Unschedulable", condition.get("message") or ""
    return "", ""
