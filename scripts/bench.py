#!/usr/bin/env python3
"""Performance targets, measured side by side in one run; exits 1 when one is missed.

    python scripts/bench.py [--engines docker,podman] [--runs N] [--rounds N] [--projects K]

Needs Docker and/or Podman, `docker-registry` and `busybox` (see .ci/run), and the `sh`
package (the test extra). It makes its own image offline, a loopback registry and a
temporary home per engine, and cleans up after itself. Every target below is measured on
each engine given (default: docker and podman, those of them that answer), with the raw
commands and floors run on that same engine:

- `oubliette container list --json` at most 1.15x, and the table form at most 1.6x, the
  wall time of a floor script that imports click and runs the same `ps` once. Each round
  times the three back to back; the ratio checked is the median of the rounds' ratios,
  which cancels the drift of a shared machine (the median times are shown too);
- `container list` makes exactly one engine call (auto-detection adds no probe);
- `container refresh` of K projects sharing one image pulls it once;
- workflows beside the raw engine commands or the floor doing the same work (same image,
  mounts, labels and `--init`), alternating, the median of each round's ratio (see
  scripts/bench_workflows.py): `container refresh` of 10 projects sharing one image at
  most 1.1x the raw swaps all at once (pull once, then stop, rename, run, rm of every
  container in parallel; a sequential script is shown beside it); `container stop` of 10
  projects at most 1.3x `stop N...; rm N...`; `container start` of one project whose image
  is here, and `session start ID -- true`, each at most 1.15x its floor (python + click +
  the same `run -d ...`, or `exec -w /workspace NAME true`). Where `docker-compose` is
  installed it recreates 10 services after a pull in the Docker rounds, and its ratio is
  printed;
- the MCP `exec` tool over HTTP, warm server, at most 15 ms more than `exec`
  (scripts/bench_mcp.py);
- `container list --all --json` over 1,000 containers of the home at most 1.3x the raw
  `ps -a` listing them (scripts/bench_many.py);
- with a second Docker engine (`--second-engine URL`, e.g. the one `.ci/second-engine`
  starts): `container list --json` over two engines, each behind a proxy adding ~50 ms
  of round trip, at most 0.8x a script that lists the two one after the other (click
  imported, the same `docker ps`): the calls are concurrent;
- with a Kubernetes cluster (`--cluster DIR`, one `.ci/cluster start` made): start, list
  and refresh on it beside `kubectl` doing the same (scripts/bench_cluster.py; no target yet).

Engine calls are counted by a logging wrapper put first on PATH. PATH holds the engine's
CLI alone, so auto-detection sees one engine even where the other is installed too.
The package is byte-compiled first, as an installed package is, and the bench re-runs itself
with a python that imports it as a regular install does (not through an editable install's
finder, which every python of its venv imports at start-up, the floors' too).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_many import bench_many  # noqa: E402
from bench_mcp import bench_mcp_exec  # noqa: E402
from bench_setup import (  # noqa: E402
    ENGINE_NAMES,
    BenchEngine,
    count_calls,
    make_image,
    make_wrapper,
    note,
    oubliette_command,
    plain_python,
    run,
    start_registry,
    summarise,
    timed,
)
from bench_workflows import RAW_LABEL, bench_workflows  # noqa: E402

OUBLIETTE = oubliette_command()
PLAIN = "OUBLIETTE_BENCH_PLAIN"  # set: this is the plain python the bench re-ran itself with


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default=None,
                        help="comma-separated engines to measure (default: docker,podman, those that answer)")
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
    named = args.engines.split(",") if args.engines else None
    if named and set(named) - set(ENGINE_NAMES):
        parser.error(f"--engines: expected some of {', '.join(ENGINE_NAMES)}")

    if not os.environ.get(PLAIN):  # every python the bench starts is the plain one (see plain_python)
        with tempfile.TemporaryDirectory(prefix="oubliette-bench-python-") as directory:
            python = plain_python(Path(directory), ROOT)
            return subprocess.run([str(python), __file__, *sys.argv[1:]], env={**os.environ, PLAIN: "1"}).returncode

    import sh  # test extra: runs the registry in the background

    compileall.compile_dir(str(ROOT / "oubliette"), quiet=1)
    work = Path(tempfile.mkdtemp(prefix="oubliette-bench-"))
    registry = None
    rows: list[tuple] = []
    try:
        engines = []
        for name in named or ENGINE_NAMES:
            if shutil.which(name) is None or not (engine := BenchEngine(name, work)).reachable():
                if named:
                    print(f"bench: {name} is not installed or does not answer (`{name} info` failed)",
                          file=sys.stderr)
                    return 2
                rows.append((f"{name}", "not installed or not answering: not measured", "", None))
                continue
            engines.append(engine)
        if not engines:
            print("bench: no engine answers (`docker info`, `podman info`)", file=sys.stderr)
            return 2
        registry, address = start_registry(sh, work)
        for engine in engines:
            rows.append((f"--- {engine.name} ---", "", "", None))
            rows += bench_engine(engine, address, args)
        if args.cluster:
            from bench_cluster import bench_cluster

            rows.append(("--- kubernetes ---", "", "", None))
            rows += bench_cluster(args.cluster, max(3, args.rounds // 2))
        else:
            rows.append(("cluster rows", "no cluster given: not measured", "", None))
    finally:
        if registry is not None:
            registry.terminate()
        shutil.rmtree(work, ignore_errors=True)

    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':<34}  {'target':<9}  result")
    for label, value, target, ok in rows:
        verdict = "" if ok is None else ("ok" if ok else "MISSED")
        print(f"{label:<{width}}  {value:<34}  {target:<9}  {verdict}")
    print(f"({args.runs} rounds of the listings, {args.rounds} of the workflows; times are medians, ratios "
          "the median of each round's ratio)")
    return 0 if all(ok for *_, ok in rows if ok is not None) else 1


def bench_engine(engine: BenchEngine, registry: str, args: argparse.Namespace) -> list[tuple]:
    """Every target on one engine, in a home of its own; its containers and image removed after."""
    env = {**engine.env, "OUBLIETTE_HOME": str(engine.work / "home")}
    image = f"{registry}/oubliette-bench-{engine.name}-{uuid.uuid4().hex[:6]}:latest"
    try:
        make_image(engine, image)
        engine.push(image)
        run(OUBLIETTE + ["init", "--no-pull"], env)
        config = engine.work / "home/config/oubliette.jsonc"  # init's commented JSONC, as users have it
        config.write_text(config.read_text().replace("ghcr.io/hyphagroup/oubliette-dev:latest", image)
                          .replace("ghcr.io/hyphagroup/oubliette-base:latest", image))
        for n in range(args.projects):
            project_id = run(OUBLIETTE + ["project", "create", f"bench-{n}", "--type", "dev"], env).strip()
            run(OUBLIETTE + ["container", "start", project_id], env)
        rows = bench_listing(engine, env, args.runs)

        log = engine.work / "calls.log"
        wrapped = {**env, "PATH": f"{make_wrapper(engine, log)}{os.pathsep}{env['PATH']}"}
        list_calls = count_calls(log, lambda: run(OUBLIETTE + ["container", "list", "--json"], wrapped))
        refresh_calls = count_calls(log, lambda: run(OUBLIETTE + ["container", "refresh"], wrapped))
        pulls = sum(1 for call in refresh_calls if call.startswith("pull "))
        rows += [
            ("engine calls: container list", str(len(list_calls)), "== 1", len(list_calls) == 1),
            (f"pulls: refresh of {args.projects} projects, one image", str(pulls), "== 1", pulls == 1),
            (f"engine calls: refresh of {args.projects} projects",
             f"{len(refresh_calls)} ({summarise(refresh_calls)})", "", None),
        ]
        rows += bench_workflows(OUBLIETTE, env, engine, image, args.rounds)
        rows += bench_mcp_exec(OUBLIETTE, env, engine.work / "home", project_id, f"oubliette-{project_id}",
                               args.runs, engine.name)
        rows += bench_many(OUBLIETTE, env, engine, image, max(9, args.rounds))
        if engine.name == "docker":
            if args.second_engine:
                rows += bench_two_engines(OUBLIETTE, env, image, engine.work, args.second_engine, args.runs)
            else:
                rows.append(("list over two engines", "no second engine given: not measured", "", None))
        return rows
    finally:
        subprocess.run(OUBLIETTE + ["container", "stop", "--all"], env=env, capture_output=True)
        engine.remove_labelled(RAW_LABEL)
        engine.remove_image(image)


def bench_listing(engine: BenchEngine, env: dict, runs: int) -> list[tuple]:
    """`container list --json` and the table, interleaved with their floor (click + the same `ps`)."""
    floor = engine.work / "floor.py"
    floor.write_text(
        "import subprocess, sys\nimport click\n"
        f"result = subprocess.run({engine.list_argv('oubliette.project')!r}, capture_output=True, text=True)\n"
        "sys.stdout.write(result.stdout)\n")
    commands = {
        "floor": [sys.executable, str(floor)],
        "json": OUBLIETTE + ["container", "list", "--json"],
        "table": OUBLIETTE + ["container", "list"],
    }
    for command in commands.values():  # warm caches
        run(command, env)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():  # interleaved, so drift hits all alike
            samples[name].append(timed(command, env))
    note(f"{engine.name}: listings timed")
    median = {name: statistics.median(values) * 1000 for name, values in samples.items()}
    ratio = {name: statistics.median(t / f for t, f in zip(samples[name], samples["floor"], strict=True))
             for name in ("json", "table")}
    return [
        (f"floor: click + the same {engine.name} ps", f"{median['floor']:.1f} ms", "", None),
        ("container list --json", f"{median['json']:.1f} ms, {ratio['json']:.2f}x floor", "<= 1.15x",
         ratio["json"] <= 1.15),
        ("container list (table)", f"{median['table']:.1f} ms, {ratio['table']:.2f}x floor", "<= 1.60x",
         ratio["table"] <= 1.6),
    ]


def bench_two_engines(oubliette: list[str], env: dict, image: str, work: Path, second: str, runs: int) -> list[tuple]:
    """`container list --json` over two engines each ~50 ms away (a latency proxy in front
    of each), beside a script that lists them one after the other: concurrent calls cost
    the slower engine, not the sum."""
    from latency_proxy import LatencyProxy

    from oubliette.engines.docker import list_argv

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


if __name__ == "__main__":
    sys.exit(main())
