"""Refresh, stop, start and session start, each beside the raw engine commands or the floor
doing the same work (for scripts/bench.py), on whichever engine the bench runs.

Rounds alternate ours and theirs, and the figure is the median of each round's ratio, so
the drift of a shared machine hits both alike.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench_setup import BenchEngine, note, run, timed

RAW_LABEL = "oubliette.bench.raw"
WORKFLOW_PROJECTS = 10


def raw_run_argv(engine: str, image: str, name: str, workspace: Path) -> list[str]:
    """What `container start` runs, by hand: the same flags, mount and command."""
    return [engine, "run", "--detach", "--name", name, "--init", "--label", f"{RAW_LABEL}=1",
            "--label", f"oubliette.image={image}", "--volume", f"{workspace}:/workspace", "--workdir", "/workspace",
            "--env", "OUBLIETTE_PROJECT_ID=raw", image, "sleep", "infinity"]


def bench_workflows(oubliette: list[str], env: dict, engine: BenchEngine, image: str, rounds: int) -> list[tuple]:
    """Refresh, stop and start, each beside the raw engine commands doing the same work."""
    cli, work = engine.name, engine.work
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
            if subprocess.run([cli, "container", "inspect", name], capture_output=True, env=env).returncode != 0:
                run(raw_run_argv(cli, image, name, workspace), env)

    def raw_swap(name: str, workspace: Path) -> None:
        run([cli, "stop", name], env)
        run([cli, "rename", name, f"{name}-previous"], env)
        run(raw_run_argv(cli, image, name, workspace), env)
        run([cli, "rm", f"{name}-previous"], env)

    def raw_refresh() -> None:
        run([cli, "pull", "-q", image], env)
        for name, workspace in zip(raw, workspaces, strict=True):
            raw_swap(name, workspace)

    def raw_parallel_refresh() -> None:
        run([cli, "pull", "-q", image], env)
        with ThreadPoolExecutor(max_workers=len(raw)) as pool:
            list(pool.map(raw_swap, raw, workspaces))

    compose = shutil.which("docker-compose") if cli == "docker" else None
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
    start_argv = raw_run_argv(cli, image, raw[0], workspaces[0])
    start_floor = work / "floor-start.py"  # python + click + the one engine call a start needs
    start_floor.write_text(f"import subprocess\nimport click\nsubprocess.run({start_argv!r}, capture_output=True)\n")
    exec_floor = work / "floor-exec.py"  # python + click + the one engine call a session needs
    exec_argv = [cli, "exec", "-w", "/workspace", f"oubliette-{ids[0]}", "true"]
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
        raw_time = timed(["/bin/sh", "-c", f"{cli} stop {names} >/dev/null && {cli} rm {names} >/dev/null"], env)
        ours = timed(oubliette + ["container", "stop", *ids], env)
        ratios["stop"].append(ours / raw_time)
        start_all()

        time_starts(oubliette, ids[0], start_floor, start_argv, env, ratios)
        time_sessions(oubliette + ["session", "start", ids[0], "--", "true"], exec_floor, exec_argv, env, ratios)
        note(f"{cli}: workflow round {round_ + 1} of {rounds} done")
    if compose:
        subprocess.run(compose_argv + ["down"], capture_output=True, env=env)
    return workflow_rows(cli, {name: statistics.median(values) for name, values in ratios.items() if values},
                         compose is not None)


def workflow_rows(cli: str, median: dict[str, float], compose: bool) -> list[tuple]:
    """The workflow rows: each median ratio beside its target."""
    rows = [
        (f"refresh of {WORKFLOW_PROJECTS} projects vs raw swaps all at once",
         f"{median['refresh']:.2f}x ({median['refresh_sequential']:.2f}x a sequential script)", "<= 1.10x",
         median["refresh"] <= 1.1),
        (f"stop of {WORKFLOW_PROJECTS} projects vs raw stop+rm", f"{median['stop']:.2f}x", "<= 1.30x",
         median["stop"] <= 1.3),
        ("start of one project vs its floor", f"{median['start']:.2f}x floor, {median['start_raw']:.2f}x {cli} run",
         "<= 1.15x", median["start"] <= 1.15),
        ("session start ID -- true vs its floor", f"{median['session']:.2f}x floor, "
         f"{median['session_raw']:.2f}x {cli} exec", "<= 1.15x", median["session"] <= 1.15),
    ]
    if compose:
        rows.append(("docker-compose pull + up --force-recreate", f"{median['compose']:.2f}x raw script", "", None))
    elif cli == "docker":
        rows.append(("docker-compose", "not installed: not timed", "", None))
    return rows


def time_starts(oubliette: list[str], project_id: str, floor: Path, raw_argv: list[str], env: dict,
                ratios: dict[str, list[float]]) -> None:
    """`container start` of a stopped project beside its floor and `run` alone, three times."""
    remove = [raw_argv[0], "rm", "--force", raw_argv[raw_argv.index("--name") + 1]]
    for _ in range(3):
        run(remove, env)
        run(oubliette + ["container", "stop", project_id], env)
        floor_time = timed([sys.executable, str(floor)], env)
        run(remove, env)
        raw_time = timed(raw_argv, env)
        ours = timed(oubliette + ["container", "start", project_id], env)
        ratios["start"].append(ours / floor_time)
        ratios["start_raw"].append(ours / raw_time)


def time_sessions(ours: list[str], floor: Path, exec_argv: list[str], env: dict,
                  ratios: dict[str, list[float]]) -> None:
    """`session start ID -- true` beside its floor and `exec` alone, three times."""
    for _ in range(3):
        floor_time = timed([sys.executable, str(floor)], env)
        raw_time = timed(exec_argv, env)
        session_time = timed(ours, env)
        ratios["session"].append(session_time / floor_time)
        ratios["session_raw"].append(session_time / raw_time)
