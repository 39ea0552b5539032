"""KubernetesRuntime: drives `kubectl`, so a kubeconfig's contexts, users and RBAC apply as-is.

A project's container is a Pod in the engine's namespace; its /workspace a PersistentVolumeClaim.
A pod cannot be restarted (a stopped project has no pod), and the nodes pull images when a
pod starts. A pod's own name carries a suffix; the model's name is a label it is found by,
so a "rename" is a relabel, and a refresh's new pod runs beside the old one until it is
ready. Names and label values are mapped to what Kubernetes accepts: the model's own name
and every label travel whole as annotations, and are read back from them.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from oubliette.engines import process
from oubliette.engines.base import QUICK_SECONDS, RUN_SECONDS, STOP_SECONDS, Runtime
from oubliette.engines.kinds import ENGINES
from oubliette.engines.kube_objects import (
    LABEL_VALUE_RE,
    MAIN,
    NAME_ANNOTATION,
    claim_manifest,
    dns,
    ended,
    ended_reason,
    name_selector,
    parse_pods,
    pod_info,
    pod_manifest,
    pod_state,
    renamed,
    waiting_reason,
    without_exit_line,
)
from oubliette.engines.wording import ErrorTexts
from oubliette.errors import EngineError, EngineOutputError, EngineUnavailableError
from oubliette.model import RUNNING, STOPPED, ContainerInfo
from oubliette.validate import check_argv_safe as name_ok

if TYPE_CHECKING:
    from oubliette.engines.endpoints import EngineEntry
    from oubliette.engines.watch import Watch
    from oubliette.spec import ContainerSpec


PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
UNSCHEDULABLE_GRACE_SECONDS = 10.0  # a claim binding or a node joining can make it schedulable
POD_NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")  # what the API server accepts as a name
STOP_POLL_SECONDS = 0.2  # a stop looks this often whether the pods' commands have ended
FORBIDDEN_RE = re.compile(r'cannot (\w+) resource "([^"]+)"(?: in API group "[^"]*")?(?: in the namespace "([^"]+)")?')

START_HINT = ("check the cluster's API server and your kubeconfig (`kubectl cluster-info`, "
              "`kubectl config get-contexts`)")


TEXTS = ErrorTexts(
    # kubectl's own words about its API server (a node's pull that times out says "i/o timeout" too:
    # that is the registry, and is classified as unreachable below)
    not_running=("unable to connect to the server", "the connection to the server", "was refused - did you specify",
                 "no configuration has been provided", "context was not found", "the server has asked for the "
                 "client to provide credentials"),
    denied=("unauthorized", "denied", "authentication required", "forbidden", "403"),
    unreachable=("connection refused", "no such host", "network is unreachable", "no route to host",
                 "dial tcp", "temporary failure in name resolution", "http: server gave http response",
                 "i/o timeout", "tls handshake timeout"),
    not_found=("not found", "manifest unknown", "name unknown", "repository does not exist"),
    not_running_message="the cluster's API server cannot be reached",
    start_hint=START_HINT,
    pull_command=ENGINES["kubernetes"].pull_command,
    login_command="kubectl create secret docker-registry",
    exec_refused=("error from server (forbidden)", "error from server (notfound)", "unable to upgrade connection",
                  "container not found", "cannot exec into a container in a completed pod"),
)


class KubernetesRuntime(Runtime):
    kind = ENGINES["kubernetes"]
    texts = TEXTS
    context: str | None = None
    namespace: str | None = None
    storage_class: str | None = None
    workspace_size = "10Gi"

    def __init__(self, binary: str) -> None:
        super().__init__(binary)
        self._pods: dict[str, str] = {}  # model name -> the pod holding it, as last seen (journalled views share it)

    def point_at(self, entry: EngineEntry, env: Mapping[str, str]) -> None:
        super().point_at(entry, env)
        self.context, self.namespace = entry.context, entry.namespace
        self.storage_class = entry.storage_class
        self.workspace_size = entry.workspace_size or self.workspace_size

    def kubectl(self, *args: str) -> list[str]:
        """`kubectl` with this engine's context and namespace, then `args`."""
        quick = args[0] not in ("exec", "logs") and "--watch" not in args  # streams: bounded by their callers
        argv = [self.binary, *(["--request-timeout=30s"] if quick else [])]
        if self.context:
            argv += ["--context", name_ok(self.context)]
        if self.namespace:
            argv += ["--namespace", name_ok(self.namespace)]
        return argv + list(args)

    # --- probing and images ------------------------------------------------------------

    def version_text(self) -> str | None:
        try:
            result = process.capture([self.binary, "version", "--client", "-o", "json"], timeout=30, env=self.env)
            version = json.loads(result.stdout)["clientVersion"]["gitVersion"] if result.ok else None
        except (process.ProcessError, ValueError, KeyError, TypeError):
            return None
        return f"kubectl {version}" if isinstance(version, str) else None

    def is_running(self) -> bool:
        try:
            return process.capture(self.kubectl("get", "--raw", "/version"), timeout=30, env=self.env).ok
        except process.ProcessError:
            return False

    def unreachable(self, error: EngineUnavailableError, said: str, detail: str = "") -> EngineUnavailableError:
        """As other engines', naming the API server: kubectl's own words (a TLS handshake that
        timed out, a request past its deadline) do not always say which one."""
        from oubliette.engines import kube_nodes

        server = kube_nodes.server(self)
        if server and server.partition("://")[2].split("/")[0] not in said:
            said = f"API server {server}: {said}"
        return super().unreachable(error, said, detail)

    def health(self) -> list[tuple[str, bool | None, str]]:
        """Each permission the Role must grant (`kubectl auth can-i`), and the storage class."""
        from oubliette.engines import kube_nodes

        return kube_nodes.health(self)

    def image_id(self, ref: str) -> str | None:  # noqa: ARG002 - the interface
        """The client holds no images: the nodes pull them (kind.client_pulls is False)."""
        return None

    def image_exists(self, ref: str) -> bool:  # noqa: ARG002 - the interface
        return True

    def pull(self, ref: str, out: TextIO | None = None, err: TextIO | None = None) -> None:  # noqa: ARG002
        """Nothing to pull here: the node pulls the image when the pod starts."""

    def warm(self, ref: str) -> str:
        """Pull `ref` on every node ahead of the pods (init), as far as this user may."""
        from oubliette.engines import kube_nodes

        return kube_nodes.warm(self, ref)

    # --- pods ------------------------------------------------------------------------------

    def classify(self, result: process.Result, image: str | None = None) -> EngineError:
        match = FORBIDDEN_RE.search(result.stderr)
        if match and "forbidden" in result.stderr.lower():
            verb, resource, namespace = match.groups()
            where = f" in the namespace {namespace}" if namespace else ""
            return EngineError(f"the cluster does not let this user {verb} {resource}{where}",
                               hint=f"grant `{verb}` on `{resource}` in the Role oubliette's user is bound to "
                                    "(README: Kubernetes); `oubliette doctor` lists what is missing",
                               argv=result.argv, returncode=result.returncode, stderr=result.stderr)
        return super().classify(result, image)

    def _create(self, manifest: dict[str, Any]) -> process.Result:
        return self._call(self.kubectl("create", "-f", "-"), stdin=json.dumps(manifest).encode(), check=False)

    def run(self, spec: ContainerSpec) -> str:
        """Create the pod and wait (bounded) until its container runs, or ends, or cannot start."""
        manifest = pod_manifest(spec, {volume: dns(volume) for volume, _ in spec.volumes}, uuid.uuid4().hex[:5])
        name = manifest["metadata"]["name"]
        result = self._create(manifest)
        if not result.ok:
            raise self.classify(result)
        self._pods[spec.name] = name
        return self._await_start(spec, name)

    def _await_start(self, spec: ContainerSpec, name: str) -> str:
        """Follow the pod (`kubectl get --watch`: each change as it happens) until its container
        runs or ends; a pull failure, a container that cannot be created, a pod unschedulable
        for UNSCHEDULABLE_GRACE_SECONDS or the RUN_SECONDS deadline is an error."""
        from oubliette.engines import watch  # a start's wait only

        deadline = time.monotonic() + RUN_SECONDS
        unschedulable_since: float | None = None
        pod: dict[str, Any] | None = None
        try:
            events = watch.follow(self.kubectl("get", "pod", name, "--watch", "-o", "json"), env=self.env)
            with events as watching:
                while True:
                    now = time.monotonic()
                    if pod is not None:
                        unschedulable_since = self._check(spec, name, pod, unschedulable_since, now)
                        if (info := pod_info(pod)).status in (RUNNING, STOPPED):
                            return info.id
                    if now >= deadline:
                        reason, message = waiting_reason(pod or {})
                        raise EngineError(f"the pod {name} did not start within {RUN_SECONDS} s"
                                          + (f" ({reason}: {message})" if reason else ""))
                    wait = deadline - now
                    if unschedulable_since is not None:
                        wait = min(wait, unschedulable_since + UNSCHEDULABLE_GRACE_SECONDS - now)
                    event = watching.next(wait)
                    if event is watch.ENDED:
                        raise self._watch_ended(watching, name)
                    if event is not watch.QUIET:
                        pod = event
        except process.BinaryMissing:
            raise self.missing_binary() from None

    def _check(self, spec: ContainerSpec, name: str, pod: dict[str, Any], unschedulable_since: float | None,
               now: float) -> float | None:
        """Raise if the pod as last reported cannot start; else since when it has been
        unschedulable (None: it is not)."""
        if pod_state(pod) == "stopping":
            raise EngineError(f"the pod {name} was deleted while it started")
        reason, message = waiting_reason(pod)
        if reason in PULL_FAILURES:
            error = self.classify(process.Result([self.binary, "create", "pod"], 1, "", f"{reason}: {message}"),
                                  image=spec.image)
            error.hint = ("check the image reference in the config, and that the cluster's nodes can pull it "
                          "(a private registry needs an imagePullSecret: `kubectl create secret "
                          "docker-registry`, added to the namespace's default service account)")
            raise error
        if reason in ("CreateContainerConfigError", "CreateContainerError", "RunContainerError"):
            raise EngineError(f"the pod {name} cannot start: {reason}: {message}")
        if reason != "Unschedulable":
            return None
        since = unschedulable_since or now
        if now - since >= UNSCHEDULABLE_GRACE_SECONDS:
            raise EngineError(f"the pod {name} cannot be scheduled: {message}",
                              hint="`kubectl describe pod` shows why; a workspace's volume binds the pod "
                                   "to its node, which must be schedulable")
        return since

    def _watch_ended(self, watching: Watch, name: str) -> EngineError:
        """The watch ended before the pod ran: kubectl's own error, else the pod went away."""
        result = watching.result()
        if watching.overflow:
            return EngineOutputError(f"`{' '.join(result.argv[:3])}` printed output oubliette cannot read (not "
                                     f"a pod, or one over {watching.limit // 1024} KB)",
                                     hint=f"check that `{self.binary}` is kubectl (not a wrapper printing "
                                          "something else)", argv=result.argv)
        if not result.ok and "notfound" not in result.stderr.lower().replace(" ", ""):
            return self.classify(result)
        return EngineError(f"the pod {name} was deleted while it started")

    def _pods_of(self, selector: str) -> list[dict[str, Any]]:
        """The pods a (checked) label selector finds, in one call; each remembered as the one holding its
        model name, so the exec, logs or rename that follows needs no look-up of its own."""
        pods = self.parse(self._call(self.kubectl("get", "pods", "-l", selector, "-o", "json")), parse_pods)
        for pod in pods:  # in order: the pod that holds a name comes last
            meta = pod.get("metadata") or {}
            holds = (meta.get("annotations") or {}).get(NAME_ANNOTATION)
            if isinstance(holds, str) and isinstance(meta.get("name"), str) and POD_NAME_RE.fullmatch(meta["name"]):
                self._pods[holds] = meta["name"]  # checked: it goes into kubectl's argv
        return pods

    def pod_of(self, name: str) -> str:
        """The pod that holds the model name `name` now (as last seen, else looked up); a
        name no pod holds maps to itself, so kubectl's own "not found" is what the user sees."""
        if name not in self._pods:
            self._pods_of(name_selector([name]))
        return self._pods.get(name) or dns(name_ok(name))

    def start(self, name: str) -> None:
        raise EngineError(f"a pod cannot be started again ({dns(name)})",
                          hint="oubliette makes a new pod; the workspace's claim is kept")

    def _delete(self, names: Sequence[str], *flags: str) -> None:
        for name in names:
            self._pods.pop(name, None)
        self._call(self.kubectl("delete", "pods", "-l", name_selector([name_ok(n) for n in names]),
                                "--ignore-not-found", *flags), timeout=STOP_SECONDS)

    def stop(self, names: Sequence[str]) -> None:
        """Delete the pods within their grace period, and wait until their commands have ended.
        The kubelet then takes seconds more (4-5 s measured here) to reclaim a pod before its
        object goes; ended, it is force-deleted at once (its processes are known gone)."""
        if not names:
            return
        self._delete(names, "--wait=false", "--grace-period=10")
        selector = name_selector([name_ok(n) for n in names])
        deadline = time.monotonic() + STOP_SECONDS - QUICK_SECONDS  # the grace period, and then some
        while (pods := self._pods_of(selector)) and not all(map(ended, pods)):
            if time.monotonic() >= deadline:
                self._delete(names, "--wait=true")  # the kubelet's own pace, then
                return
            time.sleep(STOP_POLL_SECONDS)
        if pods:
            self._delete(names, "--wait=true", "--grace-period=0", "--force")

    def remove(self, names: Sequence[str], force: bool = False) -> None:
        """force: a pod that never ran, or has stopped, goes at once; else as `stop`."""
        if names and force:
            self._delete(names, "--wait=true", "--grace-period=0", "--force")
        elif names:
            self.stop(names)

    def rename(self, old: str, new: str) -> None:
        """A pod keeps its own name: the model name it holds is a label and an annotation."""
        pod = self.pod_of(old)
        patch = json.dumps(renamed(name_ok(new)))
        self._call(self.kubectl("patch", "pod", pod, "--type", "merge", "-p", patch))
        self._pods.pop(old, None)
        self._pods[new] = pod

    def list_containers(self, label: str, include_stopped: bool = False) -> list[ContainerInfo]:
        key, _, value = label.partition("=")  # `key` alone: every pod that has the label
        selector = f"{key}={value}" if value and LABEL_VALUE_RE.fullmatch(value) else key
        infos = [pod_info(pod) for pod in self._pods_of(name_ok(selector))]
        infos = [i for i in infos if not value or i.labels.get(key) == value]
        return infos if include_stopped else [i for i in infos if i.running]

    def inspect(self, name: str) -> ContainerInfo | None:
        found = self.inspect_many([name])
        return found[0] if found else None

    def inspect_many(self, names: Sequence[str]) -> list[ContainerInfo]:
        """One listing for several names; a name held by two pods (one being deleted) is the newer's."""
        if not names:
            return []
        held = {info.name: info for info in map(pod_info, self._pods_of(name_selector(names)))}
        return [held[name] for name in names if name in held]

    def logs_argv(self, name: str, follow: bool = False, lines: int | None = None) -> list[str]:
        return self.kubectl("logs", *(["--follow"] if follow else []),
                            *([f"--tail={lines}"] if lines is not None else []), self.pod_of(name))

    def logs_tail(self, name: str, lines: int = 5) -> str:
        """The log's last lines; for a command that never started (no log), the kubelet's reason."""
        result = self._call(self.logs_argv(name, lines=lines), check=False)
        said = (result.stdout + result.stderr).strip()
        if result.ok and said:
            return said
        return next((why for pod in self._pods_of(name_selector([name])) if (why := ended_reason(pod))), said)

    def exec_argv(self, name: str, command: Sequence[str], tty: bool, env: Mapping[str, str] | None = None,
                  workdir: str | None = None, interactive: bool = True, user: str | None = None) -> list[str]:
        """`kubectl exec` has no --env, --workdir or --user: the command is wrapped in `env`,
        a `cd`, and `setpriv` for a user other than root (the pod runs as root). The pod is
        the one that holds `name` as last seen: the look that precedes an exec remembers it."""
        argv = self.kubectl("exec", *(["-i"] if interactive else []), *(["-t"] if tty else []),
                            self.pod_of(name), "-c", MAIN, "--")
        if env:
            argv += ["env", *(f"{key}={value}" for key, value in env.items())]
        if workdir:
            argv += ["sh", "-c", 'cd -- "$1" || exit 126; shift; exec "$@"', "oubliette-cd", workdir]
        if user is not None and user not in ("0", "root"):
            argv += ["setpriv", f"--reuid={name_ok(user)}", f"--regid={user}", "--init-groups", "--"]
        return argv + list(command)

    def exec(self, name: str, command: Sequence[str], tty: bool, env: Mapping[str, str] | None = None,
             workdir: str | None = None, user: str | None = None) -> int:
        """As other engines', except that kubectl's refusal (a permission, a pod gone) is
        one classified `Error:`, not a line of the command's own output and its exit code."""
        from oubliette.engines import attached

        argv = self.exec_argv(name, command, tty=tty, env=env, workdir=workdir, user=user)
        try:
            code, refusal = attached.interactive_unless_refused(argv, self.texts.refuses_exec, env=self.env,
                                                                trailer=self.kind.exec_trailer)
        except process.BinaryMissing:
            raise self.missing_binary() from None
        if refusal is not None:
            raise self.classify(process.Result(argv, code, "", refusal))
        return code

    def exec_capture(self, name: str, command: Sequence[str], user: str | None = None,
                     timeout: float = QUICK_SECONDS) -> process.Result:
        return without_exit_line(super().exec_capture(name, command, user, timeout))

    def exec_result(self, result: process.Result) -> process.Result:
        """kubectl's refusal is an `Error:`; its own closing line is not the command's stderr."""
        if result.returncode != 0 and self.texts.refuses_exec(result.stderr):
            raise self.classify(result)
        return without_exit_line(result)

    # --- workspaces: claims ------------------------------------------------------------------

    def create_volume(self, name: str, labels: Mapping[str, str]) -> None:
        result = self._create(claim_manifest(name, labels, self.workspace_size, self.storage_class))
        if not result.ok and "alreadyexists" not in result.stderr.lower().replace(" ", ""):
            raise self.classify(result)

    def remove_volume(self, name: str) -> bool:
        result = self._call(self.kubectl("delete", "pvc", dns(name_ok(name)), "--wait=false"), check=False)
        if result.ok:
            return True
        if "notfound" in result.stderr.lower().replace(" ", ""):
            return False
        raise self.classify(result)
