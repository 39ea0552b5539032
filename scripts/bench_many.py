"""`container list --all --json` over a home of 1,000 projects and containers, beside the raw
listing of the same containers (for scripts/bench.py).

The projects are written through the store in-process (a thousand `project create`
commands would take minutes), their containers made with the engine's `create` (stopped
ones are listed by `--all` all the same), all removed afterwards.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from bench_setup import BenchEngine

COUNT = 1000


def bench_many(oubliette: list[str], env: dict, engine: BenchEngine, image: str, rounds: int) -> list[tuple]:
    from oubliette.app import App
    from oubliette.model import LABEL_HOME, LABEL_IMAGE, LABEL_PROJECT, LABEL_TYPE, container_name

    cli, home = engine.name, engine.work / "home-many"
    env = {**env, "OUBLIETTE_HOME": str(home)}
    subprocess.run(oubliette + ["init", "--no-pull"], env=env, capture_output=True, check=True)
    (home / "config/oubliette.jsonc").write_text(json.dumps({"containers": {"dev": image}}))
    app = App(home=str(home))
    store = app.projects
    store._refuse_taken = lambda _name: None  # setup only: names are unique here, and the check is O(n) each
    ids = [store.create(f"many-{n:04d}", "dev").id for n in range(COUNT)]
    home_id = app.home_id

    def create(project_id: str) -> None:
        subprocess.run([cli, "create", "--name", container_name(project_id), "--init",
                        "--label", f"{LABEL_HOME}={home_id}", "--label", f"{LABEL_PROJECT}={project_id}",
                        "--label", f"{LABEL_TYPE}=dev", "--label", f"{LABEL_IMAGE}={image}",
                        image, "sleep", "infinity"], env=env, capture_output=True, check=True)

    names = [container_name(project_id) for project_id in ids]
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(create, ids))
        raw_argv = engine.raw_listing_argv(f"{LABEL_HOME}={home_id}")
        ours_argv = oubliette + ["container", "list", "--all", "--json"]
        listed = json.loads(subprocess.run(ours_argv, env=env, capture_output=True, check=True, text=True).stdout)
        if len(listed) != COUNT or not all(row["project_name"] for row in listed):
            raise SystemExit(f"bench: container list --all showed {len(listed)} of {COUNT} containers")
        ratios, ours_times, raw_times = [], [], []
        for _ in range(rounds):
            started = time.perf_counter()
            subprocess.run(raw_argv, env=env, capture_output=True, check=True)
            raw_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            subprocess.run(ours_argv, env=env, capture_output=True, check=True)
            ours_times.append(time.perf_counter() - started)
            ratios.append(ours_times[-1] / raw_times[-1])
    finally:
        for at in range(0, len(names), 250):
            subprocess.run([cli, "rm", "--force", *names[at:at + 250]], env=env, capture_output=True)
    ratio = statistics.median(ratios)
    return [(f"container list --all --json, {COUNT} containers, vs raw {cli} ps -a",
             f"{statistics.median(ours_times) * 1000:.0f} vs {statistics.median(raw_times) * 1000:.0f} ms, "
             f"{ratio:.2f}x", "<= 1.30x", ratio <= 1.3)]
