#!/usr/bin/env python3
"""Performance targets, measured side by side in one run; exits 1 when one is missed.

    python scripts/bench.py [--runs N] [--projects K]

Needs a Docker engine, `docker-registry` and `busybox` (see .ci/run), and the `sh`
package (the test extra). It makes its own image offline, a loopback registry and a
temporary home, and cleans up after itself. Targets:

- `oubliette container list --json` at most 1.15x, and the table form at most 1.6x, the
  wall time of a floor script that imports click and runs the same `docker ps` once.
  Each round times the three back to back; the ratio checked is the median of the
  rounds' ratios, which cancels the drift of a shared machine (the median times are
  shown too);
- `container list` makes exactly one engine call (auto-detection adds no probe);
- `container refresh` of K projects sharing one image pulls it once;
- workflows beside the raw `docker` commands or the floor doing the same work (same
  image, mounts, labels and `--init`), alternating, the median of each round's ratio:
  `container refresh` of 10 projects sharing one image at most 1.1x the raw swaps all at
  once (pull once, then stop, rename, run, rm of every container in parallel; a
  sequential script is shown beside it); `container stop` of 10 projects at most 1.3x
  `docker stop N...; docker rm N...`; `container start` of one project whose image is
  here, and `session start ID -- true`, each at most 1.15x its floor (python + click +
  the same `docker run -d ...`, or `docker exec -w /workspace NAME true`). Where
  `docker-compose` is installed it recreates 10 services after a pull in the same
  rounds, and its ratio is printed;
- the MCP `exec` tool over HTTP, warm server, at most 15 ms more than `docker exec`
  (scripts/bench_mcp.py);
- `container list --all --json` over 1,000 containers of the home at most 1.3x the raw
  `docker ps -a` listing them (scripts/bench_many.py);
- with a second Docker engine (`--second-engine URL`, e.g. the one `.ci/second-engine`
  starts): `container list --json` over two engines, each behind a proxy adding ~50 ms
  of round trip, at most 0.8x a script that lists the two one after the other (click
  imported, the same `docker ps`): the calls are concurrent;
- with a Kubernetes cluster (`--cluster DIR`, one `.ci/cluster start` made): start, list
  and refresh on it beside `kubectl` doing the same (scripts/bench_cluster.py; no target yet).

Engine calls are counted by a logging `docker` wrapper put first on PATH. PATH holds
`docker` alone, so auto-detection sees one engine even where podman is installed too.
The package is byte-compiled first, as an installed package is.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_many import bench_many  # noqa: E402
from bench_mcp import bench_mcp_exec  # noqa: E402

from oubliette.engines.docker import list_argv  # noqa: E402  (the exact argv the floor replays)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=41, help="timed rounds of the three commands")
    parser.add_argument("--projects", type=int, default=3, help="projects sharing one image for the refresh count")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each workflow (refresh, stop, start)")
    parser.add_argument("--second-engine", metavar="URL", default=os.environ.get("OUBLIETTE_TEST_SECOND_ENGINE"),
                        help="a second Docker engine (tcp://...; default $OUBLIETTE_TEST_SECOND_ENGINE) for the "
                             "two-engine list target; without one that target is not measured")
    parser.add_argument("--cluster", metavar="DIR", type=Path, default=os.environ.get("OUBLIETTE_TEST_CLUSTER"),
                        help="a cluster `.ci/cluster start` made (default $OUBLIETTE_TEST_CLUSTER), for the "
                             "cluster rows; without one they are not measured")
    args = parser.parse_args()

    import sh  # test extra: runs the registry in the background

    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        print("bench: no Docker engine reachable (`docker info` failed)", file=sys.stderr)
        return 2
    real_docker = shutil.which("docker")
    work = Path(tempfile.mkdtemp(prefix="oubliette-bench-"))
    registry = None
    image = None
    only_docker = work / "bin"  # one engine installed, as the targets assume: auto makes no probe
    only_docker.mkdir()
    (only_docker / "docker").symlink_to(real_docker)
    env = {**os.environ, "OUBLIETTE_HOME": str(work / "home"), "PATH": str(only_docker)}
    env.pop("OUBLIETTE_RUNTIME", None)
    env.pop("OUBLIETTE_DEV", None)
    try:
        registry, address = start_registry(sh, work)
        image = f"{address}/oubliette-bench-{uuid.uuid4().hex[:6]}:latest"
        make_image(work, image)
        subprocess.run(["docker", "push", "-q", image], check=True, capture_output=True)

        oubliette = [sys.executable, "-m", "oubliette"]
        run(oubliette + ["init", "--no-pull"], env)
        config = work / "home/config/oubliette.jsonc"  # init's commented JSONC, as users have it
        config.write_text(config.read_text().replace("ghcr.io/hyphagroup/oubliette-dev:latest", image)
                          .replace("ghcr.io/hyphagroup/oubliette-base:latest", image))
        for n in range(args.projects):
            project_id = run(oubliette + ["project", "create", f"bench-{n}", "--type", "dev"], env).strip()
            run(oubliette + ["container", "start", project_id], env)
        mcp_project = project_id

        compileall.compile_dir(str(ROOT / "oubliette"), quiet=1)
        floor = work / "floor.py"
        floor.write_text(
            "import subprocess, sys\nimport click\n"
            f"result = subprocess.run({list_argv('docker', 'oubliette.project')!r}, capture_output=True, text=True)\n"
            "sys.stdout.write(result.stdout)\n")
        commands = {
            "floor": [sys.executable, str(floor)],
            "json": oubliette + ["container", "list", "--json"],
            "table": oubliette + ["container", "list"],
        }
        for command in commands.values():  # warm caches
            run(command, env)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():  # interleaved, so drift hits all alike
                started = time.perf_counter()
                run(command, env)
                samples[name].append(time.perf_counter() - started)
        median = {name: statistics.median(values) * 1000 for name, values in samples.items()}
        ratio = {name: statistics.median(t / f for t, f in zip(samples[name], samples["floor"], strict=True))
                 for name in ("json", "table")}

        log = work / "docker-calls.log"
        wrapped = {**env, "PATH": f"{make_wrapper(work, real_docker, log)}{os.pathsep}{env.get('PATH', '')}"}
        list_calls = count_calls(log, lambda: run(oubliette + ["container", "list", "--json"], wrapped))
        refresh_calls = count_calls(log, lambda: run(oubliette + ["container", "refresh"], wrapped))
        pulls = sum(1 for call in refresh_calls if call.startswith("pull "))

        workflows = bench_workflows(oubliette, env, image, work, args.rounds)
        workflows += bench_mcp_exec(oubliette, env, work / "home", mcp_project, f"oubliette-{mcp_project}", args.runs)
        workflows += bench_many(oubliette, env, image, work, max(9, args.rounds))
        if args.second_engine:
            workflows += bench_two_engines(oubliette, env, image, work, args.second_engine, args.runs)
        else:
            workflows.append(("list over two engines", "no second engine given: not measured", "", None))
        if args.cluster:
            from bench_cluster import bench_cluster

            workflows += bench_cluster(args.cluster, max(3, args.rounds // 2))
        else:
            workflows.append(("cluster rows", "no cluster given: not measured", "", None))
    finally:
        subprocess.run([sys.executable, "-m", "oubliette", "container", "stop", "--all"], env=env,
                       capture_output=True)
        raw = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={RAW_LABEL}"], capture_output=True,
                             text=True).stdout.split()
        if raw:
            subprocess.run(["docker", "rm", "--force", *raw], capture_output=True)
        if image:
            subprocess.run(["docker", "image", "rm", "--force", image], capture_output=True)
        if registry is not None:
            registry.terminate()
        shutil.rmtree(work, ignore_errors=True)

    json_ratio, table_ratio = ratio["json"], ratio["table"]
    rows = [
        ("floor: click + the same docker ps", f"{median['floor']:.1f} ms", "", None),
        ("container list --json", f"{median['json']:.1f} ms, {json_ratio:.2f}x floor", "<= 1.15x",
         json_ratio <= 1.15),
        ("container list (table)", f"{median['table']:.1f} ms, {table_ratio:.2f}x floor", "<= 1.60x",
         table_ratio <= 1.6),
        ("engine calls: container list", str(len(list_calls)), "== 1", len(list_calls) == 1),
        (f"pulls: refresh of {args.projects} projects, one image", str(pulls), "== 1", pulls == 1),
        (f"engine calls: refresh of {args.projects} projects", f"{len(refresh_calls)} ({summarise(refresh_calls)})",
         "", None),
        *workflows,
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':<34}  {'target':<9}  result")
    for label, value, target, ok in rows:
        verdict = "" if ok is None else ("ok" if ok else "MISSED")
        print(f"{label:<{width}}  {value:<34}  {target:<9}  {verdict}")
    print(f"({args.runs} rounds; times are medians, ratios the median of each round's ratio)")
    return 0 if all(ok for *_, ok in rows if ok is not None) else 1


RAW_LABEL = "oubliette.bench.raw"
WORKFLOW_PROJECTS = 10


def timed(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    run(command, env)
    return time.perf_counter() - started


def raw_run_argv(image: str, name: str, workspace: Path) -> list[str]:
    """What `container start` runs, by hand: the same flags, mount and command."""
    return ["docker", "run", "--detach", "--name", name, "--init", "--label", f"{RAW_LABEL}=1",
            "--label", f"oubliette.image={image}", "--volume", f"{workspace}:/workspace", "--workdir", "/workspace",
            "--env", "OUBLIETTE_PROJECT_ID=raw", image, "sleep", "infinity"]


def bench_workflows(oubliette: list[str], env: dict, image: str, work: Path, rounds: int) -> list[tuple]:
    """Refresh, stop and start, each beside the raw docker commands doing the same work."""
    ids = [run(oubliette + ["project", "create", f"wf-{n}", "--type", "dev"], env).strip()
           for n in range(WORKFLOW_PROJECTS)]
    raw = [f"oubliette-bench-raw-{uuid.uuid4().hex[:6]}-{n}" for n in range(WORKFLOW_PROJECTS)]
    workspaces = []
    for name in raw:
        workspaces.append(work / "raw" / name)
        workspaces[-1].mkdir(parents=True)

    def start_all() -> None:
        for project_id in ids:
            run(oubliette + ["container", "start", project_id], env)
        for name, workspace in zip(raw, workspaces, strict=True):
            if subprocess.run(["docker", "container", "inspect", name], capture_output=True).returncode != 0:
                run(raw_run_argv(image, name, workspace), env)

    def raw_swap(name: str, workspace: Path) -> None:
        run(["docker", "stop", name], env)
        run(["docker", "rename", name, f"{name}-previous"], env)
        run(raw_run_argv(image, name, workspace), env)
        run(["docker", "rm", f"{name}-previous"], env)

    def raw_refresh() -> None:
        run(["docker", "pull", "-q", image], env)
        for name, workspace in zip(raw, workspaces, strict=True):
            raw_swap(name, workspace)

    def raw_parallel_refresh() -> None:
        run(["docker", "pull", "-q", image], env)
        with ThreadPoolExecutor(max_workers=len(raw)) as pool:
            list(pool.map(raw_swap, raw, workspaces))

    compose = shutil.which("docker-compose")
    compose_file = work / "compose.yml"
    compose_file.write_text('version: "2.4"\nservices:\n' + "".join(
        f"  s{n}:\n    image: {image}\n    command: [sleep, infinity]\n    init: true\n"
        f"    labels: [{RAW_LABEL}=1]\n    volumes: [{workspaces[n]}:/workspace]\n" for n in range(WORKFLOW_PROJECTS)))
    compose_argv = [compose or "docker-compose", "-p", f"oubliette-bench-{uuid.uuid4().hex[:6]}",
                    "-f", str(compose_file)]
    start_all()
    if compose:
        run(compose_argv + ["up", "-d"], env)
    ratios: dict[str, list[float]] = {"refresh": [], "refresh_sequential": [], "stop": [], "start": [],
                                      "start_raw": [], "compose": [], "session": [], "session_raw": []}
    start_floor = work / "floor-start.py"  # python + click + the one engine call a start needs
    start_floor.write_text(f"import subprocess\nimport click\n"
                           f"subprocess.run({raw_run_argv(image, raw[0], workspaces[0])!r}, capture_output=True)\n")
    exec_floor = work / "floor-exec.py"  # python + click + the one engine call a session needs
    exec_argv = ["docker", "exec", "-w", "/workspace", f"oubliette-{ids[0]}", "true"]
    exec_floor.write_text(f"import subprocess\nimport click\nsubprocess.run({exec_argv!r})\n")
    for round_ in range(rounds):
        started = time.perf_counter()
        raw_refresh()
        sequential_time = time.perf_counter() - started
        started = time.perf_counter()
        raw_parallel_refresh()
        raw_time = time.perf_counter() - started
        ours = timed(oubliette + ["container", "refresh", *ids], env)
        ratios["refresh"].append(ours / raw_time)
        ratios["refresh_sequential"].append(ours / sequential_time)
        if compose:
            started = time.perf_counter()
            run(compose_argv + ["pull", "-q"], env)
            run(compose_argv + ["up", "-d", "--force-recreate"], env)
            ratios["compose"].append((time.perf_counter() - started) / raw_time)

        names = " ".join(raw)
        raw_time = timed(["/bin/sh", "-c", f"docker stop {names} >/dev/null && docker rm {names} >/dev/null"], env)
        ours = timed(oubliette + ["container", "stop", *ids], env)
        ratios["stop"].append(ours / raw_time)
        start_all()

        time_starts(oubliette, ids[0], start_floor, raw_run_argv(image, raw[0], workspaces[0]), env, ratios)
        time_sessions(oubliette + ["session", "start", ids[0], "--", "true"], exec_floor, exec_argv, env, ratios)
        print(f"bench: workflow round {round_ + 1} of {rounds} done", file=sys.stderr)
    if compose:
        subprocess.run(compose_argv + ["down"], capture_output=True, env=env)
    return workflow_rows({name: statistics.median(values) for name, values in ratios.items() if values},
                         compose is not None)


def workflow_rows(median: dict[str, float], compose: bool) -> list[tuple]:
    """The workflow rows: each median ratio beside its target."""
    rows = [
        (f"refresh of {WORKFLOW_PROJECTS} projects vs raw swaps all at once",
         f"{median['refresh']:.2f}x ({median['refresh_sequential']:.2f}x a sequential script)", "<= 1.10x",
         median["refresh"] <= 1.1),
        (f"stop of {WORKFLOW_PROJECTS} projects vs raw stop+rm", f"{median['stop']:.2f}x", "<= 1.30x",
         median["stop"] <= 1.3),
        ("start of one project vs its floor", f"{median['start']:.2f}x floor, {median['start_raw']:.2f}x docker run",
         "<= 1.15x", median["start"] <= 1.15),
        ("session start ID -- true vs its floor", f"{median['session']:.2f}x floor, "
         f"{median['session_raw']:.2f}x docker exec", "<= 1.15x", median["session"] <= 1.15),
    ]
    if compose:
        rows.append(("docker-compose pull + up --force-recreate", f"{median['compose']:.2f}x raw script", "", None))
    else:
        rows.append(("docker-compose", "not installed: not timed", "", None))
    return rows


def time_starts(oubliette: list[str], project_id: str, floor: Path, raw_argv: list[str], env: dict,
                ratios: dict[str, list[float]]) -> None:
    """`container start` of a stopped project beside its floor and `docker run` alone, three times."""
    for _ in range(3):
        run(["docker", "rm", "--force", raw_argv[raw_argv.index("--name") + 1]], env)
        run(oubliette + ["container", "stop", project_id], env)
        floor_time = timed([sys.executable, str(floor)], env)
        run(["docker", "rm", "--force", raw_argv[raw_argv.index("--name") + 1]], env)
        raw_time = timed(raw_argv, env)
        ours = timed(oubliette + ["container", "start", project_id], env)
        ratios["start"].append(ours / floor_time)
        ratios["start_raw"].append(ours / raw_time)


def time_sessions(ours: list[str], floor: Path, exec_argv: list[str], env: dict,
                  ratios: dict[str, list[float]]) -> None:
    """`session start ID -- true` beside its floor and `docker exec` alone, three times."""
    for _ in range(3):
        floor_time = timed([sys.executable, str(floor)], env)
        raw_time = timed(exec_argv, env)
        session_time = timed(ours, env)
        ratios["session"].append(session_time / floor_time)
        ratios["session_raw"].append(session_time / raw_time)


def bench_two_engines(oubliette: list[str], env: dict, image: str, work: Path, second: str, runs: int) -> list[tuple]:
    """`container list --json` over two engines each ~50 ms away (a latency proxy in front
    of each), beside a script that lists them one after the other: concurrent calls cost
    the slower engine, not the sum."""
    from latency_proxy import LatencyProxy

    near = LatencyProxy(os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"), 0.025)
    far = LatencyProxy(second, 0.025)
    env = {**env, "OUBLIETTE_HOME": str(work / "home-two-engines")}
    run(oubliette + ["init", "--no-pull"], env)
    config = Path(env["OUBLIETTE_HOME"]) / "config/oubliette.jsonc"
    config.write_text(json.dumps({"containers": {"dev": image}, "engines": {
        "near": {"runtime": "docker", "host": near.url}, "far": {"runtime": "docker", "host": far.url}}}))
    ids = [run(oubliette + ["project", "create", name, "--engine", name], env).strip() for name in ("near", "far")]
    try:
        for project_id in ids:
            run(oubliette + ["container", "start", project_id], env)
        floor = work / "floor-two.py"
        floor.write_text(
            "import os, subprocess, sys\nimport click\n"
            f"for host in {[near.url, far.url]!r}:\n"
            f"    result = subprocess.run({list_argv('docker', 'oubliette.project')!r}, capture_output=True, "
            "text=True, env={**os.environ, 'DOCKER_HOST': host})\n"
            "    sys.stdout.write(result.stdout)\n")
        ours, raw = oubliette + ["container", "list", "--json"], [sys.executable, str(floor)]
        ratios = []
        for _ in range(max(5, runs // 2)):
            raw_time = timed(raw, env)
            ratios.append(timed(ours, env) / raw_time)
        ratio = statistics.median(ratios)
    finally:
        for project_id in ids:
            subprocess.run(oubliette + ["project", "delete", project_id, "--purge", "--yes"], env=env,
                           capture_output=True)
        subprocess.run(["docker", "image", "rm", "--force", image], capture_output=True,
                       env={**env, "DOCKER_HOST": second})
        near.close()
        far.close()
    return [("list over two engines ~50 ms away vs listing each in turn", f"{ratio:.2f}x", "<= 0.80x",
             ratio <= 0.8)]


def run(command: list[str], env: dict) -> str:
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"bench: {' '.join(command)} failed:\n{result.stderr}")
    return result.stdout


def start_registry(sh, work: Path):
    binary = shutil.which("docker-registry") or shutil.which("registry")
    if binary is None:
        raise SystemExit("bench: docker-registry is not installed (Debian package docker-registry)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (work / "registry.yml").write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {work / 'registry'}}}}}\n"
        f'http: {{addr: "127.0.0.1:{port}"}}\n')
    process = sh.Command(binary)("serve", str(work / "registry.yml"), _bg=True, _bg_exc=False,
                                 _out=str(work / "registry.log"), _err_to_out=True)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    return process, f"localhost:{port}"


def make_image(work: Path, ref: str) -> None:
    """A busybox root file system whose command keeps running, imported as an image."""
    busybox = shutil.which("busybox")
    if busybox is None:
        raise SystemExit("bench: busybox is not installed (Debian package busybox-static)")
    tar_path = work / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(busybox, arcname="bin/busybox")
        for applet in ("sh", "sleep", "true"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    subprocess.run(["docker", "import", "--change", 'CMD ["sleep","infinity"]', str(tar_path), ref],
                   check=True, capture_output=True)


def make_wrapper(work: Path, real_docker: str, log: Path) -> Path:
    directory = work / "wrapper"
    directory.mkdir()
    wrapper = directory / "docker"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{real_docker}" "$@"\n')
    wrapper.chmod(0o755)
    return directory


def count_calls(log: Path, action) -> list[str]:
    log.write_text("")
    action()
    return [line for line in log.read_text().splitlines() if line]


def summarise(calls: list[str]) -> str:
    counts: dict[str, int] = {}
    for call in calls:
        counts[call.split()[0]] = counts.get(call.split()[0], 0) + 1
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))


if __name__ == "__main__":
    sys.exit(main())
