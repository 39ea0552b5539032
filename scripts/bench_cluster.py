"""The cluster engine beside `kubectl` doing the same work (issue 24; figures, no target yet).

    python scripts/bench_cluster.py --cluster DIR [--rounds N]

DIR is a cluster `.ci/cluster start` made (its admin kubeconfig, its kubectl in DIR/bin,
the registry its nodes pull from in DIR/registry). In a namespace of its own, alternating:
`container start` of a project whose pod is gone (its claim kept) beside `kubectl create`
of the same pod + `kubectl wait` until Ready; `container list --json` beside `kubectl get
pods -l ... -o json`; `container refresh` of one project beside what it does, by hand: a
new pod created beside the old one + wait until Ready + delete the old one. Medians of N
rounds. Called by scripts/bench.py when it is given a cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oubliette.engines.kube_objects import claim_manifest, pod_manifest  # noqa: E402
from oubliette.spec import ContainerSpec  # noqa: E402


def bench_cluster(cluster: Path, rounds: int) -> list[tuple]:
    """Rows of (measure, value, target, ok=None) for scripts/bench.py's table."""
    from bench_setup import BenchEngine, make_image, oubliette_command  # the same busybox image as the other rows

    kubectl = [str(cluster / "bin/kubectl"), "--kubeconfig", str(cluster / "admin.kubeconfig")]
    registry = (cluster / "registry").read_text().strip()
    namespace = f"oubliette-bench-{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="oubliette-bench-cluster-"))
    image = f"{registry}/oubliette-bench-k8s-{uuid.uuid4().hex[:6]}:latest"
    env = {**os.environ, "OUBLIETTE_HOME": str(work / "home"),
           "PATH": f"{cluster / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    oubliette = oubliette_command()

    def run(argv: list[str], data: str | None = None) -> str:
        result = subprocess.run(argv, capture_output=True, text=True, env=env, input=data)
        if result.returncode != 0:
            raise SystemExit(f"bench: `{' '.join(argv[:4])}` failed: {result.stderr.strip()}")
        return result.stdout

    def timed(step) -> float:
        started = time.perf_counter()
        step()
        return (time.perf_counter() - started) * 1000

    try:
        builder = BenchEngine("docker", work)
        make_image(builder, image)
        builder.push(image)
        run([*kubectl, "create", "namespace", namespace])
        config = work / "home/config/oubliette.jsonc"
        config.parent.mkdir(parents=True)
        config.write_text(json.dumps({"containers": {"dev": image}, "engines": {"cluster": {
            "runtime": "kubernetes", "kubeconfig": str(cluster / "admin.kubeconfig"), "namespace": namespace,
            "storage_class": "oubliette-local", "workspace_size": "1Gi"}}}))
        project_id = run(oubliette + ["project", "create", "bench", "--engine", "cluster"]).strip()
        run(oubliette + ["container", "start", project_id])
        raw_spec = ContainerSpec(name="oubliette-bench-raw", image=image, labels={"oubliette.bench": "raw"},
                                 volumes=[("oubliette-bench-raw", "/workspace")], workdir="/workspace",
                                 command=["sleep", "infinity"])
        run([*kubectl, "-n", namespace, "create", "-f", "-"],
            json.dumps(claim_manifest("oubliette-bench-raw", {}, "1Gi", "oubliette-local")))
        pods = []  # the raw pods running, oldest first

        def raw_start() -> None:
            pod = pod_manifest(raw_spec, {"oubliette-bench-raw": "oubliette-bench-raw"}, uuid.uuid4().hex[:5])
            run([*kubectl, "-n", namespace, "create", "-f", "-"], json.dumps(pod))
            pods.append(pod["metadata"]["name"])
            run([*kubectl, "-n", namespace, "wait", "--for=condition=Ready", f"pod/{pods[-1]}", "--timeout=120s"])

        def raw_delete() -> None:
            run([*kubectl, "-n", namespace, "delete", "pod", pods.pop(0), "--wait=true", "--grace-period=10"])

        raw_start()
        samples: dict[str, list[float]] = {k: [] for k in ("start", "raw start", "list", "raw list",
                                                            "refresh", "raw refresh")}
        for _ in range(rounds):
            run(oubliette + ["container", "stop", project_id])
            raw_delete()
            samples["start"].append(timed(lambda: run(oubliette + ["container", "start", project_id])))
            samples["raw start"].append(timed(raw_start))
            samples["list"].append(timed(lambda: run(oubliette + ["container", "list", "--json"])))
            samples["raw list"].append(timed(lambda: run([*kubectl, "-n", namespace, "get", "pods", "-l",
                                                           "oubliette.project", "-o", "json"])))
            samples["refresh"].append(timed(lambda: run(oubliette + ["container", "refresh", project_id])))
            samples["raw refresh"].append(timed(lambda: (raw_start(), raw_delete())))
    finally:
        subprocess.run(oubliette + ["project", "delete", "bench", "--purge", "--yes"], env=env, capture_output=True)
        subprocess.run([*kubectl, "delete", "namespace", namespace, "--wait=true"], capture_output=True, timeout=300)
        subprocess.run(["docker", "image", "rm", "--force", image], capture_output=True)
    median = {name: statistics.median(values) for name, values in samples.items()}
    return [(f"cluster: {what} (beside kubectl)", f"{median[what]:.0f} ms vs {median['raw ' + what]:.0f} ms "
             f"({median[what] / median['raw ' + what]:.2f}x)", "none yet", None)
            for what in ("start", "list", "refresh")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cluster", type=Path, default=os.environ.get("OUBLIETTE_TEST_CLUSTER"), required=False)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.cluster is None:
        parser.error("give --cluster DIR (or set OUBLIETTE_TEST_CLUSTER)")
    for label, value, _, _ in bench_cluster(args.cluster, args.rounds):
        print(f"{label:<36}  {value}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
